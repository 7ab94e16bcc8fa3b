"""Per-example regularisers that methods add to a loss."""

import jax
import jax.numpy as jnp

from nlx.losses.classification import LabelShapeError, as_float32

# ELR's authors clamp the prediction to [1e-4, 1 - 1e-4] before both the target update
# and the regulariser (their `elr_loss`); we copy that clip. In bfloat16 1 - 1e-4 rounds
# to 1.0 (and log(1 - <p, t>) to -inf), hence float32 inside.
ELR_CLAMP = 1e-4


def elr_regularizer(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Early-learning regularisation (Liu et al., NeurIPS 2020): `log(1 - <p, t>)`, with
  p = softmax(logits) clamped to [1e-4, 1 - 1e-4] as in the authors' `elr_loss`
  (shengliu66/ELR, `ELR/model/loss.py`), not renormalised.

  Args:
    logits: `[B, C]` (or `[C]`), any float dtype.
    targets: `[B, C]` per-example target distributions t (EMA of past predictions, see
      `nlx.ops.targets.ema_update`), treated as constants.

  Returns:
    `[B]` float32 values (negative; the method adds `lambda * mean` to CE, lambda = 3 on
    CIFAR-10).
  """
  logits = as_float32(logits)
  targets = as_float32(targets)
  if targets.shape != logits.shape:
    raise LabelShapeError(f"ELR targets must have the logits' shape {logits.shape}, got "
                          f"{targets.shape}")
  p = jnp.clip(jax.nn.softmax(logits, axis=-1), ELR_CLAMP, 1.0 - ELR_CLAMP)
  return jnp.log(1.0 - jnp.sum(jax.lax.stop_gradient(targets) * p, axis=-1))
