"""Config builders shared by several files in `configs/` (variants, not copies)."""

from nlx import methods
from nlx.config_base import base_config, make_tiny, parse_variant

NOISE = {"clean": ("none", 0.0), "sym20": ("symmetric", 0.2), "sym30": ("symmetric", 0.3),
         "sym40": ("symmetric", 0.4), "pair40": ("pair", 0.4), "agent": ("virtual_agent", 0.0)}
PROTOTYPES = {f"L{n}": n for n in (16, 32, 64, 128)}


def set_method(c, name: str, prototypes: int | None = None):
  c.method = methods.default_config(name)
  if prototypes and name == "arnet":
    c.method.num_prototypes = prototypes
  return c


def sentiment(dataset: str, split: str, variant: str):
  """ARNet's visual-sentiment protocol: ImageNet-pretrained ResNet-34 (local torchvision
  weights), Adam 1e-4, batch 128, 50 epochs, resize 256 -> random crop 224 + flip.

  Variant words: a noise setting (agent, sym20 (default), sym30, sym40, clean), a method
  (default arnet), L16/L32/L64/L128 (ARNet's prototypes), tiny.
  """
  words = parse_variant(variant, set(methods.NAMES) | set(NOISE) | set(PROTOTYPES))
  c = base_config()
  c.data.name = dataset
  c.data.split = split
  c.data.augment = "resize_crop_flip"
  c.data.image_size = 224
  c.noise.type, c.noise.rate = NOISE[next(iter(words & set(NOISE)), "sym20")]
  c.model.name = "resnet34_imagenet"
  c.model.pretrained = "weights/resnet34.safetensors"
  set_method(c, next(iter(words & set(methods.NAMES)), "arnet"),
             PROTOTYPES.get(next(iter(words & set(PROTOTYPES)), "L64")))
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-4
  c.data.batch_size = 128
  c.train.num_epochs = 50
  c.train.log_every_steps = 50
  if "tiny" in words:
    tiny_image_files(c)
    if c.method.name == "arnet":
      c.method.num_prototypes = min(c.method.num_prototypes, 8)
      c.method.cache_size = 16
  return c


def cifar_sgd(c, model: str, epochs: int, *, tiny: bool = False):
  """The usual CIFAR recipe (the CIFAR-N paper's): crop + flip, batch 128, SGD 0.1 with
  momentum 0.9, weight decay 5e-4, cosine schedule. `tiny`: small CNN, 256 images."""
  c.data.augment = "crop_flip"
  c.data.batch_size = 128
  c.model.name = model
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.1
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 5e-4
  c.optimizer.schedule = "cosine"
  c.train.num_epochs = epochs
  c.train.log_every_steps = 100
  if tiny:
    make_tiny(c)
    c.model.name = "small_cnn"
    c.model.width = 16
    c.optimizer.learning_rate = 0.05
  return c


def tiny_image_files(c, batch_size: int = 8):
  """Tiny variant for image-file datasets: 16x16 crops, small CNN, no pretrained weights."""
  make_tiny(c, train=-1, test=-1, epochs=2)
  c.data.augment = "crop_flip"
  c.data.image_size = 16
  c.data.batch_size = batch_size
  c.data.eval_batch_size = batch_size
  c.model.name = "small_cnn"
  c.model.width = 8
  c.model.pretrained = ""
  return c
