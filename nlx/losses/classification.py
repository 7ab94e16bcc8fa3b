"""Per-example classification losses: pure functions, no reduction.

Shapes: `logits [B, C]`, `labels [B, C]` (one-hot or soft, rows sum to 1) or integer
`labels [B]` for the `_with_integer_labels` variants; every loss returns `[B]`.
"""

import jax
import jax.numpy as jnp


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Cross-entropy `-sum_k labels_k log softmax(logits)_k`.

  Args:
    logits: `[B, C]` unnormalised scores.
    labels: `[B, C]` target distributions (one-hot or soft).

  Returns:
    `[B]` losses.
  """
  return -jnp.sum(labels * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def softmax_cross_entropy_with_integer_labels(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Cross-entropy `-log softmax(logits)[label]` for integer `labels [B]`; returns `[B]`."""
  log_p = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.take_along_axis(log_p, labels[:, None].astype(jnp.int32), axis=-1)[:, 0]


def as_distribution(labels: jax.Array, num_classes: int) -> jax.Array:
  """Integer labels `[B]` become one-hot `[B, C]`; soft labels `[B, C]` pass through."""
  if labels.ndim == 1:
    return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
  return labels.astype(jnp.float32)
