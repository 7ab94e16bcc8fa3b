"""CE on CIFAR-10 (official python release) with generated label noise, ResNet-18.

Command:  python -m nlx.main --config=configs/ce_cifar10.py --config.data.data_dir=DIR
          (DIR holds cifar-10-batches-py/; variants: clean (default), sym20, sym40, pair40,
          agent; tiny; e.g.
          --config=configs/ce_cifar10.py:sym40)
Runtime:  a GPU job (ResNet-18, 120 epochs); on the 2-core CPU one epoch of ResNet-18
          takes tens of minutes. The tiny variant (small CNN, 256 images) runs in seconds.
Expected: not yet measured on a GPU (see README); clean labels: about 95% test accuracy
          is the usual figure for ResNet-18 with this recipe.
"""

from nlx.config_base import base_config, parse_variant
from nlx.config_presets import NOISE, cifar_sgd

VARIANTS = {"noise": ("clean", "sym20", "sym40", "pair40", "agent")}


def get_config(variant: str = ""):
  v = parse_variant(variant, **VARIANTS)
  c = base_config()
  c.data.name = "cifar10"
  c.noise.type, c.noise.rate = NOISE[v["noise"] or "clean"]
  return cifar_sgd(c, "resnet18", 120, tiny=bool(v["size"]))
