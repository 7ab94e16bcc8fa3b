"""A device-resident training set: gather, pad-4 random crop and flip inside the jitted step.

For data that fit in accelerator memory (CIFAR-10's train set is 150 MB as uint8), the
whole split (images, labels, clean labels, index, extras) is put on the mesh once,
replicated on every device, and each step's batch is cut from it on the device: the
host sends only the step's `[B]` example indices, so the host pipeline cannot be the
bottleneck (`data.on_device=True`; grain stays the default for everything else).

Against the grain path (`nlx.data.input_pipeline`), for the same seed:
- the batches are the same examples in the same order as `BatchSource`'s (the grain
  path's order when `data.augment='none'`: there the two paths give identical batches);
  with `crop_flip` grain shuffles with its own permutation instead, so the order differs;
- the augmentation has the same distribution (crop offsets uniform on the 9 x 9 grid of
  a zero-padded image, flip with probability 1/2) but other draws: they come from
  `jax.random`, keyed by `(seed, step)`, not from grain's per-element numpy generators.
Both are tested in `tests/data/test_on_device.py`. The iterator state (the step) is
checkpointed like grain's, so a resumed run continues with the same batches.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from nlx.data import augment
from nlx.data.types import Split
from nlx.errors import ConfigError

KINDS = ("none", "crop_flip")
PAD = 4


def unsupported(split: Split, config) -> str | None:
  """Why the device cannot hold this split and cut its batches for this config, or None
  when it can (`data.on_device` then applies: in-memory arrays, augment none/crop_flip)."""
  if config.augment not in KINDS:
    return f"it supports data.augment in {KINDS}, got {config.augment!r}"
  if split.decode is not None:
    return "it needs in-memory arrays, not image files"
  if config.augment == "crop_flip" and (split.inputs.ndim != 4 or split.inputs.dtype != np.uint8):
    return (f"data.augment='crop_flip' on the device needs uint8 [N, H, W, C] images, "
            f"got {split.inputs.dtype} {split.inputs.shape}")
  return None


def check(split: Split, config) -> None:
  """Raises ConfigError when `data.on_device` cannot serve this split and config."""
  why = unsupported(split, config)
  if why is not None:
    raise ConfigError(f"data.on_device: {why} (use the grain path: data.on_device=False)")


def host_arrays(split: Split, image_size: int = 0) -> dict:
  """The split's per-example arrays as the batches carry them (images resized once when
  `data.image_size` asks for another size, as the grain path does per example)."""
  images = split.model_inputs(slice(None))
  if image_size > 0 and images.ndim == 4 and images.shape[1:3] != (image_size, image_size):
    images = np.stack([augment.fixed_size(x, image_size) for x in images])
  return {"image": images, "label": split.labels, "clean_label": split.clean_labels,
          "index": np.arange(len(split), dtype=np.int32), **split.extras}


def put_replicated(arrays: dict, mesh: Mesh) -> dict:
  """Host arrays (the same in every process) -> global arrays replicated on the mesh."""
  replicated = NamedSharding(mesh, P())
  return {k: jax.make_array_from_callback(np.shape(v), replicated, lambda idx, v=v: v[idx])
          for k, v in arrays.items()}


def random_crop_flip(images: jax.Array, rng: jax.Array, pad: int = PAD) -> jax.Array:
  """`[B, H, W, C]` -> the same shape: each image zero-padded by `pad`, cut at an offset
  drawn uniformly from `[0, 2 pad]^2`, and mirrored left-right with probability 1/2
  (`augment.random_crop_flip` on the device, with `jax.random` draws)."""
  b, h, w, _ = images.shape
  offset_rng, flip_rng = jax.random.split(rng)
  offsets = jax.random.randint(offset_rng, (b, 2), 0, 2 * pad + 1)
  flips = jax.random.bernoulli(flip_rng, 0.5, (b,))
  padded = jnp.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))

  def one(image, offset, flip):
    out = jax.lax.dynamic_slice(image, (offset[0], offset[1], 0), (h, w, image.shape[-1]))
    return jnp.where(flip, out[:, ::-1], out)

  return jax.vmap(one)(padded, offsets, flips)


def gather_batch(arrays: dict, index: jax.Array, rng: jax.Array, kind: str) -> dict:
  """The batch of rows `index` `[B]` of the resident `arrays`, augmented by `kind`."""
  batch = {k: jnp.take(v, index, axis=0) for k, v in arrays.items()}
  if kind == "crop_flip":
    batch["image"] = random_crop_flip(batch["image"], rng)
  return batch


def wrap_step(train_step, kind: str):
  """`train_step(state, batch)` -> `step(state, {"index": [B]}, arrays, key)`: the batch is
  gathered and augmented inside the same jitted program. The augmentation key is
  `fold_in(key, state.step)` (the trainer's key: `PRNGKey(seed + 1)`): the same draws for
  any device count; a traced argument, so replicas (`nlx.replicas`) each pass their own."""

  def step(state, indices: dict, arrays: dict, key: jax.Array):
    rng = jax.random.fold_in(key, state.step)
    return train_step(state, gather_batch(arrays, indices["index"], rng, kind))
  return step


def chunk_step(step, max_steps: int):
  """`step(state, {"index": [B]}, *args)` -> `chunk(state, {"index": [K, B]}, count,
  *args) -> (state, metrics)`: the first `count` (<= K = `max_steps`) steps in one
  program, a `fori_loop` with a traced trip count (one compiled program serves every
  chunk length), each step exactly the per-step program's. `metrics`: every step's
  scalars stacked `[K]` (rows past `count` are zero), fetched once per chunk."""
  # one trace of the step serves both uses below: the metrics' shapes and the loop's body
  # (jit's cache; XLA inlines the call, so the program is the same)
  traced_once = jax.jit(step)

  def chunk(state, indices: dict, count, *args):
    rows = indices["index"]
    shapes = jax.eval_shape(lambda s, i: traced_once(s, {"index": i}, *args)[1], state,
                            rows[0])
    leaves, treedef = jax.tree.flatten(shapes)
    # the float32 scalars (every step's loss terms) as one row a step: one write, not one
    # per metric; any other leaf stacked on its own
    packed = [j for j, x in enumerate(leaves) if x.shape == () and x.dtype == jnp.float32]
    others = [j for j in range(len(leaves)) if j not in packed]
    buffers = (jnp.zeros((max_steps, len(packed)), jnp.float32),
               [jnp.zeros((max_steps, *leaves[j].shape), leaves[j].dtype) for j in others])

    def body(i, carry):
      state, (table, rest) = carry
      state, metrics = traced_once(state, {"index": rows[i]}, *args)
      values = jax.tree.leaves(metrics)
      if packed:
        table = table.at[i].set(jnp.stack([values[j] for j in packed]))
      return state, (table, [buf.at[i].set(values[j]) for buf, j in zip(rest, others)])

    state, (table, rest) = jax.lax.fori_loop(0, count, body, (state, buffers))
    values = [None] * len(leaves)
    for column, j in enumerate(packed):
      values[j] = table[:, column]
    for buf, j in zip(rest, others):
      values[j] = buf
    return state, jax.tree.unflatten(treedef, values)
  return chunk


class IndexIterator:
  """Each step's `{"index": [local B] int32}`: the rows of `BatchSource`'s batch that this
  process feeds. `get_state`/`set_state` give and take `{"step": n}` (checkpointed).

  `include` (default: every example): the examples drawn from, each epoch a permutation
  of them seeded by `(seed, epoch)` (a fold's run, `label_issues.holdout_fold`: the other
  folds); `steps_per_epoch` (default: as many full batches as they fill) may be fewer,
  e.g. the same for every fold's run."""

  def __init__(self, num_examples: int, global_batch_size: int, num_epochs: int, seed: int,
               process_index: int = 0, process_count: int = 1, include=None,
               steps_per_epoch: int | None = None):
    self._include = None if include is None else np.asarray(include)
    self._n = num_examples if include is None else len(self._include)
    self._b, self._seed = global_batch_size, seed
    self._spe = self._n // global_batch_size
    if steps_per_epoch is not None:
      if steps_per_epoch > self._spe:
        raise ValueError(f"{steps_per_epoch} steps an epoch of {global_batch_size} from "
                         f"{self._n} examples")
      self._spe = steps_per_epoch
    self._len = self._spe * num_epochs
    self._local = slice(process_index * global_batch_size // process_count,
                        (process_index + 1) * global_batch_size // process_count)
    self._step = 0
    self._perm = (None, None)

  def __iter__(self):
    return self

  def __next__(self) -> dict:
    if self._step >= self._len:
      raise StopIteration
    epoch, j = divmod(self._step, self._spe)
    if self._perm[0] != epoch:  # BatchSource's permutation of this epoch
      perm = np.random.default_rng((self._seed, epoch)).permutation(self._n)
      self._perm = (epoch, perm if self._include is None else self._include[perm])
    self._step += 1
    rows = self._perm[1][j * self._b:(j + 1) * self._b][self._local]
    return {"index": rows.astype(np.int32)}

  def get_state(self) -> dict:
    return {"step": self._step}

  def set_state(self, state: dict) -> None:
    self._step = int(state["step"])


class DeviceTrainSet:
  """The training split on the mesh, its index iterator and its step wrapper, as the
  `Trainer` uses them when `data.on_device=True`."""

  def __init__(self, split: Split, config, mesh: Mesh, seed: int, include=None,
               steps_per_epoch: int | None = None):
    check(split, config)
    self.kind = config.augment
    self.seed = seed
    self.key = jax.random.PRNGKey(seed + 1)  # the augmentation's (`wrap_step`)
    self.num_examples = len(split)
    self.global_batch_size = config.batch_size
    self.include, self.steps_per_epoch = include, steps_per_epoch
    self.host = host_arrays(split, config.image_size)
    self.arrays = put_replicated(self.host, mesh)

  def iterator(self, num_epochs: int) -> IndexIterator:
    return IndexIterator(self.num_examples, self.global_batch_size, num_epochs, self.seed,
                         jax.process_index(), jax.process_count(), self.include,
                         self.steps_per_epoch)

  def jit_step(self, train_step, **jit_kwargs):
    """The jitted step with the trainer's call signature `(state, sharded indices)`."""
    self.jitted = jax.jit(wrap_step(train_step, self.kind), **jit_kwargs)
    return lambda state, indices: self.jitted(state, indices, self.arrays, self.key)

  def jit_chunk(self, train_step, max_steps: int, **jit_kwargs):
    """The jitted chunk of up to `max_steps` steps (`chunk_step`), called as
    `(state, sharded indices [K, B], count)`."""
    self.jitted_chunk = jax.jit(chunk_step(wrap_step(train_step, self.kind), max_steps),
                                **jit_kwargs)
    return lambda state, indices, count: self.jitted_chunk(state, indices, count, self.arrays,
                                                           self.key)
