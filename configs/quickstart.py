"""Quickstart: digits (scikit-learn, embedded), 40% symmetric label noise, small CNN, CE.

Command:  python -m nlx.main                      (this config is the default)
          python -m nlx.main --config=configs/quickstart.py:tiny   (the test variant)
Runtime:  about 1 minute on the 2-core CPU machine (tiny: a few seconds).
Expected: noise rate 40.0%; clean-test accuracy 67.97% on one CPU device (69.92% with
          --config.model.conv=xla; see README), CE having memorised much of the noise
          by the last epoch.
"""

from nlx.config_base import base_config, make_tiny, parse_variant


def get_config(variant: str = ""):
  c = base_config()
  c.data.name = "digits"
  c.data.batch_size = 64
  c.noise.type = "symmetric"
  c.noise.rate = 0.4
  c.model.name = "small_cnn"
  c.model.width = 32
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 3e-3
  c.optimizer.schedule = "cosine"
  c.train.num_epochs = 30
  c.train.log_every_steps = 20
  if "tiny" in parse_variant(variant):
    make_tiny(c)
  return c
