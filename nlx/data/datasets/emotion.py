"""Visual sentiment / emotion benchmarks of ARNet, read from their official releases.

None can be downloaded by nlx; each loader names what to put where when it is missing.
`data.data_dir` is the extracted release:
- `fi` (You et al., AAAI 2016; 8 emotions, 23,308 images): `DIR/<emotion>/*.jpg` with
  folders amusement, anger, awe, contentment, disgust, excitement, fear, sadness.
  ARNet's split 80/5/15 (train/val/test).
- `emotion6` (Peng et al., CVPR 2015; 6 emotions, 1,980 images): `DIR/images/<emotion>/`
  (or `DIR/<emotion>/`) with anger, disgust, fear, joy, sadness, surprise. Split 80/20.
- `artphoto` (Machajdik & Hanbury, ACM MM 2010; 806 images): files named
  `<emotion>_<id>.jpg` in `DIR`; mapped to binary sentiment, positive = amusement, awe,
  contentment, excitement, negative = anger, disgust, fear, sad. Split 80/20.
- `unbiasedemo` (Panda et al., ECCV 2018; 6 emotions, 3,045 images):
  `DIR/images/<emotion>/**/*.jpg` (or `DIR/<emotion>/...`) with anger, fear, joy, love,
  sadness, surprise. Split 80/20.
Label noise (symmetric or virtual agent) comes from `config.noise`.
"""

import os

from nlx.data.datasets import image_folder
from nlx.data.types import Dataset
from nlx.errors import DataError

FOLDERS = {
    "fi": ("amusement", "anger", "awe", "contentment", "disgust", "excitement", "fear",
           "sadness"),
    "emotion6": ("anger", "disgust", "fear", "joy", "sadness", "surprise"),
    "unbiasedemo": ("anger", "fear", "joy", "love", "sadness", "surprise"),
}
ARTPHOTO = {"amusement": 1, "awe": 1, "contentment": 1, "excitement": 1,
            "anger": 0, "disgust": 0, "fear": 0, "sad": 0}
SOURCES = {
    "fi": "the F&I release (You et al. 2016, 'Flickr and Instagram' emotion dataset)",
    "emotion6": "Emotion6 (chenlab.ece.cornell.edu/downloads.html)",
    "artphoto": "ArtPhoto (testImages_artphoto from Machajdik & Hanbury 2010)",
    "unbiasedemo": "UnBiasedEmo (Panda et al. 2018)",
}


def _missing(name, d, what):
  raise DataError(f"{name}: {d or '(data.data_dir unset)'} lacks {what}; download "
                  f"{SOURCES[name]} and extract it there (see nlx/data/datasets/emotion.py)")


def _images_under(folder):
  out = []
  for dirpath, _, files in sorted(os.walk(folder)):
    out += [os.path.join(dirpath, f) for f in sorted(files)
            if f.lower().endswith(image_folder.EXTENSIONS)]
  return out


def _class_folders(name, d):
  classes = FOLDERS[name]
  root = os.path.join(d, "images") if os.path.isdir(os.path.join(d, "images")) else d
  missing = [c for c in classes if not os.path.isdir(os.path.join(root, c))]
  if not d or missing:
    _missing(name, d, f"the class folders {missing or classes} (expected DIR/<emotion>/*.jpg)")
  paths, labels = [], []
  for k, c in enumerate(classes):
    files = _images_under(os.path.join(root, c))
    paths += files
    labels += [k] * len(files)
  return paths, labels, list(classes)


def _artphoto(d):
  if not d or not os.path.isdir(d):
    _missing("artphoto", d, "the images <emotion>_<id>.jpg")
  paths, labels = [], []
  for p in _images_under(d):
    prefix = os.path.basename(p).split("_")[0].lower()
    if prefix in ARTPHOTO:
      paths.append(p)
      labels.append(ARTPHOTO[prefix])
  if not paths:
    _missing("artphoto", d, "images named <emotion>_<id>.jpg")
  return paths, labels, ["negative", "positive"]


def load(config, name: str) -> Dataset:
  """`name`: fi, emotion6, artphoto or unbiasedemo."""
  if name == "artphoto":
    paths, labels, classes = _artphoto(config.data_dir)
  else:
    paths, labels, classes = _class_folders(name, config.data_dir)
  return image_folder.build(name, paths, labels, classes, config)
