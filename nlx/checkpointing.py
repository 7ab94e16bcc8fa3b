"""Orbax checkpoints of the train state together with the grain iterator state.

Orbax writes each step to a temporary directory and renames it when complete, so a
crash never leaves a half-written checkpoint that `latest_step` would pick up.
`read_arrays` reads a saved state on any device layout; `load_model_weights` takes
another run's final model for fine-tuning (`train.init_from`).
"""

import os

import jax
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from nlx.errors import ConfigError


class Checkpointer:
  def __init__(self, directory: str, max_to_keep: int = 2):
    self._mngr = ocp.CheckpointManager(
        os.path.abspath(directory),
        options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True,
                                             enable_async_checkpointing=False))

  def latest_step(self) -> int | None:
    return self._mngr.latest_step()

  def save(self, step: int, state, data_state: dict) -> None:
    self._mngr.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state), data=ocp.args.JsonSave(data_state)), force=True)
    self._mngr.wait_until_finished()

  def restore(self, step: int, like_state):
    """Restores `(state, data_state)`; `like_state` gives structure, dtypes and shardings."""
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, like_state)
    try:
      r = self._mngr.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
    except (ValueError, KeyError, TypeError, FileNotFoundError) as e:
      # e.g. a workdir of an older nlx whose state has another structure
      first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
      raise ConfigError(f"checkpoint {self._mngr.directory}/{step} does not fit this run's "
                        f"state ({first}); use another --workdir, or delete its checkpoints/ "
                        "to start fresh") from None
    return r["state"], r["data"]

  def close(self):
    self._mngr.close()


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
  is not one of them is an error (a typo would otherwise load that module silently)."""
  modules = set(nnx.to_pure_dict(params)) | set(nnx.to_pure_dict(model_state))
  unknown = sorted(set(exclude) - modules)
  if unknown:
    raise ConfigError(f"train.init_from_exclude: {unknown} name no module of this model; "
                      f"its modules: {sorted(map(str, modules))}")
  directory = os.path.join(os.path.abspath(workdir), "checkpoints")
  step = None
  if os.path.isdir(directory):
    mngr = ocp.CheckpointManager(directory)
    step = mngr.latest_step()
    mngr.close()
  if step is None:
    raise ConfigError(f"train.init_from: no checkpoint in {directory}")
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
