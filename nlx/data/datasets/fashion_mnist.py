"""Fashion-MNIST from its official idx files (`*-idx3-ubyte[.gz]`, `*-idx1-ubyte[.gz]`).

`data.data_dir` holds `train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`,
`t10k-images-idx3-ubyte.gz`, `t10k-labels-idx1-ubyte.gz` (gzipped or not); Debian's
`dataset-fashion-mnist` package installs them under /usr/share/datasets/fashion-mnist.
"""

import gzip
import os

import numpy as np

from nlx.data.types import Dataset, Split
from nlx.errors import DataError
from nlx.io import reading

CLASS_NAMES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"


def read_idx(path: str) -> np.ndarray:
  """Reads an idx file (magic: 0, 0, dtype code 0x08 = uint8, ndim; big-endian dims)."""
  opener = gzip.open if path.endswith(".gz") else open
  with reading(path, "idx file" + " (gzipped)" * path.endswith(".gz")), opener(path, "rb") as f:
    data = f.read()
  if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
    raise DataError(f"{path}: not a uint8 idx file")
  ndim = data[3]
  dims = np.frombuffer(data, ">u4", count=ndim, offset=4).astype(int)
  body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
  if body.size != int(np.prod(dims)):
    raise DataError(f"{path}: truncated idx file ({body.size} bytes for shape "
                    f"{tuple(int(n) for n in dims)})")
  return body.reshape(dims)


def _find(data_dir: str, stem: str) -> str:
  for name in (stem + ".gz", stem):
    p = os.path.join(data_dir, name)
    if os.path.isfile(p):
      return p
  raise DataError(f"fashion_mnist: {os.path.join(data_dir, stem)}[.gz] not found; put the four "
                  "official idx files (github.com/zalandoresearch/fashion-mnist) in data_dir, "
                  "or `apt-get install dataset-fashion-mnist`")


def load(config) -> Dataset:
  d = config.data_dir or DEFAULT_DIR
  x_tr = read_idx(_find(d, "train-images-idx3-ubyte"))[..., None]
  y_tr = read_idx(_find(d, "train-labels-idx1-ubyte")).astype(np.int64)
  x_te = read_idx(_find(d, "t10k-images-idx3-ubyte"))[..., None]
  y_te = read_idx(_find(d, "t10k-labels-idx1-ubyte")).astype(np.int64)
  if len(x_tr) != len(y_tr) or len(x_te) != len(y_te):
    raise DataError(f"fashion_mnist: image and label counts differ in {d}")
  return Dataset("fashion_mnist", Split(x_tr, y_tr, y_tr.copy()), Split(x_te, y_te, y_te.copy()),
                 10, CLASS_NAMES, mean=(0.2860,), std=(0.3530,))
