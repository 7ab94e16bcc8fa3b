"""Features of the user's own images (`data.backbone`: nlx.train.embedded and
nlx.feature_cache): what is extracted, the cache's key, resuming, and the run's label
issues naming the files."""

import csv
import functools
import os

import jax
import ml_collections
import numpy as np
import pytest
from conftest import load_config, torchvision_resnet_state_dict, write_image_folder
from PIL import Image

from nlx import feature_cache, models, train
from nlx.errors import ConfigError, DataError


def config_for(root, cache, **data):
  """The tiny config on `root`; the backbone a ResNet-18 with the fixture's weights."""
  c = load_config("image_folder_features", "tiny")
  c.data.data_dir, c.data.features_cache = str(root), str(cache)
  c.data.backbone_weights = str(root.parent / "r18.npz")
  for k, v in data.items():
    setattr(c.data, k, v)
  return c


@pytest.fixture
def folder(tmp_path):
  root = tmp_path / "images"
  write_image_folder(root, 10, size=(40, 30))  # 20 images, 30 wide: the crop's resize acts
  np.savez(tmp_path / "r18.npz", **torchvision_resnet_state_dict((2, 2, 2, 2)))
  return root


@functools.lru_cache(maxsize=2)
def reference_model(weights: str, size: int):
  cfg = ml_collections.ConfigDict({"name": "resnet18_imagenet", "dtype": "float32",
                                   "conv": "xla", "pretrained": weights})
  m = models.create(cfg, 1000, (size, size, 3), jax.random.key(0))
  return jax.jit(lambda x: models.apply(m.graphdef, m.params, m.state, x, train=False)[0])


def reference_features(path, weights, size=32):
  """The backbone's pooled features of one file, worked out apart from the trainer: PIL's
  shorter side to round(size * 256 / 224), centre crop, ImageNet's mean and std in
  numpy, then nlx's ResNet-18 with `weights` on that one image."""
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
  out = reference_model(str(weights), size)(x[None].astype(np.float32))
  return np.asarray(out.features[0])


def check_features_and_paths(ds, folder):
  """Each split holds its files' features (against the reference) and their paths."""
  assert ds.train.inputs.shape == (16, 512) and ds.test.inputs.shape == (4, 512)
  assert ds.info["backbone"] == "resnet18_imagenet" and ds.info["feature_dim"] == 512
  assert ds.train.decode is None and ds.mean == (0.0,) and ds.std == (1.0,)
  assert ds.class_names == ["cat", "dog"]
  for split in (ds.train, ds.test):
    assert split.paths is not None and len(split.paths) == len(split)
    for i in (0, len(split) - 1):  # the first and the last (a padded batch's) example
      np.testing.assert_allclose(split.inputs[i], reference_features(split.paths[i],
                                                                    folder.parent / "r18.npz"),
                                 rtol=1e-4, atol=1e-4)
      assert split.labels[i] == ["cat", "dog"].index(os.path.basename(
          os.path.dirname(split.paths[i])))
  # a subset keeps each example's path with it
  sub = ds.train.subset(np.array([3, 1]))
  assert list(sub.paths) == [ds.train.paths[3], ds.train.paths[1]]


def count_extractions(monkeypatch) -> list:
  """The images of each block the backbone embeds from here on."""
  calls, real = [], feature_cache.cached_features

  def counting(paths, key, cache_dir, embed, progress=True):
    def counted(indices):
      calls.append(len(indices))
      return embed(indices)
    return real(paths, key, cache_dir, counted, progress)
  monkeypatch.setattr(feature_cache, "cached_features", counting)
  return calls


def test_features_paths_the_cache_and_a_changed_image_extracted_again(
    folder, tmp_path, monkeypatch):
  calls = count_extractions(monkeypatch)
  first = train.load_dataset(config_for(folder, tmp_path / "cache"))
  assert calls == [20]
  check_features_and_paths(first, folder)
  again = train.load_dataset(config_for(folder, tmp_path / "cache"))
  assert calls == [20]  # read from the cache
  np.testing.assert_array_equal(again.train.inputs, first.train.inputs)
  # another image in the same file: a fresh key, a fresh extraction, other features
  path = str(first.train.paths[0])
  Image.fromarray(np.zeros((40, 30, 3), np.uint8)).save(path)
  changed = train.load_dataset(config_for(folder, tmp_path / "cache"))
  assert calls == [20, 20]
  assert not np.allclose(changed.train.inputs[0], first.train.inputs[0])
  np.testing.assert_array_equal(changed.train.inputs[1:], first.train.inputs[1:])


def test_the_key_changes_with_the_weights_the_size_and_the_list(folder, tmp_path):
  paths = sorted(str(p) for p in folder.rglob("*.png"))
  (tmp_path / "a.npz").write_bytes(b"one")
  (tmp_path / "b.npz").write_bytes(b"two")
  a, b = str(tmp_path / "a.npz"), str(tmp_path / "b.npz")
  key = feature_cache.cache_key(paths, a, "resnet18_imagenet", 32)
  assert key == feature_cache.cache_key(list(paths), a, "resnet18_imagenet", 32)
  others = {feature_cache.cache_key(paths, b, "resnet18_imagenet", 32),
            feature_cache.cache_key(paths, a, "resnet34_imagenet", 32),
            feature_cache.cache_key(paths, a, "resnet18_imagenet", 64),
            feature_cache.cache_key(paths[::-1], a, "resnet18_imagenet", 32),
            feature_cache.cache_key(paths[:-1], a, "resnet18_imagenet", 32)}
  assert key not in others and len(others) == 5
  (tmp_path / "a.npz").write_bytes(b"ONE")  # same size, other bytes
  assert feature_cache.cache_key(paths, a, "resnet18_imagenet", 32) != key
  (tmp_path / "a.npz").write_bytes(b"one")
  assert feature_cache.cache_key(paths, a, "resnet18_imagenet", 32) == key
  st = os.stat(paths[3])  # an image rewritten: same size, a later modification time
  os.utime(paths[3], ns=(st.st_atime_ns, st.st_mtime_ns + 1))
  assert feature_cache.cache_key(paths, a, "resnet18_imagenet", 32) != key


def test_a_killed_extraction_resumes_at_its_first_missing_block(folder, tmp_path, monkeypatch):
  monkeypatch.setattr(feature_cache, "BLOCK", 6)  # blocks of 6, 6, 6, 2
  calls = count_extractions(monkeypatch)
  real = feature_cache.cached_features

  def dies_on_the_third_block(paths, key, cache_dir, embed, progress=True):
    def embed_or_die(indices):  # called after `calls` counted its block
      if len(calls) == 3:
        raise KeyboardInterrupt
      return embed(indices)
    return real(paths, key, cache_dir, embed_or_die, progress)
  monkeypatch.setattr(feature_cache, "cached_features", dies_on_the_third_block)
  with pytest.raises(KeyboardInterrupt):
    train.load_dataset(config_for(folder, tmp_path / "cache"))
  (entry,) = os.listdir(tmp_path / "cache")
  assert sorted(os.listdir(tmp_path / "cache" / entry)) == ["block_000000.npy",
                                                             "block_000001.npy"]
  monkeypatch.setattr(feature_cache, "cached_features", real)
  calls = count_extractions(monkeypatch)
  resumed = train.load_dataset(config_for(folder, tmp_path / "cache"))
  assert calls == [6, 2]  # the third and fourth blocks only
  check_features_and_paths(resumed, folder)  # blocks from both runs, as one would give
  assert os.listdir(tmp_path / "cache" / entry) == ["features.npy"]


def test_missing_weights_an_image_augmentation_and_a_dataset_of_arrays_are_named(folder, tmp_path):
  with pytest.raises(DataError, match=r"backbone_weights: file not found: .*nope\.pth"):
    train.load_dataset(config_for(folder, tmp_path, backbone_weights=str(tmp_path / "nope.pth")))
  with pytest.raises(ConfigError, match="data.augment must be 'none', got 'resize_crop_flip'"):
    train.load_dataset(config_for(folder, tmp_path, augment="resize_crop_flip"))
  digits = load_config("quickstart", "tiny")
  digits.data.backbone = "resnet18_imagenet"
  with pytest.raises(ConfigError, match="data.backbone embeds image files; digits holds arrays"):
    train.load_dataset(digits)


def test_the_run_names_each_suspect_by_its_file(folder, tmp_path):
  c = config_for(folder, tmp_path / "cache")
  workdir = str(tmp_path / "run")
  results = train.train_and_evaluate(c, workdir)
  # results.json says which features the head trained on: the cache entry and its cost
  (entry,) = os.listdir(tmp_path / "cache")
  assert results["backbone"]["feature_cache_key"] == entry
  assert results["backbone"]["backbone"] == "resnet18_imagenet"
  assert results["backbone"]["feature_dim"] == 512 and results["backbone"]["feature_seconds"] > 0
  with open(os.path.join(workdir, "label_issues.csv"), newline="") as f:
    rows = list(csv.DictReader(f))
  assert len(rows) == 16
  for row in rows:
    assert os.path.isfile(row["path"])
    assert row["given_class"] == os.path.basename(os.path.dirname(row["path"]))
  assert os.path.isfile(os.path.join(workdir, "label_issues.png"))


def test_the_backbone_runs_xlas_own_convolutions_not_ynnpacks(folder, tmp_path):
  """The extractor is compiled with `nlx.ops.conv.compiler_options("auto")`: none of its
  convolutions is a YNNPACK fusion, where XLA's default options make some (this jaxlib)."""
  import jax.numpy as jnp

  from nlx.benchmarks.image_features import MEAN, STD
  from nlx.data.datasets.image_folder import decode_image
  from nlx.data.types import Dataset, Split
  from nlx.ops import conv as conv_ops
  c = config_for(folder, tmp_path / "cache")
  paths = np.asarray(sorted(str(p) for p in folder.rglob("*.png")))
  labels = np.zeros(len(paths), np.int64)
  split = Split(paths, labels, labels.copy(), decode=decode_image)
  ds = Dataset("images", split, split, 1000, [str(i) for i in range(1000)], MEAN, STD)
  trainer = train.backbone_trainer(c, ds, train.make_mesh(jax.devices()[:1]))
  assert trainer.compiler_options == conv_ops.compiler_options("auto")
  state = trainer.initial_state
  x = jnp.zeros((1, c.data.image_size, c.data.image_size, 3), jnp.uint8)
  args = (state.params[train.MODEL], state.model_state, x)

  def ynn_convs(compiled):
    return conv_ops.library_fusions(compiled.as_text(), "conv_general_dilated")

  if ynn_convs(jax.jit(trainer.eval_step.__wrapped__).lower(*args).compile()) == 0:
    pytest.skip("this jaxlib runs no convolution through YNNPACK")
  assert ynn_convs(trainer.eval_step.lower(*args).compile()) == 0
