"""User image datasets: `root/<class>/*.{jpg,png,...}` or a CSV of `path,label`.

`data.data_dir` is the root. With `data.csv_file` (paths relative to the CSV's folder;
labels are class names or integers), the CSV lists the examples instead of the folders.
Images are decoded lazily by the input pipeline; every file is checked once at load:
`data.corrupt_images = "error"` stops on the first unreadable file naming it, `"skip"`
drops them and reports the count. Splits are seeded: `data.split` 80/20 or 80/5/15.
"""

import csv
import os

import numpy as np
from absl import logging
from PIL import Image

from nlx.data.types import Dataset, Split, parse_split, seeded_split
from nlx.errors import ConfigError, DataError

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff", ".webp")


def decode_image(path: str) -> np.ndarray:
  """Reads an image file as RGB uint8 `[H, W, 3]`; DataError naming the file if corrupt."""
  try:
    with Image.open(path) as im:
      return np.asarray(im.convert("RGB"), np.uint8)
  except (OSError, ValueError, SyntaxError) as e:
    raise DataError(f"corrupt or truncated image {path}: {e}") from None


def _is_readable(path: str) -> bool:
  try:
    decode_image(path)
    return True
  except DataError:
    return False


def _from_folders(root):
  classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
  if not classes:
    raise DataError(f"image_folder: {root} has no class sub-folders; expected root/<class>/*.jpg")
  paths, labels = [], []
  for k, c in enumerate(classes):
    for f in sorted(os.listdir(os.path.join(root, c))):
      if f.lower().endswith(EXTENSIONS):
        paths.append(os.path.join(root, c, f))
        labels.append(k)
  return paths, labels, classes


def _from_csv(csv_path):
  if not os.path.isfile(csv_path):
    raise DataError(f"image_folder: CSV file not found: {csv_path} (expected lines path,label)")
  base = os.path.dirname(csv_path)
  with open(csv_path, newline="") as f:
    rows = [r for r in csv.reader(f) if r]
  if rows and rows[0][:2] == ["path", "label"]:
    rows = rows[1:]
  if any(len(r) < 2 for r in rows):
    raise DataError(f"{csv_path}: every line must be path,label")
  raw = [r[1].strip() for r in rows]
  if all(x.lstrip("-").isdigit() for x in raw):
    labels = [int(x) for x in raw]
    if min(labels) < 0:
      raise DataError(f"{csv_path}: negative label {min(labels)}")
    classes = [str(i) for i in range(max(labels) + 1)]
  else:
    classes = sorted(set(raw))
    labels = [classes.index(x) for x in raw]
  return [os.path.join(base, r[0].strip()) for r in rows], labels, classes


def load(config) -> Dataset:
  root = config.data_dir
  if config.csv_file:
    paths, labels, classes = _from_csv(config.csv_file)
  else:
    if not root or not os.path.isdir(root):
      raise DataError(f"image_folder: directory not found: {root or '(data.data_dir unset)'}; "
                      "expected root/<class>/*.jpg, or set data.csv_file")
    paths, labels, classes = _from_folders(root)
  return build("image_folder", paths, labels, classes, config)


def build(name: str, paths, labels, classes, config) -> Dataset:
  """A lazily decoded image dataset: checks every file once (`data.corrupt_images`),
  then makes the seeded `data.split`; ImageNet normalisation."""
  if config.corrupt_images not in ("error", "skip"):
    raise ConfigError(f"data.corrupt_images must be 'error' or 'skip', got {config.corrupt_images!r}")
  if config.image_size <= 0:
    raise ConfigError(f"{name}: images differ in size; set data.image_size (e.g. 224)")
  ok = np.array([_is_readable(p) for p in paths], bool)
  if not ok.all():
    bad = [p for p, good in zip(paths, ok) if not good]
    if config.corrupt_images == "error":
      raise DataError(f"{name}: {len(bad)} corrupt or truncated images, first {bad[0]} "
                      "(set data.corrupt_images='skip' to drop them)")
    logging.warning("%s: skipped %d corrupt images (first: %s)", name, len(bad), bad[0])
  paths = np.array(paths, dtype=object)[ok]
  labels = np.array(labels, np.int64)[ok]
  if len(paths) == 0:
    raise DataError(f"{name}: no readable images under {config.data_dir or config.csv_file}")
  full = Split(paths, labels, labels.copy(), decode=decode_image)
  parts = [full.subset(i) for i in seeded_split(len(full), parse_split(config.split),
                                                config.split_seed)]
  return Dataset(name, parts[0], parts[-1], len(classes), list(classes),
                 mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                 val=parts[1] if len(parts) == 3 else None,
                 info={"skipped_corrupt_images": int((~ok).sum())})
