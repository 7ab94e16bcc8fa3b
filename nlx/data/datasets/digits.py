"""scikit-learn's `load_digits` (1,797 8x8 grey digits, 10 classes): the embedded default.

Ships inside the scikit-learn wheel, so it needs no download. Pixels 0..16 are scaled to
uint8 0..255; the split is seeded (`data.split`, default 80/20, or 80/5/15 with val).
The rows are read from the file scikit-learn ships (`sklearn/datasets/data/digits.csv.gz`,
what `load_digits` reads) without importing scikit-learn, whose import (scipy, pandas)
took 3-4 s of the quickstart's start; a scikit-learn without that file is asked through
`load_digits`.
"""

import gzip
import importlib.util
import os

import numpy as np

from nlx import io
from nlx.data.types import Dataset, Split, parse_split, seeded_split


def shipped_file() -> str | None:
  """The path of scikit-learn's `digits.csv.gz`, found without importing scikit-learn (None:
  not there)."""
  spec = importlib.util.find_spec("sklearn")
  for folder in (spec.submodule_search_locations or []) if spec else []:
    path = os.path.join(folder, "datasets", "data", "digits.csv.gz")
    if os.path.isfile(path):
      return path
  return None


def read() -> tuple[np.ndarray, np.ndarray]:
  """`(images [1797, 8, 8] float64 0..16, labels [1797] int64)`, as `load_digits`."""
  path = shipped_file()
  if path is None:
    from sklearn.datasets import load_digits
    d = load_digits()
    return d.images, d.target.astype(np.int64)
  fix = "reinstall scikit-learn (pip install --force-reinstall scikit-learn)"
  with io.reading(path, "scikit-learn digits file", fix):
    with gzip.open(path, "rt") as f:
      rows = np.loadtxt(f, delimiter=",", ndmin=2)
    if rows.shape != (1797, 65):  # a file cut at a line's end parses, with fewer rows
      raise ValueError(f"{rows.shape[0]} rows of {rows.shape[1]} values, not 1797 of 65")
  return rows[:, :-1].reshape(-1, 8, 8), rows[:, -1].astype(np.int64)


def load(config) -> Dataset:
  pixels, labels = read()
  images = np.round(pixels * (255.0 / 16.0)).astype(np.uint8)[..., None]  # [N, 8, 8, 1]
  full = Split(images, labels, labels.copy())
  parts = [full.subset(i) for i in seeded_split(len(full), parse_split(config.split),
                                                config.split_seed)]
  train, test = parts[0], parts[-1]
  val = parts[1] if len(parts) == 3 else None
  x = images.astype(np.float32) / 255.0
  return Dataset("digits", train, test, 10, [str(i) for i in range(10)],
                 mean=(float(x.mean()),), std=(float(x.std()),), val=val)
