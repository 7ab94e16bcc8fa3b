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


def label_smoothing_cross_entropy(logits: jax.Array, labels: jax.Array, *,
                                  alpha: float = 0.1) -> jax.Array:
  """CE against smoothed targets `(1 - alpha) * labels + alpha / C` (Szegedy et al., 2016).

  Args:
    logits: `[B, C]`.
    labels: `[B, C]` one-hot or soft.
    alpha: smoothing mass spread uniformly over the C classes (default 0.1).

  Returns:
    `[B]` losses.
  """
  c = logits.shape[-1]
  return softmax_cross_entropy(logits, (1.0 - alpha) * labels + alpha / c)


def forward_corrected_cross_entropy(logits: jax.Array, labels: jax.Array,
                                    transition: jax.Array) -> jax.Array:
  """Forward loss correction (Patrini et al., CVPR 2017): CE of the noisy labels under
  the predicted noisy-label distribution `softmax(logits) @ T`.

  `-sum_j labels_j log (sum_i p_i T[i, j])`, computed in log space.

  Args:
    logits: `[B, C]` scores for the clean class.
    labels: `[B, C]` noisy labels (one-hot or soft).
    transition: `[C, C]` row-stochastic `T[true, noisy]` (the library's orientation;
      convert a column-stochastic `C[noisy, true]` with `.T` first).

  Returns:
    `[B]` losses.
  """
  log_p = jax.nn.log_softmax(logits, axis=-1)
  log_t = jnp.log(jnp.clip(transition, 0.0, None))  # log 0 = -inf drops impossible flips
  log_noisy = jax.nn.logsumexp(log_p[:, :, None] + log_t[None], axis=1)  # [B, C_noisy]
  return -jnp.sum(jnp.where(labels > 0, labels * log_noisy, 0.0), axis=-1)


def sigmoid_binary_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Multi-label BCE summed over the C classes: `-sum_k [y log s(z) + (1-y) log s(-z)]`.

  Args:
    logits: `[B, C]` independent per-class scores.
    labels: `[B, C]` targets in [0, 1].

  Returns:
    `[B]` losses (sum over classes; divide by C for the per-class mean).
  """
  return -jnp.sum(labels * jax.nn.log_sigmoid(logits) +
                  (1.0 - labels) * jax.nn.log_sigmoid(-logits), axis=-1)


def binary_cross_entropy(probs: jax.Array, labels: jax.Array, *, eps: float = 1e-7) -> jax.Array:
  """Multi-label BCE of probabilities (not logits), summed over the C classes, for models
  whose noisy-label probability is a mixture (noise adaptation layers, ICNM):
  `-sum_k [y log p + (1-y) log(1-p)]` with p clipped to [eps, 1 - eps]. `[B, C] -> [B]`."""
  p = jnp.clip(probs, eps, 1.0 - eps)
  return -jnp.sum(labels * jnp.log(p) + (1.0 - labels) * jnp.log1p(-p), axis=-1)
