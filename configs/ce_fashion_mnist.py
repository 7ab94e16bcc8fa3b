"""CE on Fashion-MNIST (official idx files) with 40% symmetric noise, small CNN.

Command:  python -m nlx.main --config=configs/ce_fashion_mnist.py \
            [--config.data.data_dir=/usr/share/datasets/fashion-mnist]
          (Debian: apt-get install dataset-fashion-mnist)
          Variants: clean | sym20 | sym30 | sym40 (default) | pair40 | agent; a method
          name (default ce); small_cnn (default) | mlp (256-256 on the pixels, batch 256:
          experiments/noisy_benchmark.py --suite=fashion_mnist); tiny.
Runtime:  about 10 minutes on the 2-core CPU (10 epochs). Tiny: seconds.
Expected: not yet measured here (see README).
"""

from nlx.config_base import base_config, make_tiny, parse_variant
from nlx.config_presets import (
  METHODS,
  NOISE,
  scale_method_epochs,
  set_method,
  small_cnn,
)

VARIANTS = {"noise": tuple(NOISE), "method": METHODS, "model": ("small_cnn", "mlp")}


def get_config(variant: str = ""):
  v = parse_variant(variant, **VARIANTS)
  c = small_cnn(base_config(), width=32, batch_size=128, epochs=10)
  set_method(c, v["method"] or "ce")
  c.data.name = "fashion_mnist"
  c.noise.type, c.noise.rate = NOISE[v["noise"] or "sym40"]
  c.train.log_every_steps = 100
  if v["model"] == "mlp":  # the benchmark's (two hidden layers of 256 on the pixels)
    c.model.name = "mlp"
    c.data.batch_size, c.data.eval_batch_size = 256, 1000
  if v["size"]:
    make_tiny(c)
  return scale_method_epochs(c)
