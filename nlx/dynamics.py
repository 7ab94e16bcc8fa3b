"""Training dynamics: per example, the given label's margin and loss, summed over epochs.

After every epoch the trainer's model predicts the whole training set once (eval mode,
the eval transform, `Trainer.predict_on_device`: for an in-memory training set the
compiled eval step over each of its device-resident blocks, the blocks' logits joined on
the device by one more program, never fetched),
and for example i with given label y_i one more compiled program adds to running sums
kept on the device
- the margin `m_i = z_i[y_i] - max_{k != y_i} z_i[k]` of its logits z_i (Pleiss et al.,
  "Identifying mislabeled data using the area under the margin ranking", NeurIPS 2020);
  the mean over epochs is the area under the margin (AUM): low or negative = the
  network keeps preferring another class = a likely wrong label;
- the loss `-log softmax(z_i)[y_i]`;
- the softmax probabilities `[C]` (their mean over epochs is what confident learning's
  per-class thresholds are computed from, `nlx.ops.confident_learning`);
and we keep, per epoch, confident learning's estimated wrong labels per given class from
that epoch's probabilities alone (`[C]` ints: on digits with 40% noise the estimate is
575 of 575 at epoch 1 and falls to 0 once the network has fitted the noise, while the
running mean still holds the memorised epochs).
Nothing is read back to the host until a checkpoint writes the sums or the run's end
reads them (the per-epoch counts too: their `[C, C]` confident joint is computed
in-graph, with float32 thresholds, and only calibrated and rounded on the host).
Memory is O(N) per epoch-independent quantity (`[N]` sums, `[N, C]` probability sums,
the size of one prediction of the split) plus O(C x epochs), never O(N x epochs).

Checkpoint safety: the sums are kept on the device and written with every checkpoint (just
before it, `Tracker.save`): at a checkpoint of step s the sums through epoch
e = `s // steps_per_epoch` go to `WORKDIR/dynamics/epoch_EEEE.npz` (none while no epoch is
counted). A run resumed from a checkpoint at step s reloads the file of epoch e (files of
later epochs, from the interrupted attempt, are deleted), so no epoch is counted twice;
files older than the previous checkpoint's epoch are deleted as training goes (the
previous checkpoint is what a damaged newest one falls back to). If that file is missing
(a workdir from before this module) or cannot be read (cut short or damaged: a warning
names it), the sums restart at zero: the means stay means, over the epochs that were
counted (`count`).
"""

import functools
import glob
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from nlx.errors import DataError
from nlx.io import reading
from nlx.ops import confident_learning

SUBDIR = "dynamics"


@jax.jit
def margin_loss_probs(logits: jax.Array, labels: jax.Array):
  """Given-label margin `[N]`, loss `[N]` and softmax `[N, C]` of logits `[N, C]` (float)
  for labels `[N]` (int): `z[y] - max_{k != y} z[k]`, `-log softmax(z)[y]`, softmax(z)."""
  logits = logits.astype(jnp.float32)
  given = jnp.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
  others = jnp.where(jax.nn.one_hot(labels, logits.shape[-1], dtype=bool), -jnp.inf, logits)
  log_p = jax.nn.log_softmax(logits, axis=-1)
  loss = -jnp.take_along_axis(log_p, labels[:, None], axis=-1)[:, 0]
  return given - jnp.max(others, axis=-1), loss, jnp.exp(log_p)


def _confident_joint(labels: jax.Array, probs: jax.Array) -> jax.Array:
  """`nlx.ops.confident_learning.confident_joint` in-graph (float32 thresholds):
  int32 `[C, C]`, row i = the examples labelled i counted at their most probable class
  among those at or above the class's threshold (the mean probability of the class over
  the examples labelled with it)."""
  num_classes = probs.shape[1]
  onehot = jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
  counts = onehot.sum(axis=0)
  given = jnp.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]
  thresholds = jnp.where(counts > 0, (onehot * given[:, None]).sum(0) / jnp.maximum(counts, 1),
                         jnp.inf)
  above = probs >= thresholds - confident_learning.THRESHOLD_TOLERANCE
  guess = jnp.argmax(jnp.where(above, probs, -jnp.inf), axis=1)
  counted = above.any(axis=1).astype(jnp.int32)
  return jnp.zeros((num_classes, num_classes), jnp.int32).at[labels, guess].add(counted)


@functools.partial(jax.jit, donate_argnums=(0,))
def _add_epoch(sums: tuple, logits: jax.Array, labels: jax.Array):
  """One epoch's logits `[N, C]` added to the sums `(margin [N], loss [N], probs [N, C])`
  (float32, on the device); also that epoch's confident joint `[C, C]` and how many
  examples it predicts as their given label (a margin above 0; a tie is not)."""
  margin, loss, probs = margin_loss_probs(logits, labels)
  new = (sums[0] + margin, sums[1] + loss, sums[2] + probs)
  return new, _confident_joint(labels, probs), jnp.sum(margin > 0, dtype=jnp.int32)


def _float32(x) -> jax.Array:
  """`x` as a float32 device array: a host array cast on the host and put there (no
  conversion program to compile at a run's start; the same rounding)."""
  if isinstance(x, jax.Array):
    return jnp.asarray(x, jnp.float32)
  return jax.device_put(np.asarray(x, np.float32))


class Dynamics:
  """Running sums over the `count` epochs accumulated so far (through `epoch`): kept on
  the device (float32), fetched when read. Per counted epoch also confident learning's
  wrong labels per given class from that epoch's probabilities (`epoch_counts`, int64
  `[count, C]`, `confident_learning.confident_learning_counts`) and the share of examples
  predicted as their given label (`epoch_agreement`, float `[count]`)."""

  def __init__(self, sum_margin, sum_loss, sum_probs, count: int = 0, epoch: int = 0,
               epoch_counts=None, epoch_agreement=None):
    self._sums = tuple(_float32(s) for s in (sum_margin, sum_loss, sum_probs))
    self._host = None  # the sums fetched, until the next epoch is added
    self.count, self.epoch = int(count), int(epoch)
    c = self._sums[2].shape[1]
    self._counts = np.zeros((0, c), np.int64) if epoch_counts is None else np.asarray(
        epoch_counts, np.int64).reshape(-1, c)
    self._agreement = np.zeros((0,), np.float64) if epoch_agreement is None else np.asarray(
        epoch_agreement, np.float64)
    self._labels = None  # (host labels, device labels, label counts) of the epochs added
    self._pending = []   # per epoch added and not yet read: (joint [C, C], agreeing), device

  @classmethod
  def zeros(cls, num_examples: int, num_classes: int) -> "Dynamics":
    return cls(np.zeros(num_examples), np.zeros(num_examples),
               np.zeros((num_examples, num_classes), np.float32))

  def add(self, logits, labels, epoch: int) -> None:
    """Adds one epoch's prediction `logits [N, C]` (a device array is not fetched) for
    the given `labels [N]` (int); one compiled call, nothing read back until asked."""
    if self._labels is None or self._labels[0] is not labels:
      host = np.asarray(labels)
      n, c = self._sums[2].shape
      if host.shape != (n,) or not np.issubdtype(host.dtype, np.integer) or (
          n and (host.min() < 0 or host.max() >= c)):
        raise ValueError(f"training dynamics need {n} integer labels in [0, {c}); got shape "
                         f"{host.shape}, dtype {host.dtype}"
                         + (f", values {host.min()} to {host.max()}" if host.size else ""))
      host = host.astype(np.int32)
      self._labels = (labels, jax.device_put(host),
                      np.bincount(host, minlength=self._sums[2].shape[1]))
    sharding = getattr(logits, "sharding", None)
    if (sharding is not None and sharding.is_fully_replicated
        and self._sums[0].sharding != sharding):  # where the logits are: one compiled
      # program for every epoch (not a first one for the sums as they were made)
      self._sums, device_labels = jax.device_put((self._sums, self._labels[1]), sharding)
      self._labels = (self._labels[0], device_labels, self._labels[2])
    self._sums, joint, agreeing = _add_epoch(self._sums, logits, self._labels[1])
    self._pending.append((joint, agreeing, self._labels[2]))
    self._host = None
    self.count += 1
    self.epoch = epoch

  def precompile(self, logits: jax.ShapeDtypeStruct) -> None:
    """Compiles `add`'s program for an epoch's `logits` of this shape, dtype and (fully
    replicated) sharding: the trainer's resident predictions, so that the first epoch's
    end does not wait for that compile. JAX keeps the executable for `add`'s call. Other
    logits (another shape, numpy, a sharded placement) compile when added, as before."""
    n, c = self._sums[2].shape
    sharding = getattr(logits, "sharding", None)
    if logits.shape != (n, c) or sharding is None or not sharding.is_fully_replicated:
      return
    def on(shape, dtype):
      return jax.ShapeDtypeStruct(shape, dtype, sharding=sharding)
    sums = (on((n,), jnp.float32), on((n,), jnp.float32), on((n, c), jnp.float32))
    _add_epoch.lower(sums, logits, on((n,), jnp.int32)).compile()

  def _sums_on_host(self) -> tuple:
    if self._host is None:
      self._host = tuple(np.asarray(s) for s in jax.device_get(self._sums))
    return self._host

  def _set_sum(self, i: int, value) -> None:
    sums = list(self._sums)
    sums[i] = _float32(value)
    self._sums, self._host = tuple(sums), None

  sum_margin = property(lambda self: self._sums_on_host()[0],
                        lambda self, v: self._set_sum(0, v), doc="`[N]` float32")
  sum_loss = property(lambda self: self._sums_on_host()[1],
                      lambda self, v: self._set_sum(1, v), doc="`[N]` float32")
  sum_probs = property(lambda self: self._sums_on_host()[2],
                       lambda self, v: self._set_sum(2, v), doc="`[N, C]` float32")

  def _settle(self) -> None:
    """The per-epoch figures of the epochs added since the last read, fetched."""
    if not self._pending:
      return
    fetched = jax.device_get([(joint, agreeing) for joint, agreeing, _ in self._pending])
    for (joint, agreeing), (_, _, label_counts) in zip(fetched, self._pending, strict=True):
      counts = confident_learning.counts_from_joint(joint, label_counts)
      self._counts = np.concatenate([self._counts, counts[None]])
      self._agreement = np.append(self._agreement, int(agreeing) / label_counts.sum())
    self._pending = []

  @property
  def epoch_counts(self) -> np.ndarray:
    self._settle()
    return self._counts

  @property
  def epoch_agreement(self) -> np.ndarray:
    self._settle()
    return self._agreement

  def _mean(self, total: np.ndarray) -> np.ndarray:
    if self.count == 0:
      raise ValueError("no epoch of training dynamics was accumulated")
    return total / self.count

  def area_under_margin(self) -> np.ndarray:
    """`[N]` mean given-label margin over the counted epochs (high = label trusted)."""
    return self._mean(self.sum_margin)

  def mean_loss(self) -> np.ndarray:
    return self._mean(self.sum_loss)

  def mean_probs(self) -> np.ndarray:
    return self._mean(self.sum_probs)


def path(workdir: str, epoch: int) -> str:
  return os.path.join(workdir, SUBDIR, f"epoch_{epoch:04d}.npz")


def _epochs_on_disk(workdir: str) -> list[int]:
  """The epochs of the files on disk (a partial `.tmp.npz` a failed write left is none)."""
  found = (re.fullmatch(r"epoch_(\d+)\.npz", os.path.basename(f))
           for f in glob.glob(os.path.join(workdir, SUBDIR, "epoch_*.npz")))
  return sorted(int(m.group(1)) for m in found if m)


def save(workdir: str, dyn: Dynamics) -> None:
  """Writes the sums through `dyn.epoch`; an OSError (a full disk) names the file and
  leaves no partial one."""
  os.makedirs(os.path.join(workdir, SUBDIR), exist_ok=True)
  tmp = path(workdir, dyn.epoch) + ".tmp.npz"
  try:
    np.savez(tmp, sum_margin=dyn.sum_margin, sum_loss=dyn.sum_loss, sum_probs=dyn.sum_probs,
             count=dyn.count, epoch=dyn.epoch, epoch_counts=dyn.epoch_counts,
             epoch_agreement=dyn.epoch_agreement)
  except OSError as e:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise OSError(e.errno, e.strerror, path(workdir, dyn.epoch)) from e
  os.replace(tmp, path(workdir, dyn.epoch))  # never a half-written file under the real name


def load(workdir: str, epoch: int | None = None) -> Dynamics | None:
  """The sums through `epoch` (default: the latest on disk), or None if absent; a file cut
  short or damaged is a one-line DataError naming it."""
  if epoch is None:
    epochs = _epochs_on_disk(workdir)
    if not epochs:
      return None
    epoch = epochs[-1]
  if not os.path.exists(path(workdir, epoch)):
    return None
  file = path(workdir, epoch)
  with reading(file, "training dynamics record (.npz)"):
    with np.load(file, allow_pickle=False) as f:
      # files from before the per-epoch counts / agreement: none
      return Dynamics(f["sum_margin"], f["sum_loss"], f["sum_probs"], int(f["count"]),
                      int(f["epoch"]), f.get("epoch_counts"), f.get("epoch_agreement"))


def _resume(workdir: str, epoch: int) -> Dynamics | None:
  """The record of `epoch` to continue from; one that cannot be read is, like a missing
  one, None (the sums restart at zero), with a one-line warning naming it."""
  try:
    return load(workdir, epoch)
  except DataError as e:
    logging.warning("%s; the training dynamics restart at zero, as for a missing record", e)
    return None


class Tracker:
  """What the training loop holds: resumes, adds an epoch, writes and prunes the files."""

  def __init__(self, workdir: str, labels: np.ndarray, num_classes: int, start_epoch: int,
               write: bool = True):
    self.workdir, self.labels, self.write = workdir, np.asarray(labels), write
    self.dynamics = (_resume(workdir, start_epoch) if start_epoch else None) or Dynamics.zeros(
        len(labels), num_classes)
    if write:  # epochs after the restored checkpoint will be trained (and counted) again
      for e in _epochs_on_disk(workdir):
        if e > start_epoch:
          os.remove(path(workdir, e))

  def add_epoch(self, logits, epoch: int) -> None:
    """Adds epoch `epoch`'s logits `[N, C]` (a device array or numpy) to the sums (on the
    device; `save` writes them)."""
    self.dynamics.add(logits, self.labels, epoch)

  def save(self, keep_from_epoch: int) -> None:
    """Writes the sums so far (before a checkpoint: the file its resume reloads) and
    deletes files of epochs before `keep_from_epoch` (that of the previous checkpoint)."""
    if not self.write or self.dynamics.count == 0:
      return
    save(self.workdir, self.dynamics)
    for e in _epochs_on_disk(self.workdir):
      if e < min(keep_from_epoch, self.dynamics.epoch):
        os.remove(path(self.workdir, e))
