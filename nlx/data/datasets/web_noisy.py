"""Large real-noise image sets, read from their official releases in `data.data_dir`:
Clothing1M, WebVision 1.0 (and mini-WebVision), and ImageNet (ILSVRC 2012) for
generated noise. Images are decoded lazily; at this size they are not pre-scanned, so a
corrupt file stops training with a DataError naming it. ImageNet normalisation.

Clothing1M (Xiao et al. 2015; ask the authors for the release), in `data_dir`:
  `category_names_eng.txt`, `noisy_label_kv.txt` and `clean_label_kv.txt` (lines
  `images/0/00/x.jpg 3`), `noisy_train_key_list.txt`, `clean_train_key_list.txt`,
  `clean_val_key_list.txt`, `clean_test_key_list.txt`, and the extracted `images/`.
  Train: the noisy training list plus the clean training images that also have a noisy
  label, with their noisy labels; the clean label where it is known (else the noisy
  one) is `clean_labels`, and `extras["known_label"]` (clean label on the clean
  training list, else -1) is the clean subset D_c of the noise-type model. Val / test:
  the clean lists with clean labels.
WebVision 1.0 (Li et al. 2017; the resized "256" release), in `data_dir`:
  `info/train_filelist_google.txt`, `info/train_filelist_flickr.txt` (lines
  `google/q0001/x.jpg 0`), `info/val_filelist.txt` (`val000001.jpg 0`, images in
  `val_images_256/`), `info/synsets.txt` (the 1,000 WordNet ids in class order) and the
  image folders. Train: Google + Flickr with their web labels (clean labels unknown:
  equal to them); test: the WebVision val set. mini-WebVision: the first 50 classes,
  Google images only (the common protocol); with `data.imagenet_val_dir` (ILSVRC 2012
  val as `<wnid>/*.JPEG` folders) the ImageNet val images of those classes are the `val`
  split.
ImageNet: `data_dir/train/<wnid>/*.JPEG` and `data_dir/val/<wnid>/*.JPEG` (the usual
  re-organised ILSVRC 2012 layout); noise is generated (`noise.type=symmetric_uniform`,
  `noise.rate=0.4` for SINet's "40% uniform flips").
Class names are the WordNet ids where the release has them, so that a WordNet
hierarchy file (`wnid parent_wnid` lines) serves SINet directly.
"""

import os

import numpy as np

from nlx.data.datasets import image_folder
from nlx.data.types import Dataset, Split
from nlx.errors import ConfigError, DataError
from nlx.io import reading

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _need(data_dir: str, name: str, files) -> None:
  missing = [f for f in files if not os.path.exists(os.path.join(data_dir, f))]
  if not data_dir or missing:
    raise DataError(f"{name}: data.data_dir={data_dir or '(unset)'} lacks {', '.join(missing)}; "
                    f"put the official release there (see nlx/data/datasets/web_noisy.py)")


def _read_kv(path: str) -> dict:
  out = {}
  with reading(path, "list of '<image path> <label>' lines"), open(path) as f:
    for n, line in enumerate(f, 1):
      parts = line.split()
      if not parts:
        continue
      if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
        raise DataError(f"{path}:{n}: expected '<image path> <label>'")
      out[parts[0]] = int(parts[1])
  return out


def _read_list(path: str) -> list:
  with reading(path, "text file of one entry a line"), open(path) as f:
    return [line.strip() for line in f if line.strip()]


def _image_split(root: str, keys, labels, clean=None, extras=None) -> Split:
  labels = np.asarray(labels, np.int64)
  paths = np.array([os.path.join(root, k) for k in keys], dtype=object)
  return Split(paths, labels, labels.copy() if clean is None else np.asarray(clean, np.int64),
               decode=image_folder.decode_image, extras=extras or {})


def _check_image_size(config, name):
  if config.image_size <= 0:
    raise ConfigError(f"{name}: images differ in size; set data.image_size (e.g. 224)")


def load_clothing1m(config) -> Dataset:
  d = config.data_dir
  files = ("category_names_eng.txt", "noisy_label_kv.txt", "clean_label_kv.txt",
           "noisy_train_key_list.txt", "clean_train_key_list.txt", "clean_val_key_list.txt",
           "clean_test_key_list.txt", "images")
  _need(d, "clothing1m", files)
  _check_image_size(config, "clothing1m")
  names = _read_list(os.path.join(d, "category_names_eng.txt"))
  noisy = _read_kv(os.path.join(d, "noisy_label_kv.txt"))
  clean = _read_kv(os.path.join(d, "clean_label_kv.txt"))
  clean_train = _read_list(os.path.join(d, "clean_train_key_list.txt"))
  keys = _read_list(os.path.join(d, "noisy_train_key_list.txt"))
  seen = set(keys)
  keys += [k for k in clean_train if k in noisy and k not in seen]
  missing = [k for k in keys if k not in noisy]
  if missing:
    raise DataError(f"clothing1m: {len(missing)} training keys have no noisy label, first "
                    f"{missing[0]}")
  in_clean_train = set(clean_train)
  known = [clean[k] if k in in_clean_train and k in clean else -1 for k in keys]
  train = _image_split(d, keys, [noisy[k] for k in keys], [clean.get(k, noisy[k]) for k in keys],
                       {"known_label": np.asarray(known, np.int64)})

  def clean_split(list_name):
    ks = _read_list(os.path.join(d, list_name))
    bad = [k for k in ks if k not in clean]
    if bad:
      raise DataError(f"clothing1m: {list_name} key {bad[0]} has no clean label")
    return _image_split(d, ks, [clean[k] for k in ks])

  return Dataset("clothing1m", train, clean_split("clean_test_key_list.txt"), len(names), names,
                 IMAGENET_MEAN, IMAGENET_STD, val=clean_split("clean_val_key_list.txt"))


def _synsets(path: str) -> list:
  return [line.split()[0] for line in _read_list(path)]


def load_webvision(config, mini: bool = False) -> Dataset:
  d = config.data_dir
  name = "mini_webvision" if mini else "webvision"
  files = ["info/train_filelist_google.txt", "info/val_filelist.txt", "info/synsets.txt"]
  if not mini:
    files.append("info/train_filelist_flickr.txt")
  _need(d, name, files)
  _check_image_size(config, name)
  wnids = _synsets(os.path.join(d, "info", "synsets.txt"))
  num_classes = min(50, len(wnids)) if mini else len(wnids)
  train = _read_kv(os.path.join(d, "info", "train_filelist_google.txt"))
  if not mini:
    train.update(_read_kv(os.path.join(d, "info", "train_filelist_flickr.txt")))
  val = _read_kv(os.path.join(d, "info", "val_filelist.txt"))
  train = {k: v for k, v in train.items() if v < num_classes}
  val = {k: v for k, v in val.items() if v < num_classes}
  if min(list(train.values()) + list(val.values()), default=0) < 0:
    raise DataError(f"{name}: negative label in the file lists")
  tr = _image_split(d, list(train), list(train.values()))
  te = _image_split(os.path.join(d, "val_images_256"), list(val), list(val.values()))
  imagenet_val = None
  if mini and config.imagenet_val_dir:
    paths, labels = [], []
    for c, wnid in enumerate(wnids[:num_classes]):
      folder = os.path.join(config.imagenet_val_dir, wnid)
      if not os.path.isdir(folder):
        raise DataError(f"mini_webvision: ImageNet val folder {folder} not found "
                        "(expected data.imagenet_val_dir/<wnid>/*.JPEG)")
      files_c = sorted(f for f in os.listdir(folder) if f.lower().endswith(image_folder.EXTENSIONS))
      paths += [os.path.join(wnid, f) for f in files_c]
      labels += [c] * len(files_c)
    imagenet_val = _image_split(config.imagenet_val_dir, paths, labels)
  return Dataset(name, tr, te, num_classes, wnids[:num_classes], IMAGENET_MEAN, IMAGENET_STD,
                 val=imagenet_val)


def load_imagenet(config) -> Dataset:
  d = config.data_dir
  _need(d, "imagenet", ("train", "val"))
  _check_image_size(config, "imagenet")
  wnids = sorted(e.name for e in os.scandir(os.path.join(d, "train")) if e.is_dir())
  if not wnids:
    raise DataError(f"imagenet: {d}/train has no <wnid>/ class folders")
  splits = []
  for part in ("train", "val"):
    paths, labels = [], []
    for c, wnid in enumerate(wnids):
      folder = os.path.join(d, part, wnid)
      if not os.path.isdir(folder):
        raise DataError(f"imagenet: {folder} not found (val must have the train classes' folders)")
      files = sorted(f for f in os.listdir(folder) if f.lower().endswith(image_folder.EXTENSIONS))
      paths += [os.path.join(part, wnid, f) for f in files]
      labels += [c] * len(files)
    splits.append(_image_split(d, paths, labels))
  return Dataset("imagenet", splits[0], splits[1], len(wnids), wnids, IMAGENET_MEAN, IMAGENET_STD)
