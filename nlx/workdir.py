"""What makes a workdir trustworthy: one run per workdir, one process at a time.

A workdir records `workdir.json`: the fingerprint of the resolved config (every key that
can change the trained model; logging, checkpoint and progress-bar keys excluded), the
command that made it, and any explicit extension of its schedule. A rerun resumes only
when its fingerprint matches; otherwise a `ConfigError` names the differing keys. Training
longer (a larger `train.num_epochs`) is allowed only with `train.allow_more_epochs=True`
and is recorded. `config.json` is written only once the run is known to be this one (a
fresh start or a successful restore). A lock file (`workdir/.lock`, an `flock` that the OS
releases when its process dies, with the holder's pid inside) stops a second process.
"""

import errno
import fcntl
import hashlib
import json
import os
import signal
import sys
import threading
import time
from typing import Self

from nlx.errors import ConfigError, NlxError
from nlx.io import reading

FINGERPRINT_FILE = "workdir.json"
LOCK_FILE = ".lock"
# Keys that cannot change the trained model: how often it is logged, evaluated and
# checkpointed, how far this invocation goes, how the input is read, how many steps one
# compiled call runs (the same steps either way, tests/test_compiled.py), the progress bar.
EXCLUDED = frozenset({
    "train.log_every_steps", "train.eval_every_epochs", "train.checkpoint_every_epochs",
    "train.checkpoint_every_steps", "train.max_checkpoints", "train.stop_after_steps",
    "train.progress_bar", "train.allow_more_epochs", "train.steps_per_call", "data.num_threads",
    "data.prefetch_buffer_size", "data.eval_batch_size",
})


class Interrupted(NlxError):
  """Ctrl-C stopped training; a checkpoint of the step reached is kept."""


def default_workdir(config_arg: str, root: str = "workdirs") -> str:
  """`--config` value -> default workdir: `configs/baselines.py:gce,tiny` ->
  `workdirs/baselines/gce,tiny`; without a variant `workdirs/baselines`."""
  path, _, variant = config_arg.partition(":")
  name = os.path.splitext(os.path.basename(path))[0]
  variant = ",".join(w.strip() for w in variant.split(",") if w.strip())
  return os.path.join(root, name, variant) if variant else os.path.join(root, name)


def flatten(config) -> dict:
  """A ConfigDict (or its `to_dict()`) as `{"data.batch_size": 64, ...}`, JSON values."""
  tree = config if isinstance(config, dict) else config.to_dict()
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update({f"{key}.{k}": v for k, v in flatten(value).items()})
    else:
      out[key] = json.loads(json.dumps(value, default=str))  # tuples -> lists, as stored
  return out


def fingerprint_keys(config) -> dict:
  return {k: v for k, v in sorted(flatten(config).items()) if k not in EXCLUDED}


def fingerprint(keys: dict) -> str:
  return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def differences(old: dict, new: dict) -> list[str]:
  """`key: old -> new` for every key whose value differs (or exists on one side only)."""
  def shown(side, k):
    return repr(side[k]) if k in side else "(absent)"
  return [f"{k}: {shown(old, k)} -> {shown(new, k)}"
          for k in sorted(set(old) | set(new)) if k not in old or k not in new or old[k] != new[k]]


def _read_dict(path: str, what: str, key: str | None = None) -> dict:
  """The JSON object in `path` (holding `key`); a file cut short or damaged is a one-line
  ConfigError naming it."""
  fix = (f"restore it, or use another --workdir, or delete {os.path.dirname(path) or '.'}"
         "/checkpoints/ to start fresh")
  with reading(path, what, fix, error=ConfigError), open(path) as f:
    value = json.load(f)
    if not isinstance(value, dict) or (key and key not in value):
      raise ValueError(f"not a JSON object with {key!r}" if key else "not a JSON object")
  return value


def read_record(workdir: str) -> dict | None:
  """`workdir.json`, or for a workdir of an older nlx its `config.json` as the record."""
  path = os.path.join(workdir, FINGERPRINT_FILE)
  if os.path.isfile(path):
    return _read_dict(path, "run record (JSON)", "keys")
  legacy = os.path.join(workdir, "config.json")
  if os.path.isfile(legacy):
    return {"keys": {k: v for k, v in sorted(flatten(_read_dict(legacy, "config (JSON)")).items())
                     if k not in EXCLUDED}, "legacy": True}
  return None


def check_resume(workdir: str, config, has_checkpoint: bool) -> dict | None:
  """Raises a one-line ConfigError unless `config` continues the run in `workdir`.

  Returns the schedule extension to record (`{"num_epochs": [old, new], ...}`) when the
  only difference is a larger `train.num_epochs` and `train.allow_more_epochs` is set;
  otherwise None. A workdir without a checkpoint holds nothing to resume: any config
  starts fresh there.
  """
  new = fingerprint_keys(config)
  if not has_checkpoint:
    _check_layout(workdir, new)
    return None
  record = read_record(workdir)
  if record is None:
    raise ConfigError(f"workdir {workdir} has checkpoints but no {FINGERPRINT_FILE} or "
                      "config.json, so nlx cannot tell which run they belong to; use "
                      "another --workdir, or delete its checkpoints/ to start fresh")
  old = record["keys"]
  diff = changed_keys(old, new, legacy=record.get("legacy", False))
  if not diff:
    return None
  epochs = "train.num_epochs"
  if diff == [d for d in diff if d.startswith(epochs + ":")]:
    if config.train.allow_more_epochs and new[epochs] > old[epochs]:
      return {"num_epochs": [old[epochs], new[epochs]]}
    if new[epochs] > old[epochs]:
      raise ConfigError(f"workdir {workdir} holds a run of {old[epochs]} epochs; to train "
                        f"it on to {new[epochs]} (under the new schedule) add "
                        "--config.train.allow_more_epochs=True, or use another --workdir "
                        "to start fresh")
  shown = "; ".join(diff[:4]) + (f"; and {len(diff) - 4} more" if len(diff) > 4 else "")
  raise ConfigError(f"workdir {workdir} holds a run of another config ({shown}); use "
                    f"another --workdir, or delete {workdir} to start fresh")


# keys that decide what a workdir holds (one run, K seeds' sub-runs, K folds' sub-runs, one
# fold's run), with their values in workdirs recorded before they existed
LAYOUT_KEYS = {"train.replicas": 1, "label_issues.folds": 0, "label_issues.holdout_fold": -1}


def _check_layout(workdir: str, new: dict) -> None:
  """Even with no checkpoint to resume (a finished run of several keeps its checkpoints
  in its sub-workdirs), a workdir recorded for another layout is a one-line ConfigError:
  a single run never writes over several runs' folder, nor several over a single run's."""
  record = read_record(workdir) if os.path.exists(os.path.join(workdir, FINGERPRINT_FILE)) \
      else None
  if record is None:
    return
  diff = [f"{k}: {record['keys'].get(k, d)!r} -> {new.get(k, d)!r}"
          for k, d in LAYOUT_KEYS.items() if record["keys"].get(k, d) != new.get(k, d)]
  if diff:
    raise ConfigError(f"workdir {workdir} holds another layout of runs ({'; '.join(diff)}); "
                      f"use another --workdir, or delete {workdir} to start fresh")


def changed_keys(old: dict, new: dict, *, legacy: bool = False) -> list[str]:
  """`differences` between recorded keys `old` and today's `new`, where a key the recording
  nlx did not have yet counts as unchanged at its default (`_without_new_defaults`)."""
  return differences(old, _without_new_defaults(old, new, legacy))


def _without_new_defaults(old: dict, new: dict, legacy: bool) -> dict:
  """`new` less the keys the workdir's nlx did not have yet, where they hold the value that
  reproduces the old behaviour (the default); a legacy `config.json` also lacks excluded
  keys, so there every key it lacks is left out."""
  from nlx.config_base import base_config
  defaults = flatten(base_config())
  return {k: v for k, v in new.items()
          if k in old or not (legacy or (k in defaults and defaults[k] == v))}


def write_record(workdir: str, config, extension: dict | None, step: int) -> None:
  """Writes `workdir.json` (fingerprint, command, extensions) and `config.json`; called
  once the run is known to be this config's (fresh start or successful restore)."""
  previous = (read_record(workdir) or {}) if step else {}  # step 0: a fresh start
  keys = fingerprint_keys(config)
  extensions = list(previous.get("extensions", []))
  if extension:
    extensions.append({**extension, "at_step": int(step),
                       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
  record = {"fingerprint": fingerprint(keys), "keys": keys,
            "argv": previous.get("argv", list(sys.argv)), "extensions": extensions}
  _write_json(os.path.join(workdir, FINGERPRINT_FILE), record)
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort(indent=2))


def _write_json(path: str, obj) -> None:
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, indent=2)
  os.replace(tmp, path)


def make(workdir: str) -> None:
  """Creates `workdir`; a one-line ConfigError when it is a file or not writable."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise ConfigError(f"workdir {workdir} is a file, not a directory; choose another --workdir")
  try:
    os.makedirs(workdir, exist_ok=True)
  except OSError as e:
    raise ConfigError(f"cannot create workdir {workdir}: {e.strerror}") from None
  if not os.access(workdir, os.W_OK | os.X_OK):
    raise ConfigError(f"workdir {workdir} is not writable; choose another --workdir")


class Lock:
  """Exclusive use of a workdir by this process (`workdir/.lock`, released on exit or death).

  `flock` is released by the OS when the holder dies, so a lock file left by a killed
  process is taken over; the pid written inside names a live holder in the error.
  """

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_FILE)
    self._fd = None

  def acquire(self) -> Self:
    try:
      fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
      raise ConfigError(f"cannot write the lock file {self.path}: {e.strerror}") from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as e:
      holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
      os.close(fd)
      if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
        raise ConfigError(f"workdir {os.path.dirname(self.path)} is in use by process "
                          f"{holder} ({self.path}); wait for it to finish or use another "
                          "--workdir") from None
      raise ConfigError(f"cannot lock {self.path}: {e.strerror}") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    self._fd = fd
    return self

  def release(self) -> None:
    if self._fd is not None:
      os.ftruncate(self._fd, 0)
      os.close(self._fd)  # closing releases the flock
      self._fd = None


class StopOnInterrupt:
  """While watching, the first Ctrl-C sets `requested` (the loop stops after its step and
  keeps a checkpoint); a second one interrupts at once."""

  def __init__(self):
    self.requested = False
    self._previous = None

  def watch(self) -> None:
    if threading.current_thread() is not threading.main_thread():
      return  # signal handlers can only be set from the main thread

    def handler(signum, frame):
      if self.requested:
        raise KeyboardInterrupt
      self.requested = True
      print("nlx: stopping after this step and keeping a checkpoint (Ctrl-C again to "
            "abort at once)", file=sys.stderr, flush=True)

    self._previous = signal.signal(signal.SIGINT, handler)

  def restore(self) -> None:
    if self._previous is not None:
      signal.signal(signal.SIGINT, self._previous)
      self._previous = None


class Run:
  """`with Run(workdir, is_main) as run:` the workdir made and locked (by process 0 of a
  multi-host run), Ctrl-C watched once `run.interrupt.watch()` is called; all undone on exit."""

  def __init__(self, workdir: str, is_main: bool = True):
    self.workdir = workdir
    self.is_main = is_main
    self.interrupt = StopOnInterrupt()
    self._lock = Lock(workdir)

  def __enter__(self) -> Self:
    make(self.workdir)
    if self.is_main:
      self._lock.acquire()
    return self

  def __exit__(self, *exc) -> None:
    self.interrupt.restore()
    self._lock.release()

  def resume(self, config, latest_step: int | None) -> dict | None:
    """Checks that `config` may resume this workdir (see `check_resume`)."""
    return check_resume(self.workdir, config, latest_step is not None)

  def record(self, config, extension: dict | None, step: int) -> None:
    if self.is_main:
      write_record(self.workdir, config, extension, step)

  def interrupted(self, step: int, checkpoint_step: int | None) -> Interrupted:
    kept = (f"checkpoint step {checkpoint_step} kept in {self.workdir}/checkpoints"
            if checkpoint_step else "no checkpoint kept")
    return Interrupted(f"interrupted at step {step}; {kept}; rerun the same command to resume")

