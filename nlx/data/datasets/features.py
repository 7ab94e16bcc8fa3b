"""Precomputed features (`[N, D]` float) from one `.npz` file: `data.data_dir/features.npz`.

Keys: `train_features [N, D]`, `train_clean_labels [N]`, the training labels as
`train_labels [N]` or as named label sets `train_labels_<name> [N]` (chosen by
`data.label_set`), `test_features [M, D]`, `test_labels [M]`, optional `class_names`.
Used by the CPU protocol of CIFAR-10N (`experiments/protocols.py` writes such a file
from a frozen CNN) and for features a user extracted with any network.
Multi-label mode (e.g. the AMT/SD4 sets of CAN, 5,376-d features): when the training
labels are `[N, C]` 0/1 vectors, so must `train_clean_labels` and `test_labels` be.
"""

import os

import numpy as np

from nlx.data.types import Dataset, Split
from nlx.errors import ConfigError, DataError
from nlx.io import reading

REQUIRED = ("train_features", "train_clean_labels", "test_features", "test_labels")
REWRITE = "write it again (e.g. python experiments/protocols.py --out=DIR)"


def load(config) -> Dataset:
  path = os.path.join(config.data_dir, "features.npz")
  if not config.data_dir or not os.path.isfile(path):
    raise DataError(f"features: {path} not found; write it with the keys {', '.join(REQUIRED)} "
                    "and train_labels[_<set>] (e.g. python experiments/protocols.py)")
  with reading(path, "NumPy .npz archive", REWRITE), np.load(path, allow_pickle=False) as f:
    arrays = {k: f[k] for k in f.files}
  missing = [k for k in REQUIRED if k not in arrays]
  if missing:
    raise DataError(f"{path}: missing arrays {missing}")
  sets = sorted(k[len("train_labels_"):] for k in arrays if k.startswith("train_labels_"))
  if config.label_set:
    key = f"train_labels_{config.label_set}"
    if key not in arrays:
      raise ConfigError(f"data.label_set={config.label_set!r} not in {path} (has {sets})")
  else:
    key = "train_labels" if "train_labels" in arrays else "train_clean_labels"
  y_te = arrays["test_labels"].astype(np.int64)
  clean = arrays["train_clean_labels"].astype(np.int64)
  num_classes = int(max(clean.max(), y_te.max())) + 1
  if "class_names" in arrays:  # the names fix the class count; labels beyond it are errors
    num_classes = len(arrays["class_names"])
  names = [str(n) for n in arrays.get("class_names", np.arange(num_classes))]
  x_tr = arrays["train_features"].astype(np.float32, copy=False)
  x_te = arrays["test_features"].astype(np.float32, copy=False)
  train_labels = arrays[key]
  if train_labels.ndim == 2:  # multi-label: [N, C] 0/1 vectors throughout
    c = train_labels.shape[1]
    names = [str(n) for n in arrays.get("class_names", np.arange(c))]
    return Dataset("features", Split(x_tr, train_labels.astype(np.float32),
                                     arrays["train_clean_labels"].astype(np.float32)),
                   Split(x_te, arrays["test_labels"].astype(np.float32),
                         arrays["test_labels"].astype(np.float32)), c, names,
                   mean=(0.0,), std=(1.0,), info={"label_set": config.label_set or key},
                   multi_label=True)
  if not np.issubdtype(train_labels.dtype, np.integer):
    raise DataError(f"{path}: {key} must be integers, got {train_labels.dtype}")
  return Dataset("features", Split(x_tr, train_labels.astype(np.int64), clean),
                 Split(x_te, y_te, y_te.copy()), num_classes, names, mean=(0.0,), std=(1.0,),
                 info={"label_set": config.label_set or key})


def write_synthetic_cache(out_dir: str, *, n_train: int = 2000, n_test: int = 500, dim: int = 16,
                          num_classes: int = 10, flip: float = 0.3, seed: int = 0) -> str:
  """Writes a generated stand-in for the CPU protocol's `features.npz` (Gaussian class
  clusters; label sets `clean` and `worst`, the latter with `flip` of the labels moved
  to another class) for quick checks, notebooks' TINY mode and tests. Returns out_dir."""
  rng = np.random.default_rng(seed)
  centers = 3.0 * rng.standard_normal((num_classes, dim))
  y_tr, y_te = rng.integers(0, num_classes, n_train), rng.integers(0, num_classes, n_test)
  noisy = y_tr.copy()
  flipped = rng.random(n_train) < flip
  noisy[flipped] = (y_tr[flipped] + rng.integers(1, num_classes, flipped.sum())) % num_classes
  os.makedirs(out_dir, exist_ok=True)
  np.savez(os.path.join(out_dir, "features.npz"),
           train_features=(centers[y_tr] + rng.standard_normal((n_train, dim))).astype(np.float32),
           train_clean_labels=y_tr, train_labels_worst=noisy, train_labels_clean=y_tr,
           test_features=(centers[y_te] + rng.standard_normal((n_test, dim))).astype(np.float32),
           test_labels=y_te)
  return out_dir
