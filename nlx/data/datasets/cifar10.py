"""CIFAR-10 from the official python release (`cifar-10-python.tar.gz`, extracted).

`data.data_dir` is the folder `cifar-10-batches-py/` or the folder that contains it,
holding `data_batch_1..5`, `test_batch` and `batches.meta`.
"""

import os

import numpy as np

from nlx.data import safe_pickle
from nlx.data.types import Dataset, Split
from nlx.errors import DataError

FILES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)


def find_batches_dir(data_dir: str) -> str:
  hint = ("download cifar-10-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html "
          "and extract it there, so that DIR/cifar-10-batches-py/data_batch_1 exists")
  if not data_dir:
    raise DataError(f"cifar10: set --config.data.data_dir=DIR; {hint}")
  for d in (data_dir, os.path.join(data_dir, "cifar-10-batches-py")):
    if all(os.path.isfile(os.path.join(d, f)) for f in FILES):
      return d
  missing = [f for f in FILES
             if not os.path.isfile(os.path.join(data_dir, "cifar-10-batches-py", f))]
  raise DataError(f"cifar10: {data_dir} lacks {', '.join(missing)}; {hint}")


def _read_batch(path: str) -> tuple[np.ndarray, np.ndarray]:
  b = safe_pickle.load_file(path, encoding="bytes")
  try:
    data = np.asarray(b[b"data"], np.uint8)
    labels = np.asarray(b[b"labels"], np.int64)
  except (KeyError, TypeError):
    raise DataError(f"{path}: not a CIFAR-10 batch (needs b'data' and b'labels')") from None
  if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
    raise DataError(f"{path}: data has shape {data.shape}, expected [N, 3072] with N labels")
  return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels  # rows are channel-major


def _read_names(path: str) -> list[str]:
  meta = safe_pickle.load_file(path, encoding="bytes")
  try:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in meta[b"label_names"]]
  except (KeyError, TypeError):
    raise DataError(f"{path}: not CIFAR-10's batches.meta (needs b'label_names')") from None


def read_official(data_dir: str):
  """Returns `(train_images, train_labels, test_images, test_labels, class_names)`."""
  d = find_batches_dir(data_dir)
  parts = [_read_batch(os.path.join(d, f"data_batch_{i}")) for i in range(1, 6)]
  x_test, y_test = _read_batch(os.path.join(d, "test_batch"))
  names = _read_names(os.path.join(d, "batches.meta"))
  return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
          x_test, y_test, names)


def load(config) -> Dataset:
  x_tr, y_tr, x_te, y_te, names = read_official(config.data_dir)
  return Dataset("cifar10", Split(x_tr, y_tr, y_tr.copy()), Split(x_te, y_te, y_te.copy()),
                 10, names, MEAN, STD)
