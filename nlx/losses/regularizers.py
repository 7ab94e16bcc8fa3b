"""Per-example regularisers that methods add to a loss."""

import jax
import jax.numpy as jnp

# ELR's authors clamp the prediction to [1e-4, 1 - 1e-4] before both the target update
# and the regulariser (their `elr_loss`); we copy that clip.
ELR_CLAMP = 1e-4


def elr_regularizer(logits: jax.Array, targets: jax.Array) -> jax.Array:
  """Early-learning regularisation (Liu et al., NeurIPS 2020): `log(1 - <p, t>)`.

  Args:
    logits: `[B, C]`.
    targets: `[B, C]` per-example target distributions t (EMA of past predictions, see
      `nlx.ops.targets.ema_update`), treated as constants.

  Returns:
    `[B]` values (negative; the method adds `lambda * mean` to CE, lambda = 3 on CIFAR-10).
  """
  p = jnp.clip(jax.nn.softmax(logits, axis=-1), ELR_CLAMP, 1.0 - ELR_CLAMP)
  return jnp.log(1.0 - jnp.sum(jax.lax.stop_gradient(targets) * p, axis=-1))
