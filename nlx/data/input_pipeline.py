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
  """A grain random-access source over a `Split`: yields `image`, `label`,
  `clean_label` and `index` (stable position in the split, 0..N-1)."""

  def __init__(self, split: Split):
    self._split = split

  def __len__(self):
    return len(self._split)

  def __getitem__(self, i):
    s = self._split
    image = s.images[i]
    if s.decode is not None:
      image = s.decode(image)
    return {"image": image, "label": s.labels[i], "clean_label": s.clean_labels[i],
            "index": np.int32(i)}


def _read_options(config):
  return grain.ReadOptions(num_threads=config.num_threads,
                           prefetch_buffer_size=config.prefetch_buffer_size)


def steps_per_epoch(num_examples: int, global_batch_size: int) -> int:
  return num_examples // global_batch_size


def train_dataset(split: Split, config, *, num_epochs: int, seed: int,
                  process_index: int = 0, process_count: int = 1) -> grain.IterDataset:
  """Per-process batches of `config.batch_size // process_count` examples."""
  transform = augment.train_transform(config.augment, config.image_size)

  def aug(example, rng):
    return {**example, "image": transform(example["image"], rng)}

  ds = grain.MapDataset.source(ExampleSource(split)).shuffle(seed=seed).repeat(num_epochs)
  if process_count > 1:
    ds = ds[process_index::process_count]
  ds = ds.random_map(aug, seed=seed + 1).batch(config.batch_size // process_count,
                                               drop_remainder=True)
  return ds.to_iter_dataset(_read_options(config))


def eval_dataset(split: Split, config, *, batch_size: int) -> grain.IterDataset:
  """Batches in order; the last one may be short (the trainer pads and masks it)."""
  transform = augment.eval_transform(config.augment, config.image_size)
  ds = grain.MapDataset.source(ExampleSource(split)).map(
      lambda e: {**e, "image": transform(e["image"])})
  return ds.batch(batch_size, drop_remainder=False).to_iter_dataset(_read_options(config))
