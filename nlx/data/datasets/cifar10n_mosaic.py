"""Multi-label 2x2 mosaics of CIFAR-10 with CIFAR-10N noise, on cached features.

A real-image multi-label set for CAN and its baselines on the CPU: each example is a
2x2 mosaic of four CIFAR-10 images; its label vector `[10]` marks the classes present.
The input is the four tiles' cached backbone features concatenated in tile order
(`[4 * D]`), from the CPU protocol's `data.data_dir/features.npz`
(`python experiments/protocols.py` writes it). Training mosaics are drawn from the
45,000 non-pretraining images, test mosaics from the 10,000 test images; every image is
used about equally often (consecutive seeded permutations cut into groups of four).

- clean label vector: the union of the tiles' clean labels;
- noisy label vector: the union of the tiles' CIFAR-10N labels of `data.label_set`
  (`worst`: real human noise), or the clean vector for `clean` (then `noise.type=shuffle`
  applies CAN's Table-VI corruption).
`data.num_mosaics = (train, test)` sets the sizes (default 20,000 and 5,000).
"""

import os

import numpy as np

from nlx.data.datasets import features
from nlx.data.types import Dataset, Split
from nlx.errors import ConfigError, DataError
from nlx.io import reading

TILES = 4


def mosaic_index(num_images: int, num_mosaics: int, seed: int) -> np.ndarray:
  """`[num_mosaics, 4]` image indices: consecutive permutations of `range(num_images)`,
  so that every image is used floor or ceil of `4 * num_mosaics / num_images` times."""
  rng = np.random.default_rng(seed)
  passes = -(-TILES * num_mosaics // num_images)
  order = np.concatenate([rng.permutation(num_images) for _ in range(passes)])
  return order[:TILES * num_mosaics].reshape(num_mosaics, TILES)


def union_labels(labels: np.ndarray, index: np.ndarray, num_classes: int) -> np.ndarray:
  """`[M, C]` float32 0/1: the classes present among each mosaic's tiles."""
  out = np.zeros((len(index), num_classes), np.float32)
  out[np.arange(len(index))[:, None], labels[index]] = 1.0
  return out


def load(config) -> Dataset:
  path = os.path.join(config.data_dir, "features.npz")
  if not config.data_dir or not os.path.isfile(path):
    raise DataError(f"cifar10n_mosaic: {path} not found; write the CPU-protocol feature cache "
                    "with `python experiments/protocols.py --out=DIR` and set data.data_dir=DIR")
  label_set = config.label_set or "worst"
  with (reading(path, "NumPy .npz archive", features.REWRITE),
        np.load(path, allow_pickle=False) as f):
    key = f"train_labels_{label_set}"
    if key not in f.files:
      raise ConfigError(f"data.label_set={label_set!r}: {path} has no {key}")
    feats, clean, noisy = f["train_features"], f["train_clean_labels"], f[key]
    test_feats, test_labels = f["test_features"], f["test_labels"]
    names = [str(n) for n in f["class_names"]] if "class_names" in f.files else None
  num_classes = int(max(clean.max(), test_labels.max())) + 1
  n_train, n_test = (int(n) for n in config.num_mosaics)
  tr = mosaic_index(len(feats), n_train, config.split_seed)
  te = mosaic_index(len(test_feats), n_test, config.split_seed + 1)
  x_tr = feats[tr].reshape(n_train, -1).astype(np.float32)
  x_te = test_feats[te].reshape(n_test, -1).astype(np.float32)
  y_clean = union_labels(clean, tr, num_classes)
  y_test = union_labels(test_labels, te, num_classes)
  return Dataset("cifar10n_mosaic",
                 Split(x_tr, union_labels(noisy, tr, num_classes), y_clean),
                 Split(x_te, y_test, y_test.copy()), num_classes,
                 names or [str(i) for i in range(num_classes)], mean=(0.0,), std=(1.0,),
                 info={"label_set": label_set}, multi_label=True)
