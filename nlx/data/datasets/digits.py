"""scikit-learn's `load_digits` (1,797 8x8 grey digits, 10 classes): the embedded default.

Ships inside the scikit-learn wheel, so it needs no download. Pixels 0..16 are scaled to
uint8 0..255; the split is seeded (`data.split`, default 80/20, or 80/5/15 with val).
"""

import numpy as np

from nlx.data.types import Dataset, Split, parse_split, seeded_split


def load(config) -> Dataset:
  from sklearn.datasets import load_digits  # here, not at start-up (scipy: about 2 s)
  d = load_digits()
  images = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]  # [N, 8, 8, 1]
  labels = d.target.astype(np.int64)
  full = Split(images, labels, labels.copy())
  parts = [full.subset(i) for i in seeded_split(len(full), parse_split(config.split),
                                                config.split_seed)]
  train, test = parts[0], parts[-1]
  val = parts[1] if len(parts) == 3 else None
  x = images.astype(np.float32) / 255.0
  return Dataset("digits", train, test, 10, [str(i) for i in range(10)],
                 mean=(float(x.mean()),), std=(float(x.std()),), val=val)
