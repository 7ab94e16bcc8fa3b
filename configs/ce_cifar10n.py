"""CE on CIFAR-10N real human label noise (Wei et al., ICLR 2022), ResNet-34.

Command:  python -m nlx.main --config=configs/ce_cifar10n.py:worst \
            --config.data.data_dir=DIR --config.data.label_file=DIR/CIFAR-10_human.pt
          Variants: aggre | random1 | random2 | random3 | worst (default) | clean; a
          method name (default ce); tiny.
Runtime:  a GPU job (the CIFAR-N paper's schedule: SGD 0.1, cosine, 100 epochs,
          batch 128, weight decay 5e-4). Tiny variant: seconds on the CPU.
Expected: the CIFAR-N paper reports CE 87.77 / 85.02 / 77.69% on aggre / random1 /
          worst (ResNet-34); not yet reproduced here (no GPU run so far, see README).
"""

from nlx.config_base import base_config, parse_variant
from nlx.config_presets import METHODS, cifar_sgd, scale_method_epochs, set_method

VARIANTS = {"label_set": ("aggre", "random1", "random2", "random3", "worst", "clean"),
            "method": METHODS}


def get_config(variant: str = ""):
  v = parse_variant(variant, **VARIANTS)
  c = base_config()
  set_method(c, v["method"] or "ce")
  c.data.name = "cifar10n"
  c.data.label_set = v["label_set"] or "worst"
  cifar_sgd(c, "resnet34", 100, tiny=bool(v["size"]))
  return scale_method_epochs(c, "cifar10")
