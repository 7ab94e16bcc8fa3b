"""CE on facial sentiment with real crowd labels (one sampled worker vote per image).

Command:  python -m nlx.main --config=configs/ce_face_sentiment.py \
            --config.data.data_dir=../shared/data/face_sentiment
          Variants: sample (default) | majority | soft | truth: what training sees (test =
          truth; train and test share no person); a method name (default ce); tiny.
Runtime:  under a minute on the 2-core CPU. Tiny: seconds.
Expected: see experiments/results/README.md#face-sentiment-with-real-crowd-votes (4
          classes, chance 25%).
"""

from nlx.config_base import base_config, make_tiny, parse_variant
from nlx.config_presets import METHODS, scale_method_epochs, set_method, small_cnn

VARIANTS = {"label_set": ("sample", "majority", "soft", "truth"), "method": METHODS}


def get_config(variant: str = ""):
  v = parse_variant(variant, **VARIANTS)
  c = small_cnn(base_config(), width=16, batch_size=32, epochs=40)
  set_method(c, v["method"] or "ce")
  c.data.name = "face_sentiment"
  c.data.label_set = v["label_set"] or "sample"
  if "num_prototypes" in c.method:  # a method with a memory (ARNet): some 600 training
    c.method.num_prototypes, c.method.cache_size = 16, 256  # images, a small memory
  if v["size"]:
    make_tiny(c, train=-1, test=-1, epochs=1)
  return scale_method_epochs(c)
