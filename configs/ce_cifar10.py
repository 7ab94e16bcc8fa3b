"""CE on CIFAR-10 (official python release) with generated label noise, ResNet-18.

Command:  python -m nlx.main --config=configs/ce_cifar10.py --config.data.data_dir=DIR
          (DIR holds cifar-10-batches-py/; variants: sym20, sym40, pair40, agent, e.g.
          --config=configs/ce_cifar10.py:sym40)
Runtime:  a GPU job (ResNet-18, 120 epochs); on the 2-core CPU one epoch of ResNet-18
          takes tens of minutes. The tiny variant (small CNN, 256 images) runs in seconds.
Expected: not yet measured on a GPU (see README); clean labels: about 95% test accuracy
          is the usual figure for ResNet-18 with this recipe.
"""

from nlx.config_base import base_config, make_tiny, parse_variant

NOISE = {"sym20": ("symmetric", 0.2), "sym40": ("symmetric", 0.4), "pair40": ("pair", 0.4),
         "agent": ("virtual_agent", 0.0)}


def get_config(variant: str = ""):
  words = parse_variant(variant, NOISE)
  c = base_config()
  c.data.name = "cifar10"
  c.data.augment = "crop_flip"
  c.data.batch_size = 128
  for w in words & set(NOISE):
    c.noise.type, c.noise.rate = NOISE[w]
  c.model.name = "resnet18"
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.1
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 5e-4
  c.optimizer.schedule = "cosine"
  c.train.num_epochs = 120
  c.train.log_every_steps = 100
  if "tiny" in words:
    make_tiny(c)
    c.model.name = "small_cnn"
    c.model.width = 16
    c.optimizer.learning_rate = 0.05
  return c
