"""Multi-label loaders: PASCAL VOC from its release tars, a tagged image list, features."""

import os
import tarfile

import numpy as np
import pytest
from conftest import load_config
from PIL import Image

from nlx import data as data_lib
from nlx.data.datasets import voc
from nlx.errors import ConfigError, DataError

# image id -> {class: flag} for the fake release (flags as in ImageSets/Main: 1, 0, -1)
TRAINVAL = {"000005": {"chair": 1, "person": 0}, "000007": {"car": 1},
            "000009": {"horse": 1, "person": 1}}
TEST = {"000001": {"dog": 1, "person": 1}, "000002": {"train": 1}}


def fake_voc2007(root):
  """The two VOC 2007 tars, holding VOCdevkit/VOC2007 with tiny JPEGs."""
  base = os.path.join(root, "build", "VOCdevkit", "VOC2007")
  os.makedirs(os.path.join(base, "ImageSets", "Main"))
  os.makedirs(os.path.join(base, "JPEGImages"))
  for split, table in (("trainval", TRAINVAL), ("test", TEST)):
    for name in voc.CLASSES:
      with open(os.path.join(base, "ImageSets", "Main", f"{name}_{split}.txt"), "w") as f:
        f.writelines(f"{i} {table[i].get(name, -1):>2}\n" for i in table)
    for i in table:
      Image.new("RGB", (20, 16), (int(i) * 40 % 255, 0, 0)).save(
          os.path.join(base, "JPEGImages", f"{i}.jpg"))
  for tar_name in voc.RELEASES["2007"]["tars"]:
    with tarfile.open(os.path.join(root, tar_name), "w") as t:
      t.add(os.path.join(root, "build", "VOCdevkit"), arcname="VOCdevkit")
  return root


def test_voc2007_from_the_release_tars(tmp_path):
  config = load_config("can_voc2007", "tiny")
  config.data.data_dir = fake_voc2007(str(tmp_path))
  ds = data_lib.load_dataset(config)
  assert ds.multi_label and ds.num_classes == 20 and len(ds.train) == 3 and len(ds.test) == 2
  k = voc.CLASSES.index
  want = np.zeros((3, 20), np.float32)
  want[0, [k("chair"), k("person")]] = 1  # a difficult (0) object counts as present
  want[1, k("car")] = 1
  want[2, [k("horse"), k("person")]] = 1
  np.testing.assert_array_equal(ds.train.labels, want)
  assert ds.train.decode(ds.train.inputs[0]).shape == (16, 20, 3)
  assert os.path.isdir(tmp_path / "VOCdevkit" / "VOC2007" / "JPEGImages")


def test_voc_missing_release_names_the_tars(tmp_path):
  config = load_config("can_voc2012", "tiny")
  config.data.data_dir = str(tmp_path)
  with pytest.raises(DataError, match="VOCtrainval_11-May-2012.tar"):
    data_lib.load_dataset(config)


def test_multilabel_list_reads_tags_and_rejects_unknown_ones(tmp_path):
  for i in range(10):
    Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(tmp_path / f"{i}.jpg")
  lines = ["path,tags"] + [f"{i}.jpg,dog person" if i % 2 else f"{i}.jpg,car" for i in range(10)]
  (tmp_path / "web.csv").write_text("\n".join(lines) + "\n")
  config = load_config("can_web", "tiny")
  config.data.csv_file = str(tmp_path / "web.csv")
  ds = data_lib.load_dataset(config)
  assert ds.multi_label and len(ds.train) + len(ds.test) == 10
  sums = np.concatenate([ds.train.labels, ds.test.labels]).sum(0)
  assert sums[voc.CLASSES.index("dog")] == 5 and sums[voc.CLASSES.index("car")] == 5
  (tmp_path / "web.csv").write_text("0.jpg,dgo\n")
  with pytest.raises(DataError, match="unknown class 'dgo'"):
    data_lib.load_dataset(config)


def test_features_multilabel_mode_and_shuffle_noise(tmp_path):
  rng = np.random.default_rng(0)
  y = (rng.random((300, 4)) < 0.4).astype(np.float32)
  np.savez(tmp_path / "features.npz", train_features=rng.standard_normal((300, 6)),
           train_labels=y, train_clean_labels=y, test_features=rng.standard_normal((50, 6)),
           test_labels=y[:50])
  config = load_config("can_amt", "shuffle60,bce,tiny")
  config.data.data_dir = str(tmp_path)
  ds = data_lib.load_dataset(config)
  assert ds.multi_label and ds.num_classes == 4
  # a shuffle permutes entries: every vector keeps its number of positives
  np.testing.assert_array_equal(ds.train.labels.sum(1), ds.train.clean_labels.sum(1))
  assert 0.2 < ds.info["noise_rate"] < 0.6
  config.noise.type = "pair"
  with pytest.raises(ConfigError, match="single-label"):
    data_lib.load_dataset(config)
