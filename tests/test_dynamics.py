import os
import tempfile

import jax
import numpy as np
import pytest
from conftest import load_config, override

from nlx import data as data_lib
from nlx import dynamics, label_issues, train
from nlx.checkpointing import Checkpointer


def test_margin_loss_probs_by_hand():
  logits = np.array([[2.0, 0.5, -1.0], [0.0, 3.0, 1.0], [1.0, 1.0, 1.0]], np.float32)
  labels = np.array([0, 2, 1])
  margin, loss, prob = dynamics.margin_loss_probs(logits, labels)
  # margins: 2 - 0.5; 1 - 3; 1 - 1
  np.testing.assert_allclose(np.asarray(margin), [1.5, -2.0, 0.0], atol=1e-6)
  lse = np.log(np.exp(logits).sum(1))
  np.testing.assert_allclose(np.asarray(loss), lse - logits[[0, 1, 2], labels], rtol=1e-6)
  np.testing.assert_allclose(np.asarray(prob), np.exp(logits - lse[:, None]), rtol=1e-6)


def test_dynamics_sums_and_means_over_epochs():
  d = dynamics.Dynamics.zeros(2, 2)
  d.add(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([0, 0]), epoch=1)
  d.add(np.array([[3.0, 0.0], [0.0, 0.0]]), np.array([0, 0]), epoch=2)
  np.testing.assert_allclose(d.area_under_margin(), [(1 + 3) / 2, (-2 + 0) / 2])
  # softmax of (a, 0) at the first class = 1 / (1 + e^-a): example 0 had a = 1, then 3;
  # example 1 had (0, 2), then (0, 0)
  s = lambda a: 1 / (1 + np.exp(-a))
  want = np.array([[s(1) + s(3), s(-1) + s(-3)], [s(-2) + 0.5, s(2) + 0.5]]) / 2
  np.testing.assert_allclose(d.mean_probs(), want, rtol=1e-6)
  assert (d.count, d.epoch) == (2, 2)
  with pytest.raises(ValueError, match="no epoch"):
    dynamics.Dynamics.zeros(2, 2).area_under_margin()


def test_per_epoch_confident_learning_counts_and_their_peak():
  """Epoch 1 sees examples 2 and 3 as the other class; epoch 2 has fitted their labels
  (as a network memorising noise does)."""
  labels = np.array([0, 1, 0, 1])
  d = dynamics.Dynamics.zeros(4, 2)
  d.add(np.array([[2.0, 0], [0, 2], [0, 2], [2, 0]]), labels, epoch=1)
  d.add(np.array([[2.0, 0], [0, 2], [2, 0], [0, 2]]), labels, epoch=2)
  # softmax of (2, 0) = (.88, .12). Epoch 1: t0 = t1 = (.88 + .12) / 2 = .5; examples 2
  # and 3 pass only the other class's threshold -> joint [[1, 1], [1, 1]] -> 1 wrong per
  # class. Epoch 2: all fitted, t = .88 -> diagonal joint -> none
  np.testing.assert_array_equal(d.epoch_counts, [[1, 1], [0, 0]])
  np.testing.assert_array_equal(
      label_issues.estimated_counts(labels, d, "confident_learning_peak"), [1, 1])
  # the epoch-averaged probabilities hold the fitted epoch: examples 2, 3 average (.5, .5),
  # below t0 = t1 = (.88 + .5) / 2 = .69 in both classes -> not counted -> none
  np.testing.assert_array_equal(
      label_issues.estimated_counts(labels, d, "confident_learning"), [0, 0])
  # the default (auto): epoch 2 agrees with every given label (memorised) -> the peak
  np.testing.assert_array_equal(d.epoch_agreement, [0.5, 1.0])
  np.testing.assert_array_equal(label_issues.estimated_counts(labels, d), [1, 1])


def tiny_config(epochs=3, **train_overrides):
  c = load_config("quickstart", "tiny")
  c.model.name = "mlp"
  c.model.hidden = (32,)
  c.train.num_epochs = epochs
  c.train.max_checkpoints = epochs + 1
  override(c.train, **train_overrides)
  return c


def test_tiny_run_accumulates_the_margins_of_each_epoch_checkpoint(tmp_path):
  """The sums in the dynamics file equal margins recomputed by hand (numpy) from the
  model of each epoch's checkpoint on the training set."""
  config = tiny_config(epochs=2)
  workdir = str(tmp_path)
  train.train_and_evaluate(config, workdir)
  ds = data_lib.load_dataset(config)
  trainer = train.Trainer(config, ds)
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
  labels = ds.train.hard_labels()
  want_margin, want_loss = np.zeros(len(labels)), np.zeros(len(labels))
  want_probs, want_counts = 0.0, []
  for epoch in (1, 2):
    state, _ = ckpt.restore(epoch * trainer.steps_per_epoch, trainer.initial_state)
    z = trainer.predict(state, ds.train).astype(np.float64)
    given = z[np.arange(len(z)), labels]
    other = np.max(np.where(np.eye(z.shape[1])[labels] > 0, -np.inf, z), axis=1)
    want_margin += given - other
    want_loss += np.log(np.exp(z).sum(1)) - given
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    want_probs = want_probs + probs
    want_counts.append(label_issues.confident_learning_counts(labels, probs))
  ckpt.close()
  got = dynamics.load(workdir)
  assert (got.count, got.epoch) == (2, 2)
  np.testing.assert_allclose(got.sum_margin, want_margin, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got.sum_loss, want_loss, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(got.sum_probs, want_probs, rtol=1e-4, atol=1e-5)
  np.testing.assert_allclose(got.mean_probs(), want_probs / 2, rtol=1e-4, atol=1e-5)
  np.testing.assert_array_equal(got.epoch_counts, want_counts)


@pytest.mark.slow
def test_resume_counts_each_epoch_once(tmp_path):
  """Stopped mid-epoch 2, with a stale file of a later epoch left by the interrupted
  attempt, then resumed: the same sums as an uninterrupted run."""
  whole = str(tmp_path / "whole")
  train.train_and_evaluate(tiny_config(), whole)
  parts = str(tmp_path / "parts")
  spe = 256 // 32
  first = train.train_and_evaluate(tiny_config(stop_after_steps=spe + 3), parts)
  assert first["status"] == "stopped"
  stale = dynamics.load(parts, 1)
  # as if epoch 2 had ended after the checkpoint: a record of other values (a copy of
  # epoch 1's would let a resume that reads the newest file pass unnoticed)
  stale.epoch, stale.count = 2, 2
  stale.sum_margin = stale.sum_margin + 100.0
  stale.sum_loss = stale.sum_loss + 100.0
  stale.sum_probs = stale.sum_probs + 1.0
  dynamics.save(parts, stale)
  assert sorted(os.listdir(os.path.join(parts, dynamics.SUBDIR))) == [
      "epoch_0001.npz", "epoch_0002.npz"]
  train.train_and_evaluate(tiny_config(), parts)
  a, b = dynamics.load(whole), dynamics.load(parts)
  assert (b.count, b.epoch) == (a.count, a.epoch) == (3, 3)
  np.testing.assert_allclose(b.sum_margin, a.sum_margin, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(b.sum_probs, a.sum_probs, rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(b.sum_loss, a.sum_loss, rtol=1e-4, atol=1e-4)
  np.testing.assert_array_equal(b.epoch_counts, a.epoch_counts)
  assert b.epoch_counts.shape == a.epoch_counts.shape == (3, 10)  # one row per epoch
  # files before the latest checkpoint's epoch are pruned
  assert max(os.listdir(os.path.join(parts, dynamics.SUBDIR))) == "epoch_0003.npz"
  assert len(os.listdir(os.path.join(parts, dynamics.SUBDIR))) <= 2


def reference(logits, labels):
  """Margin `[N]`, loss `[N]` and softmax `[N, C]` by the definitions, one row at a time."""
  margins, losses, probs = [], [], []
  for z, y in zip(np.asarray(logits, np.float64), labels):
    margins.append(z[y] - max(z[k] for k in range(len(z)) if k != y))
    e = np.exp(z - z.max())
    probs.append(e / e.sum())
    losses.append(-np.log(probs[-1][y]))
  return np.array(margins), np.array(losses), np.array(probs)


LABELS = np.array([0, 1, 0])
# one array of logits [3, 2] per epoch of a first attempt; margins z[y] - z[other]:
FIRST = {1: [[2.0, 0.0], [0.0, 1.0], [0.0, 3.0]],    # 2, 1, -3
         2: [[1.0, 1.0], [4.0, 0.0], [0.5, 0.0]],    # 0, -4, 0.5
         3: [[0.0, 2.0], [0.0, 2.0], [3.0, 0.0]]}    # -2, 2, 3
# the epochs trained again after resuming from epoch 1's checkpoint (other values)
AGAIN = {2: [[3.0, 0.0], [0.0, 0.5], [1.0, 2.0]],    # 3, 0.5, -1
         3: [[0.0, 0.0], [1.0, 0.0], [2.0, 1.0]]}    # 0, -1, 1


def write_attempt(workdir, epochs):
  """The dynamics files a first attempt left: one per epoch in `epochs` (of FIRST)."""
  d = dynamics.Dynamics.zeros(3, 2)
  for e in sorted(FIRST):
    d.add(np.array(FIRST[e]), LABELS, epoch=e)
    if e in epochs:
      dynamics.save(workdir, d)


def files(workdir):
  return sorted(os.listdir(os.path.join(workdir, dynamics.SUBDIR)))


def assert_sums(d, epoch_logits, epoch):
  parts = [reference(z, LABELS) for z in epoch_logits]
  assert (d.count, d.epoch) == (len(parts), epoch)
  np.testing.assert_allclose(d.sum_margin, sum(p[0] for p in parts), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(d.sum_loss, sum(p[1] for p in parts), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(d.sum_probs, sum(p[2] for p in parts), rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(d.epoch_agreement, [np.mean(p[0] > 0) for p in parts])


def test_tracker_resumes_from_the_record_of_its_epoch_not_the_newest(tmp_path):
  """Resumed at epoch 1 with files of epochs 2 and 3 (of other values) left by the
  interrupted attempt: the tracker continues epoch 1's sums, the later files go, and the
  retrained epochs are added once."""
  wd = str(tmp_path)
  write_attempt(wd, epochs=(1, 2, 3))
  assert files(wd) == ["epoch_0001.npz", "epoch_0002.npz", "epoch_0003.npz"]
  t = dynamics.Tracker(wd, LABELS, 2, start_epoch=1)
  np.testing.assert_allclose(t.dynamics.sum_margin, [2.0, 1.0, -3.0])  # by hand, epoch 1
  assert_sums(t.dynamics, [FIRST[1]], epoch=1)
  np.testing.assert_allclose(t.dynamics.epoch_agreement, [2 / 3])
  assert files(wd) == ["epoch_0001.npz"]  # its own epoch kept, the later ones deleted
  # epoch 2 again; the latest checkpoint is still epoch 1's: its file is kept
  t.add_epoch(np.array(AGAIN[2]), epoch=2)
  assert files(wd) == ["epoch_0001.npz"]  # added in memory: written with a checkpoint
  t.save(keep_from_epoch=1)
  np.testing.assert_allclose(t.dynamics.sum_margin, [2 + 3, 1 + 0.5, -3 - 1])
  assert_sums(t.dynamics, [FIRST[1], AGAIN[2]], epoch=2)
  assert files(wd) == ["epoch_0001.npz", "epoch_0002.npz"]
  assert_sums(dynamics.load(wd), [FIRST[1], AGAIN[2]], epoch=2)  # what was written
  # epoch 3, with epoch 2's checkpoint the latest: files before epoch 2 are pruned
  t.add_epoch(np.array(AGAIN[3]), epoch=3)
  t.save(keep_from_epoch=2)
  np.testing.assert_allclose(t.dynamics.sum_margin, [5.0, 0.5, -3.0])
  np.testing.assert_allclose(t.dynamics.epoch_agreement, [2 / 3, 2 / 3, 1 / 3])
  assert files(wd) == ["epoch_0002.npz", "epoch_0003.npz"]
  assert_sums(dynamics.load(wd, 3), [FIRST[1], AGAIN[2], AGAIN[3]], epoch=3)
  # a checkpoint past this epoch still keeps this epoch's own file
  t.add_epoch(np.array(FIRST[1]), epoch=4)
  t.save(keep_from_epoch=9)
  assert files(wd) == ["epoch_0004.npz"]


def test_tracker_from_scratch_a_missing_record_and_a_process_that_does_not_write(tmp_path):
  wd = str(tmp_path)
  write_attempt(wd, epochs=(1, 3))
  # another process of a multi-host run: reads its resume epoch, deletes and writes nothing
  reader = dynamics.Tracker(wd, LABELS, 2, start_epoch=1, write=False)
  assert_sums(reader.dynamics, [FIRST[1]], epoch=1)
  reader.add_epoch(np.array(AGAIN[2]), epoch=2)
  reader.save(keep_from_epoch=2)
  assert_sums(reader.dynamics, [FIRST[1], AGAIN[2]], epoch=2)
  assert files(wd) == ["epoch_0001.npz", "epoch_0003.npz"]
  # resumed at epoch 2, whose file is missing (a workdir from before dynamics): from zero
  t = dynamics.Tracker(wd, LABELS, 2, start_epoch=2)
  assert (t.dynamics.count, t.dynamics.epoch) == (0, 0)
  np.testing.assert_array_equal(t.dynamics.sum_margin, [0.0, 0.0, 0.0])
  assert files(wd) == ["epoch_0001.npz"]  # epoch 3 was after the checkpoint: deleted
  # a fresh start (epoch 0): zeros whatever is on disk, and every file goes
  write_attempt(wd, epochs=(1, 2, 3))
  t = dynamics.Tracker(wd, LABELS, 2, start_epoch=0)
  assert (t.dynamics.count, t.dynamics.epoch) == (0, 0)
  np.testing.assert_array_equal(t.dynamics.sum_probs, np.zeros((3, 2)))
  assert files(wd) == []
  t.save(keep_from_epoch=0)  # nothing counted yet (a checkpoint mid-epoch 1): no file
  assert files(wd) == []
  t.add_epoch(np.array(AGAIN[2]), epoch=1)
  t.save(keep_from_epoch=0)
  assert_sums(t.dynamics, [AGAIN[2]], epoch=1)
  assert files(wd) == ["epoch_0001.npz"]


def test_sums_ties_and_device_logits_equal_the_reference():
  """A tie (margin 0) is not agreement; logits given as a device array add the same as
  numpy ones, and adding them reads nothing back to the host (the transfer guard would
  raise on any device-to-host copy, explicit ones included)."""
  labels = np.array([0, 2, 1, 1, 0])
  epochs = [np.array([[3.0, 1.0, 0.0], [0.0, 2.0, 2.5], [1.0, 1.0, 0.0], [0.0, 4.0, 1.0],
                      [0.0, 0.0, 5.0]]),  # margins 2, 0.5, 0 (tie), 3, -5
            np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [2.0, 1.0, 3.0],
                      [1.0, 0.5, 0.0]])]  # margins -1, -1, 2, -2, 0.5
  host, device = dynamics.Dynamics.zeros(5, 3), dynamics.Dynamics.zeros(5, 3)
  for e, z in enumerate(epochs, 1):
    host.add(z, labels, epoch=e)
    logits = jax.device_put(z.astype(np.float32))
    with jax.transfer_guard_device_to_host("disallow_explicit"):
      device.add(logits, labels, epoch=e)
  parts = [reference(z, labels) for z in epochs]
  for d in (host, device):
    np.testing.assert_allclose(d.sum_margin, [2 - 1, 0.5 - 1, 0 + 2, 3 - 2, -5 + 0.5])
    np.testing.assert_allclose(d.sum_loss, parts[0][1] + parts[1][1], rtol=1e-6)
    np.testing.assert_allclose(d.sum_probs, parts[0][2] + parts[1][2], rtol=1e-6)
    np.testing.assert_allclose(d.epoch_agreement, [3 / 5, 2 / 5])
    assert (d.count, d.epoch) == (2, 2)
  np.testing.assert_array_equal(device.epoch_counts, host.epoch_counts)


def test_the_epoch_pass_of_an_in_memory_set_reads_nothing_back():
  """The trainer's per-epoch pass over a device-resident training set and the sums it
  feeds stay on the device (any device-to-host copy would raise); what they then read
  back equals the margins of the logits `predict` fetches."""
  config = tiny_config(epochs=1)
  ds = data_lib.load_dataset(config)
  trainer = train.Trainer(config, ds)
  labels = ds.train.hard_labels()
  tracker = dynamics.Tracker("unused", labels, ds.num_classes, start_epoch=0, write=False)
  state = trainer.initial_state
  trainer.predict_on_device(state, ds.train, features=False)  # compiled, the split put there
  with jax.transfer_guard_device_to_host("disallow_explicit"):
    logits = trainer.predict_on_device(state, ds.train, features=False)[0]
    tracker.add_epoch(logits, epoch=1)
  assert isinstance(logits, jax.Array) and logits.shape == (len(labels), ds.num_classes)
  want = reference(trainer.predict(state, ds.train), labels)
  np.testing.assert_allclose(tracker.dynamics.sum_margin, want[0], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(tracker.dynamics.sum_probs, want[2], rtol=1e-5, atol=1e-6)


def test_an_epoch_end_predicts_the_training_set_once_for_the_method_and_the_dynamics():
  """Within `sharing_predictions` a second prediction of the same network, state and
  split reuses the first pass (SINet's hook and the dynamics at an epoch's end); another
  state, another split, or outside the context: a new pass."""
  config = tiny_config(epochs=1)
  ds = data_lib.load_dataset(config)
  trainer = train.Trainer(config, ds)
  resident = [trainer._resident(split) for split in (ds.train, ds.test)]
  assert len(resident[0]) > 1  # passes are counted, not the eval step's calls
  calls = []  # the resident blocks the eval step ran on
  real = trainer.eval_steps[train.MODEL]
  trainer.eval_steps[train.MODEL] = lambda p, s, block: calls.append(block) or real(p, s, block)

  def passes():  # over a split: each of its blocks once
    return sum(sum(any(c is b for b in blocks) for c in calls) / len(blocks)
               for blocks in resident)
  state = trainer.initial_state
  logits, features = trainer.predict_outputs(state, ds.train)
  assert passes() == 1
  with trainer.sharing_predictions():
    first = trainer.predict_outputs(state, ds.train)
    again = trainer.predict_on_device(state, ds.train, features=False)[0]
    assert passes() == 2  # one pass for both
    trainer.predict_outputs(state, ds.test)  # another split
    other = state.replace(params=jax.tree.map(lambda x: x * 0.5, state.params))
    moved = trainer.predict_on_device(other, ds.train, features=False)[0]  # another state
    assert passes() == 4
  trainer.predict_on_device(state, ds.train, features=False)[0]  # outside: not shared any more
  assert passes() == 5
  np.testing.assert_array_equal(first[0], logits)
  np.testing.assert_array_equal(first[1], features)
  np.testing.assert_array_equal(np.asarray(again), logits)
  assert not np.allclose(np.asarray(moved), logits)


@pytest.mark.parametrize("labels,match", [
    (np.array([0, 1, 3]), r"in \[0, 3\).*values 0 to 3"),  # one past the last class
    (np.array([0, -1, 2]), r"values -1 to 2"),
    (np.array([0, 1]), r"need 3 integer labels.*shape \(2,\)"),
    (np.array([0.0, 1.0, 2.0]), r"dtype float64")])
def test_labels_out_of_range_or_of_another_shape_are_an_error_not_a_silent_sum(labels, match):
  """In-graph, an out-of-range label would be clamped by the gather, silently; the host
  maths this replaced raised. Nothing is added."""
  d = dynamics.Dynamics.zeros(3, 3)
  with pytest.raises(ValueError, match=match):
    d.add(np.zeros((3, 3), np.float32), labels, epoch=1)
  assert d.count == 0
  d.add(np.zeros((3, 3), np.float32), np.array([0, 1, 2]), epoch=1)  # the boundary: C - 1
  assert d.count == 1


def test_epoch_counts_at_a_threshold_tie_by_hand():
  """Probabilities exactly at a class's threshold count as at or above it.
  t0 = .5 (both examples labelled 0 have p0 = .5), t1 = (.2 + .5) / 2 = .35, t2 = .8.
  Labelled 0: p = (.5, .4, .1) passes t0 (a tie) and t1 -> counted at 0 (the higher).
  Labelled 1: (.7, .2, .1) passes only t0 -> at 0; (.3, .5, .2) -> at 1. Labelled 2:
  (.1, .1, .8) ties t2 -> at 2. Joint [[2, 0, 0], [1, 1, 0], [0, 0, 1]]: 0, 1, 0 wrong."""
  probs = np.array([[.5, .4, .1], [.5, .4, .1], [.7, .2, .1], [.3, .5, .2], [.1, .1, .8]])
  labels = np.array([0, 0, 1, 1, 2])
  d = dynamics.Dynamics.zeros(5, 3)
  d.add(np.log(probs).astype(np.float32), labels, epoch=1)
  np.testing.assert_array_equal(d.epoch_counts, [[0, 1, 0]])
  np.testing.assert_array_equal(label_issues.confident_learning_counts(labels, probs), [0, 1, 0])


@pytest.mark.parametrize("num_classes,empty_class", [(3, None), (10, None), (6, 4)])
def test_in_graph_epoch_counts_equal_confident_learning_on_the_host(num_classes, empty_class):
  """Each epoch's counts (the confident joint in-graph, float32 thresholds) equal
  `confident_learning_counts` in float64 on the same probabilities: random logits of
  several scales, a class no example is labelled with (its threshold is +inf)."""
  rng = np.random.default_rng(num_classes)
  n = 600
  labels = rng.integers(0, num_classes, n)
  if empty_class is not None:
    labels[labels == empty_class] = (empty_class + 1) % num_classes
  d = dynamics.Dynamics.zeros(n, num_classes)
  want = []
  for e, scale in enumerate((0.3, 1.0, 4.0), 1):
    logits = (rng.normal(size=(n, num_classes)) * scale).astype(np.float32)
    logits[np.arange(n), labels] += 1.0  # the given label favoured, as after training
    d.add(logits, labels, epoch=e)
    want.append(label_issues.confident_learning_counts(labels, reference(logits, labels)[2]))
  np.testing.assert_array_equal(d.epoch_counts, want)
  assert np.asarray(want).sum() > 0  # wrong labels were estimated: not a trivial match


def test_the_sums_are_written_with_the_checkpoints_and_a_resume_counts_each_epoch_once(
    tmp_path, monkeypatch):
  """3 epochs, a checkpoint every 2 (and at the end): the sums go to disk at epochs 2 and
  3 only; stopped at the end of epoch 1 (a checkpoint: its file) and resumed, the run
  counts each epoch once, as the uninterrupted one."""
  written = []
  real_save = dynamics.save
  monkeypatch.setattr(dynamics, "save",
                      lambda wd, dyn: written.append((dyn.epoch, dyn.count)) or real_save(wd, dyn))
  whole = str(tmp_path / "whole")
  train.train_and_evaluate(tiny_config(checkpoint_every_epochs=2), whole)
  assert written == [(2, 2), (3, 3)]
  assert sorted(os.listdir(os.path.join(whole, dynamics.SUBDIR))) == [
      "epoch_0002.npz", "epoch_0003.npz"]  # the previous checkpoint's file kept
  written.clear()
  parts = str(tmp_path / "parts")
  train.train_and_evaluate(tiny_config(checkpoint_every_epochs=2, stop_after_steps=8), parts)
  assert written == [(1, 1)]  # the stop's checkpoint at step 8 = the end of epoch 1
  train.train_and_evaluate(tiny_config(checkpoint_every_epochs=2), parts)
  a, b = dynamics.load(whole), dynamics.load(parts)
  assert (b.count, b.epoch) == (a.count, a.epoch) == (3, 3)
  np.testing.assert_allclose(b.sum_margin, a.sum_margin, rtol=1e-4, atol=1e-4)
  np.testing.assert_array_equal(b.epoch_counts, a.epoch_counts)


def test_a_sinet_run_predicts_the_training_set_once_an_epoch(monkeypatch):
  """SINet's epoch-end weights and the training dynamics share one pass over the
  training set (after SINet's warm-up; 3 epochs, warm-up 1 in the tiny run)."""
  config = load_config("baselines", "sinet,tiny")
  config.train.num_epochs = 3
  seen = []
  real = train.Trainer._predict_resident

  def counted(self, name, params, model_state, split):
    before = None if self._shared_predictions is None else len(self._shared_predictions)
    out = real(self, name, params, model_state, split)
    if before is None or len(self._shared_predictions) > before:  # a new pass
      seen.append(len(split))
    return out
  monkeypatch.setattr(train.Trainer, "_predict_resident", counted)
  result = train.train_and_evaluate(config, tempfile.mkdtemp())
  epochs_after_warmup = 3 - config.method.warmup_epochs
  assert config.method.warmup_epochs < 3 and epochs_after_warmup > 0
  assert seen.count(result["num_train"]) == 3  # one pass an epoch, hook or not
