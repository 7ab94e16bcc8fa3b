"""A network nlx trained as the backbone of the user's own images: the backbone file
(`nlx.models.pretrained.save_backbone`), features pooled to a grid (`grid_pool`,
`data.backbone_grid`), a separate test CSV (`data.test_csv_file`), and the features the
run extracts, worked out apart from the trainer."""

import csv
import os

import jax
import ml_collections
import numpy as np
import pytest
from conftest import load_config, write_images

from nlx import models, train
from nlx.errors import ConfigError, DataError
from nlx.models import pretrained
from nlx.models.outputs import grid_pool

MEAN, STD = (0.3, 0.5, 0.7), (0.2, 0.25, 0.3)  # not ImageNet's, not CIFAR's


def small_cnn(width=4, grid=1, weights=""):
  cfg = ml_collections.ConfigDict({"name": "small_cnn", "width": width, "dropout": 0.0,
                                   "dtype": "float32", "conv": "xla", "feature_grid": grid,
                                   "pretrained": weights})
  return cfg, models.create(cfg, 3, (32, 32, 3), jax.random.key(7))


def test_grid_pool_averages_each_cell_in_row_column_channel_order():
  x = np.arange(2 * 4 * 6 * 3, dtype=np.float32).reshape(2, 4, 6, 3) ** 1.5
  out = np.asarray(grid_pool(x, 2))
  expected = np.stack([np.concatenate([x[b, 2 * r:2 * r + 2, 3 * c:3 * c + 3].mean((0, 1))
                                       for r in range(2) for c in range(2)])
                       for b in range(2)])
  np.testing.assert_allclose(out, expected, rtol=1e-6)
  np.testing.assert_allclose(np.asarray(grid_pool(x, 1)), x.mean((1, 2)), rtol=1e-6)
  with pytest.raises(ConfigError, match="= 4 does not divide the 4x6 feature map"):
    grid_pool(x, 4)
  with pytest.raises(ConfigError, match="= 0 does not divide"):
    grid_pool(x, 0)


def test_a_feature_grid_changes_the_features_not_the_logits():
  _, one = small_cnn(grid=1)
  _, two = small_cnn(grid=2)
  assert one.feature_dim == 16 and two.feature_dim == 64
  x = np.random.default_rng(0).normal(size=(3, 32, 32, 3)).astype(np.float32)
  out1, _ = models.apply(one.graphdef, one.params, one.state, x, train=False)
  out2, _ = models.apply(two.graphdef, two.params, two.state, x, train=False)
  np.testing.assert_allclose(out2.logits, out1.logits, rtol=1e-6)
  cells = np.asarray(out2.features).reshape(3, 4, 16)
  np.testing.assert_allclose(cells.mean(1), out1.features, rtol=1e-5, atol=1e-6)
  mlp = ml_collections.ConfigDict({"name": "mlp", "hidden": (8,), "dropout": 0.0,
                                   "dtype": "float32", "feature_grid": 2})
  with pytest.raises(ConfigError, match="model.feature_grid pools a convolutional map; 'mlp'"):
    models.create(mlp, 3, (12,), jax.random.key(0))
  for bad in (0, -2):
    with pytest.raises(ConfigError, match=f"must be a positive integer, got {bad}"):
      small_cnn(grid=bad)


def trained_like(model, seed=1):
  """`model`'s params and BatchNorm statistics replaced by seeded random values (a
  "trained" network unlike any fresh initialisation)."""
  rng = np.random.default_rng(seed)

  def fill(tree):
    pure = tree.to_pure_dict()
    new = jax.tree.map(lambda v: rng.uniform(0.5, 1.5, np.shape(v)).astype(np.float32), pure)
    import flax.nnx as nnx
    nnx.replace_by_pure_dict(tree, new)
    return tree
  return fill(model.params), fill(model.state)


def test_a_backbone_file_round_trips_and_a_wrong_one_is_named(tmp_path):
  cfg, m = small_cnn(width=4)
  params, state = trained_like(m)
  path = str(tmp_path / "bb.npz")
  pretrained.save_backbone(path, cfg, params, state, mean=MEAN, std=STD, image_size=32)
  assert pretrained.backbone_record(path) == {
      "model": {"name": "small_cnn", "width": 4, "dropout": 0.0}, "mean": list(MEAN),
      "std": list(STD), "image_size": 32}
  _, loaded = small_cnn(width=4, weights=path)
  for a, b in ((params, loaded.params), (state, loaded.state)):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
      np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
  # another width: every shape differs, named
  with pytest.raises(DataError, match=r"do not fit the model.*other shapes: \['convs.0.kernel "
                                      r"\(3, 3, 3, 4\) \(model: \(3, 3, 3, 8\)\)"):
    small_cnn(width=8, weights=path)
  np.savez(tmp_path / "plain.npz", a=np.zeros(2))  # a torchvision-style file: no record
  assert pretrained.backbone_record(str(tmp_path / "plain.npz")) is None
  with pytest.raises(DataError, match="a backbone file is a .npz"):
    pretrained.save_backbone(str(tmp_path / "bb.pth"), cfg, params, state, mean=MEAN,
                             std=STD, image_size=32)


@pytest.fixture
def own(tmp_path):
  """Six 32x32 PNGs per class in train.csv, two per class in test.csv, and a width-4
  small CNN saved as a backbone file with MEAN / STD."""
  classes = ("cat", "dog", "eel")
  train_names = [f"train/{c}{i}.png" for c in classes for i in range(6)]
  test_names = [f"test/{c}{i}.png" for c in classes for i in range(2)]
  pixels = write_images(tmp_path, train_names + test_names, size=(32, 32), seed=3)
  for name, names in (("train.csv", train_names), ("test.csv", test_names)):
    with open(tmp_path / name, "w", newline="") as f:
      csv.writer(f).writerows([["path", "label"]] + [[n, n.split("/")[1][:3]] for n in names])
  cfg, m = small_cnn(width=4)
  params, state = trained_like(m)
  pretrained.save_backbone(str(tmp_path / "bb.npz"), cfg, params, state, mean=MEAN, std=STD,
                           image_size=32)
  return tmp_path, pixels, (m.graphdef, params, state)


def own_config(root, grid=2, **data):
  c = load_config("image_folder_features", "tiny")
  c.data.update({"csv_file": str(root / "train.csv"), "test_csv_file": str(root / "test.csv"),
                 "backbone": "small_cnn", "backbone_weights": str(root / "bb.npz"),
                 "backbone_grid": grid, "features_cache": str(root / "cache"),
                 "image_size": 224, **data})
  return c


def reference(network, pixels, grid):
  """The backbone's features worked out apart from the trainer: numpy normalisation
  with the file's MEAN / STD, the network's last map, numpy pooling to `grid` cells."""
  graphdef, params, state = network
  from flax import nnx
  module = nnx.merge(graphdef, params, state)
  x = ((pixels / 255.0 - np.array(MEAN)) / np.array(STD)).astype(np.float32)
  fmap = np.asarray(module.feature_map(x, train=False))  # [N, 4, 4, 16]
  s = fmap.shape[1] // grid
  return np.stack([np.concatenate([f[r * s:(r + 1) * s, c * s:(c + 1) * s].mean((0, 1))
                                   for r in range(grid) for c in range(grid)]) for f in fmap])


def test_the_run_embeds_with_the_files_normalisation_size_and_grid(own):
  root, pixels, network = own
  ds = train.load_dataset(own_config(root))
  # every listed training image is trained on; the test CSV is the test set, labels by name
  assert len(ds.train) == 18 and len(ds.test) == 6 and ds.val is None
  assert ds.class_names == ["cat", "dog", "eel"]
  np.testing.assert_array_equal(ds.test.labels, [0, 0, 1, 1, 2, 2])
  assert ds.info["feature_dim"] == 64  # 16 channels x 2 x 2 cells
  np.testing.assert_allclose(ds.train.inputs, reference(network, pixels[:18], 2),
                             rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(ds.test.inputs, reference(network, pixels[18:], 2),
                             rtol=1e-5, atol=1e-5)
  assert [os.path.basename(p) for p in ds.train.paths[:2]] == ["cat0.png", "cat1.png"]
  one = train.load_dataset(own_config(root, grid=1))  # another grid: another cache entry
  np.testing.assert_allclose(one.train.inputs, reference(network, pixels[:18], 1),
                             rtol=1e-5, atol=1e-5)
  assert len(os.listdir(root / "cache")) == 2


def test_a_backbone_of_another_name_and_a_bad_test_csv_are_named(own):
  root, _, _ = own
  with pytest.raises(ConfigError, match=r"data.backbone is 'resnet18_imagenet' but .*bb.npz "
                                        r"holds a 'small_cnn' network"):
    train.load_dataset(own_config(root, backbone="resnet18_imagenet"))
  with pytest.raises(ConfigError, match=r"data.backbone_grid for a backbone\) = 3 does not "
                                        r"divide the 4x4 feature map"):
    train.load_dataset(own_config(root, grid=3))
  with pytest.raises(ConfigError, match="data.split='80/5/15' makes a validation split"):
    train.load_dataset(own_config(root, split="80/5/15"))
  with open(root / "test.csv", "a") as f:
    f.write("test/cat0.png,cow\n")
  with pytest.raises(DataError, match=r"test.csv: 1 labels not in data.class_names: 'cow'"):
    train.load_dataset(own_config(root))


@pytest.mark.slow
def test_cifar10n_as_png_files_gives_the_protocols_features_and_its_worst_labels(
    cifar10_dir, tmp_path):
  """The benchmark's path on a small slice of ../shared/data: a small CNN trained briefly on
  clean images stands in for the protocol's backbone; the user's command on PNG files of
  400 other training images must extract the protocol's own features of them
  (`protocols.conv_features`) and score CIFAR-10N's worst labels."""
  from conftest import shared_path

  from nlx.benchmarks import own_images, protocols
  from nlx.data.datasets import cifar10, cifar10n
  from nlx.data.types import Dataset, Split
  label_file = shared_path("cifar10n", "CIFAR-10_human.pt")
  x_tr, y_tr, x_te, y_te, names = cifar10.read_official(cifar10_dir)
  pre = np.arange(256)
  ds = Dataset("pre", Split(x_tr[pre], y_tr[pre], y_tr[pre]), Split(x_te[:64], y_te[:64],
               y_te[:64]), 10, names, cifar10.MEAN, cifar10.STD, info={"noise_rate": 0.0})
  c = protocols.pretrain_config()
  c.model.width, c.train.num_epochs, c.data.batch_size = 8, 1, 64
  state = train.train_and_evaluate(c, str(tmp_path / "pre"), dataset=ds)["state"]
  backbone = str(tmp_path / "backbone.npz")
  protocols.save_backbone(backbone, c, state)

  index = np.arange(1000, 1400)
  files = own_images.prepare(str(tmp_path / "files"), cifar10_dir, label_file, index,
                             max_test=100)
  out = own_images.run(files, backbone, str(tmp_path / "run"), str(tmp_path / "cache"),
                       "--config.train.num_epochs=3", "--config.train.progress_bar=False")
  trainer = train.Trainer(c, ds)
  expected = np.asarray(protocols.conv_features(trainer.graphdef, state, x_tr[index],
                                                mean=cifar10.MEAN, std=cifar10.STD))
  got = own_images.cached_features(str(tmp_path / "cache"), out["feature_cache_key"])
  assert got.shape == (500, 128)  # 400 training + 100 test images, 32 channels x 2 x 2
  np.testing.assert_allclose(got[:400], expected, rtol=1e-5, atol=1e-5)
  human = cifar10n.read_labels(label_file)
  worst = human[cifar10n.LABEL_SETS["worst"]][index]
  assert out["examples"] == 400 and out["num_test"] == 100
  assert out["true_errors"] == int((worst != y_tr[index]).sum()) > 100
  # the scores against the clean labels, by sklearn from the run's CSV and the label file
  from sklearn.metrics import roc_auc_score

  from nlx import label_issues
  rows = label_issues.find(str(tmp_path / "run"))
  position = {os.path.abspath(p): i for i, p in enumerate(
      os.path.join(tmp_path, "files", "train", f"{k:05d}.png") for k in range(400))}
  wrong = np.array([worst[position[os.path.abspath(r["path"])]] !=
                    y_tr[index][position[os.path.abspath(r["path"])]] for r in rows])
  assert [r["given_label"] for r in rows] == [
      worst[position[os.path.abspath(r["path"])]] for r in rows]
  assert out["auroc"] == pytest.approx(roc_auc_score(wrong, [-r["score"] for r in rows]))
  assert out["estimated_errors"] == sum(r["flagged"] for r in rows)
