"""Per-example regularisers that methods add to a loss."""

import jax
import jax.numpy as jnp

from nlx.losses.classification import LabelShapeError, as_float32

# ELR's authors clamp the prediction to [1e-4, 1 - 1e-4] before both the target update
# and the regulariser (their `elr_loss`); we copy that clip. In bfloat16 1 - 1e-4 rounds
# to 1.0 (and log(1 - <p, t>) to -inf), hence float32 inside.
ELR_CLAMP = 1e-4


def elr_regularizer(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Early-learning regularisation (Liu et al., NeurIPS 2020): `log(1 - <p, t>)`.

  p = softmax(logits) is clamped to [1e-4, 1 - 1e-4] as in the authors' `elr_loss`
  (shengliu66/ELR, `ELR/model/loss.py`), not renormalised; in float32, since in bfloat16
  1 - 1e-4 rounds to 1.

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    targets: float `[B, C]` per-example target distributions t, the logits' shape (EMA of
      past predictions, see `nlx.ops.targets.ema_update`), treated as constants (no
      gradient flows into them).

  Returns:
    float32 `[B]` per-example values (a scalar for one example), negative, no reduction;
    the method adds `lambda * mean` to CE, lambda = 3 on CIFAR-10.

  Raises:
    LabelShapeError: targets whose shape is not the logits' shape.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # uniform over C = 4 and target class 0: log(1 - 1/4)
    >>> value = nl.elr_regularizer(jnp.zeros((1, 4)), jnp.array([[1.0, 0.0, 0.0, 0.0]]))
    >>> print(f"{float(value[0]):.4f}")
    -0.2877
  """
  logits = as_float32(logits)
  targets = as_float32(targets)
  if targets.shape != logits.shape:
    raise LabelShapeError(f"ELR targets must have the logits' shape {logits.shape}, got "
                          f"{targets.shape}")
  p = jnp.clip(jax.nn.softmax(logits, axis=-1), ELR_CLAMP, 1.0 - ELR_CLAMP)
  return jnp.log(1.0 - jnp.sum(jax.lax.stop_gradient(targets) * p, axis=-1))
