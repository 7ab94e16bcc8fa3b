"""CE on your own images: DIR/<class>/*.jpg (or a `path,label` CSV), ImageNet-style.

Command:  python -m nlx.main --config=configs/ce_image_folder.py --config.data.data_dir=DIR
          [--config.data.csv_file=labels.csv] [--config.model.pretrained=resnet18-f37072fd.pth]
Runtime:  depends on the data; ResNet-18 at 224x224 wants a GPU. Tiny: seconds.
Expected: no reference figure (user data).
"""

from nlx.config_base import base_config, parse_variant
from nlx.config_presets import tiny_image_files


def get_config(variant: str = ""):
  v = parse_variant(variant)
  c = base_config()
  c.data.name = "image_folder"
  c.data.augment = "resize_crop_flip"
  c.data.image_size = 224
  c.data.split = "80/5/15"
  c.model.name = "resnet18_imagenet"
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-4
  c.train.num_epochs = 30
  if v["size"]:
    tiny_image_files(c)
  return c
