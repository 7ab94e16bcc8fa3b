"""Datasets, label noise and the grain input pipeline."""

import numpy as np

from nlx.data import datasets, mixture, noise
from nlx.data.types import Dataset, Split
from nlx.errors import ConfigError, DataError

__all__ = ["Dataset", "Split", "load_dataset", "validate_split"]


def validate_split(split: Split, num_classes: int, where: str, multi_label: bool = False) -> None:
  """Raises DataError naming the problem: empty split, bad label dtype or range, NaN."""
  if len(split) == 0:
    raise DataError(f"{where}: the split is empty")
  if len(split.inputs) != len(split.labels) or len(split.clean_labels) != len(split.labels):
    raise DataError(f"{where}: {len(split.inputs)} inputs, {len(split.labels)} labels and "
                    f"{len(split.clean_labels)} clean labels")
  if split.token_ids is not None and (split.token_ids.shape[0] != len(split)
                                      or not np.issubdtype(split.token_ids.dtype, np.integer)):
    raise DataError(f"{where}: token_ids must be [N, L] integers for {len(split)} examples, got "
                    f"{split.token_ids.dtype} {split.token_ids.shape}")
  for name, y in (("label", split.labels), ("clean_label", split.clean_labels)):
    if multi_label:
      if y.ndim != 2 or y.shape[1] != num_classes:
        raise DataError(f"{where}: multi-label {name} must be [N, {num_classes}] 0/1 vectors, "
                        f"got shape {y.shape}")
      if not np.isin(y, (0, 1)).all():
        raise DataError(f"{where}: multi-label {name} must hold only 0 and 1")
    elif y.ndim == 1:
      if not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{where}: {name} must be integers, got dtype {y.dtype}")
      if y.min() < 0 or y.max() >= num_classes:
        raise DataError(f"{where}: {name} out of range: found [{y.min()}, {y.max()}] for "
                        f"{num_classes} classes")
    elif name == "label" and y.ndim == 2:
      if y.shape[1] != num_classes:
        raise DataError(f"{where}: soft labels have {y.shape[1]} classes, the data {num_classes}")
      if not np.all(np.isfinite(y)) or (y < 0).any() or not np.allclose(y.sum(1), 1, atol=1e-4):
        raise DataError(f"{where}: soft labels must be finite distributions (rows sum to 1)")
    else:
      raise DataError(f"{where}: {name} has shape {y.shape}; expected [N] or [N, C]")
  if (split.decode is None and np.issubdtype(split.inputs.dtype, np.floating)
      and not np.all(np.isfinite(split.inputs))):
    raise DataError(f"{where}: inputs contain NaN or Inf")


def _subset(split: Split, n: int, seed: int) -> Split:
  if n < 0 or n >= len(split):
    return split
  return split.subset(np.sort(np.random.default_rng(seed).choice(len(split), n, replace=False)))


def load_dataset(config) -> Dataset:
  """Loads `config.data`, takes the tiny subsets, applies `config.noise` to train labels.

  `info` gains `noise_rate` (fraction of training labels that differ from the clean
  ones, whatever the source of the noise) and, for generated noise, `transition`.
  """
  ds = datasets.get(config.data.name)(config.data)
  ds.train = _subset(ds.train, config.data.max_train_examples, config.data.split_seed + 1)
  ds.test = _subset(ds.test, config.data.max_test_examples, config.data.split_seed + 2)
  _validate(ds)  # the data as read, before noise (which assumes labels in range)
  if ds.multi_label:
    _multi_label_noise(ds, config.noise)
  elif config.noise.type != "none":
    if ds.train.labels.ndim != 1 or not np.array_equal(ds.train.labels, ds.train.clean_labels):
      raise ConfigError(f"noise.type={config.noise.type!r} corrupts clean labels, but "
                        f"{ds.name} already has noisy or soft training labels; "
                        "use noise.type='none'")
    if ds.train.decode is not None and config.noise.type == "virtual_agent":
      raise ConfigError("virtual_agent noise needs in-memory images, not image files")
    result = noise.apply(config.noise, ds.train.clean_labels, ds.train.inputs, ds.num_classes)
    ds.train.labels = result.labels
    ds.info["transition"] = result.transition.tolist()
  if ds.multi_label:  # an example is noisy when any entry of its label vector differs
    differs = ds.train.labels != ds.train.clean_labels
    ds.info["noise_rate"] = float(np.mean(differs.any(-1)))
    ds.info["entry_noise_rate"] = float(np.mean(differs))
  else:
    ds.info["noise_rate"] = float(np.mean(ds.train.hard_labels() != ds.train.clean_labels))
  if config.data.clean_fraction > 0:
    ds.train = mixture.clean_noisy_mixture(ds.train, config.data.clean_fraction,
                                           config.data.clean_ratio, config.data.split_seed + 3,
                                           keep_noisy=config.data.use_noisy)
  return ds


def _validate(ds: Dataset) -> None:
  if ds.class_names is not None and len(ds.class_names) != ds.num_classes:
    raise DataError(f"{ds.name}: {len(ds.class_names)} class names for {ds.num_classes} classes")
  for name, split in (("train", ds.train), ("test", ds.test), ("val", ds.val)):
    if split is not None:
      validate_split(split, ds.num_classes, f"{ds.name}/{name}", ds.multi_label)


def _multi_label_noise(ds: Dataset, config) -> None:
  """Multi-label data take only `noise.type` none or `shuffle` (CAN's Table VI)."""
  if config.type == "none":
    return
  if config.type != "shuffle":
    raise ConfigError(f"noise.type={config.type!r} is for single-label data; {ds.name} is "
                      "multi-label: use 'none' or 'shuffle'")
  if not np.array_equal(ds.train.labels, ds.train.clean_labels):
    raise ConfigError(f"noise.type='shuffle' corrupts clean labels, but {ds.name} already has "
                      "noisy training labels; use noise.type='none'")
  ds.train.labels = noise.multilabel_shuffle_noise(ds.train.clean_labels, config.rate,
                                                   config.seed).astype(np.float32)
