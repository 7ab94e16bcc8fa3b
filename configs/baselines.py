"""The baseline methods of nlx.methods on digits with 40% symmetric noise (small CNN).

Command:  python -m nlx.main --config=configs/baselines.py:METHOD
          METHOD: ce, label_smoothing, bootstrap_soft, bootstrap_hard, gce, truncated_gce,
          sce, tce, mae, nce_rce, forward, elr, mixup, coteaching_plus, learnq, arnet,
          noise_model, ce_clean_subset, ce_clean_and_noisy, bottom_up (these four with
          10% of the labels known clean), sinet (with the bundled
          digit-shape hierarchy as side information)
          (add ",pair40" for 40% pair flips or ",agent" for virtual-agent noise)
          truncated_gce prunes after epochs 10, 12, ..., 28 (the authors' 40, 50, ...
          of 120, scaled: nlx/methods/robust_loss.py).
Runtime:  about 30 s per method on the 2-core CPU (co-teaching+: twice that).
Expected: see experiments/results/digits.md (experiments/noisy_benchmark.py runs every
          method x noise x seed and writes the table); robust methods beat CE there.
"""

from nlx import methods
from nlx.config_base import base_config, make_tiny, parse_variant
from nlx.config_presets import NOISE, set_method


def get_config(variant: str = "ce"):
  words = parse_variant(variant, set(methods.MULTI_CLASS_NAMES) | set(NOISE))
  c = base_config()
  name = next(iter(words & set(methods.MULTI_CLASS_NAMES)), "ce")
  set_method(c, name)
  if name == "coteaching_plus":
    c.method.init_epochs = 5
  if name == "forward":
    c.method.estimate_after_epochs = 5
  if name in ("noise_model", "ce_clean_subset", "ce_clean_and_noisy", "bottom_up"):
    c.data.clean_fraction = 0.1  # a known-clean subset D_c: 10% of the training labels
  if name == "sinet":  # side information: the bundled digit-shape hierarchy
    c.method.hierarchy = "digits"
    c.method.warmup_epochs = 5
  c.data.name = "digits"
  c.data.batch_size = 64
  c.noise.type, c.noise.rate = NOISE[next(iter(words & set(NOISE)), "sym40")]
  c.model.name = "small_cnn"
  c.optimizer.learning_rate = 3e-3
  c.optimizer.schedule = "cosine"
  c.train.num_epochs = 30
  c.train.log_every_steps = 20
  if "tiny" in words:
    make_tiny(c)
    if name == "coteaching_plus":
      c.method.init_epochs = 1  # so the tiny run reaches the disagreement phase
    if name == "forward":
      c.method.estimate_after_epochs = 1
    if name == "noise_model":
      c.method.pretrain_epochs = 1
    if name == "sinet":
      c.method.warmup_epochs, c.method.topk = 1, 10
  return c
