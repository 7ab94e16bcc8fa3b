"""data.on_device against the grain path: same batches, same augmentation distribution,
sharding-invariant, resumable (nlx.data.on_device)."""

import collections

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
  found = [(top, left, f)
           for top in range(2 * pad + 1) for left in range(2 * pad + 1) for f in (0, 1)
           if np.array_equal(out, padded[top:top + h, left:left + w][:, ::-1] if f else
                             padded[top:top + h, left:left + w])]
  assert len(found) == 1, found
  return found[0]


@pytest.mark.parametrize("image_size", [0, 4])
def test_without_augmentation_the_batches_equal_the_grain_batches(image_size):
  # image_size 4 (the images are 6x6): both paths resize, as the eval path does; the
  # grain path once ignored data.image_size here and trained on 6x6 images.
  s = split()
  grain_batches = list(input_pipeline.train_dataset(s, cfg(image_size=image_size),
                                                    num_epochs=3, seed=7))
  ours = device_batches(s, cfg(image_size=image_size), 3, 7)
  assert len(ours) == len(grain_batches) == 15
  side = image_size or 6
  assert grain_batches[0]["image"].shape[1:3] == ours[0]["image"].shape[1:3] == (side, side)
  for a, b in zip(grain_batches, ours):
    assert set(a) == set(b)
    for k in a:
      np.testing.assert_array_equal(a[k], b[k])


def test_host_arrays_resize_only_to_another_image_size():
  s = split(n=3)
  for size in (0, 6):  # unset, or the images' own size: the arrays as they are
    got = on_device.host_arrays(s, size)
    np.testing.assert_array_equal(got["image"], s.inputs)
    np.testing.assert_array_equal(got["index"], [0, 1, 2])
    np.testing.assert_array_equal(got["known_label"], [-5, -4, -3])
  flat = Split(np.full((2, 6, 6, 1), 7, np.uint8), np.zeros(2, int), np.zeros(2, int))
  for size in (4, 9):  # a constant image stays constant when resized, down or up
    np.testing.assert_array_equal(on_device.host_arrays(flat, size)["image"],
                                  np.full((2, size, size, 1), 7, np.uint8))
  # another size: each image as grain's per-example transform gives it (the eval path's)
  resized = on_device.host_arrays(s, 4)["image"]
  assert resized.shape == (3, 4, 4, 1)
  grain = next(iter(input_pipeline.eval_dataset(s, cfg(image_size=4), batch_size=3)))
  np.testing.assert_array_equal(resized, grain["image"])
  assert not np.array_equal(resized[0], resized[1])  # not a constant: the images differ


def test_index_iterator_epochs_process_shards_and_resume():
  # 10 examples, batches of 4: 2 steps an epoch (the last 2 examples of each epoch's
  # order left out), 3 epochs: 6 steps, then StopIteration
  single = [b["index"] for b in on_device.IndexIterator(10, 4, 3, seed=5)]
  assert len(single) == 6 and all(b.dtype == np.int32 and b.shape == (4,) for b in single)
  epochs = [np.concatenate(single[2 * e:2 * e + 2]) for e in range(3)]
  assert all(len(set(e.tolist())) == 8 and set(e.tolist()) <= set(range(10)) for e in epochs)
  assert not np.array_equal(epochs[0], epochs[1])  # a new order each epoch
  source = input_pipeline.BatchSource(split(10), 4, 3, 5)  # the grain path's batches
  for b, ours in enumerate(single):
    np.testing.assert_array_equal(ours, source[b]["index"])
  # two processes: process p feeds rows [2 p, 2 p + 2) of every global batch
  for count in (2, 4):
    parts = [[b["index"] for b in on_device.IndexIterator(10, 4, 3, 5, p, count)]
             for p in range(count)]
    for step, whole in enumerate(single):
      np.testing.assert_array_equal(np.concatenate([part[step] for part in parts]), whole)
      assert all(len(part[step]) == 4 // count for part in parts)
  it = on_device.IndexIterator(10, 4, 3, seed=5)
  for _ in range(4):
    next(it)
  assert it.get_state() == {"step": 4}
  resumed = on_device.IndexIterator(10, 4, 3, seed=5)
  resumed.set_state({"step": 4})
  rest = [b["index"] for b in resumed]
  assert len(rest) == 2
  for a, b in zip(rest, single[4:]):
    np.testing.assert_array_equal(a, b)


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


def coordinate_images(n, size):
  """`[n, size, size, 2]` int32: every image's channels are (row + 1, column + 1), so a
  pixel of a crop says where it came from (0: the padding)."""
  rows, cols = np.meshgrid(np.arange(1, size + 1), np.arange(1, size + 1), indexing="ij")
  return np.repeat(np.stack([rows, cols], -1).astype(np.int32)[None], n, 0)


def decode_crops(outs, pad):
  """`[(top, left, flipped)]` of crops `[N, H, W, 2]` of the zero-padded coordinate
  image; each crop must equal the numpy crop of the padded image at what it tells."""
  h, w = outs.shape[1:3]
  padded = np.pad(coordinate_images(1, h)[0], ((pad, pad), (pad, pad), (0, 0)))
  found = []
  for out in outs:
    i, j = np.argwhere(out[..., 0] > 0)[0]  # the top-left original pixel in the crop
    flipped = int(out[i, j + 1, 1] < out[i, j, 1])  # columns run backwards
    top = out[i, j, 0] - 1 + pad - i
    left = out[i, j, 1] - 1 + pad - (w - 1 - j if flipped else j)
    want = padded[top:top + h, left:left + w]
    np.testing.assert_array_equal(out, want[:, ::-1] if flipped else want)
    found.append((int(top), int(left), flipped))
  return found


crop_flip = jax.jit(on_device.random_crop_flip, static_argnums=2)


@pytest.mark.parametrize("pad", [None, 0, 1, 6])
def test_random_crop_draws_every_offset_from_0_to_2_pad_and_both_flips(pad):
  # Each crop must be one of the (2 pad + 1)^2 windows of the zero-padded image, and 4000
  # draws in one call must give every (top, left) pair, both flips (fairly), and no offset
  # outside [0, 2 pad]. The 8 x 8 image is pad + 2 wide at least, so every window keeps
  # two original columns: the crop tells its offset and flip. None: the default pad, 4.
  n, size = 4000, 8
  assert on_device.PAD == 4
  p = on_device.PAD if pad is None else pad
  args = () if pad is None else (pad,)
  outs = np.asarray(crop_flip(coordinate_images(n, size), jax.random.PRNGKey(3), *args))
  assert outs.shape == (n, size, size, 2)
  found = decode_crops(outs, p)
  assert {(top, left) for top, left, _ in found} == {(top, left) for top in range(2 * p + 1)
                                                     for left in range(2 * p + 1)}
  flips = np.array([f for _, _, f in found])
  assert set(flips.tolist()) == {0, 1}
  assert abs(flips.mean() - 0.5) < 0.05  # sd 0.008 for 4000 fair draws


def test_the_key_decides_the_crops():
  images = coordinate_images(4000, 8)  # the shape above: no new compile
  a, b, c = (decode_crops(np.asarray(crop_flip(images, jax.random.PRNGKey(k)))[:100], 4)
             for k in (3, 3, 4))
  assert a == b and a != c


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
    # either half of the requirement alone fails: float images of the right rank, or uint8
    # arrays without a channel axis
    ({"augment": "crop_flip"}, Split(np.zeros((8, 6, 6, 1), np.float32), np.zeros(8, int),
                                     np.zeros(8, int)),
     r"got float32 \(8, 6, 6, 1\) \(use the grain"),
    ({"augment": "crop_flip"}, Split(np.zeros((8, 6, 6), np.uint8), np.zeros(8, int),
                                     np.zeros(8, int)), r"got uint8 \(8, 6, 6\) \(use the grain"),
])
def test_unsupported_inputs_are_one_line_config_errors(kw, s, message):
  with pytest.raises(ConfigError, match=message):
    on_device.DeviceTrainSet(s, cfg(**kw), train.make_mesh(jax.devices()[:1]), 0)


def test_host_arrays_pass_over_the_images_only_to_resize_them(monkeypatch):
  # resizing is a Python loop over every image (50,000 for CIFAR): none when data.image_size
  # is unset (0) or the images' own size (6 x 6), or the inputs are not [N, H, W, C]
  # (features [N, D] with image_size set)
  calls = []
  fixed_size = on_device.augment.fixed_size
  monkeypatch.setattr(on_device.augment, "fixed_size",
                      lambda x, size: calls.append(size) or fixed_size(x, size))
  s = split(n=3)
  np.testing.assert_array_equal(on_device.host_arrays(s)["image"], s.inputs)  # default: unset
  for size in (0, 6):
    np.testing.assert_array_equal(on_device.host_arrays(s, size)["image"], s.inputs)
  features = Split(np.arange(6, dtype=np.float32).reshape(3, 2), np.zeros(3, int),
                   np.zeros(3, int))
  np.testing.assert_array_equal(on_device.host_arrays(features, 4)["image"],
                                [[0, 1], [2, 3], [4, 5]])
  assert calls == []
  assert on_device.host_arrays(s, 4)["image"].shape == (3, 4, 4, 1) and calls == [4, 4, 4]
  assert on_device.host_arrays(s, 1)["image"].shape == (3, 1, 1, 1)  # the smallest size too


def test_random_crop_offsets_are_uniform_on_each_axis():
  # pad 4: top and left each uniform on 0..8, 1/9 each (sd 0.005 over 4000 draws). An
  # offset drawn beyond 8 would be clamped to 8 by the slice and show as a heavier 8.
  found = decode_crops(np.asarray(crop_flip(coordinate_images(4000, 8), jax.random.PRNGKey(5))),
                       4)
  for axis in (0, 1):
    shares = np.bincount([f[axis] for f in found], minlength=9) / 4000
    assert shares.shape == (9,)
    np.testing.assert_allclose(shares, np.full(9, 1 / 9), atol=0.025)


def test_the_jitted_step_feeds_the_batches_of_the_augmentation_key_seed_plus_1():
  # DeviceTrainSet.jit_step: step s of a run with seed k gathers the iterator's rows and
  # crops with fold_in(PRNGKey(k + 1), s) (k itself keys the model's init), the batches
  # `device_batches` rebuilds by hand
  state_type = collections.namedtuple("State", "step")
  s, c, seed = split(), cfg(augment="crop_flip"), 3
  dev = on_device.DeviceTrainSet(s, c, train.make_mesh(jax.devices()[:1]), seed)
  step = dev.jit_step(lambda state, batch: batch)
  want = device_batches(s, c, 1, seed)
  for k, idx in enumerate(dev.iterator(1)):
    got = jax.device_get(step(state_type(np.int32(k)), idx))
    for key in want[k]:
      np.testing.assert_array_equal(got[key], want[k][key])


def test_random_crop_flip_equals_a_numpy_crop_at_the_documented_draws():
  # the recipe (`random_crop_flip`'s docstring): split the key into (offsets, flips), offsets
  # `randint [B, 2]` on [0, 2 pad], flips `bernoulli(1/2) [B]`; then a numpy crop of the
  # zero-padded image at (top, left), mirrored left-right where the flip is set
  images = split(n=16).inputs  # 16 x 6 x 6 x 1
  key = jax.random.PRNGKey(11)
  offset_key, flip_key = jax.random.split(key)
  offsets = np.asarray(jax.random.randint(offset_key, (16, 2), 0, 9))
  flips = np.asarray(jax.random.bernoulli(flip_key, 0.5, (16,)))
  assert 0 < flips.sum() < 16 and len(set(map(tuple, offsets.tolist()))) > 8
  padded = np.pad(images, ((0, 0), (4, 4), (4, 4), (0, 0)))
  want = np.stack([padded[i, top:top + 6, left:left + 6]
                   for i, (top, left) in enumerate(offsets)])
  want[flips] = want[flips][:, :, ::-1]
  np.testing.assert_array_equal(np.asarray(on_device.random_crop_flip(images, key)), want)
