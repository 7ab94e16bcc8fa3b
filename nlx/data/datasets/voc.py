"""PASCAL VOC 2007 / 2012 image classification as multi-label data (20 classes).

`data.data_dir` holds the official release, either extracted (`VOCdevkit/VOC2007/...`)
or as the tars, which are extracted there on first use:
- VOC 2007: `VOCtrainval_06-Nov-2007.tar` and `VOCtest_06-Nov-2007.tar`; train on
  `trainval` (5,011 images), test on `test` (4,952).
- VOC 2012: `VOCtrainval_11-May-2012.tar`; its test labels are not public, so train on
  `train` (5,717) and test on `val` (5,823), as is usual.
Labels come from `ImageSets/Main/<class>_<split>.txt` (1 present, -1 absent, 0 present
but "difficult"); a difficult object counts as present. Images are read lazily from
`JPEGImages/` (`data.image_size` sets the crop, e.g. 224; ImageNet normalisation).
The clean labels are the released ones; noise is added with `noise.type='shuffle'`.
"""

import os
import tarfile

import numpy as np

from nlx.data.datasets import image_folder
from nlx.data.types import Dataset, Split
from nlx.errors import ConfigError, DataError
from nlx.io import reading

CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
           "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
           "train", "tvmonitor")
RELEASES = {
    "2007": {"tars": ("VOCtrainval_06-Nov-2007.tar", "VOCtest_06-Nov-2007.tar"),
             "splits": ("trainval", "test")},
    "2012": {"tars": ("VOCtrainval_11-May-2012.tar",), "splits": ("train", "val")},
}


def _ensure_extracted(data_dir: str, year: str) -> str:
  root = os.path.join(data_dir, "VOCdevkit", f"VOC{year}")
  tars = RELEASES[year]["tars"]
  if os.path.isdir(os.path.join(root, "ImageSets", "Main")):
    return root
  missing = [t for t in tars if not os.path.isfile(os.path.join(data_dir, t))]
  if not data_dir or missing:
    raise DataError(f"voc{year}: neither {root}/ImageSets/Main nor the official tars "
                    f"{', '.join(tars)} in data.data_dir={data_dir or '(unset)'}; download "
                    "them from http://host.robots.ox.ac.uk/pascal/VOC/ into that directory")
  for t in tars:
    _extract(os.path.join(data_dir, t), data_dir)
  return root


def _extract(tar_path: str, out_dir: str) -> None:
  """Extracts a release tar; one cut short or damaged is a one-line DataError naming it
  (tarfile itself stops quietly at a cut inside the last member it finds)."""
  with reading(tar_path, "tar archive", "download it again"), tarfile.open(tar_path) as f:
    members = f.getmembers()
    f.fileobj.seek(f.offset)
    if len(f.fileobj.read(512)) < 512:  # a whole tar ends with blocks of zeros
      raise EOFError("it stops without the end-of-archive blocks, after "
                     f"{members[-1].name if members else 'no whole member'}")
    f.extractall(out_dir, members=members, filter="data")


def read_split(root: str, split: str) -> tuple[list, np.ndarray]:
  """`(image paths, [N, 20] float32 0/1 labels)` of one ImageSets/Main split."""
  ids, rows = None, []
  for name in CLASSES:
    path = os.path.join(root, "ImageSets", "Main", f"{name}_{split}.txt")
    if not os.path.isfile(path):
      raise DataError(f"{path} not found (incomplete VOC release)")
    with reading(path, "VOC image set"), open(path) as f:
      pairs = [line.split() for line in f if line.strip()]
    if any(len(p) != 2 or p[1] not in ("1", "-1", "0") for p in pairs):
      raise DataError(f"{path}: expected lines '<image id> <1|-1|0>'")
    if ids is None:
      ids = [p[0] for p in pairs]
    elif [p[0] for p in pairs] != ids:
      raise DataError(f"{path}: image ids differ from {CLASSES[0]}_{split}.txt")
    rows.append([p[1] != "-1" for p in pairs])
  labels = np.array(rows, np.float32).T
  return [os.path.join(root, "JPEGImages", f"{i}.jpg") for i in ids], labels


def load_year(config, year: str) -> Dataset:
  if config.image_size <= 0:
    raise ConfigError(f"voc{year}: images differ in size; set data.image_size (e.g. 224)")
  root = _ensure_extracted(config.data_dir, year)
  splits = []
  for split in RELEASES[year]["splits"]:
    paths, labels = read_split(root, split)
    bad = [p for p in paths if not os.path.isfile(p)]
    if bad:
      raise DataError(f"voc{year}: {len(bad)} images listed in {split} are missing, first {bad[0]}")
    splits.append(Split(np.array(paths, dtype=object), labels, labels.copy(),
                        decode=image_folder.decode_image))
  return Dataset(f"voc{year}", splits[0], splits[1], len(CLASSES), list(CLASSES),
                 mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), multi_label=True)
