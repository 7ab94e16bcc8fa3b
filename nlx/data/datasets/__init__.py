"""One module per dataset, each with `load(config.data) -> nlx.data.types.Dataset`."""

import importlib

from nlx.errors import ConfigError

NAMES = ("digits", "cifar10", "cifar10n", "fashion_mnist", "face_sentiment", "image_folder",
         "features", "fi", "emotion6", "artphoto", "unbiasedemo", "cifar10n_mosaic", "voc2007",
         "voc2012", "multilabel_list", "clothing1m", "webvision", "mini_webvision", "imagenet",
         "multimodal_anp", "multimodal_synthetic")


def get(name: str):
  if name not in NAMES:
    raise ConfigError(f"unknown dataset {name!r}; known datasets: {', '.join(NAMES)}")
  return importlib.import_module(f"nlx.data.datasets.{name}")
