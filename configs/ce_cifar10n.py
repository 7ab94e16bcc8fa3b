"""CE on CIFAR-10N real human label noise (Wei et al., ICLR 2022), ResNet-34.

Command:  python -m nlx.main --config=configs/ce_cifar10n.py:worst \
            --config.data.data_dir=DIR --config.data.label_file=DIR/CIFAR-10_human.pt
          (variants: aggre, random1, random2, random3, worst, clean)
Runtime:  a GPU job (the CIFAR-N paper's schedule: SGD 0.1, cosine, 100 epochs,
          batch 128, weight decay 5e-4). Tiny variant: seconds on the CPU.
Expected: the CIFAR-N paper reports CE 87.77 / 85.02 / 77.69% on aggre / random1 /
          worst (ResNet-34); not yet reproduced here (no GPU run so far, see README).
"""

from nlx.config_base import base_config, parse_variant
from nlx.config_presets import cifar_sgd

LABEL_SETS = ("aggre", "random1", "random2", "random3", "worst", "clean")


def get_config(variant: str = ""):
  words = parse_variant(variant, LABEL_SETS)
  c = base_config()
  c.data.name = "cifar10n"
  c.data.label_set = next(iter(words & set(LABEL_SETS)), "worst")
  return cifar_sgd(c, "resnet34", 100, tiny="tiny" in words)
