import numpy as np
import pytest
from conftest import pipeline_config as cfg

from nlx.data import augment, input_pipeline
from nlx.data.types import Split


def split(n=24):
  images = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 1), np.uint8)
  labels = np.arange(n) % 3
  return Split(images, labels, labels.copy())


def test_each_epoch_visits_every_example_once_in_a_new_order():
  ds = input_pipeline.train_dataset(split(), cfg(), num_epochs=2, seed=0)
  batches = list(ds)
  assert len(batches) == 6 and batches[0]["image"].shape == (8, 4, 4, 1)
  idx = np.concatenate([b["index"] for b in batches])
  e1, e2 = idx[:24], idx[24:]
  assert sorted(e1) == list(range(24)) and sorted(e2) == list(range(24))
  assert not np.array_equal(e1, e2)
  # image content follows index (no augmentation): pixel value == index
  assert all((b["image"][:, 0, 0, 0] == b["index"]).all() for b in batches)
  assert all((b["label"] == b["index"] % 3).all() for b in batches)


def test_iterator_state_resumes_at_the_same_batch():
  ds = input_pipeline.train_dataset(split(), cfg(augment="crop_flip"), num_epochs=3, seed=1)
  it = iter(ds)
  for _ in range(4):
    next(it)
  state = it.get_state()
  rest = [next(it) for _ in range(3)]
  it2 = iter(input_pipeline.train_dataset(split(), cfg(augment="crop_flip"), num_epochs=3, seed=1))
  it2.set_state(state)
  for a in rest:
    b = next(it2)
    np.testing.assert_array_equal(a["index"], b["index"])
    np.testing.assert_array_equal(a["image"], b["image"])  # same augmentation too


@pytest.mark.parametrize("augment", ["none", "crop_flip"])
def test_process_shards_laid_side_by_side_are_the_single_process_batch(augment):
  # Multi-host equals single-host only if the global batch is the same: same examples,
  # same order, same augmentation (crop_flip goes through the per-example path).
  c = cfg(augment=augment, image_size=4)
  full = list(input_pipeline.train_dataset(split(), c, num_epochs=2, seed=0))
  parts = [list(input_pipeline.train_dataset(split(), c, num_epochs=2, seed=0,
                                             process_index=p, process_count=2)) for p in (0, 1)]
  assert len(full) == len(parts[0]) == len(parts[1]) == 6 and parts[0][0]["index"].shape == (4,)
  for whole, a, b in zip(full, *parts):
    for key in ("index", "image", "label"):
      np.testing.assert_array_equal(whole[key], np.concatenate([a[key], b[key]]))


def test_eval_dataset_keeps_order_and_last_short_batch():
  batches = list(input_pipeline.eval_dataset(split(20), cfg(), batch_size=8))
  assert [len(b["index"]) for b in batches] == [8, 8, 4]
  np.testing.assert_array_equal(np.concatenate([b["index"] for b in batches]), np.arange(20))


def test_random_crop_flip_is_a_crop_of_the_padded_image():
  rng = np.random.default_rng(0)
  img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
  padded = np.pad(img, ((4, 4), (4, 4), (0, 0)))
  for seed in range(5):
    out = augment.train_transform("crop_flip", 0)(img, np.random.default_rng(seed))
    candidates = [padded[top:top + 32, left:left + 32] for top in range(9) for left in range(9)]
    candidates += [c[:, ::-1] for c in candidates]
    assert any(np.array_equal(out, c) for c in candidates)


def test_resize_crop_flip_and_center_crop_sizes():
  img = np.random.default_rng(0).integers(0, 256, (300, 400, 3), dtype=np.uint8)
  out = augment.train_transform("resize_crop_flip", 224)(img, np.random.default_rng(0))
  assert out.shape == (224, 224, 3)
  ev = augment.eval_transform("resize_crop_flip", 224)(img)
  assert ev.shape == (224, 224, 3)
  # Shorter side 300 -> 256, so the centre crop keeps the middle 224 of 256 rows.
  resized = augment.resize_shorter(img, 256)
  assert resized.shape == (256, 341, 3)
  np.testing.assert_array_equal(ev, resized[16:240, 58:282])
  with pytest.raises(Exception, match="image_size"):
    augment.train_transform("resize_crop_flip", 0)


def test_batch_source_path_for_plain_in_memory_data():
  # augment="none" on in-memory arrays gathers whole batches; same contract as above.
  ds = input_pipeline.train_dataset(split(), cfg(), num_epochs=2, seed=0)
  it = iter(ds)
  first = [next(it) for _ in range(2)]
  state = it.get_state()
  rest = [next(it) for _ in range(4)]
  it2 = iter(input_pipeline.train_dataset(split(), cfg(), num_epochs=2, seed=0))
  it2.set_state(state)
  for a in rest:
    np.testing.assert_array_equal(a["index"], next(it2)["index"])
  idx = np.concatenate([b["index"] for b in first + rest])
  assert sorted(idx[:24]) == list(range(24)) and sorted(idx[24:]) == list(range(24))
