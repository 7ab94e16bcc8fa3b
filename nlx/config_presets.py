"""Config builders shared by several files in `configs/` (variants, not copies)."""

import os

from nlx import methods
from nlx.config_base import base_config, make_tiny, parse_variant
from nlx.errors import ConfigError

NOISE = {"clean": ("none", 0.0), "sym20": ("symmetric", 0.2), "sym30": ("symmetric", 0.3),
         "sym40": ("symmetric", 0.4), "pair40": ("pair", 0.4), "agent": ("virtual_agent", 0.0)}
PROTOTYPES = {f"L{n}": n for n in (16, 32, 64, 128)}
METHODS = tuple(methods.MULTI_CLASS_NAMES)  # a variant group: the single-label methods


def set_method(c, name: str, prototypes: int | None = None):
  """`c.method` = method `name`'s defaults, locked like the rest of `c`; `prototypes`: the
  memory size of a method that has one (`num_prototypes`)."""
  c.method = methods.default_config(name).lock()
  if prototypes and "num_prototypes" in c.method:
    c.method.num_prototypes = prototypes
  return c


def scale_method_epochs(c, hierarchy: str = ""):
  """The method's first phase lasts a sixth of `train.num_epochs` (at least 1; the
  method's `scale_phases`: SINet's warm-up, co-teaching+'s epochs before disagreement,
  forward's epochs before estimating T), and a method that reads a class hierarchy
  (`method.hierarchy`) gets `hierarchy` (a bundled name, or "")."""
  methods.get(c.method.name).scale_phases(c.method, max(1, c.train.num_epochs // 6))
  if "hierarchy" in c.method:
    c.method.hierarchy = hierarchy
  return c


def use_reading(c, reading: str) -> None:
  """Applies the method's named reading of its paper (its READINGS; the first when
  `reading` is ""); a method without readings is left as it is (the variant group serves
  every method of a config file). A reading the method's READINGS lack is a ConfigError."""
  readings = methods.get(c.method.name).readings
  if readings and reading and reading not in readings:
    raise ConfigError(f"method {c.method.name!r} has no reading {reading!r}; its readings: "
                      f"{', '.join(readings) or 'none'}")
  if readings:
    c.method.update(readings[reading or next(iter(readings))])


def small_cnn(c, *, width: int, batch_size: int, epochs: int, learning_rate: float = 1e-3):
  """The small CNN (`nlx.models`) with Adam and a cosine schedule, logged every 20 steps."""
  c.model.name = "small_cnn"
  c.model.width = width
  c.data.batch_size = batch_size
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = learning_rate
  c.optimizer.schedule = "cosine"
  c.train.num_epochs = epochs
  c.train.log_every_steps = 20
  return c


SENTIMENT_VARIANTS = {"noise": tuple(NOISE), "method": METHODS, "prototypes": tuple(PROTOTYPES),
                      "reading": methods.reading_names()}


def sentiment(dataset: str, split: str, variant: str):
  """ARNet's visual-sentiment protocol: ImageNet-pretrained ResNet-34 (local torchvision
  weights), Adam 1e-4, batch 128, 50 epochs, resize 256 -> random crop 224 + flip.

  Variant groups (SENTIMENT_VARIANTS): a noise setting (agent, sym20 (default), sym30,
  sym40, clean), a method (default arnet; the others run as baselines), ARNet's
  prototypes (L16, L32, L64 (default), L128), an ARNet reading (paper (default), swav,
  running: `nlx.methods.arnet.READINGS`; a method's READINGS), tiny. Weights
  (`--config.model.pretrained`): torchvision's ImageNet resnet34 state dict, the
  .pth file torchvision downloads (resnet34-b627a593.pth) or the same as .safetensors.
  A GPU job (ResNet-34 at 224x224, 50 epochs); tiny: seconds on the CPU.
  """
  v = parse_variant(variant, **SENTIMENT_VARIANTS)
  c = base_config()
  c.data.name = dataset
  c.data.split = split
  c.data.augment = "resize_crop_flip"
  c.data.image_size = 224
  c.noise.type, c.noise.rate = NOISE[v["noise"] or "sym20"]
  c.model.name = "resnet34_imagenet"
  c.model.pretrained = "weights/resnet34.safetensors"
  set_method(c, v["method"] or "arnet", PROTOTYPES[v["prototypes"] or "L64"])
  use_reading(c, v["reading"])
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-4
  c.data.batch_size = 128
  c.train.num_epochs = 50
  c.train.log_every_steps = 50
  if v["size"]:
    tiny_image_files(c)
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


SHUFFLE = {"clean": 0.0, "shuffle20": 0.2, "shuffle40": 0.4, "shuffle60": 0.6}


def can(dataset: str, variant: str, *, settings=(), features_hidden=None):
  """CAN's protocol (Yao et al., TIP 2019) for multi-label data; returns (config, the
  parsed variant).

  Variant groups: method, a multi-label method (can (default), bce, bootstrap_sigmoid,
  learnq_sigmoid, icnm); noise, `clean`, `shuffle20|40|60` (Table VI: with that
  probability an example's label vector is shuffled) or one of `settings` (the dataset's
  own noisy label sets); size, tiny. Paper recipe: batch 50, SGD 0.01 (momentum 0.9)
  divided by 10 every 30 epochs, 90 epochs; ImageNet-pretrained ResNet-34 on 224 crops,
  or, for precomputed features, an MLP with `features_hidden` layers.
  """
  v = parse_variant(variant, method=tuple(methods.MULTI_LABEL_NAMES),
                    noise=(*SHUFFLE, *settings))
  c = base_config()
  c.data.name = dataset
  set_method(c, v["method"] or "can")
  if SHUFFLE.get(v["noise"]):
    c.noise.type, c.noise.rate = "shuffle", SHUFFLE[v["noise"]]
  if features_hidden is None:
    c.data.augment = "resize_crop_flip"
    c.data.image_size = 224
    c.model.name = "resnet34_imagenet"
    c.model.pretrained = "weights/resnet34.safetensors"
  else:
    c.model.name = "mlp"
    c.model.hidden = tuple(features_hidden)
  c.data.batch_size = 50
  c.data.eval_batch_size = 50
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 0.01
  c.optimizer.momentum = 0.9
  c.optimizer.schedule = "step"
  c.optimizer.step_epochs = (30, 60)
  c.optimizer.step_factor = 0.1
  c.train.num_epochs = 90
  c.train.log_every_steps = 50
  c.train.eval_every_epochs = 5
  c.train.checkpoint_every_epochs = 5
  if v["size"]:
    if features_hidden is None:
      tiny_image_files(c)
    else:
      make_tiny(c)
  return c, v


MOSAIC_LABEL_SETS = ("worst", "aggre", "random1")


def can_cifar10n_mosaic(variant: str):
  """CAN's protocol moved onto the CPU protocol of CIFAR-10N: 2x2 mosaics of cached tile
  features (`nlx.data.datasets.cifar10n_mosaic`), MLP head 4096-256-256-10, Adam 1e-3,
  batch 128, 30 epochs. Variant groups as `can`; the noise group also takes a CIFAR-10N
  label set for the noisy tiles (worst (default), aggre, random1); clean and shuffleNN
  use the clean tiles."""
  c, v = can("cifar10n_mosaic", variant, settings=MOSAIC_LABEL_SETS, features_hidden=(256, 256))
  noise = v["noise"] or "worst"
  c.data.label_set = noise if noise in MOSAIC_LABEL_SETS else "clean"
  c.data.data_dir = os.path.join("workdirs", "benchmark", "cifar10n_cpu_features")
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.schedule = "constant"
  c.train.num_epochs = 30
  c.train.log_every_steps = 100
  c.train.checkpoint_every_epochs = 10
  if v["size"]:
    c.train.num_epochs, c.train.log_every_steps = 2, 4
    c.data.num_mosaics = (512, 256)
    c.data.eval_batch_size = 64
  else:
    c.data.batch_size = 128
    c.data.eval_batch_size = 1000
  return c


def web_images(dataset: str, variant: str, *, method: str, lr: float, epochs: int,
               step_epochs: tuple, batch_size: int = 64, **groups):
  """ImageNet-pretrained ResNet-34 (local torchvision weights) on a large real-noise
  image set at 224x224: SGD (momentum 0.9, weight decay 1e-3) with step decay ÷10.
  Variant groups: model (the method's VARIANTS, e.g. SINet's A | B | C, when it has
  any), size, tiny, and `groups`; returns (config, the parsed variant). A method with
  phases (`scale_phases`) starts its second phase after one epoch."""
  model_variants = methods.get(method).variants
  if model_variants:
    groups["model"] = model_variants
  v = parse_variant(variant, **groups)
  c = base_config()
  c.data.name = dataset
  c.data.augment = "resize_crop_flip"
  c.data.image_size = 224
  c.model.name = "resnet34_imagenet"
  c.model.pretrained = "weights/resnet34.safetensors"
  set_method(c, method)
  if model_variants:
    c.method.variant = v["model"] or c.method.variant
  methods.get(method).scale_phases(c.method, 1)
  c.data.batch_size = batch_size
  c.data.eval_batch_size = batch_size
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = lr
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 1e-3
  c.optimizer.schedule = "step"
  c.optimizer.step_epochs = tuple(step_epochs)
  c.optimizer.step_factor = 0.1
  c.train.num_epochs = epochs
  c.train.log_every_steps = 100
  if v["size"]:
    tiny_image_files(c)
  return c, v
