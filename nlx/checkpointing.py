"""Orbax checkpoints of the train state together with the grain iterator state.

Orbax writes each step to a temporary directory and renames it when complete, so a
crash never leaves a half-written checkpoint that `latest_step` would pick up.
"""

import os

import jax
import orbax.checkpoint as ocp


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
    r = self._mngr.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract), data=ocp.args.JsonRestore()))
    return r["state"], r["data"]

  def close(self):
    self._mngr.close()
