"""Per-example targets kept in method state and updated with pure `.at[].set` ops."""

import jax
import jax.numpy as jnp

from nlx.losses.regularizers import ELR_CLAMP


def ema_update(targets: jax.Array, index: jax.Array, logits: jax.Array, *,
               beta: float = 0.7) -> jax.Array:
  """ELR's temporal ensembling (Liu et al., 2020): for the batch's examples,
  `t[idx] <- beta * t[idx] + (1 - beta) * p / sum(p)`, where p is the stop-gradient
  softmax clamped to [1e-4, 1 - 1e-4] (as the authors' code does before renormalising).

  Args:
    targets: `[N, C]` targets of the whole training set.
    index: `[B]` example indices of the batch.
    logits: `[B, C]`.
    beta: momentum (0.7 on CIFAR-10).

  Returns:
    `[N, C]` updated targets (only the rows in `index` change).
  """
  p = jnp.clip(jax.nn.softmax(jax.lax.stop_gradient(logits), axis=-1), ELR_CLAMP, 1.0 - ELR_CLAMP)
  p = p / jnp.sum(p, axis=-1, keepdims=True)
  return targets.at[index].set(beta * targets[index] + (1.0 - beta) * p)
