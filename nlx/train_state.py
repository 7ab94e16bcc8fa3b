"""The train state: everything a step reads and writes, checkpointed as one pytree."""

from typing import Any

import flax.struct
import jax


@flax.struct.dataclass
class TrainState:
  step: jax.Array          # int32 scalar: optimiser steps taken
  params: Any              # {"model": nnx.State of Params, "method": method params}
  model_state: Any         # nnx.State: BatchNorm statistics
  opt_state: Any           # optax state of `params`
  method_state: Any        # per-example targets, memories, ... (see nlx.methods)
  rng: jax.Array           # uint32[2] base key; step keys are fold_in(rng, step)
