"""Orbax checkpoints of the train state together with the grain iterator state.

Orbax writes each step to a temporary directory and renames it when complete, so a
crash never leaves a half-written checkpoint that `latest_step` would pick up.
`read_arrays` reads a saved state on any device layout; `load_model_weights` takes
another run's final model for fine-tuning (`train.init_from`).

Saves are asynchronous: `save` returns once orbax holds the arrays' values, and orbax
writes the files in its background thread beside the training; `wait` (the next save,
`close` and every read call it) finishes a save.

Integrity: orbax checksums only its index, so a flipped byte in an array file restores
as wrong weights without a word. Once orbax has written a step's files, and before it
renames the step into place, nlx writes `<step>/nlx_sha256.json` (`RECORD`: the size and
sha256 of every file of the step but orbax's two small late ones, `ORBAX_LATE_FILES`), and
`restore` checks the files against it first. `restore_latest` moves a checkpoint that
fails (or that orbax reports corrupt, DATA_LOSS) to `<checkpoints>_damaged/` (never
deleted; orbax does not look there), says so in one logged line, and resumes from the
newest one that passes. A checkpoint without a record (saved by nlx 0.1.0 or earlier,
before records existed) is trusted with a one-line warning: refusing it would strand
every older run. A save that fails for lack of space or permission is a one-line
`DiskError` naming the step and the last complete checkpoint; orbax never lists the partial
step, and the next run removes it (`cleanup`).
"""

import contextlib
import glob
import hashlib
import json
import logging as py_logging
import os
import shutil
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
from absl import logging
from flax import nnx

from nlx.errors import ConfigError, DamagedCheckpointError, DiskError, disk_cause

RECORD = "nlx_sha256.json"
RECORD_FORMAT = 1  # the version of the record's layout that `verify` reads
DAMAGED_SUFFIX = "_damaged"


# what orbax writes into a step after the record (`Checkpointer._record_in_flight`): its
# metadata's commit time and its commit marker (no array data: the record leaves them out)
ORBAX_LATE_FILES = ("_CHECKPOINT_METADATA", "commit_success.txt")


def _files(step_dir: str) -> list[str]:
  """Every file under `step_dir` but the record and `ORBAX_LATE_FILES`, as sorted paths
  relative to it."""
  out = []
  for root, _, names in os.walk(step_dir):
    out += [os.path.relpath(os.path.join(root, n), step_dir) for n in names]
  return sorted(f for f in out if f != RECORD and f not in ORBAX_LATE_FILES)


def _sha256(path: str) -> str:
  h = hashlib.sha256()
  with open(path, "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
      h.update(block)
  return h.hexdigest()


def write_record(step_dir: str) -> None:
  """`step_dir/RECORD`: `{"files": {relative path: {"size", "sha256"}}}` of a finished step,
  written to a temporary name and renamed, so a cut-short write leaves no record."""
  files = {f: {"size": os.path.getsize(os.path.join(step_dir, f)),
               "sha256": _sha256(os.path.join(step_dir, f))} for f in _files(step_dir)}
  tmp = os.path.join(step_dir, RECORD + ".tmp")
  try:
    with open(tmp, "w") as f:
      json.dump({"format": RECORD_FORMAT, "files": files}, f, indent=1)
    os.replace(tmp, os.path.join(step_dir, RECORD))
  except OSError as e:
    raise OSError(e.errno, e.strerror, tmp) from None


def verify(step_dir: str) -> str | None:
  """What is wrong with the files of a saved step against its record (a missing file, a
  size or sha256 that differs, an unreadable record, a record whose write was cut short),
  or None when they all match. A step without a record (an older nlx's) passes with a
  logged warning."""
  path = os.path.join(step_dir, RECORD)
  if not os.path.exists(path) and os.path.exists(path + ".tmp"):
    # killed after orbax finished and before the record was renamed into place (where the
    # record is written after the step appears: `Checkpointer.wait`'s case): nothing
    # vouches for these files (and "an older nlx's" would be a wrong excuse)
    return f"its save was cut short before its record {RECORD} was complete"
  if not os.path.exists(path):
    logging.warning("checkpoint %s has no integrity record (%s; saved by nlx 0.1.0 or "
                    "earlier): restoring it unverified", step_dir, RECORD)
    return None
  try:
    with open(path) as f:
      record = json.load(f)
    files, version = record["files"], record.get("format")
  except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
    return f"its record {RECORD} cannot be read: {type(e).__name__}"
  if version != RECORD_FORMAT:
    return (f"its record {RECORD} has format {version!r}; this nlx reads format "
            f"{RECORD_FORMAT} (a newer nlx's checkpoint?)")
  for name, want in sorted(files.items()):
    full = os.path.join(step_dir, name)
    if not os.path.isfile(full):
      return f"{name} is missing"
    if os.path.getsize(full) != want["size"] or _sha256(full) != want["sha256"]:
      return f"{name} differs from its sha256 in {RECORD}"
  return None


def _is_damage(e: Exception) -> bool:
  """An orbax/tensorstore restore error that means corrupt files, not another run's state."""
  return "DATA_LOSS" in str(e) or isinstance(e, UnicodeDecodeError | json.JSONDecodeError)


class _DropOrbaxErrors(py_logging.Filter):
  """Drops orbax's own ERROR logs (each a traceback of tensorstore's) while a save runs
  (`Checkpointer.save` to its `wait`): a failure it raises reaches the user once, as
  `DiskError` or with its traceback."""

  def filter(self, record):
    return not (record.levelno >= py_logging.ERROR and f"{os.sep}orbax{os.sep}" in record.pathname)


@contextlib.contextmanager
def _whole_arrays_on_one_process():
  """Within it, orbax writes a replicated array whole from its first replica when the run
  has one process. Orbax's default unless JAX_PLATFORMS names a GPU (replica-parallel:
  each replica writes a slice) compiles one slicing program per device and parameter
  shape at a run's first save: 4.4 s for 11 small arrays on 8 host devices against 0.1 s,
  where one process writes every slice anyway (on several GPUs it would overlap their
  copies to the host, little for nlx's model sizes). Several processes, or a handler
  other than orbax's own ArrayHandler, keep orbax's default. The handler orbax had is put
  back, also when the save fails, so nothing outside a save changes."""
  previous = ocp.type_handlers.get_type_handler(jax.Array)
  if jax.process_count() > 1 or type(previous) is not ocp.type_handlers.ArrayHandler:
    yield  # another handler (a subclass, e.g. Pathways', or a user's) is left as it is
    return
  # the same metadata store as orbax's own handler: a resumed run validates against it
  _swap_array_handler(ocp.type_handlers.ArrayHandler(
      use_replica_parallel=False, array_metadata_store=previous._array_metadata_store))
  try:
    yield
  finally:
    _swap_array_handler(previous)


class _DropOverrideWarning(py_logging.Filter):
  def filter(self, record):
    return not record.getMessage().startswith("Type handler registry type")


def _swap_array_handler(handler) -> None:
  """Registers `handler` for jax.Array without orbax's warning about the override."""
  logger, drop = logging.get_absl_logger(), _DropOverrideWarning()
  logger.addFilter(drop)
  try:
    ocp.type_handlers.register_type_handler(jax.Array, handler, override=True)
  finally:
    logger.removeFilter(drop)


class _DropAbandoned(py_logging.Filter):
  """Drops asyncio's "exception was never retrieved" for an orbax read or write that failed
  with the error nlx already reported (no space or permission; corrupt files)."""

  def filter(self, record):
    exc = record.exc_info[1] if record.exc_info else None
    return exc is None or not (disk_cause(exc) or _is_damage(exc))


def _quiet_abandoned_io() -> None:
  """After orbax gave up on a save or a restore, its reads and writes still in flight end
  later with the same error: asyncio logs each ("Future exception was never retrieved")
  and tensorstore's callbacks into the closed event loop print "Event loop is closed"
  tracebacks, up to hundreds of lines after nlx's one. Both are dropped from then on."""
  logger = py_logging.getLogger("asyncio")
  if not any(isinstance(f, _DropAbandoned) for f in logger.filters):
    logger.addFilter(_DropAbandoned())
  previous = sys.unraisablehook
  if getattr(previous, "nlx_quiet", False):
    return

  def hook(unraisable):
    exc = unraisable.exc_value
    if not (isinstance(exc, RuntimeError) and str(exc) == "Event loop is closed"):
      previous(unraisable)

  hook.nlx_quiet = True
  sys.unraisablehook = hook


def latest_step(directory: str) -> int | None:
  """The newest complete step in `directory`, read only (None: none, or no such folder)."""
  if not os.path.isdir(directory):
    return None
  mngr = ocp.CheckpointManager(os.path.abspath(directory))
  try:
    return mngr.latest_step()
  finally:
    mngr.close()


def resume_hint(directory: str) -> str:
  """The end of a DiskError's line: the checkpoint a rerun resumes from, and what to do."""
  last = latest_step(directory)
  kept = (f"the last complete checkpoint is step {last}" if last is not None
          else "no checkpoint is complete yet")
  return f"{kept}; free space (or fix the permissions) and rerun the same command to resume"


class Checkpointer:
  """The checkpoints of one run in `directory` (`WORKDIR/checkpoints`), newest `max_to_keep`
  kept; each step holds the train state, the data iterator's state and `RECORD`.
  `cleanup`: remove the temporary directories of saves cut short (a full disk, a crash);
  only for the run that owns the workdir (its lock held), never a reader's."""

  def __init__(self, directory: str, max_to_keep: int = 2, cleanup: bool = False):
    self.directory = os.path.abspath(directory)
    # saves write their files in orbax's background thread (`save`, `wait`)
    self._mngr = ocp.CheckpointManager(
        self.directory,
        options=ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=True,
            async_options=ocp.AsyncOptions(post_finalization_callback=self._record_in_flight),
            cleanup_tmp_directories=cleanup))
    self._pending = None  # the step whose files are being written, and its log filter
    # orbax removes those directories in a background thread that its close() does not
    # wait for: closed while it ran (a run whose data failed to load), it printed a
    # traceback after nlx's one-line error. Wait for it here (the orbax versions that have
    # the hook; the others start no such thread).
    wait = getattr(self._mngr, "_maybe_await_cleanup_tmp_directory", None)
    if cleanup and wait is not None:
      wait()

  def latest_step(self) -> int | None:
    """The newest complete step (a save in flight is finished first: `wait`)."""
    self.wait()
    return self._mngr.latest_step()

  def step_dir(self, step: int) -> str:
    return os.path.join(self.directory, str(step))

  def save(self, step: int, state, data_state: dict) -> None:
    """Starts saving `step`: returns once orbax holds the arrays' values (a host copy; on
    a CPU a view that keeps their buffers, which JAX then does not donate to the next
    step); orbax writes the files in its background thread, beside the training, and
    `wait` (the next save, `close`, every read) finishes them. A DiskError when there is
    no space or no permission to write, from here or from that `wait` (the partial step
    removed, the newest complete one named)."""
    self.wait()
    drop = _DropOrbaxErrors()  # orbax's own error logs of this save (its thread's too)
    logging.get_absl_logger().addFilter(drop)
    # the temporary folders already there (a save of this step cut short by a kill): the
    # one orbax makes now is the other
    self._pending = (step, drop, set(self._temporary_folders(step)))
    try:
      with _whole_arrays_on_one_process():
        self._mngr.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state),
            data=ocp.args.JsonSave(json.loads(json.dumps(data_state)))),  # its own copy
            force=True)
    except Exception as e:  # noqa: BLE001 (orbax raises ValueError, OSError, ...)
      try:  # whatever orbax's thread had started ends before its folder is removed
        self._mngr.wait_until_finished()
      except Exception:  # noqa: BLE001 (the error to report is `e`)
        pass
      self._end_pending()
      self._failed(step, e)

  def _temporary_folders(self, step: int) -> list[str]:
    """orbax's temporary folders of `step` (`<step>.orbax-checkpoint-tmp*`)."""
    return glob.glob(glob.escape(self.step_dir(step)) + ".orbax-checkpoint-tmp*")

  def _record_in_flight(self) -> None:
    """orbax's post-finalization callback (in its thread, before it renames the step's
    temporary folder into place): process 0 writes the record into that folder, so the
    step appears with its record or not at all (a failure here fails the save: `wait`).
    Where no new temporary folder is found (an orbax that writes the step in place),
    `wait` writes the record once the step is complete. Multi-process: the other
    processes wait for process 0 at orbax's commit barrier (a failure here ends theirs
    at its timeout)."""
    pending = self._pending
    if pending is None or jax.process_index() != 0:
      return
    step, _, before = pending
    new = [d for d in self._temporary_folders(step) if d not in before and os.path.isdir(d)]
    if len(new) == 1:
      write_record(new[0])

  def wait(self) -> None:
    """Finishes the save in flight, if any: waits for its files and their record (written
    by `_record_in_flight`; here where that found no temporary folder). A DiskError as
    `save`'s."""
    if self._pending is None:
      return
    step = self._pending[0]
    try:
      self._mngr.wait_until_finished()
      if jax.process_index() == 0 and not os.path.exists(
          os.path.join(self.step_dir(step), RECORD)):
        write_record(self.step_dir(step))
    except Exception as e:  # noqa: BLE001 (as save's)
      self._end_pending()
      self._failed(step, e)
    self._end_pending()

  def _end_pending(self) -> None:
    if self._pending is not None:
      logging.get_absl_logger().removeFilter(self._pending[1])
      self._pending = None

  def _failed(self, step: int, e: Exception) -> None:
    """Raises `e`, or for a full disk or a refused write (`disk_cause`) the DiskError that
    names `step` and the newest complete checkpoint, after removing what the save left."""
    cause = disk_cause(e)
    if cause is None:
      raise e
    _quiet_abandoned_io()
    self._discard(step)
    raise DiskError(f"cannot write checkpoint {self.step_dir(step)}: {cause}; "
                    f"{resume_hint(self.directory)}") from None

  def _discard(self, step: int) -> None:
    """Removes what a failed save of `step` left: orbax's temporary folders (writes still
    in flight may leave some of it: the next run's `cleanup` removes that), or the step
    whose record could not be written after it appeared (`wait`'s case: it would pass as
    an old nlx's)."""
    if jax.process_index() == 0:
      for partial in self._temporary_folders(step):
        shutil.rmtree(partial, ignore_errors=True)
      if not os.path.exists(os.path.join(self.step_dir(step), RECORD)):
        shutil.rmtree(self.step_dir(step), ignore_errors=True)
    self._mngr.reload()

  def restore(self, step: int, like_state):
    """Restores `(state, data_state)`; `like_state` gives structure, dtypes and shardings.

    DamagedCheckpointError when the files fail their record or orbax finds them corrupt;
    ConfigError when they hold another structure (e.g. an older nlx's run)."""
    self.wait()
    problem = verify(self.step_dir(step))
    if problem:
      raise DamagedCheckpointError(f"checkpoint {self.step_dir(step)} is damaged ({problem})")
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
    try:
      r = self._mngr.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
    except (ValueError, KeyError, TypeError, FileNotFoundError) as e:
      first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
      if _is_damage(e):
        _quiet_abandoned_io()
        raise DamagedCheckpointError(f"checkpoint {self.step_dir(step)} is damaged "
                                     f"({first})") from None
      # e.g. a workdir of an older nlx whose state has another structure
      raise ConfigError(f"checkpoint {self.step_dir(step)} does not fit this run's "
                        f"state ({first}); use another --workdir, or delete its checkpoints/ "
                        "to start fresh") from None
    return r["state"], r["data"]

  def restore_latest(self, like_state):
    """`(step, state, data_state)` of the newest checkpoint that passes its check (see the
    module docstring), or None when there is no checkpoint. Each damaged newer one is set
    aside in `<directory>_damaged/` with a logged warning; when every one is damaged, a
    DamagedCheckpointError names both folders."""
    self.wait()
    damaged = []
    for step in sorted(self._mngr.all_steps(), reverse=True):
      try:
        return (step, *self.restore(step, like_state))
      except DamagedCheckpointError as e:
        logging.warning("%s; moved to %s", e, self._set_aside(step, e))
        damaged.append(step)
    if damaged:
      which = (f"step {damaged[0]} is" if len(damaged) == 1
               else f"steps {', '.join(map(str, damaged))} are")
      raise DamagedCheckpointError(
          f"no intact checkpoint in {self.directory}: {which} damaged and moved to "
          f"{self.directory}{DAMAGED_SUFFIX}; rerun the same command to start fresh, or "
          "restore the checkpoints from a backup")
    return None

  def _set_aside(self, step: int, why: Exception) -> str:
    """Moves a damaged step to `<directory>_damaged/<step>` (`<step>.2`, ... when taken)."""
    folder = self.directory + DAMAGED_SUFFIX
    target, n = os.path.join(folder, str(step)), 1
    while os.path.exists(target):
      n += 1
      target = os.path.join(folder, f"{step}.{n}")
    if jax.process_index() == 0:
      try:
        os.makedirs(folder, exist_ok=True)
        os.rename(self.step_dir(step), target)
      except OSError as e:
        raise DiskError(f"{why}, and it cannot be moved to {target}: {e.strerror}; move or "
                        "delete it, then rerun the same command") from None
    self._mngr.reload()
    return target

  def close(self):
    """Ends the manager's background work (its cleanup of cut-short saves runs in a
    thread); idempotent. Left open, that thread can outlive an error and print a second
    traceback at interpreter shutdown."""
    if self._mngr is not None:
      try:
        self.wait()  # a save in flight finishes (or raises its DiskError) first
      finally:
        self._mngr.close()
        self._mngr = None

  def __enter__(self):
    return self

  def __exit__(self, exc_type, exc, tb):
    if exc_type is None:
      self.close()
      return
    try:  # leaving on an error: a save that also failed must not replace it
      self.close()
    except Exception as e:  # noqa: BLE001
      logging.warning("%s (while stopping on %s)", e, exc_type.__name__)


def read_arrays(state_dir: str) -> dict:
  """A saved state (`<checkpoint>/<step>/state`) as nested dicts of numpy arrays, whatever
  devices or processes wrote it (no target structure or sharding needed)."""
  state_dir = os.path.abspath(state_dir)  # orbax finds no metadata under a relative path
  ckptr = ocp.PyTreeCheckpointer()
  tree = ckptr.metadata(state_dir).item_metadata.tree
  args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
  return ckptr.restore(state_dir, args=ocp.args.PyTreeRestore(restore_args=args))


def _pure_like(raw: dict, like: dict, where: str, keep=()) -> dict:
  """`like`'s nested dict (keys may be ints) filled from `raw` (a restored checkpoint, whose
  keys are strings and whose leaves sit under "value"); shapes must agree. Top-level keys
  in `keep` stay as in `like` (this model's own initial values)."""
  out = {}
  for key, sub in like.items():
    if key in keep:
      out[key] = sub
      continue
    node = raw.get(str(key)) if isinstance(raw, dict) else None
    if node is None:
      raise ConfigError(f"train.init_from: the checkpoint has no {where}/{key}")
    if isinstance(sub, dict):
      out[key] = _pure_like(node, sub, f"{where}/{key}")
      continue
    value = np.asarray(node["value"] if isinstance(node, dict) else node)
    if value.shape != np.shape(sub):
      raise ConfigError(f"train.init_from: {where}/{key} has shape {value.shape} in the "
                        f"checkpoint, {np.shape(sub)} in this model")
    out[key] = value.astype(np.asarray(sub).dtype)
  return out


def load_model_weights(workdir: str, params, model_state, exclude=()):
  """The model params and BatchNorm statistics of the latest checkpoint in `workdir/checkpoints`
  (another run, e.g. a model pretrained on the clean subset), in the structure of
  `params` / `model_state` (nnx.State); a ConfigError names a missing or mis-shaped one.
  Top-level modules named in `exclude` (e.g. `head`) keep this model's initial values:
  a label-embedding model started from a class-output model of the same body; a name that
  is not one of them is an error (a typo would otherwise load that module silently).
  The checkpoint is checked against its integrity record first (`verify`): a damaged one
  is an error (it is another run's, so it is not moved), one without a record a warning."""
  modules = set(nnx.to_pure_dict(params)) | set(nnx.to_pure_dict(model_state))
  unknown = sorted(set(exclude) - modules)
  if unknown:
    raise ConfigError(f"train.init_from_exclude: {unknown} name no module of this model; "
                      f"its modules: {sorted(map(str, modules))}")
  directory = os.path.join(os.path.abspath(workdir), "checkpoints")
  step = latest_step(directory)
  if step is None:
    raise ConfigError(f"train.init_from: no checkpoint in {directory}")
  problem = verify(os.path.join(directory, str(step)))
  if problem:
    raise DamagedCheckpointError(f"train.init_from: checkpoint {directory}/{step} is "
                                 f"damaged ({problem}); train that run again, or point "
                                 "train.init_from at another run")
  raw = read_arrays(os.path.join(directory, str(step), "state"))
  new = []
  for name, like in (("params/model", params), ("model_state", model_state)):
    node = raw
    for key in name.split("/"):
      node = node.get(key, {})
    pure = _pure_like(node, nnx.to_pure_dict(like), name, keep=tuple(exclude))
    state = jax.tree.map(lambda x: x, like)  # a copy to fill
    nnx.replace_by_pure_dict(state, pure)
    new.append(state)
  return tuple(new)
