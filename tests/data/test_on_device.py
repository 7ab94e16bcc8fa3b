"""data.on_device against the grain path: same batches, same augmentation distribution,
sharding-invariant, resumable (nlx.data.on_device)."""

import jax
import numpy as np
import pytest
from conftest import load_config
from conftest import pipeline_config as cfg

from nlx import data as data_lib
from nlx import train
from nlx.data import input_pipeline, on_device
from nlx.data.types import Split
from nlx.errors import ConfigError


def split(n=40, size=6):
  """Image i: pixel values i * 6 + 1 .. (flat position), all nonzero and distinct per image
  row-major, so a crop of the zero-padded image tells its offset and flip."""
  base = np.arange(size * size, dtype=np.int64).reshape(size, size)
  images = ((base[None] + 3 * np.arange(n)[:, None, None]) % 250 + 1).astype(np.uint8)[..., None]
  labels = np.arange(n) % 3
  return Split(images, labels, (labels + 1) % 3, extras={"known_label": np.arange(n) - 5})


def device_batches(s, c, num_epochs, seed, mesh=None):
  """The batches the on-device path feeds the model, as numpy."""
  dev = on_device.DeviceTrainSet(s, c, mesh or train.make_mesh(jax.devices()[:1]), seed)
  gather = jax.jit(on_device.gather_batch, static_argnums=3)
  out = []
  for step, idx in enumerate(dev.iterator(num_epochs)):
    rng = jax.random.fold_in(jax.random.PRNGKey(seed + 1), step)
    out.append(jax.device_get(gather(dev.arrays, idx["index"], rng, dev.kind)))
  return out


def crop_offset(original, out, pad=4):
  """(top, left, flipped) of `out` as a crop of the zero-padded `original`."""
  h, w = original.shape[:2]
  padded = np.pad(original, ((pad, pad), (pad, pad), (0, 0)))
  found = [(t, l, f) for t in range(2 * pad + 1) for l in range(2 * pad + 1) for f in (0, 1)
           if np.array_equal(out, padded[t:t + h, l:l + w][:, ::-1] if f else
                             padded[t:t + h, l:l + w])]
  assert len(found) == 1, found
  return found[0]


def test_without_augmentation_the_batches_equal_the_grain_batches():
  s = split()
  grain_batches = list(input_pipeline.train_dataset(s, cfg(), num_epochs=3, seed=7))
  ours = device_batches(s, cfg(), 3, 7)
  assert len(ours) == len(grain_batches) == 15
  for a, b in zip(grain_batches, ours):
    assert set(a) == set(b)
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])


def test_crop_flip_batches_follow_the_batch_order_and_crop_the_indexed_image():
  s = split()
  ours = device_batches(s, cfg(augment="crop_flip"), 2, 3)
  source = input_pipeline.BatchSource(s, 8, 2, 3)
  plain = [source[b] for b in range(len(source))]
  assert len(ours) == len(plain) == 10
  for b, p in zip(ours, plain):
    np.testing.assert_array_equal(b["index"], p["index"])
    np.testing.assert_array_equal(b["label"], s.labels[b["index"]])
    np.testing.assert_array_equal(b["known_label"], b["index"] - 5)
    for i, image in zip(b["index"], b["image"]):
      crop_offset(s.inputs[i], image)  # exactly one (offset, flip) explains it


def chi_square_uniform(counts: np.ndarray) -> float:
  expected = counts.sum() / counts.size
  return float(((counts - expected) ** 2 / expected).sum())


@pytest.mark.slow
def test_crop_flip_distribution_is_uniform_offsets_and_fair_flips_like_grain():
  # 4000 draws of (top, left, flip) over 9 x 9 x 2 = 162 cells; chi-square with 161
  # degrees of freedom: mean 161, sd 18; 260 is beyond p = 1e-5. Both paths must pass,
  # and a biased sampler (offsets 0..7 only, say) gives thousands.
  n = 4000
  s = Split(np.repeat(split(1).inputs, n, 0), np.zeros(n, np.int64), np.zeros(n, np.int64))
  dev = on_device.DeviceTrainSet(s, cfg(augment="crop_flip", batch_size=n),
                                 train.make_mesh(jax.devices()[:1]), 0)
  images = jax.device_get(on_device.random_crop_flip(dev.arrays["image"],
                                                     jax.random.PRNGKey(0)))
  from nlx.data import augment
  transform = augment.train_transform("crop_flip", 0)
  grain_images = [transform(s.inputs[0], np.random.default_rng(i)) for i in range(n)]
  for outs in (images, grain_images):
    counts = np.zeros((9, 9, 2))
    for image in outs:
      counts[crop_offset(s.inputs[0], image)] += 1
    assert chi_square_uniform(counts) < 260, counts
    assert abs(counts[..., 1].sum() / n - 0.5) < 0.03  # flips: sd 0.008
  biased = counts.copy()
  biased[8] = 0
  assert chi_square_uniform(biased) > 260  # the check can fail


@pytest.mark.slow
def test_sharded_run_equals_single_device_run():
  assert jax.device_count() == 8
  config = load_config("baselines", "ce,tiny")
  config.data.batch_size, config.data.on_device, config.data.augment = 64, True, "crop_flip"
  ds = data_lib.load_dataset(config)
  s = {}
  for n in (1, 8):
    trainer = train.Trainer(config, ds, train.make_mesh(jax.devices()[:n]))
    state, it, losses = trainer.initial_state, trainer.train_iterator(1), []
    for _ in range(3):
      state, m = trainer.train_step(state, trainer.shard(next(it)))
      losses.append(float(m["loss"]))
    assert trainer.device_data.jitted._cache_size() == 1  # no recompile per step
    s[n] = (state, losses)
  np.testing.assert_allclose(s[1][1], s[8][1], rtol=1e-5, atol=1e-5)
  # the gradient sums run in another order over 8 devices; Adam divides by sqrt(v), so an
  # entry with a tiny gradient can move by ~1e-5 more (jax 0.7.1: 2 of 73,728 entries)
  for a, b in zip(jax.tree.leaves(s[1][0].params), jax.tree.leaves(s[8][0].params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)
  # and the batches themselves are bit-identical however the indices are sharded
  one, eight = (device_batches(ds.train, cfg(augment="crop_flip", batch_size=64), 1, 0,
                               train.make_mesh(jax.devices()[:n])) for n in (1, 8))
  for a, b in zip(one, eight):
    np.testing.assert_array_equal(a["image"], b["image"])


@pytest.mark.slow
def test_on_device_run_resumes_to_the_same_final_params(tmp_path):
  def config(**kw):
    c = load_config("baselines", "ce,tiny")
    c.data.on_device, c.data.augment = True, "crop_flip"
    for k, v in kw.items():
      setattr(c.train, k, v)
    return c
  full = train.train_and_evaluate(config(), str(tmp_path / "full"))
  stopped = train.train_and_evaluate(config(stop_after_steps=11), str(tmp_path / "resumed"))
  assert stopped["status"] == "stopped" and stopped["step"] == 11
  resumed = train.train_and_evaluate(config(), str(tmp_path / "resumed"))
  assert resumed["steps"] == full["steps"] == 16
  for a, b in zip(jax.tree.leaves(full["state"].params), jax.tree.leaves(resumed["state"].params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_on_device_trains_like_grain_without_augmentation():
  # Same batches, same step: the two paths give the same params after a few steps.
  config = load_config("baselines", "ce,tiny")
  ds = data_lib.load_dataset(config)
  params = []
  for flag in (False, True):
    config.data.on_device = flag
    trainer = train.Trainer(config, ds, train.make_mesh(jax.devices()[:1]))
    state, it = trainer.initial_state, trainer.train_iterator(1)
    for _ in range(3):
      state, _ = trainer.train_step(state, trainer.shard(next(it)))
    params.append(jax.tree.leaves(state.params))
  for a, b in zip(*params):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("kw,s,message", [
    ({"augment": "resize_crop_flip", "image_size": 4}, split(), "resize_crop_flip"),
    ({}, Split(np.array(["a.jpg"] * 8), np.zeros(8, int), np.zeros(8, int), decode=len),
     "image files"),
    ({"augment": "crop_flip"}, Split(np.zeros((8, 5), np.float32), np.zeros(8, int),
                                     np.zeros(8, int)), "uint8"),
])
def test_unsupported_inputs_are_one_line_config_errors(kw, s, message):
  with pytest.raises(ConfigError, match=message):
    on_device.DeviceTrainSet(s, cfg(**kw), train.make_mesh(jax.devices()[:1]), 0)
