import os

import numpy as np
import pytest
from conftest import load_config
from PIL import Image

from nlx import train
from nlx.config_base import base_config
from nlx.data import load_dataset
from nlx.errors import DataError


def save_images(folder, names, rng):
  os.makedirs(folder, exist_ok=True)
  for n in names:
    Image.fromarray(rng.integers(0, 256, (18, 20, 3), dtype=np.uint8)).save(os.path.join(folder, n))


def make_release(name, root, per_class=6):
  """A tiny copy of each official release's layout."""
  rng = np.random.default_rng(0)
  from nlx.data.datasets import emotion
  if name == "artphoto":
    for e in emotion.ARTPHOTO:
      save_images(root, [f"{e}_{i}.jpg" for i in range(per_class)], rng)
    save_images(root, ["readme_not_an_emotion.jpg"], rng)
    return
  base = os.path.join(root, "images") if name in ("emotion6", "unbiasedemo") else root
  for e in emotion.FOLDERS[name]:
    sub = os.path.join(base, e, "dog") if name == "unbiasedemo" else os.path.join(base, e)
    save_images(sub, [f"{i}.jpg" for i in range(per_class)], rng)


@pytest.mark.parametrize("name,classes", [("fi", 8), ("emotion6", 6), ("artphoto", 2),
                                          ("unbiasedemo", 6)])
def test_release_layouts_load_and_missing_ones_explain(tmp_path, name, classes):
  c = base_config()
  c.data.name, c.data.data_dir, c.data.image_size = name, str(tmp_path / "none"), 16
  with pytest.raises(DataError, match=f"{name}: .*none lacks"):
    load_dataset(c)
  make_release(name, str(tmp_path / "rel"))
  c.data.data_dir = str(tmp_path / "rel")
  c.data.split = "80/5/15" if name == "fi" else "80/20"
  ds = load_dataset(c)
  assert ds.num_classes == classes
  n = len(ds.train) + len(ds.test) + (len(ds.val) if ds.val is not None else 0)
  assert n == (8 * 6 if name == "artphoto" else classes * 6)  # the readme image is ignored
  if name == "artphoto":  # 4 positive and 4 negative emotions, 6 images each
    labels = np.concatenate([ds.train.labels, ds.test.labels])
    assert np.bincount(labels).tolist() == [24, 24]


@pytest.mark.slow
@pytest.mark.parametrize("config", ["arnet_fi", "arnet_artphoto"])
def test_arnet_sentiment_configs_tiny_run(tmp_path, config):
  name = config.split("_")[1]
  make_release(name, str(tmp_path / "rel"), per_class=8)
  c = load_config(config, "sym40,tiny")
  c.data.data_dir = str(tmp_path / "rel")
  r = train.train_and_evaluate(c, str(tmp_path / "wd"))
  assert r["method"] == "arnet" and np.isfinite(r["test"]["accuracy"])
  assert 0 <= r["noise_detection"]["auroc"] <= 1 or np.isnan(r["noise_detection"]["auroc"])
