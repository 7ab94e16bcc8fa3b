"""A user's multi-label image list, e.g. CAN's WEB set (YFCC images whose tags were
mapped to the 20 VOC classes).

`data.csv_file` lists `path,tags` lines (header optional): an image path relative to
the CSV's folder, then its class names separated by spaces or `|` (the noisy, web
labels that training sees). Class names are the VOC classes unless a `classes.txt`
(one name per line) sits beside the CSV; an unknown tag is an error naming it. The
split is seeded (`data.split`); with no clean labels, the test labels are the given
ones (evaluate on a clean set, e.g. VOC 2007 test, by training on this and testing
with `nlx.train.Trainer.evaluate`).
"""

import csv
import os
import re

import numpy as np

from nlx.data.datasets import image_folder, voc
from nlx.data.types import Dataset, Split, parse_split, seeded_split
from nlx.errors import ConfigError, DataError
from nlx.io import reading


def read(csv_path: str) -> tuple[list, np.ndarray, list]:
  if not csv_path or not os.path.isfile(csv_path):
    raise DataError(f"multilabel_list: data.csv_file not found: {csv_path or '(unset)'} "
                    "(expected lines path,tag1 tag2 ...)")
  base = os.path.dirname(csv_path)
  names_file = os.path.join(base, "classes.txt")
  if os.path.isfile(names_file):
    with reading(names_file, "text file of class names"), open(names_file) as f:
      classes = [line.strip() for line in f if line.strip()]
  else:
    classes = list(voc.CLASSES)
  with reading(csv_path, "CSV file of path,tags lines"), open(csv_path, newline="") as f:
    rows = [r for r in csv.reader(f) if r]
  if rows and rows[0][:2] == ["path", "tags"]:
    rows = rows[1:]
  paths, labels = [], np.zeros((len(rows), len(classes)), np.float32)
  for i, row in enumerate(rows):
    if len(row) != 2:
      raise DataError(f"{csv_path}: line {i + 1} must be path,tags")
    paths.append(os.path.join(base, row[0].strip()))
    for tag in filter(None, re.split(r"[ |]+", row[1].strip())):
      if tag not in classes:
        raise DataError(f"{csv_path}: line {i + 1}: unknown class {tag!r} (classes: "
                        f"{'classes.txt' if os.path.isfile(names_file) else 'the VOC 20'})")
      labels[i, classes.index(tag)] = 1.0
  return paths, labels, classes


def load(config) -> Dataset:
  if config.image_size <= 0:
    raise ConfigError("multilabel_list: images differ in size; set data.image_size (e.g. 224)")
  paths, labels, classes = read(config.csv_file)
  bad = [p for p in paths if not os.path.isfile(p)]
  if bad:
    raise DataError(f"multilabel_list: {len(bad)} listed images are missing, first {bad[0]}")
  full = Split(np.array(paths, dtype=object), labels, labels.copy(),
               decode=image_folder.decode_image)
  parts = [full.subset(i) for i in seeded_split(len(full), parse_split(config.split),
                                                config.split_seed)]
  return Dataset("multilabel_list", parts[0], parts[-1], len(classes), classes,
                 mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                 val=parts[1] if len(parts) == 3 else None, multi_label=True)
