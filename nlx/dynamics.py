"""Training dynamics: per example, the given label's margin and loss, summed over epochs.

After every epoch the trainer's model predicts the whole training set once (eval mode,
the eval transform, `Trainer.predict`: jitted and sharded along `data` like evaluation),
and for example i with given label y_i we add to running sums
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
Memory is O(N) per epoch-independent quantity (`[N]` sums, `[N, C]` probability sums,
the size of one prediction of the split) plus O(C x epochs), never O(N x epochs).

Checkpoint safety: the sums are kept in memory and written with every checkpoint (just
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

import dataclasses
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
_CHUNK = 65536  # rows per jitted call: bounds device memory on large splits


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


@dataclasses.dataclass
class Dynamics:
  """Running sums over the `count` epochs accumulated so far (through `epoch`)."""
  sum_margin: np.ndarray  # [N] float64
  sum_loss: np.ndarray    # [N] float64
  sum_probs: np.ndarray   # [N, C] float32
  count: int = 0
  epoch: int = 0
  # [count, C] int64: per counted epoch, confident learning's wrong labels per given class
  # from that epoch's probabilities (`confident_learning.confident_learning_counts`)
  epoch_counts: np.ndarray | None = None
  # [count] float: per counted epoch, the share of examples predicted as their given label
  epoch_agreement: np.ndarray | None = None

  def __post_init__(self):
    if self.epoch_counts is None:
      self.epoch_counts = np.zeros((0, self.sum_probs.shape[1]), np.int64)
    if self.epoch_agreement is None:
      self.epoch_agreement = np.zeros((0,), np.float64)

  @classmethod
  def zeros(cls, num_examples: int, num_classes: int) -> "Dynamics":
    return cls(np.zeros(num_examples), np.zeros(num_examples),
               np.zeros((num_examples, num_classes), np.float32))

  def add(self, logits: np.ndarray, labels: np.ndarray, epoch: int) -> None:
    """Adds one epoch's prediction `logits [N, C]` for the given `labels [N]`."""
    labels = np.asarray(labels, np.int32)
    probs = np.zeros(self.sum_probs.shape, np.float32)
    agree = 0
    for i in range(0, len(labels), _CHUNK):
      margin, loss, prob = margin_loss_probs(jnp.asarray(logits[i:i + _CHUNK]),
                                             jnp.asarray(labels[i:i + _CHUNK]))
      agree += int(np.sum(np.asarray(margin) > 0))
      self.sum_margin[i:i + _CHUNK] += np.asarray(margin, np.float64)
      self.sum_loss[i:i + _CHUNK] += np.asarray(loss, np.float64)
      probs[i:i + _CHUNK] = np.asarray(prob)
    self.sum_probs += probs
    counts = confident_learning.confident_learning_counts(labels, probs)
    self.epoch_counts = np.concatenate([self.epoch_counts, counts[None]])
    self.epoch_agreement = np.append(self.epoch_agreement, agree / len(labels))
    self.count += 1
    self.epoch = epoch

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

  def add_epoch(self, logits: np.ndarray, epoch: int) -> None:
    """Adds epoch `epoch`'s logits `[N, C]` to the sums (in memory; `save` writes them)."""
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
