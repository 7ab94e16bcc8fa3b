"""Dataset loaders by name: `get(name)(config.data) -> nlx.data.types.Dataset`.

`REGISTRY` maps each name to the module that reads it, the loader function there and
the loader's fixed arguments after `config` (e.g. the VOC year): one module per
release format, several names where one format serves several datasets. Modules are
imported on first use. `tfds:NAME` reads any TFDS dataset prepared locally
(`nlx.data.datasets.tfds_source`).
"""

import importlib
from collections.abc import Callable

from nlx.errors import ConfigError

TFDS_PREFIX = "tfds:"

# dataset name -> (module, loader function, its fixed arguments after `config`)
REGISTRY = {
    "digits": ("digits", "load"),
    "cifar10": ("cifar10", "load"),
    "cifar10n": ("cifar10n", "load"),
    "fashion_mnist": ("fashion_mnist", "load"),
    "face_sentiment": ("face_sentiment", "load"),
    "image_folder": ("image_folder", "load"),
    "features": ("features", "load"),
    "fi": ("emotion", "load", "fi"),
    "emotion6": ("emotion", "load", "emotion6"),
    "artphoto": ("emotion", "load", "artphoto"),
    "unbiasedemo": ("emotion", "load", "unbiasedemo"),
    "cifar10n_mosaic": ("cifar10n_mosaic", "load"),
    "voc2007": ("voc", "load_year", "2007"),
    "voc2012": ("voc", "load_year", "2012"),
    "multilabel_list": ("multilabel_list", "load"),
    "clothing1m": ("web_noisy", "load_clothing1m"),
    "webvision": ("web_noisy", "load_webvision", False),
    "mini_webvision": ("web_noisy", "load_webvision", True),
    "imagenet": ("web_noisy", "load_imagenet"),
    "multimodal_anp": ("multimodal", "load_anp"),
    "multimodal_synthetic": ("multimodal", "load_synthetic"),
}
NAMES = tuple(REGISTRY)


def get(name: str) -> Callable:
  """The loader of dataset `name`: a function `config.data -> Dataset`."""
  if name.startswith(TFDS_PREFIX):
    module, function, args = "tfds_source", "load", (name[len(TFDS_PREFIX):],)
  elif name in REGISTRY:
    module, function, *args = REGISTRY[name]
  else:
    raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(NAMES)}, or "
                      f"{TFDS_PREFIX}NAME for a TFDS dataset prepared locally")
  loader = getattr(importlib.import_module(f"nlx.data.datasets.{module}"), function)
  return lambda config: loader(config, *args)
