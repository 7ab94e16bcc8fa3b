"""CIFAR-10N (Wei et al., ICLR 2022): CIFAR-10 training images with real human labels.

Images come from the official CIFAR-10 release in `data.data_dir` (see `cifar10`); the
labels from `CIFAR-10_human.pt` (`data.label_file`, default `DATA_DIR/CIFAR-10_human.pt`),
read without torch by a restricted unpickler. `data.label_set` picks the noisy labels:
aggre (9.0% noisy), random1/2/3 (about 17-18%), worst (40.2%), or clean.
"""

import os

import numpy as np

from nlx.data import safe_pickle
from nlx.data.datasets import cifar10
from nlx.data.types import Dataset, Split
from nlx.errors import ConfigError, DataError

LABEL_SETS = {"aggre": "aggre_label", "random1": "random_label1", "random2": "random_label2",
              "random3": "random_label3", "worst": "worse_label", "clean": "clean_label"}


def read_labels(path: str) -> dict:
  if not os.path.isfile(path):
    raise DataError(f"cifar10n: label file not found: {path}; download CIFAR-10_human.pt from "
                    "https://github.com/UCSC-REAL/cifar-10-100n (data/) and set "
                    "--config.data.label_file or put it in data_dir")
  labels = safe_pickle.load_torch_zip(path)
  if not isinstance(labels, dict) or "clean_label" not in labels:
    raise DataError(f"{path}: expected a dict with 'clean_label' and the noisy label sets")
  return {k: np.asarray(v, np.int64) for k, v in labels.items()}


def load(config) -> Dataset:
  label_set = config.label_set or "aggre"
  if label_set not in LABEL_SETS:
    raise ConfigError(f"data.label_set for cifar10n must be one of {sorted(LABEL_SETS)}, "
                      f"got {label_set!r}")
  x_tr, y_tr, x_te, y_te, names = cifar10.read_official(config.data_dir)
  path = config.label_file or os.path.join(config.data_dir, "CIFAR-10_human.pt")
  human = read_labels(path)
  key = LABEL_SETS[label_set]
  if key not in human:
    raise DataError(f"{path}: has no {key!r} (has {sorted(human)})")
  clean, noisy = human["clean_label"], human[key]
  if len(clean) != len(x_tr):
    raise DataError(f"{path}: {len(clean)} labels for {len(x_tr)} CIFAR-10 training images")
  if not np.array_equal(clean, y_tr):
    raise DataError(f"{path}: clean_label disagrees with the CIFAR-10 training labels in "
                    f"{config.data_dir}: the images are not in the canonical order")
  return Dataset("cifar10n", Split(x_tr, noisy.copy(), clean.copy()),
                 Split(x_te, y_te, y_te.copy()), 10, names, cifar10.MEAN, cifar10.STD,
                 info={"label_set": label_set})
