"""The grain pipeline: seeded shuffle, decode, augmentation, batching, prefetch.

Training reads one endless-per-run stream: shuffle (a new permutation each epoch),
repeat for the run's epochs, shard by process, random augmentation (seeded per
element), batch with `drop_remainder`. Its iterator state (`get_state()`, a small dict)
is checkpointed with the train state, so a resumed run continues from the same batch.
"""

import grain
import numpy as np

from nlx.data import augment
from nlx.data.types import Split


class ExampleSource:
  """A grain random-access source over a `Split`: yields `image` (the model's input,
  `Split.model_inputs`), `label`, `clean_label` and `index` (stable position in the
  split, 0..N-1)."""

  def __init__(self, split: Split):
    self._split = split

  def __len__(self):
    return len(self._split)

  def __getitem__(self, i):
    s = self._split
    return {"image": s.model_inputs(i), "label": s.labels[i], "clean_label": s.clean_labels[i],
            "index": np.int32(i), **{k: v[i] for k, v in s.extras.items()}}


class BatchSource:
  """Random access to whole training batches of an in-memory split, for data that needs
  no per-example work (features, or images without augmentation): one numpy gather per
  batch instead of per-example calls.

  Batch b of the run is epoch `e = b // steps_per_epoch`, rows
  `perm_e[j * B : (j + 1) * B]` with `j = b % steps_per_epoch` and `perm_e` a permutation
  seeded by `(seed, e)`; each process takes its slice of every global batch.
  """

  def __init__(self, split: Split, global_batch_size: int, num_epochs: int, seed: int,
               process_index: int = 0, process_count: int = 1, image_size: int = 0):
    self._split = split
    self._image_size = image_size
    self._b = global_batch_size
    self._spe = len(split) // global_batch_size
    self._len = self._spe * num_epochs
    self._seed = seed
    self._local = slice(process_index * global_batch_size // process_count,
                        (process_index + 1) * global_batch_size // process_count)
    self._cache = (None, None)

  def __len__(self):
    return self._len

  def _perm(self, epoch: int) -> np.ndarray:
    cached_epoch, perm = self._cache
    if cached_epoch != epoch:
      perm = np.random.default_rng((self._seed, epoch)).permutation(len(self._split))
      self._cache = (epoch, perm)
    return perm

  def __getitem__(self, b):
    epoch, j = divmod(int(b), self._spe)
    idx = self._perm(epoch)[j * self._b:(j + 1) * self._b][self._local]
    s = self._split
    image = s.model_inputs(idx)
    size = self._image_size
    if size > 0 and image.ndim == 4 and image.shape[1:3] != (size, size):
      image = np.stack([augment.fixed_size(x, size) for x in image])  # as the eval path does
    return {"image": image, "label": s.labels[idx], "clean_label": s.clean_labels[idx],
            "index": idx.astype(np.int32), **{k: v[idx] for k, v in s.extras.items()}}


def _read_options(config):
  return grain.ReadOptions(num_threads=config.num_threads,
                           prefetch_buffer_size=config.prefetch_buffer_size)


def steps_per_epoch(num_examples: int, global_batch_size: int) -> int:
  return num_examples // global_batch_size


def train_dataset(split: Split, config, *, num_epochs: int, seed: int,
                  process_index: int = 0, process_count: int = 1) -> grain.IterDataset:
  """Per-process batches of `config.batch_size // process_count` examples."""
  if config.augment == "none" and split.decode is None:
    return grain.MapDataset.source(BatchSource(
        split, config.batch_size, num_epochs, seed, process_index, process_count,
        config.image_size)).to_iter_dataset(_read_options(config))
  transform = augment.train_transform(config.augment, config.image_size)

  def aug(example, rng):
    return {**example, "image": transform(example["image"], rng)}

  ds = grain.MapDataset.source(ExampleSource(split)).shuffle(seed=seed).repeat(num_epochs)
  ds = ds.random_map(aug, seed=seed + 1)  # seeded by the global position: any process count
  local = config.batch_size // process_count
  if process_count > 1:  # process p: rows [p * local, (p + 1) * local) of every global batch
    ds = _process_rows(ds, config.batch_size, process_index, local)
  return ds.batch(local, drop_remainder=True).to_iter_dataset(_read_options(config))


def _process_rows(ds: grain.MapDataset, global_batch: int, process_index: int,
                  local: int) -> grain.MapDataset:
  """This process's rows of each global batch of `ds`, in order, so that the processes'
  batches laid side by side are the single-process batch (same examples, same order)."""
  def global_position(i):
    return (i // local) * global_batch + process_index * local + i % local
  return grain.MapDataset.range((len(ds) // global_batch) * local).map(
      lambda i: ds[global_position(i)])


def eval_dataset(split: Split, config, *, batch_size: int) -> grain.IterDataset:
  """Batches in order; the last one may be short (the trainer pads and masks it)."""
  transform = augment.eval_transform(config.augment, config.image_size)
  ds = grain.MapDataset.source(ExampleSource(split)).map(
      lambda e: {**e, "image": transform(e["image"])})
  return ds.batch(batch_size, drop_remainder=False).to_iter_dataset(_read_options(config))
