"""User image datasets: `root/<class>/*.{jpg,png,...}` or a CSV of `path,label`.

`data.data_dir` is the root. With `data.csv_file` (paths relative to the CSV's folder;
labels are class names or integers; a header line such as `filename,class` is recognised
by its first field, which is no image path), the CSV lists the examples instead.
`data.class_names` fixes the classes and their order: a label (folder or CSV) not among
them is an error listing its near matches. Without it, labels that differ only in case, a
rare label that looks like a typo of a common one, and integer labels that leave classes
empty are errors (`nlx.data.listing`). A path listed twice, or two files with the same
pixels (which could land on both sides of the train/test split), is an error, or with
`data.duplicates='drop'` the first is kept (a path listed with two labels is dropped).
Images are decoded lazily by the input pipeline; every file is checked once at load:
missing and unreadable files are counted apart; `data.corrupt_images = "error"` stops
naming the first, `"skip"` drops them. Splits are seeded: `data.split` 80/20 or 80/5/15.
With `data.test_csv_file` (a second `path,label` CSV, same classes) every example of the
first listing is trained on (and so gets a label-issue score) and the second is the test
set; `data.split` is then unused. Test labels are the user's, "as given" (not known to be
clean).
"""

import csv
import hashlib
import os

import numpy as np
from absl import logging
from PIL import Image

from nlx.data import listing
from nlx.data.types import Dataset, Split, parse_split, seeded_split
from nlx.errors import ConfigError, DataError
from nlx.io import reading

EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".pgm", ".ppm", ".tif", ".tiff", ".webp")


def to_rgb8(im: Image.Image) -> np.ndarray:
  """A PIL image as RGB uint8 `[H, W, 3]`, scaling 16-bit and float pixels to 0..255
  (PIL's own `convert("RGB")` clips 16-bit grey values at 255 instead)."""
  if im.mode.startswith("I;16") or im.mode == "I":
    x = np.asarray(im, np.float64)
    if im.mode == "I" and x.max() <= 255:
      x = x * 257  # an 8-bit image stored as 32-bit integers
    grey = np.clip(np.round(x / 257), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)
  if im.mode == "F":
    x = np.asarray(im, np.float64)
    x = x * 255 if x.max() <= 1 else x  # floats in [0, 1], else already 0..255
    grey = np.clip(np.round(x), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)
  return np.asarray(im.convert("RGB"), np.uint8)


def decode_image(path: str) -> np.ndarray:
  """Reads an image file as RGB uint8 `[H, W, 3]`; a DataError names a missing or
  corrupt file."""
  try:
    with Image.open(path) as im:
      return to_rgb8(im)
  except FileNotFoundError:
    raise DataError(f"missing image file {path}") from None
  except (OSError, ValueError, SyntaxError) as e:
    raise DataError(f"corrupt or truncated image {path}: {e}") from None


def _check(path: str) -> tuple[str, str | None]:
  """`("ok", digest of the pixels)`, `("missing", None)` or `("corrupt", None)`."""
  if not os.path.isfile(path):
    return "missing", None
  try:
    pixels = decode_image(path)
  except DataError:
    return "corrupt", None
  return "ok", hashlib.sha1(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()


def _from_folders(root):
  classes = sorted(e.name for e in os.scandir(root) if e.is_dir())
  if not classes:
    raise DataError(f"image_folder: {root} has no class sub-folders; expected root/<class>/*.jpg")
  paths, labels = [], []
  for c in classes:
    for f in sorted(os.listdir(os.path.join(root, c))):
      if f.lower().endswith(EXTENSIONS):
        paths.append(os.path.join(root, c, f))
        labels.append(c)
  return paths, labels


def _is_header(row, base) -> bool:
  first = row[0].strip()
  return not first.lower().endswith(EXTENSIONS) and not os.path.isfile(os.path.join(base, first))


def _from_csv(csv_path):
  if not os.path.isfile(csv_path):
    raise DataError(f"image_folder: CSV file not found: {csv_path} (expected lines path,label)")
  base = os.path.dirname(csv_path)
  with reading(csv_path, "CSV file of path,label lines"), open(csv_path, newline="") as f:
    rows = [r for r in csv.reader(f) if r]
  if rows and _is_header(rows[0], base):
    rows = rows[1:]
  short = next((i for i, r in enumerate(rows) if len(r) < 2), None)
  if short is not None:
    raise DataError(f"{csv_path}: every line must be path,label (line {short + 1}: {rows[short]})")
  return [os.path.join(base, r[0].strip()) for r in rows], [r[1].strip() for r in rows]


def load(config) -> Dataset:
  root = config.data_dir
  if config.csv_file:
    source = config.csv_file
    paths, raw = _from_csv(config.csv_file)
  else:
    if not root or not os.path.isdir(root):
      raise DataError(f"image_folder: directory not found: {root or '(data.data_dir unset)'}; "
                      "expected root/<class>/*.jpg, or set data.csv_file")
    source = root
    paths, raw = _from_folders(root)
  if config.duplicates not in ("error", "drop"):
    raise ConfigError(f"data.duplicates must be 'error' or 'drop', got {config.duplicates!r}")
  classes, labels = listing.class_indices(raw, tuple(config.class_names), source)
  paths, labels, info = listing.drop_repeated_paths(paths, labels, classes, config.duplicates,
                                                    source)
  warning = info.pop("warning")
  if warning:
    logging.warning(warning)
  test = None
  if config.test_csv_file:
    if len(parse_split(config.split)) == 3:
      raise ConfigError(f"data.split={config.split!r} makes a validation split, which "
                        "data.test_csv_file does not: use data.split='80/20' with it")
    test_paths, test_raw = _from_csv(config.test_csv_file)
    _, test_labels = listing.class_indices(test_raw, tuple(classes), config.test_csv_file)
    test_paths, test_labels, _ = listing.drop_repeated_paths(
        test_paths, test_labels, classes, "error", config.test_csv_file)
    test = (test_paths, test_labels)
  ds = build("image_folder", paths, labels, classes, config, copies=config.duplicates,
             test=test)
  ds.info.update(info, test_labels="as given")
  return ds


def _report_unreadable(name, paths, status, mode):
  missing = [p for p, s in zip(paths, status) if s == "missing"]
  corrupt = [p for p, s in zip(paths, status) if s == "corrupt"]
  if not missing and not corrupt:
    return
  parts = ([f"{len(missing)} missing files (first {missing[0]})"] if missing else []) + (
      [f"{len(corrupt)} corrupt or truncated images (first {corrupt[0]})"] if corrupt else [])
  if mode == "error":
    raise DataError(f"{name}: {' and '.join(parts)} (set data.corrupt_images='skip' to drop them)")
  logging.warning("%s: skipped %s", name, " and ".join(parts))


def _drop_copies(name, paths, digests, mode) -> np.ndarray:
  """Mask of the files to keep: a file with the same pixels as an earlier one is an error
  (`mode="error"`) or dropped (`"drop"`); None: not checked."""
  keep = np.ones(len(paths), bool)
  if mode is None:
    return keep
  found = listing.copies(digests)
  if found and mode != "drop":
    i, j = next(iter(found.items()))
    raise DataError(f"{name}: {len(found)} files have the same pixels as another (first "
                    f"{paths[i]} = {paths[j]}), so a copy could be both trained and tested "
                    "on; remove the copies, or set data.duplicates='drop'")
  keep[list(found)] = False
  return keep


def build(name: str, paths, labels, classes, config, copies: str | None = None,
          test: tuple | None = None) -> Dataset:
  """A lazily decoded image dataset: checks every file once (`data.corrupt_images`; with
  `copies` "error"/"drop" also for files with the same pixels), then makes the seeded
  `data.split`, or with `test` (`(paths, labels)`) trains on all of `paths` and tests on
  those; ImageNet normalisation."""
  num_train = len(paths)
  if test is not None:
    paths, labels = [*paths, *test[0]], [*labels, *test[1]]
  if config.corrupt_images not in ("error", "skip"):
    raise ConfigError(f"data.corrupt_images must be 'error' or 'skip', "
                      f"got {config.corrupt_images!r}")
  if config.image_size <= 0:
    raise ConfigError(f"{name}: images differ in size; set data.image_size (e.g. 224)")
  checked = [_check(p) for p in paths]
  status = [s for s, _ in checked]
  _report_unreadable(name, paths, status, config.corrupt_images)
  ok = np.array([s == "ok" for s in status], bool)
  keep = ok & _drop_copies(name, paths, [d for _, d in checked], copies)
  is_test = np.arange(len(paths)) >= num_train
  paths = np.array(paths, dtype=object)[keep]
  labels = np.array(labels, np.int64)[keep]
  is_test = is_test[keep]
  if len(paths) == 0 or is_test.all():
    raise DataError(f"{name}: no readable images under {config.data_dir or config.csv_file}")
  if test is not None and not is_test.any():
    raise DataError(f"{name}: no readable images in data.test_csv_file {config.test_csv_file}")
  full = Split(paths, labels, labels.copy(), decode=decode_image)
  parts = ([full.subset(np.flatnonzero(~is_test)), full.subset(np.flatnonzero(is_test))]
           if test is not None else
           [full.subset(i) for i in seeded_split(len(full), parse_split(config.split),
                                                 config.split_seed)])
  return Dataset(name, parts[0], parts[-1], len(classes), list(classes),
                 mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                 val=parts[1] if len(parts) == 3 else None,
                 info={"skipped_corrupt_images": int(status.count("corrupt")),
                       "skipped_missing_files": int(status.count("missing")),
                       "dropped_copies": int((ok & ~keep).sum())})
