"""Any single-label method on CIFAR-10N's CPU protocol: an MLP head on frozen features.

The features: a small CNN pretrained on 5,000 clean CIFAR-10 images, its last map pooled
to 1,024-d for the other 45,000 training images and the test set
(experiments/protocols.py); the head: two hidden layers of 256, Adam 1e-3, batch 128,
30 epochs, trained on those 45,000 with CIFAR-10N labels, tested on clean labels.
Command:  python experiments/protocols.py --out=workdirs/benchmark/cifar10n_cpu_features
          python -m nlx.main --config=configs/cifar10n_cpu.py:worst,elr
          Variants: clean | aggre | random1 | random2 | random3 | worst (default); a
          method name (default ce); clean10 (10% of the labels known clean, for Xiao et
          al.'s methods); tiny. Tables: experiments/noisy_benchmark.py --suite=cifar10n_cpu
          (it runs this file).
Runtime:  about a minute per run on the 2-core CPU; the feature cache about 5 minutes once.
Expected: clean-test accuracy over seeds 0-2 (experiments/results/cifar10n_cpu.md): on
          worst CE 62.09 ± 2.15, ELR 65.53 ± 0.21; clean labels 70.08 ± 0.31.
"""

from nlx.config_base import base_config, make_tiny, parse_variant
from nlx.config_presets import METHODS, scale_method_epochs, set_method

VARIANTS = {"label_set": ("clean", "aggre", "random1", "random2", "random3", "worst"),
            "method": METHODS, "known_clean": ("clean10",)}


def get_config(variant: str = ""):
  v = parse_variant(variant, **VARIANTS)
  c = base_config()
  set_method(c, v["method"] or "ce")
  c.data.update(name="features", data_dir="workdirs/benchmark/cifar10n_cpu_features",
                label_set=v["label_set"] or "worst", batch_size=128, eval_batch_size=1000,
                clean_fraction=0.1 if v["known_clean"] else 0.0)
  c.model.update(name="mlp", hidden=(256, 256))
  c.train.update(num_epochs=30, log_every_steps=100, eval_every_epochs=5,
                 checkpoint_every_epochs=10)
  if v["size"]:
    make_tiny(c)
  return scale_method_epochs(c, "cifar10")
