"""Faults of the disk under a run: a damaged checkpoint is never trusted (it is set aside and
the run resumes from the newest intact one), and a write that fails for lack of space or
permission is one line naming the checkpoint and the last complete one."""

import contextlib
import errno
import glob
import io as io_lib
import json
import logging
import os
import shutil
import subprocess

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import count_train_steps, load_config

from nlx import train
from nlx.checkpointing import RECORD, Checkpointer, load_model_weights
from nlx.errors import DamagedCheckpointError, DiskError, disk_cause


def resumable(**overrides):
  """The tiny quickstart with a small MLP (a run of 2 epochs of 8 steps, seconds)."""
  return load_config("quickstart", "tiny", **{"model.name": "mlp", "model.hidden": (32,),
                                               **overrides})


def flip_middle(path, n=256):
  """Inverts `n` bytes in the middle of the file (all of it when it is shorter)."""
  data = bytearray(open(path, "rb").read())
  start = max(0, len(data) // 2 - n // 2)
  for i in range(start, min(len(data), start + n)):
    data[i] ^= 0xFF
  with open(path, "wb") as f:
    f.write(bytes(data))


def damage(step_dir):
  """The issue's damage: 256 bytes flipped in each array data file of the step."""
  files = glob.glob(os.path.join(step_dir, "state", "ocdbt.process_0", "d", "*"))
  assert files
  for f in files:
    flip_middle(f)


def steps_in(folder) -> list[str]:
  return sorted(os.listdir(folder), key=lambda n: (len(n), n)) if os.path.isdir(folder) else []


def assert_same_params(a, b):
  for x, y in zip(jax.tree.leaves(a["state"].params), jax.tree.leaves(b["state"].params),
                  strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
  """The uninterrupted run of resumable() and one stopped at step 11 that kept checkpoints
  4, 8 and 11."""
  root = tmp_path_factory.mktemp("faults")
  full = train.train_and_evaluate(resumable(), str(root / "full"))
  train.train_and_evaluate(resumable(**{"train.stop_after_steps": 11,
                                        "train.checkpoint_every_steps": 4,
                                        "train.max_checkpoints": 3}), str(root / "stopped"))
  return full, root


def small_checkpoints(directory, steps=(1, 2)):
  """A Checkpointer in `directory` holding `w` = step * [0, 1, 2] at each of `steps`."""
  ckpt = Checkpointer(str(directory), max_to_keep=5)
  for step in steps:
    ckpt.save(step, {"w": jnp.arange(3.0) * step}, {"position": step})
  ckpt.wait()  # the last save's files written (saves are asynchronous)
  return ckpt


def test_a_damaged_checkpoint_is_set_aside_and_the_run_resumes_as_if_uninterrupted(
    runs, tmp_path, monkeypatch, caplog):
  full, root = runs
  wd = tmp_path / "wd"
  shutil.copytree(root / "stopped", wd)
  assert steps_in(wd / "checkpoints") == ["4", "8", "11"]
  damage(str(wd / "checkpoints" / "11"))
  steps_run = count_train_steps(monkeypatch)
  with caplog.at_level(logging.WARNING):
    resumed = train.train_and_evaluate(resumable(), str(wd))
  assert len(steps_run) == 16 - 8  # from step 8, the newest intact checkpoint
  assert_same_params(resumed, full)
  assert resumed["test"] == full["test"]
  assert steps_in(wd / "checkpoints_damaged") == ["11"]  # kept, never deleted
  moved = [r.getMessage() for r in caplog.records if "is damaged" in r.getMessage()]
  assert len(moved) == 1 and "\n" not in moved[0]
  assert moved[0].startswith(f"checkpoint {wd}/checkpoints/11 is damaged (state/ocdbt.process_0/d/")
  assert moved[0].endswith(f"differs from its sha256 in {RECORD}); moved to "
                           f"{wd}/checkpoints_damaged/11")


def test_damage_in_every_checkpoint_is_one_line_naming_the_folder(tmp_path):
  ckpt = small_checkpoints(tmp_path / "checkpoints")
  for step in ("1", "2"):
    damage(str(tmp_path / "checkpoints" / step))
  with pytest.raises(DamagedCheckpointError) as e:
    ckpt.restore_latest({"w": jnp.zeros(3)})
  assert str(e.value) == (
      f"no intact checkpoint in {tmp_path}/checkpoints: steps 2, 1 are damaged and moved to "
      f"{tmp_path}/checkpoints_damaged; rerun the same command to start fresh, or "
      "restore the checkpoints from a backup")
  assert steps_in(tmp_path / "checkpoints_damaged") == ["1", "2"]
  assert ckpt.latest_step() is None  # a rerun starts fresh
  ckpt.close()


def test_a_checkpoint_damaged_twice_at_one_step_keeps_both_copies(tmp_path):
  ckpt = small_checkpoints(tmp_path / "checkpoints", steps=(1, 2))
  damage(str(tmp_path / "checkpoints" / "2"))
  assert ckpt.restore_latest({"w": jnp.zeros(3)})[0] == 1
  ckpt.save(2, {"w": jnp.arange(3.0) * 2}, {"position": 2})  # the run trained on to 2
  ckpt.wait()
  damage(str(tmp_path / "checkpoints" / "2"))
  step, state, data = ckpt.restore_latest({"w": jnp.zeros(3)})
  assert (step, data) == (1, {"position": 1})
  np.testing.assert_array_equal(np.asarray(state["w"]), [0.0, 1.0, 2.0])
  assert steps_in(tmp_path / "checkpoints_damaged") == ["2", "2.2"]
  ckpt.close()


def test_a_checkpoint_without_a_record_is_trusted_with_a_one_line_warning(tmp_path, caplog):
  """nlx 0.1.0 wrote no record: its checkpoints restore, unverified, with a warning."""
  ckpt = small_checkpoints(tmp_path / "checkpoints")
  os.remove(tmp_path / "checkpoints" / "2" / RECORD)
  with caplog.at_level(logging.WARNING):
    step, state, data = ckpt.restore_latest({"w": jnp.zeros(3)})
  assert (step, data) == (2, {"position": 2})
  np.testing.assert_array_equal(np.asarray(state["w"]), [0.0, 2.0, 4.0])
  assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
      f"checkpoint {tmp_path}/checkpoints/2 has no integrity record ({RECORD}; saved by nlx "
      "0.1.0 or earlier): restoring it unverified"]
  ckpt.close()


def test_an_unrecorded_checkpoint_that_orbax_finds_corrupt_is_set_aside(tmp_path):
  """No record to check, but orbax's own index checksum fails (DATA_LOSS): damaged, not
  'another run's state', and the run falls back to the previous checkpoint."""
  ckpt = small_checkpoints(tmp_path / "checkpoints")
  os.remove(tmp_path / "checkpoints" / "2" / RECORD)
  flip_middle(str(tmp_path / "checkpoints" / "2" / "state" / "manifest.ocdbt"))
  step, state, _ = ckpt.restore_latest({"w": jnp.zeros(3)})
  assert step == 1
  np.testing.assert_array_equal(np.asarray(state["w"]), [0.0, 1.0, 2.0])
  assert steps_in(tmp_path / "checkpoints_damaged") == ["2"]
  ckpt.close()


def test_a_record_that_cannot_be_read_or_a_missing_file_fails_the_check(tmp_path):
  ckpt = small_checkpoints(tmp_path / "checkpoints", steps=(1, 2, 3))
  (tmp_path / "checkpoints" / "3" / RECORD).write_text("{not json")
  os.remove(tmp_path / "checkpoints" / "2" / "state" / "_METADATA")
  for step, why in ((3, f"its record {RECORD} cannot be read: JSONDecodeError"),
                    (2, "state/_METADATA is missing")):
    with pytest.raises(DamagedCheckpointError) as e:
      ckpt.restore(step, {"w": jnp.zeros(3)})
    assert str(e.value) == f"checkpoint {tmp_path}/checkpoints/{step} is damaged ({why})"
  ckpt.close()


def test_init_from_refuses_a_damaged_checkpoint_of_the_other_run(tmp_path):
  from flax import nnx
  net = nnx.Linear(3, 2, rngs=nnx.Rngs(0))
  params, stats = nnx.state(net, nnx.Param), nnx.state(net, nnx.BatchStat)
  ckpt = Checkpointer(str(tmp_path / "other" / "checkpoints"))
  ckpt.save(5, {"params": {"model": params}, "model_state": stats}, {})
  ckpt.close()
  damage(str(tmp_path / "other" / "checkpoints" / "5"))
  with pytest.raises(DamagedCheckpointError, match=rf"^train.init_from: checkpoint "
                     rf"{tmp_path}/other/checkpoints/5 is damaged \(state/ocdbt.process_0/d/"
                     r"\w+ differs from its sha256 in nlx_sha256.json\); train that run "
                     r"again, or point train.init_from at another run$"):
    load_model_weights(str(tmp_path / "other"), params, stats)
  assert steps_in(tmp_path / "other" / "checkpoints") == ["5"]  # another run's: not moved


def test_disk_cause_reads_the_os_error_of_python_and_of_tensorstore():
  tensorstore = ValueError('RESOURCE_EXHAUSTED: Error writing "w/0": Failed to write 350995 '
                           "bytes to file 8: No space left on device [os_error_code='28']")
  assert disk_cause(tensorstore) == "No space left on device"
  assert disk_cause(PermissionError(errno.EACCES, "x")) == "Permission denied"
  assert disk_cause(OSError(errno.EROFS, "x")) == "Read-only file system"
  try:  # one raised while handling another: found through the chain
    try:
      raise OSError(errno.EDQUOT, "x")
    except OSError as inner:
      raise RuntimeError("wrapped") from inner
  except RuntimeError as outer:
    assert disk_cause(outer) == "Disk quota exceeded"
  assert disk_cause(ValueError("DATA_LOSS: checksum mismatch")) is None
  assert disk_cause(OSError(errno.EIO, "x")) is None  # a failing disk is not the user's fix


@contextlib.contextmanager
def small_disk(path, size="1536k"):
  """A tmpfs of `size` mounted at `path` (root only; skips the test elsewhere)."""
  os.makedirs(path, exist_ok=True)
  if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}",
                                          "tmpfs", str(path)], capture_output=True).returncode:
    pytest.skip("needs root and mount to make a small filesystem")
  try:
    yield
  finally:
    subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder, leave: int):
  """A ballast file that leaves `leave` bytes free on `folder`'s filesystem."""
  st = os.statvfs(folder)
  with open(os.path.join(folder, "ballast"), "wb") as f:
    f.write(b"\0" * (st.f_bavail * st.f_frsize - leave))


def test_a_full_disk_during_a_save_is_one_line_and_the_run_resumes_once_space_is_freed(
    runs, tmp_path, monkeypatch):
  full, _ = runs
  disk = tmp_path / "disk"
  every_2 = {"train.checkpoint_every_steps": 2}
  with small_disk(disk):
    wd = disk / "wd"
    train.train_and_evaluate(resumable(**every_2, **{"train.stop_after_steps": 4}), str(wd))
    fill(str(disk), leave=16 * 1024)  # room for the log lines, not for a checkpoint
    with pytest.raises(DiskError) as e:
      train.train_and_evaluate(resumable(**every_2), str(wd))
    assert str(e.value) == (
        f"cannot write checkpoint {wd}/checkpoints/6: No space left on device; the last "
        "complete checkpoint is step 4; free space (or fix the permissions) and rerun the "
        "same command to resume")
    assert Checkpointer(str(wd / "checkpoints")).latest_step() == 4  # not the partial 6
    os.remove(disk / "ballast")
    steps_run = count_train_steps(monkeypatch)
    resumed = train.train_and_evaluate(resumable(**every_2), str(wd))
    assert steps_in(wd / "checkpoints") == ["14", "16"]  # the partial 6 removed
  assert len(steps_run) == 16 - 4
  assert_same_params(resumed, full)
  assert resumed["test"] == full["test"]


@contextlib.contextmanager
def read_only(folder, tmp_path, size="1536k"):
  """`folder` made read-only with its files kept; yields the OS's words for a write there.
  Root writes through permissions, so as root the folder becomes a tmpfs remounted
  read-only; elsewhere it is chmod 555."""
  if os.geteuid() == 0:
    kept = tmp_path / f"kept-{os.path.basename(folder)}"
    shutil.move(folder, kept)
    with small_disk(folder, size=size):
      shutil.copytree(kept, folder, dirs_exist_ok=True)
      subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
      yield "Read-only file system"
  else:
    folder.chmod(0o555)
    try:
      yield "Permission denied"
    finally:
      folder.chmod(0o755)


def test_a_read_only_checkpoint_folder_is_one_line(runs, tmp_path):
  _, root = runs
  wd = tmp_path / "wd"
  shutil.copytree(root / "stopped", wd)
  checkpoints = wd / "checkpoints"
  with read_only(checkpoints, tmp_path, size="4m") as cause:
    with pytest.raises(DiskError) as e:
      train.train_and_evaluate(resumable(), str(wd))
  assert str(e.value) == (
      f"cannot write checkpoint {checkpoints}/16: {cause}; the last complete checkpoint is "
      "step 11; free space (or fix the permissions) and rerun the same command to resume")


def test_a_run_file_that_cannot_be_written_is_one_line(runs, tmp_path):
  """The training dynamics of epoch 2 (written before its checkpoint) on a read-only
  folder: the line names the file and the checkpoint a rerun resumes from (11)."""
  _, root = runs
  wd = tmp_path / "wd"
  shutil.copytree(root / "stopped", wd)
  folder = wd / "dynamics"
  with read_only(folder, tmp_path) as cause:
    with pytest.raises(DiskError) as e:
      train.train_and_evaluate(resumable(), str(wd))
    assert os.listdir(folder) == ["epoch_0001.npz"]
  # a read-only filesystem is a failed write; a permission may come from a read as well
  what = (f"cannot write {folder}/epoch_0002.npz: {cause}" if cause == "Read-only file system"
          else f"{folder}/epoch_0002.npz: {cause}")
  assert str(e.value) == (f"{what}; the last complete checkpoint is step 11; free space (or "
                          "fix the permissions) and rerun the same command to resume")


def test_a_write_cut_short_by_a_full_disk_names_its_file_and_is_ignored_when_read(tmp_path):
  from nlx import dynamics, io
  disk = tmp_path / "disk"
  with small_disk(disk):
    log = str(disk / "metrics.jsonl")
    io.write_jsonl(log, [{"step": 1}, {"step": 2}])
    fill(str(disk), leave=0)
    with pytest.raises(OSError) as e:  # more than the page the file has left
      io.append_jsonl(log, {"step": 3, "note": "x" * 8192})
    assert (e.value.errno, e.value.filename) == (errno.ENOSPC, log)
    assert open(log).read().startswith('{"step": 1}\n{"step": 2}\n{"step": 3, "note": "xx')
    assert io.read_jsonl(log) == [{"step": 1}, {"step": 2}]  # the cut line dropped
  sums = dynamics.Dynamics.zeros(4, 3)
  sums.add(np.zeros((4, 3)), np.zeros(4, int), 1)
  dynamics.save(str(tmp_path / "wd"), sums)
  (tmp_path / "wd" / "dynamics" / "epoch_0002.npz.tmp.npz").write_bytes(b"PK\x03")
  assert dynamics.load(str(tmp_path / "wd")).epoch == 1  # the partial file is no epoch 2


# ---- a kill during each kind of write: the same command resumes to the same result ----------

class Killed(BaseException):
  """SIGKILL in the middle of a write, in-process: not an Exception, so nothing of nlx
  catches it and no cleanup of nlx runs (only the workdir's lock is released, as the OS
  releases a dead process's flock)."""


def _kill_in(monkeypatch, kind: str) -> None:
  """Makes the next run die while it writes `kind`, leaving what such a kill leaves."""
  from nlx import dynamics, io, label_issues
  if kind in ("checkpoint", "checkpoint record"):
    # orbax's temporary folder of step 16, never renamed: killed while orbax wrote its
    # files, or while nlx wrote its record there (`Checkpointer._record_in_flight`, in
    # orbax's thread: a kill there takes the process). Built here from a finished save
    # (the folder moved back, its files cut), as such a kill leaves it: these kinds check
    # what the rerun makes of that folder; where the record is written is checked by
    # test_a_save_runs_beside_the_training_and_its_record_is_written_before_the_step_appears
    save = Checkpointer.save

    def dying_save(self, step, state, data_state):
      if step != 16:
        return save(self, step, state, data_state)
      save(self, step, state, data_state)
      self.wait()
      partial = self.step_dir(step) + ".orbax-checkpoint-tmp-1764000000"
      os.rename(self.step_dir(step), partial)
      with open(os.path.join(partial, RECORD), "r+b") as f:
        f.truncate(os.path.getsize(f.name) // 2)
      if kind == "checkpoint":
        for name in glob.glob(os.path.join(partial, "state", "ocdbt.process_0", "d", "*")):
          with open(name, "r+b") as f:
            f.truncate(os.path.getsize(name) // 2)
      raise Killed(f"while writing checkpoint 16 ({kind})")
    monkeypatch.setattr(Checkpointer, "save", dying_save)
  elif kind == "dynamics":
    savez = np.savez

    def dying_savez(file, *args, **kwargs):
      if not str(file).endswith(".npz") or "epoch_0002" not in str(file):
        return savez(file, *args, **kwargs)
      buffer = io_lib.BytesIO()
      savez(buffer, *args, **kwargs)
      with open(file, "wb") as f:
        f.write(buffer.getvalue()[:len(buffer.getvalue()) // 2])
      raise Killed("while writing the training dynamics of epoch 2")
    monkeypatch.setattr(dynamics.np, "savez", dying_savez)
  elif kind == "metrics.jsonl":  # the eval line of epoch 2, before its checkpoint
    append = io.append_jsonl

    def dying_append(path, record):
      if record.get("kind") != "eval" or record["step"] != 16:
        return append(path, record)
      with open(path, "a") as f:
        f.write(json.dumps(record)[:40])
      raise Killed("while appending to metrics.jsonl")
    monkeypatch.setattr(io, "append_jsonl", dying_append)
  elif kind == "results.json":
    write_json = io.write_json

    def dying_write_json(path, value, indent=2):
      if os.path.basename(path) != "results.json":
        return write_json(path, value, indent)
      with open(path, "w") as f:
        f.write(json.dumps(value, indent=indent)[:100])
      raise Killed("while writing results.json")
    monkeypatch.setattr(io, "write_json", dying_write_json)
  elif kind == "label_issues.csv":
    write = label_issues.write

    def dying_write(workdir, issues, dataset):
      write(workdir, issues, dataset)
      path = os.path.join(workdir, label_issues.CSV_NAME)
      with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
      raise Killed("while writing label_issues.csv")
    monkeypatch.setattr(label_issues, "write", dying_write)


def _without_time(results: dict) -> dict:
  return {k: v for k, v in results.items() if k != "wall_time_s"}


# what each kill leaves in the workdir
KILLED_WRITES = {"checkpoint": "checkpoints/16.orbax-checkpoint-tmp-*/state",
                 "checkpoint record": f"checkpoints/16.orbax-checkpoint-tmp-*/{RECORD}",
                 "dynamics": "dynamics/epoch_0002.npz.tmp.npz",
                 "metrics.jsonl": "metrics.jsonl", "results.json": "results.json",
                 "label_issues.csv": "label_issues.csv"}


@pytest.mark.parametrize("kind", KILLED_WRITES)
def test_a_kill_during_a_write_then_the_same_command_gives_the_uninterrupted_result(
    runs, tmp_path, monkeypatch, kind):
  """The issue's "kill during each kind of write": what the killed write leaves behind is
  ignored or replaced, never trusted (a step whose record was cut short is set aside; no
  other kill is mistaken for damage), and the rerun ends with the uninterrupted run's
  parameters, metrics and files."""
  from nlx import io
  full, root = runs
  wd = tmp_path / "wd"
  with monkeypatch.context() as m:
    _kill_in(m, kind)
    with pytest.raises(Killed):
      train.train_and_evaluate(resumable(), str(wd))
  assert glob.glob(str(wd / KILLED_WRITES[kind])), "the kill left no partial file"
  if kind == "metrics.jsonl":
    assert not (wd / "metrics.jsonl").read_text().endswith("\n")  # its last line cut short
  resumed = train.train_and_evaluate(resumable(), str(wd))
  assert resumed["test"] == full["test"]
  assert_same_params(resumed, full)
  assert resumed["label_issues"] == full["label_issues"]
  assert _without_time(io.read_json(str(wd / "results.json"))) == _without_time(
      io.read_json(str(root / "full" / "results.json")))
  assert io.read_jsonl(str(wd / "metrics.jsonl")) == io.read_jsonl(
      str(root / "full" / "metrics.jsonl"))
  for name in ("label_issues.csv", "label_issues.json"):
    assert (wd / name).read_text() == (root / "full" / name).read_text(), name
  assert steps_in(wd / "checkpoints") == ["8", "16"]  # no partial step left
  assert not os.path.exists(wd / "checkpoints_damaged")  # a kill is no damage
  assert os.listdir(wd / "dynamics") == os.listdir(root / "full" / "dynamics")


def test_a_write_that_fails_half_way_leaves_the_old_file_whole(tmp_path):
  # results.json, metrics.jsonl and label_issues.csv are written to PATH.tmp and renamed:
  # a write that fails (here a value JSON cannot encode, after part of it was written)
  # leaves the previous file as it was and no temporary file.
  from nlx import io
  path = str(tmp_path / "results.json")
  io.write_json(path, {"accuracy": 0.5})
  with pytest.raises(TypeError):
    io.write_json(path, {"accuracy": 0.75, "state": object()})
  assert io.read_json(path) == {"accuracy": 0.5}
  log = str(tmp_path / "metrics.jsonl")
  io.write_jsonl(log, [{"step": 1}])
  with pytest.raises(TypeError):
    io.write_jsonl(log, [{"step": 1}, {"step": object()}])
  assert io.read_jsonl(log) == [{"step": 1}]
  assert sorted(os.listdir(tmp_path)) == ["metrics.jsonl", "results.json"]


def test_the_checkpointer_is_closed_when_loading_the_data_fails(tmp_path, monkeypatch):
  """CI once printed orbax's 'cannot schedule new futures after interpreter shutdown' as
  the last line instead of nlx's one-line error: the manager's cleanup thread outlived a
  run whose data directory was missing. Every way out of a run closes it."""
  closed = []
  real_close = Checkpointer.close
  monkeypatch.setattr(Checkpointer, "close", lambda self: (closed.append(self.directory),
                                                           real_close(self)))

  def missing(config):
    raise FileNotFoundError(errno.ENOENT, "no data here", str(tmp_path / "none"))

  monkeypatch.setattr(train.data_lib, "load_dataset", missing)
  with pytest.raises(FileNotFoundError, match="no data here"):
    train.train_and_evaluate(resumable(), str(tmp_path / "wd"))
  assert closed == [str(tmp_path / "wd" / "checkpoints")]


def test_closing_a_checkpointer_twice_is_harmless(tmp_path):
  ckpt = Checkpointer(str(tmp_path / "c"))
  with ckpt:
    assert ckpt.latest_step() is None
  ckpt.close()  # already closed by the with: nothing happens
  assert ckpt._mngr is None


def test_cut_short_saves_are_removed_before_the_checkpointer_is_returned(tmp_path):
  """orbax removes the temporary directories of saves cut short in a thread its close()
  does not wait for (closed while it ran, it printed a traceback after nlx's one-line
  error: CI, 2026-12-03); the owner's Checkpointer waits for it, so they are gone as soon
  as it exists. A reader's (cleanup=False) leaves them."""
  for name in ("5.orbax-checkpoint-tmp", "7.orbax-checkpoint-tmp-1733200000"):
    os.makedirs(tmp_path / "own" / name / "state")
  os.makedirs(tmp_path / "read" / "5.orbax-checkpoint-tmp" / "state")
  with Checkpointer(str(tmp_path / "own"), cleanup=True):
    assert os.listdir(tmp_path / "own") == []
  with Checkpointer(str(tmp_path / "read"), cleanup=False):
    assert os.listdir(tmp_path / "read") == ["5.orbax-checkpoint-tmp"]


def test_a_save_whose_record_cannot_be_written_removes_its_step_and_keeps_the_others(
    tmp_path, monkeypatch):
  """orbax finished step 3 but its record hit a full disk: step 3 (files no record vouches
  for, which would pass as an old nlx's) and a cut-short orbax directory are removed; the
  recorded steps 1 and 2 stay, and the error names step 2 as the one to resume from."""
  import nlx.checkpointing as checkpointing
  ckpt = small_checkpoints(tmp_path / "checkpoints")
  os.makedirs(tmp_path / "checkpoints" / "3.orbax-checkpoint-tmp-1733200000" / "state")

  def full(step_dir):
    raise OSError(errno.ENOSPC, "No space left on device", os.path.join(step_dir, RECORD))
  monkeypatch.setattr(checkpointing, "write_record", full)
  with pytest.raises(DiskError, match="the last complete checkpoint is step 2"):
    ckpt.save(3, {"w": jnp.arange(3.0) * 3}, {"position": 3})  # written in the background:
    ckpt.wait()  # the failure met here
  assert steps_in(tmp_path / "checkpoints") == ["1", "2"]
  assert ckpt.latest_step() == 2
  monkeypatch.undo()
  ckpt._discard(2)  # a step with its record is never removed
  assert steps_in(tmp_path / "checkpoints") == ["1", "2"]
  ckpt.close()


def test_a_save_runs_beside_the_training_and_its_record_is_written_before_the_step_appears(
    tmp_path, monkeypatch):
  """`save` returns once orbax holds the values: the next step may be given the arrays
  to donate (as the train step is) and the checkpoint still holds the saved values. The
  record is written into orbax's new temporary folder (not into a stale one a killed save
  of the same step left), in its thread, before the step is renamed into place (so no step
  is ever seen without its record), and it leaves out orbax's two late files."""
  import nlx.checkpointing as checkpointing
  written, real = [], checkpointing.write_record

  def spy(step_dir):
    written.append((step_dir, os.path.exists(os.path.join(tmp_path, "c", "1"))))
    real(step_dir)
  monkeypatch.setattr(checkpointing, "write_record", spy)
  stale = tmp_path / "c" / "1.orbax-checkpoint-tmp-1733200000"
  os.makedirs(stale / "state")
  state = {"w": jnp.arange(6.0), "b": jnp.ones((2, 3))}
  ckpt = Checkpointer(str(tmp_path / "c"))
  ckpt.save(1, state, {"position": 1})
  donate = jax.jit(lambda s: jax.tree.map(lambda x: x * 7, s), donate_argnums=0)
  state = donate(state)  # the next "step" may take the saved arrays' buffers
  ckpt.wait()
  assert len(written) == 1 and ".orbax-checkpoint-tmp" in written[0][0]
  assert written[0][0] != str(stale) and not os.path.exists(stale / RECORD)
  assert written[0][1] is False  # step 1 did not exist yet when its record was written
  assert checkpointing.verify(ckpt.step_dir(1)) is None
  record = json.loads(open(os.path.join(ckpt.step_dir(1), RECORD)).read())["files"]
  assert not set(record) & set(checkpointing.ORBAX_LATE_FILES)
  assert any(name.startswith("state" + os.sep) for name in record)
  want = {"w": np.arange(6.0), "b": np.ones((2, 3))}
  restored, data = ckpt.restore(1, jax.tree.map(jnp.zeros_like, want))
  assert data == {"position": 1}
  for k in want:
    np.testing.assert_array_equal(np.asarray(restored[k]), want[k])
  ckpt.close()


def test_a_record_that_cannot_be_written_in_orbax_thread_fails_its_save(tmp_path, monkeypatch):
  """The record's write hits a full disk inside orbax's thread: the save fails, the step
  never appears, nothing of it is left, and the next `wait` (here `latest_step`'s) says so
  in one line."""
  import nlx.checkpointing as checkpointing
  ckpt = small_checkpoints(tmp_path / "checkpoints", steps=(1,))

  def full(step_dir):
    raise OSError(errno.ENOSPC, "No space left on device", os.path.join(step_dir, RECORD))
  monkeypatch.setattr(checkpointing, "write_record", full)
  ckpt.save(2, {"w": jnp.arange(3.0) * 2}, {"position": 2})
  with pytest.raises(DiskError) as e:
    ckpt.latest_step()  # not 2: the save in flight is finished first
  assert str(e.value) == (
      f"cannot write checkpoint {tmp_path}/checkpoints/2: No space left on device; the last "
      "complete checkpoint is step 1; free space (or fix the permissions) and rerun the "
      "same command to resume")
  assert steps_in(tmp_path / "checkpoints") == ["1"] and ckpt.latest_step() == 1
  ckpt.close()
  monkeypatch.undo()
  with Checkpointer(str(tmp_path / "checkpoints")) as again:
    assert again.latest_step() == 1


def test_an_error_that_leaves_while_a_save_fails_is_the_one_raised(tmp_path, monkeypatch,
                                                                    caplog):
  """Leaving the `with` on an error while a save in flight fails: the error that was on
  its way out is the one raised (not replaced by the save's DiskError), and the save's
  failure is one logged line; nothing of the step is left."""
  import nlx.checkpointing as checkpointing

  def full(step_dir):
    raise OSError(errno.ENOSPC, "No space left on device", os.path.join(step_dir, RECORD))
  monkeypatch.setattr(checkpointing, "write_record", full)
  with caplog.at_level(logging.WARNING), pytest.raises(KeyError, match="the loop's own"):
    with Checkpointer(str(tmp_path / "c")) as ckpt:
      ckpt.save(1, {"w": jnp.arange(3.0)}, {"position": 1})
      raise KeyError("the loop's own")
  assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
      f"cannot write checkpoint {tmp_path}/c/1: No space left on device; no checkpoint is "
      "complete yet; free space (or fix the permissions) and rerun the same command to "
      "resume (while stopping on KeyError)"]
  assert steps_in(tmp_path / "c") == []


def test_a_step_whose_record_was_cut_short_after_it_appeared_is_set_aside(tmp_path):
  """Where the record is written after orbax renamed the step (an orbax whose temporary
  folder `_record_in_flight` does not find), a kill during that write leaves the step with
  `RECORD.tmp` and no record: nothing vouches for it, so it is set aside (not trusted as
  an older nlx's) and the previous step restores."""
  ckpt = small_checkpoints(tmp_path / "checkpoints", steps=(1, 2))
  step_dir = tmp_path / "checkpoints" / "2"
  record = (step_dir / RECORD).read_text()
  os.remove(step_dir / RECORD)
  (step_dir / (RECORD + ".tmp")).write_text(record[:len(record) // 2])
  step, _, data = ckpt.restore_latest({"w": jnp.zeros(3)})
  assert (step, data) == (1, {"position": 1})
  assert steps_in(tmp_path / "checkpoints_damaged") == ["2"]
  ckpt.close()


def test_a_record_of_another_format_fails_the_check(tmp_path):
  """Records carry `"format": 1`; one of another format (a newer nlx's) is not trusted."""
  ckpt = small_checkpoints(tmp_path / "checkpoints")
  path = tmp_path / "checkpoints" / "2" / RECORD
  record = json.loads(path.read_text())
  assert record["format"] == 1 and set(record) == {"format", "files"}
  path.write_text(json.dumps({**record, "format": 2}))
  with pytest.raises(DamagedCheckpointError) as e:
    ckpt.restore(2, {"w": jnp.zeros(3)})
  assert str(e.value) == (f"checkpoint {tmp_path}/checkpoints/2 is damaged (its record "
                          f"{RECORD} has format 2; this nlx reads format 1 (a newer nlx's "
                          "checkpoint?))")
  ckpt.close()


def test_a_replicated_state_on_8_devices_is_saved_without_compiling_and_reads_back(tmp_path):
  """One process writes every replica anyway, so a save compiles nothing; orbax's CPU
  default (replica-parallel) compiled a slicing program per device and shape at a run's
  first save, 56 of a tiny SINet run's 93 programs. The handler orbax had is back after."""
  import orbax.checkpoint as ocp
  mesh = jax.make_mesh((8,), ("data",))
  replicated = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec())
  # first axes that 8 replicas divide (orbax slices only those); shapes no other test saves
  state = {f"w{i}": jax.device_put(jnp.arange(float(n * (3 + i))).reshape(n, 3 + i), replicated)
           for i, n in enumerate((8, 16, 24))}
  compiles = []

  def listen(event, duration, **_):
    if event == "/jax/core/compile/jaxpr_trace_duration":  # also when the disk cache has it
      compiles.append(duration)
  before = ocp.type_handlers.get_type_handler(jax.Array)
  jax.monitoring.register_event_duration_secs_listener(listen)
  try:
    with Checkpointer(str(tmp_path / "c")) as ckpt:
      ckpt.save(1, state, {"position": 1})
  finally:
    jax.monitoring.unregister_event_duration_listener(listen)
  assert compiles == []
  assert ocp.type_handlers.get_type_handler(jax.Array) is before
  with Checkpointer(str(tmp_path / "c")) as ckpt:
    restored, data = ckpt.restore(1, state)
  assert data == {"position": 1}
  for k in state:
    np.testing.assert_array_equal(np.asarray(restored[k]), np.asarray(state[k]))
    assert restored[k].sharding == replicated


def test_the_array_handler_comes_back_after_a_save_that_fails(tmp_path, monkeypatch):
  """A full disk during the save (a DiskError) still puts orbax's own handler back, and
  no warning about the swap reaches the log."""
  import orbax.checkpoint as ocp
  before = ocp.type_handlers.get_type_handler(jax.Array)
  ckpt = Checkpointer(str(tmp_path / "c"))
  seen = []

  def full(*a, **k):
    seen.append(ocp.type_handlers.get_type_handler(jax.Array))
    raise OSError(errno.ENOSPC, "No space left on device")
  monkeypatch.setattr(ckpt._mngr, "save", full)
  warnings = []

  class Keep(logging.Handler):
    def emit(self, record):
      warnings.append(record.getMessage())
  keep = Keep(level=logging.WARNING)
  logging.getLogger("absl").addHandler(keep)
  try:
    with pytest.raises(DiskError, match="no checkpoint is complete yet"):
      ckpt.save(1, {"w": jnp.arange(3.0)}, {"position": 1})
  finally:
    logging.getLogger("absl").removeHandler(keep)
  assert len(seen) == 1 and seen[0] is not before and not seen[0]._use_replica_parallel
  assert ocp.type_handlers.get_type_handler(jax.Array) is before
  assert not [w for w in warnings if "Type handler registry" in w]
  ckpt.close()
