"""CE on your own images: DIR/<class>/*.jpg (or a `path,label` CSV), ImageNet-style.

Command:  python -m nlx.main --config=configs/ce_image_folder.py --config.data.data_dir=DIR
          [--config.data.csv_file=labels.csv] [--config.model.pretrained=resnet18.safetensors]
Runtime:  depends on the data; ResNet-18 at 224x224 wants a GPU. Tiny: seconds.
Expected: no reference figure (user data).
"""

from nlx.config_base import base_config, make_tiny, parse_variant


def get_config(variant: str = ""):
  words = parse_variant(variant)
  c = base_config()
  c.data.name = "image_folder"
  c.data.augment = "resize_crop_flip"
  c.data.image_size = 224
  c.data.split = "80/5/15"
  c.model.name = "resnet18_imagenet"
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-4
  c.train.num_epochs = 30
  if "tiny" in words:
    make_tiny(c, train=-1, test=-1, epochs=1)
    c.data.augment = "crop_flip"
    c.data.image_size = 16
    c.data.batch_size = 8
    c.data.eval_batch_size = 8
    c.model.name = "small_cnn"
    c.model.width = 8
  return c
