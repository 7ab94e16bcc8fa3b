"""CE on facial sentiment with real crowd labels (one sampled worker vote per image).

Command:  python -m nlx.main --config=configs/ce_face_sentiment.py \
            --config.data.data_dir=../shared/data/face_sentiment
          (variants: sample, majority, soft, truth: what training sees; test = truth; train and
          test share no person)
Runtime:  under a minute on the 2-core CPU. Tiny: seconds.
Expected: see the README table (4 classes, chance 25%).
"""

from nlx.config_base import base_config, make_tiny, parse_variant

LABEL_SETS = ("sample", "majority", "soft", "truth")


def get_config(variant: str = ""):
  words = parse_variant(variant, LABEL_SETS)
  c = base_config()
  c.data.name = "face_sentiment"
  c.data.label_set = next(iter(words & set(LABEL_SETS)), "sample")
  c.data.augment = "none"
  c.data.batch_size = 32
  c.model.name = "small_cnn"
  c.model.width = 16
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "cosine"
  c.train.num_epochs = 40
  c.train.log_every_steps = 20
  if "tiny" in words:
    make_tiny(c, train=-1, test=-1, epochs=1)
  return c
