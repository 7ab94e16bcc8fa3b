"""CE on Fashion-MNIST (official idx files) with 40% symmetric noise, small CNN.

Command:  python -m nlx.main --config=configs/ce_fashion_mnist.py \
            [--config.data.data_dir=/usr/share/datasets/fashion-mnist]
          (Debian: apt-get install dataset-fashion-mnist; variants sym20, sym40, pair40)
Runtime:  about 10 minutes on the 2-core CPU (10 epochs). Tiny: seconds.
Expected: not yet measured here (see README).
"""

from nlx.config_base import base_config, make_tiny, parse_variant

NOISE = {"sym20": ("symmetric", 0.2), "sym40": ("symmetric", 0.4), "pair40": ("pair", 0.4)}


def get_config(variant: str = ""):
  words = parse_variant(variant, NOISE)
  c = base_config()
  c.data.name = "fashion_mnist"
  c.noise.type, c.noise.rate = NOISE[next(iter(words & set(NOISE)), "sym40")]
  c.model.name = "small_cnn"
  c.optimizer.schedule = "cosine"
  c.train.num_epochs = 10
  c.train.log_every_steps = 100
  if "tiny" in words:
    make_tiny(c)
  return c
