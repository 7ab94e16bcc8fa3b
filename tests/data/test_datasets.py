import os
import pickle

import ml_collections
import numpy as np
import pytest
from conftest import override, shared_path, write_idx
from PIL import Image

from nlx.config_base import base_config
from nlx.data import datasets, load_dataset, validate_split
from nlx.data.types import Split
from nlx.errors import DataError


def data_config(name, **kw):
  return override(base_config(), **{"data.name": name, **{f"data.{k}": v for k, v in kw.items()}})


def test_digits_seeded_split():
  ds = load_dataset(data_config("digits"))
  assert (len(ds.train), len(ds.test)) == (1438, 359)  # round(0.8 * 1797)
  assert ds.train.inputs.shape[1:] == (8, 8, 1) and ds.train.inputs.dtype == np.uint8
  assert ds.train.inputs.max() == 255  # 16 -> 255
  again = load_dataset(data_config("digits"))
  np.testing.assert_array_equal(ds.train.labels, again.train.labels)
  three = load_dataset(data_config("digits", split="80/5/15"))
  assert len(three.train) + len(three.val) + len(three.test) == 1797
  assert len(three.val) == round(0.85 * 1797) - round(0.8 * 1797)
  assert ds.info["noise_rate"] == 0.0


def test_digits_are_read_from_the_file_sklearn_ships_as_its_load_digits_gives(monkeypatch):
  """Read without importing scikit-learn (in a fresh interpreter: not in sys.modules
  afterwards), the same images and labels as `load_digits`; without the shipped file the
  loader asks `load_digits` itself."""
  import subprocess
  import sys

  from sklearn.datasets import load_digits

  from nlx.data.datasets import digits
  want = load_digits()
  images, labels = digits.read()
  np.testing.assert_array_equal(images, want.images)
  np.testing.assert_array_equal(labels, want.target)
  assert labels.dtype == np.int64 and digits.shipped_file().endswith("digits.csv.gz")
  code = ("import sys; from nlx.data.datasets import digits; digits.read(); "
          "print('sklearn' in sys.modules)")
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
  assert out.stdout.strip() == "False"
  monkeypatch.setattr(digits, "shipped_file", lambda: None)
  again_images, again_labels = digits.read()
  np.testing.assert_array_equal(again_images, want.images)
  np.testing.assert_array_equal(again_labels, want.target)


@pytest.mark.parametrize("keep", [100, 20_000])  # whole lines only; mid-number
def test_a_cut_digits_file_is_one_line_naming_it(tmp_path, monkeypatch, keep):
  """A shipped file cut short (a damaged install) parses into fewer rows, or not at all:
  either way one line naming the file, never a smaller dataset."""
  import gzip

  from nlx.data.datasets import digits
  with gzip.open(digits.shipped_file(), "rt") as f:
    text = f.read()
  cut = tmp_path / "digits.csv.gz"
  with gzip.open(cut, "wt") as f:
    f.write("\n".join(text.splitlines()[:keep]) if keep < 2000 else text[:keep])
  monkeypatch.setattr(digits, "shipped_file", lambda: str(cut))
  with pytest.raises(DataError, match=r"digits.csv.gz: not a readable scikit-learn digits "
                                      r"file.*reinstall scikit-learn"):
    digits.read()


def test_noise_config_is_applied_to_training_labels_only():
  c = data_config("digits")
  c.noise.type, c.noise.rate = "symmetric", 0.4
  ds = load_dataset(c)
  assert ds.info["noise_rate"] == pytest.approx(round(0.4 * 1438) / 1438)
  assert np.mean(ds.train.labels != ds.train.clean_labels) == ds.info["noise_rate"]
  np.testing.assert_array_equal(ds.test.labels, ds.test.clean_labels)


def test_clean_subset_alone_or_mixed_with_the_noisy_rest():
  c = data_config("digits")
  c.noise.type, c.noise.rate = "symmetric", 0.4
  c.data.clean_fraction, c.data.clean_ratio = 0.2, 0.5
  mixed = load_dataset(c)
  c.data.use_noisy = False
  alone = load_dataset(c)
  n_clean = round(0.2 * 1438)
  known = mixed.train.extras["known_label"]
  # D_n once (1150 rows), D_c upsampled to half of it (575 rows): noisy labels kept as `label`.
  assert (known < 0).sum() == 1438 - n_clean and (known >= 0).sum() == round(0.5 * (1438 - n_clean))
  assert (mixed.train.labels != mixed.train.clean_labels).any()
  # Alone: each D_c example once, trained on its clean label.
  assert len(alone.train) == n_clean and len(np.unique(alone.train.inputs, axis=0)) <= n_clean
  np.testing.assert_array_equal(alone.train.labels, alone.train.clean_labels)
  np.testing.assert_array_equal(alone.train.extras["known_label"], alone.train.clean_labels)
  assert set(map(bytes, alone.train.inputs)) == set(map(bytes, mixed.train.inputs[known >= 0]))


def write_official_cifar(root, n_per_batch=4):
  """Tiny batches in the official format: rows of 3072 bytes, R then G then B planes."""
  d = os.path.join(root, "cifar-10-batches-py")
  os.makedirs(d)
  rng = np.random.default_rng(0)
  rows = {}
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
    labels = list(rng.integers(0, 10, n_per_batch))
    rows[name] = (data, labels)
    with open(os.path.join(d, name), "wb") as f:
      pickle.dump({b"data": data, b"labels": [int(x) for x in labels], b"batch_label": b"x"}, f)
  with open(os.path.join(d, "batches.meta"), "wb") as f:
    pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)
  return rows


def test_cifar10_reads_the_official_layout(tmp_path):
  rows = write_official_cifar(str(tmp_path))
  ds = load_dataset(data_config("cifar10", data_dir=str(tmp_path)))
  assert len(ds.train) == 20 and len(ds.test) == 4 and ds.class_names[3] == "c3"
  data, labels = rows["data_batch_2"]
  img = ds.train.inputs[4]  # first image of batch 2
  for (y, x, ch) in [(0, 0, 0), (5, 7, 1), (31, 30, 2)]:
    assert img[y, x, ch] == data[0, ch * 1024 + y * 32 + x]
  assert ds.train.labels[4] == labels[0]


def test_cifar10_missing_directory_names_path_and_files(tmp_path):
  with pytest.raises(DataError, match=r"nowhere lacks data_batch_1.*cifar-10-python.tar.gz"):
    load_dataset(data_config("cifar10", data_dir=str(tmp_path / "nowhere")))
  with pytest.raises(DataError, match="data_dir"):
    load_dataset(data_config("cifar10"))


@pytest.mark.slow
def test_cifar10_real_release(cifar10_dir):
  ds = load_dataset(data_config("cifar10", data_dir=cifar10_dir))
  assert ds.train.inputs.shape == (50000, 32, 32, 3) and len(ds.test) == 10000
  np.testing.assert_array_equal(np.bincount(ds.train.labels), [5000] * 10)
  assert ds.class_names[0] == "airplane"


@pytest.mark.slow
@pytest.mark.parametrize("label_set,rate", [("aggre", 0.0903), ("random1", 0.1723),
                                            ("worst", 0.4021), ("clean", 0.0)])
def test_cifar10n_real_noise_rates(cifar10_dir, label_set, rate):
  label_file = shared_path("cifar10n", "CIFAR-10_human.pt")
  ds = load_dataset(data_config("cifar10n", data_dir=cifar10_dir, label_file=label_file,
                                label_set=label_set))
  # Rates published with CIFAR-10N (Wei et al. 2022): 9.03 / 17.23 / 40.21 %.
  assert ds.info["noise_rate"] == pytest.approx(rate, abs=5e-4)
  np.testing.assert_array_equal(ds.train.clean_labels, load_dataset(
      data_config("cifar10", data_dir=cifar10_dir)).train.labels)


def test_fashion_mnist_idx_files(tmp_path):
  rng = np.random.default_rng(0)
  x_tr, y_tr = rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 10, 12)
  x_te, y_te = rng.integers(0, 256, (5, 28, 28)), rng.integers(0, 10, 5)
  write_idx(str(tmp_path / "train-images-idx3-ubyte.gz"), x_tr)
  write_idx(str(tmp_path / "train-labels-idx1-ubyte.gz"), y_tr)
  write_idx(str(tmp_path / "t10k-images-idx3-ubyte"), x_te)  # uncompressed works too
  write_idx(str(tmp_path / "t10k-labels-idx1-ubyte"), y_te)
  ds = load_dataset(data_config("fashion_mnist", data_dir=str(tmp_path)))
  np.testing.assert_array_equal(ds.train.inputs[..., 0], x_tr)
  np.testing.assert_array_equal(ds.test.labels, y_te)
  with open(tmp_path / "t10k-labels-idx1-ubyte", "r+b") as f:
    f.truncate(10)
  with pytest.raises(DataError, match="truncated"):
    load_dataset(data_config("fashion_mnist", data_dir=str(tmp_path)))
  with pytest.raises(DataError, match="missing-dir/train-images-idx3-ubyte"):
    load_dataset(data_config("fashion_mnist", data_dir=str(tmp_path / "missing-dir")))


def test_face_sentiment_real_votes():
  d = shared_path("face_sentiment")
  from nlx.data.datasets import face_sentiment
  questions, _, _, truth, votes, answers = face_sentiment.read_votes(d)
  assert len(questions) == 584 and votes.sum() == len(answers) == 5242
  np.testing.assert_array_equal(np.bincount(truth), [146] * 4)
  ds = load_dataset(data_config("face_sentiment", data_dir=d, label_set="majority"))
  # Train and test share no person; together they hold every image.
  assert not set(ds.train.groups) & set(ds.test.groups)
  assert len(ds.train) + len(ds.test) == 584 and len(set(ds.test.groups)) == 4
  all_majority = np.concatenate([ds.train.labels, ds.test.labels])
  all_truth = np.concatenate([ds.train.clean_labels, ds.test.clean_labels])
  assert np.mean(all_majority == all_truth) == pytest.approx(0.639, abs=0.01)  # data README
  soft = load_dataset(data_config("face_sentiment", data_dir=d, label_set="soft"))
  np.testing.assert_allclose(soft.train.labels.sum(1), 1, rtol=1e-6)
  sample = load_dataset(data_config("face_sentiment", data_dir=d, label_set="sample"))
  # A single vote is right less often than the majority of about nine.
  assert np.mean(sample.train.labels != sample.train.clean_labels) > 1 - 0.639
  assert ds.train.inputs.shape[1:] == (30, 32, 1)
  truth = load_dataset(data_config("face_sentiment", data_dir=d, label_set="truth"))
  assert truth.info["noise_rate"] == 0.0


def make_folder(root, n=6, corrupt=False):
  rng = np.random.default_rng(0)
  for c in ("cat", "dog"):
    os.makedirs(root / c)
    for i in range(n):
      Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)).save(
          root / c / f"{i}.png")
  if corrupt:
    (root / "dog" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")


def test_image_folder_and_corrupt_images(tmp_path):
  make_folder(tmp_path, corrupt=True)
  with pytest.raises(DataError, match="broken.jpg"):
    load_dataset(data_config("image_folder", image_size=16, data_dir=str(tmp_path)))
  ds = load_dataset(data_config("image_folder", image_size=16, data_dir=str(tmp_path),
                                corrupt_images="skip"))
  assert ds.info["skipped_corrupt_images"] == 1
  assert len(ds.train) + len(ds.test) == 12 and ds.class_names == ["cat", "dog"]
  img = ds.train.decode(ds.train.inputs[0])
  assert img.dtype == np.uint8 and img.shape[1:] == (24, 3)


def test_image_folder_csv(tmp_path):
  make_folder(tmp_path, n=20)
  lines = (["path,label"] + [f"cat/{i}.png,cat" for i in range(20)]
           + [f"dog/{i}.png,dog" for i in range(20)])
  (tmp_path / "labels.csv").write_text("\n".join(lines))
  ds = load_dataset(data_config("image_folder", image_size=16,
                                csv_file=str(tmp_path / "labels.csv"), split="80/5/15"))
  assert (len(ds.train), len(ds.val), len(ds.test)) == (32, 2, 6)
  with pytest.raises(DataError, match="directory not found"):
    load_dataset(data_config("image_folder", image_size=16, data_dir=str(tmp_path / "nope")))


def test_validate_split_names_the_problem():
  imgs = np.zeros((3, 2, 2, 1), np.uint8)
  with pytest.raises(DataError, match=r"out of range: found \[0, 5\] for 3 classes"):
    validate_split(Split(imgs, np.array([0, 1, 5]), np.array([0, 1, 2])), 3, "x")
  with pytest.raises(DataError, match="must be integers"):
    validate_split(Split(imgs, np.array([0., 1, 2]), np.array([0, 1, 2])), 3, "x")
  with pytest.raises(DataError, match="empty"):
    validate_split(Split(imgs[:0], np.zeros(0, int), np.zeros(0, int)), 3, "x")
  with pytest.raises(DataError, match="NaN"):
    validate_split(Split(np.array([[np.nan]]), np.array([0]), np.array([0])), 3, "x")
  with pytest.raises(DataError, match="soft labels have 2 classes"):
    validate_split(Split(imgs, np.full((3, 2), 0.5), np.array([0, 1, 2])), 3, "x")


def test_unknown_dataset_is_named():
  from nlx.errors import ConfigError
  with pytest.raises(ConfigError, match=r"'imagenet2'; known datasets: digits, cifar10, .*"
                                        r"multimodal_synthetic, or tfds:NAME"):
    datasets.get("imagenet2")
  assert isinstance(base_config().data, ml_collections.ConfigDict)


@pytest.mark.parametrize("name,message", [
    ("fi", "fi: .* lacks the class folders"),
    ("artphoto", "artphoto: .* lacks images named <emotion>_<id>.jpg"),
    ("voc2012", "voc2012: neither .*VOC2012"),
    ("webvision", "webvision: .* lacks .*train_filelist_flickr"),
    ("mini_webvision", r"mini_webvision: .*info/synsets.txt; put"),  # needs no flickr list
    ("clothing1m", "clothing1m: .* lacks"),
])
def test_registry_passes_each_name_its_fixed_arguments(tmp_path, name, message):
  with pytest.raises(DataError, match=message):
    load_dataset(data_config(name, data_dir=str(tmp_path), image_size=16))


def test_every_registered_name_has_a_loader():
  import importlib
  import inspect
  assert len(datasets.NAMES) == 21 and "image_folder" in datasets.NAMES
  for name in datasets.NAMES:
    module, function, *args = datasets.REGISTRY[name]
    loader = getattr(importlib.import_module(f"nlx.data.datasets.{module}"), function)
    assert len(inspect.signature(loader).parameters) == 1 + len(args), name


def test_split_inputs_and_token_ids():
  feats = np.arange(6, dtype=np.float32).reshape(3, 2)
  ids = np.array([[5, 1, 0], [2, 0, 0], [7, 8, 9]], np.int32)
  y = np.array([0, 1, 0])
  s = Split(feats, y, y.copy(), token_ids=ids)
  assert s.input_kind == "features"
  np.testing.assert_array_equal(s.model_inputs(2), [4, 5, 7, 8, 9])
  np.testing.assert_array_equal(s.model_inputs(np.array([1, 0])),
                                [[2, 3, 2, 0, 0], [0, 1, 5, 1, 0]])
  np.testing.assert_array_equal(s.subset(np.array([2])).token_ids, [[7, 8, 9]])
  assert Split(np.zeros((3, 2, 2, 1), np.uint8), y, y).input_kind == "pixels"
  assert Split(np.array(["a.png"] * 3), y, y, decode=len).model_inputs(0) == 5
  with pytest.raises(DataError, match=r"token_ids must be \[N, L\] integers for 3 examples"):
    validate_split(Split(feats, y, y.copy(), token_ids=ids[:2]), 2, "x")


def test_fashion_mnist_debian_package():
  d = "/usr/share/datasets/fashion-mnist"
  if not os.path.isdir(d):
    pytest.skip(f"needs {d} (apt-get install dataset-fashion-mnist)")
  ds = load_dataset(data_config("fashion_mnist"))
  assert ds.train.inputs.shape == (60000, 28, 28, 1) and len(ds.test) == 10000
  np.testing.assert_array_equal(np.bincount(ds.train.labels), [6000] * 10)
