"""The baseline methods of nlx.methods on digits with 40% symmetric noise (small CNN).

Command:  python -m nlx.main --config=configs/baselines.py:METHOD
          METHOD: ce, label_smoothing, bootstrap_soft, bootstrap_hard, gce, truncated_gce,
          sce, tce, mae, nce_rce, forward, elr, mixup, coteaching_plus, learnq, arnet,
          noise_model, ce_clean_subset, ce_clean_and_noisy, bottom_up (these four with
          10% of the labels known clean), sinet (with the bundled
          digit-shape hierarchy as side information)
          (add ",pair40" for 40% pair flips, ",agent" for virtual-agent noise, or
          ",sym20", ",sym30", ",clean")
          truncated_gce prunes after epochs 10, 12, ..., 28 (the authors' 40, 50, ...
          of 120, scaled: nlx/methods/robust_loss.py).
Runtime:  about 30 s per method on the 2-core CPU (co-teaching+: twice that).
Expected: see experiments/results/digits.md (experiments/noisy_benchmark.py runs every
          method x noise x seed and writes the table); robust methods beat CE there.
"""

from nlx import methods
from nlx.config_base import base_config, make_tiny, parse_variant
from nlx.config_presets import (
  METHODS,
  NOISE,
  scale_method_epochs,
  set_method,
  small_cnn,
)

VARIANTS = {"method": METHODS, "noise": tuple(NOISE)}


def get_config(variant: str = "ce"):
  v = parse_variant(variant, **VARIANTS)
  c = small_cnn(base_config(), width=32, batch_size=64, epochs=30, learning_rate=3e-3)
  set_method(c, v["method"] or "ce")
  c.data.name = "digits"
  c.noise.type, c.noise.rate = NOISE[v["noise"] or "sym40"]
  if methods.get(c.method.name).needs_clean_subset:
    c.data.clean_fraction = 0.1  # a known-clean subset D_c: 10% of the training labels
  if v["size"]:
    make_tiny(c)
  # side information for sinet: the bundled digit-shape hierarchy; on tiny each phase
  # lasts one epoch, so co-teaching+ reaches its disagreement phase
  return scale_method_epochs(c, "digits")
