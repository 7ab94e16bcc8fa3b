"""`data.name=tfds:NAME` on small TFDS datasets this file prepares itself (array_record,
in a tmp data dir, no TensorFlow): what nlx reads must be what the builder wrote."""

import collections
import os
import sys

import numpy as np
import pytest
from conftest import load_config
from PIL import Image

from nlx import train
from nlx.config_base import base_config
from nlx.data import load_dataset
from nlx.errors import ConfigError, DataError

tfds = pytest.importorskip("tensorflow_datasets")

CLASSES = ["cat", "dog", "fox"]
SIZES = {"train": 60, "test": 20}


def fixed_examples(split):
  """`[(image [6, 5, 3] uint8, label, worse_label)]`, seeded per split; worse_label
  differs from label on every third example."""
  rng = np.random.default_rng(SIZES[split])
  out = []
  for i in range(SIZES[split]):
    label = int(rng.integers(0, 3))
    worse = (label + 1) % 3 if i % 3 == 0 else label
    out.append((rng.integers(0, 256, (6, 5, 3), dtype=np.uint8), label, worse))
  return out


def varying_examples():
  """Images whose height varies (4..7 rows), for the lazily decoded path."""
  rng = np.random.default_rng(7)
  return [(rng.integers(0, 256, (4 + i % 4, 5, 3), dtype=np.uint8), i % 2) for i in range(12)]


class NlxTinyNoisy(tfds.core.GeneratorBasedBuilder):
  """Fixed-shape images with a clean `label` and a noisy `worse_label`."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(6, 5, 3)),
        "label": tfds.features.ClassLabel(names=CLASSES),
        "worse_label": tfds.features.ClassLabel(names=CLASSES)}))

  def _split_generators(self, dl_manager):
    return {split: self._generate_examples(split) for split in SIZES}

  def _generate_examples(self, split):
    for i, (image, label, worse) in enumerate(fixed_examples(split)):
      # tfds encodes numpy images with TensorFlow; a PIL image it encodes with Pillow
      yield i, {"image": Image.fromarray(image), "label": label, "worse_label": worse}


class NlxTinyVarying(tfds.core.GeneratorBasedBuilder):
  """Images of varying height (decoded per example)."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "image": tfds.features.Image(shape=(None, 5, 3)),
        "label": tfds.features.ClassLabel(num_classes=2)}))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(0, 8), "test": self._generate_examples(8, 12)}

  def _generate_examples(self, start, stop):
    for i in range(start, stop):
      image, label = varying_examples()[i]
      yield i, {"image": Image.fromarray(image), "label": label}


class NlxTinyFeatures(tfds.core.GeneratorBasedBuilder):
  """Float feature vectors `[4]` instead of images."""
  VERSION = tfds.core.Version("1.0.0")

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        "embedding": tfds.features.Tensor(shape=(4,), dtype=np.float32),
        "label": tfds.features.ClassLabel(num_classes=2)}))

  def _split_generators(self, dl_manager):
    return {"train": self._generate_examples(0, 8), "test": self._generate_examples(8, 12)}

  def _generate_examples(self, start, stop):
    for i in range(start, stop):
      yield i, {"embedding": np.arange(4, dtype=np.float32) + 10 * i, "label": i % 2}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
  d = str(tmp_path_factory.mktemp("tfds"))
  for builder in (NlxTinyNoisy, NlxTinyVarying, NlxTinyFeatures):
    builder(data_dir=d).download_and_prepare(file_format="array_record")
  return d


def tfds_config(data_dir, name="nlx_tiny_noisy", **kw):
  c = base_config()
  c.data.name = f"tfds:{name}"
  c.data.data_dir = data_dir
  for k, v in kw.items():
    setattr(c.data, k, v)
  return c


def as_counter(images, *label_arrays):
  return collections.Counter(zip((x.tobytes() for x in images),
                                 *(map(int, y) for y in label_arrays)))


def test_reads_what_was_written_without_tensorflow(data_dir):
  ds = load_dataset(tfds_config(data_dir, tfds_label_field="worse_label"))
  assert "tensorflow" not in sys.modules
  assert ds.name == "tfds:nlx_tiny_noisy" and ds.class_names == CLASSES and ds.num_classes == 3
  assert ds.train.input_kind == "pixels" and ds.train.inputs.shape == (60, 6, 5, 3)
  written = fixed_examples("train")
  # TFDS stores records in its own (hashed) order: compare as multisets of examples
  assert as_counter(ds.train.inputs, ds.train.labels, ds.train.clean_labels) == as_counter(
      [w[0] for w in written], [w[2] for w in written], [w[1] for w in written])
  test = fixed_examples("test")
  assert as_counter(ds.test.inputs, ds.test.labels, ds.test.clean_labels) == as_counter(
      [w[0] for w in test], [w[1] for w in test], [w[1] for w in test])  # test: clean labels
  assert ds.info["noise_rate"] == pytest.approx(20 / 60)  # every third label is worse
  pixels = np.stack([w[0] for w in written]).astype(np.float64) / 255
  np.testing.assert_allclose(ds.mean, pixels.mean((0, 1, 2)), atol=1e-12)
  np.testing.assert_allclose(ds.std, pixels.std((0, 1, 2)), atol=1e-9)
  clean = load_dataset(tfds_config(data_dir))  # default label field: the clean `label`
  np.testing.assert_array_equal(clean.train.labels, clean.train.clean_labels)
  assert clean.info["noise_rate"] == 0.0


def test_three_splits_from_slices(data_dir):
  ds = load_dataset(tfds_config(data_dir, tfds_splits=("train[:50]", "train[50:]", "test")))
  assert (len(ds.train), len(ds.val), len(ds.test)) == (50, 10, 20)
  whole = load_dataset(tfds_config(data_dir))
  np.testing.assert_array_equal(np.concatenate([ds.train.inputs, ds.val.inputs]),
                                whole.train.inputs)


def test_images_of_varying_shape_are_decoded_per_example(data_dir):
  ds = load_dataset(tfds_config(data_dir, "nlx_tiny_varying"))
  assert ds.train.input_kind == "encoded" and ds.class_names == ["0", "1"]
  got = [(ds.train.decode(ds.train.inputs[i]), ds.train.labels[i]) for i in range(len(ds.train))]
  written = varying_examples()[:8]
  assert as_counter([g[0] for g in got], [g[1] for g in got]) == as_counter(
      [w[0] for w in written], [w[1] for w in written])


def test_feature_vectors(data_dir):
  ds = load_dataset(tfds_config(data_dir, "nlx_tiny_features", tfds_input_field="embedding"))
  assert ds.train.input_kind == "features" and (ds.mean, ds.std) == ((0.0,), (1.0,))
  order = np.argsort(ds.train.inputs[:, 0])
  np.testing.assert_array_equal(ds.train.inputs[order],
                                np.arange(4) + 10 * np.arange(8)[:, None])
  np.testing.assert_array_equal(ds.train.labels[order], np.arange(8) % 2)


def test_missing_or_misnamed_is_a_clear_error(data_dir, tmp_path):
  with pytest.raises(DataError, match=r"no such dataset.*tfds build nlx_never_prepared "
                                      r"--file_format=array_record"):
    load_dataset(tfds_config(data_dir, "nlx_never_prepared"))
  # in the catalogue, but not prepared in this data dir: how to prepare it offline
  with pytest.raises(DataError, match=r"cifar10_n: not prepared in .*--manual_dir=DIR"):
    load_dataset(tfds_config(str(tmp_path), "cifar10_n", tfds_label_field="worse_label"))
  with pytest.raises(ConfigError, match=r"'aggre_label' is not a feature; it has image, label, "
                                        r"worse_label"):
    load_dataset(tfds_config(data_dir, tfds_label_field="aggre_label"))
  with pytest.raises(ConfigError, match="'label' is a ClassLabel; nlx reads an Image or a float"):
    load_dataset(tfds_config(data_dir, tfds_input_field="label"))
  with pytest.raises(ConfigError, match="'image' is a Image, not a ClassLabel"):
    load_dataset(tfds_config(data_dir, tfds_clean_label_field="image"))


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_damaged_prepared_split_is_one_line_naming_the_folder(data_dir, tmp_path, damage):
  # A prepared dataset copied, then its train records cut to half or overwritten with
  # bytes that are no array_record: one DataError line naming the dataset's folder and
  # that the prepared split is damaged, never a traceback from array_record.
  import glob
  import shutil
  copy = tmp_path / "tfds"
  shutil.copytree(data_dir, copy)
  (record,) = glob.glob(str(copy / "nlx_tiny_noisy" / "*" / "*train.array_record*"))
  size = os.path.getsize(record)
  with open(record, "r+b") as f:
    if damage == "truncated":
      f.truncate(size // 2)
    else:
      f.write(bytes(range(256)) * (size // 256 + 1))
  with pytest.raises(DataError) as e:
    load_dataset(tfds_config(str(copy)))
  message = str(e.value)
  assert "\n" not in message and str(copy / "nlx_tiny_noisy") in message
  assert "not a readable prepared split 'train'" in message
  assert message.endswith("prepare the dataset again")


@pytest.mark.slow  # about 30 s on the 2-core machine (compiling for 8 host devices)
def test_short_training_run(data_dir, tmp_path):
  c = load_config("quickstart", "tiny")
  c.data.name, c.data.data_dir = "tfds:nlx_tiny_noisy", data_dir
  c.data.tfds_label_field = "worse_label"
  c.noise.type = "none"  # the noise is the data's own
  c.model.name = "mlp"
  c.data.batch_size = 24  # 8 host devices; 60 examples: 2 steps an epoch
  results = train.train_and_evaluate(c, str(tmp_path))
  assert results["dataset"] == "tfds:nlx_tiny_noisy" and results["steps"] == 2 * 2
  assert results["noise_rate"] == pytest.approx(20 / 60)
  assert 0.0 <= results["test"]["accuracy"] <= 1.0
  assert (results["num_train"], results["num_test"], results["test_labels"]) == (60, 20, "clean")
  # the exact accuracy: the final model's predictions against the clean labels the builder
  # wrote for each test image (matched by pixels: TFDS keeps its own order)
  ds = load_dataset(c)
  predicted = np.argmax(train.Trainer(c, ds).predict(results["state"], ds.test), -1)
  written = {image.tobytes(): label for image, label, _ in fixed_examples("test")}
  clean = np.array([written[x.tobytes()] for x in ds.test.inputs])
  correct = int(np.sum(predicted == clean))
  assert results["test"]["accuracy"] == correct / 20
  assert results["test"]["top5"] == 1.0  # 3 classes: every label is among the top 5
