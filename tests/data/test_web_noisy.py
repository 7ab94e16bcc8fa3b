"""Clothing1M, WebVision and ImageNet loaders on tiny fakes of their release layouts."""

import os

import numpy as np
import pytest
from conftest import load_config
from PIL import Image

from nlx import data as data_lib
from nlx import train
from nlx.errors import DataError

CLOTHING = ["T-Shirt", "Shirt", "Knitwear", "Chiffon", "Sweater", "Hoodie", "Windbreaker",
            "Jacket", "Down Coat", "Suit", "Shawl", "Dress", "Vest", "Underwear"]


def image(path, value):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  Image.new("RGB", (24, 20), (value % 256, 40, 90)).save(path)


def fake_clothing1m(root, n_noisy=60, n_clean=20):
  rng = np.random.default_rng(0)
  keys = [f"images/{i % 3}/{i:02d}/{i}.jpg" for i in range(n_noisy + n_clean + 20)]
  for i, k in enumerate(keys):
    image(os.path.join(root, k), i * 7)
  true = rng.integers(0, 14, len(keys))
  noisy = np.where(rng.random(len(keys)) < 0.4, rng.integers(0, 14, len(keys)), true)
  noisy_train, clean_train = keys[:n_noisy], keys[n_noisy - 10:n_noisy + n_clean]
  val, test = keys[-20:-10], keys[-10:]

  def w(name, lines):
    with open(os.path.join(root, name), "w") as f:
      f.write("\n".join(lines) + "\n")

  w("category_names_eng.txt", CLOTHING)
  w("noisy_label_kv.txt", [f"{k} {noisy[i]}" for i, k in enumerate(keys[:n_noisy + n_clean])])
  w("clean_label_kv.txt", [f"{k} {true[i]}" for i, k in enumerate(keys) if i >= n_noisy - 10])
  w("noisy_train_key_list.txt", noisy_train)
  w("clean_train_key_list.txt", clean_train)
  w("clean_val_key_list.txt", val)
  w("clean_test_key_list.txt", test)
  return root, keys, true, noisy


@pytest.mark.slow
def test_clothing1m_splits_labels_and_clean_subset(tmp_path):
  root, _, true, noisy = fake_clothing1m(str(tmp_path))
  config = load_config("sinet_clothing1m", "tiny")
  config.data.data_dir = root
  ds = data_lib.load_dataset(config)
  # noisy train list (keys 0-59) + clean-train images (keys 50-79) not already in it
  assert len(ds.train) == 80 and len(ds.val) == 10 and len(ds.test) == 10
  np.testing.assert_array_equal(ds.train.labels, noisy[:80])
  known = ds.train.extras["known_label"]
  np.testing.assert_array_equal(known[:50], -1)
  np.testing.assert_array_equal(known[50:], true[50:80])
  np.testing.assert_array_equal(ds.test.labels, true[-10:])
  assert ds.class_names[8] == "Down Coat"
  result = train.train_and_evaluate(config, str(tmp_path / "sinet"))  # bundled hierarchy
  assert np.isfinite(result["test"]["accuracy"])
  nm = load_config("noise_model_clothing1m", "tiny")
  nm.data.data_dir = root
  assert np.isfinite(train.train_and_evaluate(nm, str(tmp_path / "nm"))["test"]["accuracy"])


def test_clothing1m_missing_files_are_named(tmp_path):
  config = load_config("sinet_clothing1m", "tiny")
  config.data.data_dir = str(tmp_path)
  with pytest.raises(DataError, match="noisy_label_kv.txt"):
    data_lib.load_dataset(config)


def test_mini_webvision_with_imagenet_val(tmp_path):
  root = str(tmp_path / "webvision")
  wnids = ["n01440764", "n01443537", "n01484850"]
  os.makedirs(os.path.join(root, "info"))
  google = [f"google/q000{c}/{i}.jpg {c}" for c in range(3) for i in range(4)]
  flickr = [f"flickr/q000{c}/{i}.jpg {c}" for c in range(3) for i in range(2)]
  val = [f"val{i:06d}.jpg {i % 3}" for i in range(6)]
  for line in google + flickr:
    image(os.path.join(root, line.split()[0]), len(line))
  for line in val:
    image(os.path.join(root, "val_images_256", line.split()[0]), 3)
  for name, lines in (("train_filelist_google.txt", google), ("train_filelist_flickr.txt", flickr),
                      ("val_filelist.txt", val), ("synsets.txt", [f"{w} name" for w in wnids])):
    with open(os.path.join(root, "info", name), "w") as f:
      f.write("\n".join(lines) + "\n")
  imagenet_val = str(tmp_path / "ilsvrc_val")
  for c, w in enumerate(wnids):
    for i in range(2):
      image(os.path.join(imagenet_val, w, f"ILSVRC2012_val_{c}{i}.JPEG"), c * 50)
  config = load_config("sinet_webvision", "mini,tiny")
  config.data.data_dir, config.data.imagenet_val_dir = root, imagenet_val
  ds = data_lib.load_dataset(config)
  assert ds.name == "mini_webvision" and ds.class_names == wnids
  assert len(ds.train) == 12 and len(ds.test) == 6 and len(ds.val) == 6  # google only
  full = load_config("sinet_webvision", "full,tiny")
  full.data.data_dir = root
  assert len(data_lib.load_dataset(full).train) == 18
  assert ds.train.decode(ds.train.inputs[0]).shape == (20, 24, 3)


def test_imagenet_folders_with_uniform_flips(tmp_path):
  for part, n in (("train", 10), ("val", 2)):
    for c, w in enumerate(["n0001", "n0002", "n0003"]):
      for i in range(n):
        image(str(tmp_path / part / w / f"{i}.JPEG"), c * 60 + i)
  config = load_config("ce_image_folder", "tiny")
  config.data.name, config.data.data_dir = "imagenet", str(tmp_path)
  config.noise.type, config.noise.rate = "symmetric_uniform", 0.4
  ds = data_lib.load_dataset(config)
  assert len(ds.train) == 30 and len(ds.test) == 6 and ds.class_names[0] == "n0001"
  assert 0.0 < ds.info["noise_rate"] < 0.6
