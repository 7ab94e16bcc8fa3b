"""Features of the user's own images (nlx.data.datasets.image_features): what is extracted,
the cache's key, resuming, and the run's label issues naming the files."""

import csv
import os

import jax
import ml_collections
import numpy as np
import pytest
from conftest import load_config, write_image_folder
from PIL import Image

from nlx import data as data_lib
from nlx import models, train
from nlx.data.datasets import image_features
from nlx.errors import DataError


def config_for(root, cache, **data):
  c = load_config("image_folder_features", "tiny")
  c.data.data_dir, c.data.features_cache = str(root), str(cache)
  for k, v in data.items():
    setattr(c.data, k, v)
  return c


@pytest.fixture
def folder(tmp_path):
  root = tmp_path / "images"
  write_image_folder(root, 10, size=(40, 30))  # 20 images, 30 wide: the crop's resize acts
  return root


def reference_features(path, size=32):
  """The backbone's pooled features of one file, worked out apart from the extractor:
  PIL's shorter side to round(size * 256 / 224), centre crop, ImageNet's mean and std
  in numpy, then nlx's random ResNet-18 (key 0) on that one image."""
  with Image.open(path) as im:
    im = im.convert("RGB")
    w, h = im.size
    short = round(size * 256 / 224)
    scale = short / min(w, h)
    im = im.resize((max(short, round(w * scale)), max(short, round(h * scale))),
                   Image.BILINEAR)
    x = np.asarray(im)
  top, left = (x.shape[0] - size) // 2, (x.shape[1] - size) // 2
  x = x[top:top + size, left:left + size] / 255.0
  x = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
  cfg = ml_collections.ConfigDict({"name": "resnet18_imagenet", "dtype": "float32",
                                   "conv": "xla", "pretrained": ""})
  m = models.create(cfg, 1000, (size, size, 3), jax.random.key(0))
  out, _ = models.apply(m.graphdef, m.params, m.state, x[None].astype(np.float32), train=False)
  return np.asarray(out.features[0])


def test_each_split_holds_its_files_features_and_paths(folder, tmp_path):
  ds = data_lib.load_dataset(config_for(folder, tmp_path / "cache"))
  assert ds.train.inputs.shape == (16, 512) and ds.test.inputs.shape == (4, 512)
  assert ds.info["backbone"] == "resnet18_imagenet" and ds.info["feature_dim"] == 512
  assert ds.class_names == ["cat", "dog"]
  for split in (ds.train, ds.test):
    assert split.paths is not None and len(split.paths) == len(split)
    for i in (0, len(split) - 1):  # the first and the last (a padded batch's) example
      np.testing.assert_allclose(split.inputs[i], reference_features(split.paths[i]),
                                 rtol=1e-4, atol=1e-4)
      assert split.labels[i] == ["cat", "dog"].index(os.path.basename(
          os.path.dirname(split.paths[i])))
  # a subset keeps each example's path with it
  sub = ds.train.subset(np.array([3, 1]))
  assert list(sub.paths) == [ds.train.paths[3], ds.train.paths[1]]


def count_extractions(monkeypatch) -> list:
  calls, real = [], image_features.Extractor.__call__

  def counted(self, paths, *args, **kwargs):
    calls.append(len(paths))
    return real(self, paths, *args, **kwargs)
  monkeypatch.setattr(image_features.Extractor, "__call__", counted)
  return calls


def test_the_cache_serves_the_same_list_and_a_changed_image_is_extracted_again(
    folder, tmp_path, monkeypatch):
  calls = count_extractions(monkeypatch)
  first = data_lib.load_dataset(config_for(folder, tmp_path / "cache"))
  assert calls == [20]
  again = data_lib.load_dataset(config_for(folder, tmp_path / "cache"))
  assert calls == [20]  # read from the cache
  np.testing.assert_array_equal(again.train.inputs, first.train.inputs)
  # another image in the same file: a fresh key, a fresh extraction, other features
  path = str(first.train.paths[0])
  Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(path)
  changed = data_lib.load_dataset(config_for(folder, tmp_path / "cache"))
  assert calls == [20, 20]
  assert not np.allclose(changed.train.inputs[0], first.train.inputs[0])
  np.testing.assert_array_equal(changed.train.inputs[1:], first.train.inputs[1:])


def test_the_key_changes_with_the_weights_the_size_and_the_list(folder, tmp_path):
  paths = sorted(str(p) for p in folder.rglob("*.png"))
  (tmp_path / "a.npz").write_bytes(b"one")
  (tmp_path / "b.npz").write_bytes(b"two")
  a, b = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
  key = image_features.cache_key(paths, "resnet18_imagenet", a, 32)
  assert key == image_features.cache_key(list(paths), "resnet18_imagenet", a, 32)
  others = {image_features.cache_key(paths, "resnet18_imagenet", b, 32),
            image_features.cache_key(paths, "resnet34_imagenet", a, 32),
            image_features.cache_key(paths, "resnet18_imagenet", a, 64),
            image_features.cache_key(paths[::-1], "resnet18_imagenet", a, 32),
            image_features.cache_key(paths[:-1], "resnet18_imagenet", a, 32)}
  assert key not in others and len(others) == 5
  (tmp_path / "a.npz").write_bytes(b"ONE")  # same size, other bytes
  assert image_features.cache_key(paths, "resnet18_imagenet", a, 32) != key
  (tmp_path / "a.npz").write_bytes(b"one")
  assert image_features.cache_key(paths, "resnet18_imagenet", a, 32) == key
  st = os.stat(paths[3])  # an image rewritten: same size, a later modification time
  os.utime(paths[3], ns=(st.st_atime_ns, st.st_mtime_ns + 1))
  assert image_features.cache_key(paths, "resnet18_imagenet", a, 32) != key


def test_a_killed_extraction_resumes_at_its_first_missing_block(folder, tmp_path, monkeypatch):
  whole = data_lib.load_dataset(config_for(folder, tmp_path / "whole"))
  monkeypatch.setattr(image_features, "BLOCK", 6)  # blocks of 6, 6, 6, 2
  calls, real = [], image_features.Extractor.__call__

  def dies_on_the_third_block(self, paths, *args, **kwargs):
    calls.append(len(paths))
    if len(calls) == 3:
      raise KeyboardInterrupt
    return real(self, paths, *args, **kwargs)
  monkeypatch.setattr(image_features.Extractor, "__call__", dies_on_the_third_block)
  with pytest.raises(KeyboardInterrupt):
    data_lib.load_dataset(config_for(folder, tmp_path / "cache"))
  (entry,) = os.listdir(tmp_path / "cache")
  assert sorted(os.listdir(tmp_path / "cache" / entry)) == ["block_000000.npy",
                                                             "block_000001.npy"]
  calls.clear()
  resumed = data_lib.load_dataset(config_for(folder, tmp_path / "cache"))
  assert calls == [6, 2]  # the third and fourth blocks only
  np.testing.assert_allclose(resumed.train.inputs, whole.train.inputs, rtol=1e-5, atol=1e-5)
  assert os.listdir(tmp_path / "cache" / entry) == ["features.npy"]


def test_missing_weights_and_a_missing_backbone_are_named(folder, tmp_path):
  with pytest.raises(DataError, match=r"backbone_weights: file not found: .*nope\.pth"):
    data_lib.load_dataset(config_for(folder, tmp_path, backbone_weights=str(tmp_path / "nope.pth")))
  with pytest.raises(Exception, match="needs data.backbone"):
    data_lib.load_dataset(config_for(folder, tmp_path, backbone=""))


def test_the_run_names_each_suspect_by_its_file(folder, tmp_path):
  c = config_for(folder, tmp_path / "cache")
  workdir = str(tmp_path / "run")
  train.train_and_evaluate(c, workdir)
  with open(os.path.join(workdir, "label_issues.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 16
  for row in rows:
    assert os.path.isfile(row["path"])
    assert row["given_class"] == os.path.basename(os.path.dirname(row["path"]))
  assert os.path.isfile(os.path.join(workdir, "label_issues.png"))
