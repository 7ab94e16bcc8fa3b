"""Per-example classification losses: pure functions, no reduction.

Shapes: `logits [..., C]` (a batch `[B, C]` or one example `[C]`); `labels` either
integer class indices `[...]` (one fewer axis than the logits) or target distributions
`[..., C]` (one-hot or soft, rows sum to 1). Every loss returns `[...]` (`[B]`, or a
scalar for one example), computed in float32 (bfloat16 / float16 logits are upcast
first) so the clamps the papers' code uses survive in low precision. Labels of any other
shape raise `LabelShapeError`: integer labels `[B]` are never broadcast against `[B, C]`.
"""

import jax
import jax.numpy as jnp

from nlx.errors import NlxError


class LabelShapeError(NlxError, ValueError):
  """Labels whose shape fits neither class indices nor per-class targets of the logits."""


def as_float32(x: jax.Array) -> jax.Array:
  """`x` as a floating array of at least float32 precision (bf16 / f16 are upcast)."""
  x = jnp.asarray(x)
  return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def as_distribution(labels: jax.Array, num_classes: int) -> jax.Array:
  """Labels of either form as float32 target rows `[..., C]`.

  Integer class indices become one-hot rows; float target rows pass through, cast to
  float32.

  Args:
    labels: int `[...]` class indices (e.g. `[B]`), or float `[..., C]` target rows
      (one-hot or soft; bfloat16 / float16 are upcast).
    num_classes: C, the number of classes (the one-hot width).

  Returns:
    float32 `[..., C]` target rows: one-hot for class indices, else the labels as
    float32.

  Raises:
    LabelShapeError: float labels whose last axis is not `num_classes` (or a float
      scalar): anything else is neither class indices nor target rows.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> print(nl.as_distribution(jnp.array([2, 0]), 3))
    [[0. 0. 1.]
     [1. 0. 0.]]
  """
  labels = jnp.asarray(labels)
  if jnp.issubdtype(labels.dtype, jnp.integer):
    return jax.nn.one_hot(labels, num_classes, dtype=jnp.float32)
  if labels.ndim == 0 or labels.shape[-1] != num_classes:
    raise LabelShapeError(f"float labels must be [..., {num_classes}] target rows, got shape "
                          f"{labels.shape}; pass class indices as an integer array")
  return as_float32(labels)


def targets_for(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Labels as float32 target rows of the logits' shape.

  Integer labels of shape `logits.shape[:-1]` are class indices (one-hot); labels of
  the logits' full shape are target rows (one-hot, soft or 0/1). Any other shape
  raises `LabelShapeError`, so `[B]` labels with `[B, C]` logits never broadcast, even
  when B == C.
  """
  labels = jnp.asarray(labels)
  logits_shape = jnp.shape(logits)
  if labels.shape == logits_shape:
    return as_float32(labels)
  if labels.shape == logits_shape[:-1]:
    if not jnp.issubdtype(labels.dtype, jnp.integer):
      raise LabelShapeError(f"labels of shape {labels.shape} for logits {logits_shape} must be "
                            f"integer class indices, got dtype {labels.dtype}")
    return jax.nn.one_hot(labels, logits_shape[-1], dtype=jnp.float32)
  raise LabelShapeError(f"labels of shape {labels.shape} fit neither class indices "
                        f"{logits_shape[:-1]} nor target rows {logits_shape} of the logits")


def prepare(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`(float32 logits, float32 target rows)` for any of the label forms above."""
  logits = as_float32(logits)
  return logits, targets_for(logits, labels)


def softmax_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Softmax cross-entropy `-sum_k labels_k log softmax(logits)_k`, per example.

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target distributions (one-hot or
      soft, rows sum to 1).

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # uniform logits over C = 4: -log(1/4) = log 4
    >>> loss = nl.softmax_cross_entropy(jnp.zeros((1, 4)), jnp.array([2]))
    >>> print(f"{float(loss[0]):.4f}")
    1.3863
    >>> # logits = log p make softmax = p = (1/2, 1/4, 1/4); a soft label (1/2, 1/2, 0)
    >>> # gives -(1/2 log 1/2 + 1/2 log 1/4) = 1.5 log 2
    >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
    >>> loss = nl.softmax_cross_entropy(logits, jnp.array([[0.5, 0.5, 0.0]]))
    >>> print(f"{float(loss[0]):.4f}")
    1.0397
  """
  logits, labels = prepare(logits, labels)
  return -jnp.sum(labels * jax.nn.log_softmax(logits, axis=-1), axis=-1)


def softmax_cross_entropy_with_integer_labels(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Cross-entropy `-log softmax(logits)[label]` for integer class indices only.

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices (a scalar label with `[C]` logits).

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels that are not integer, or not of shape `logits.shape[:-1]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # softmax(log p) = p = (1/2, 1/4, 1/4): -log 1/2 = log 2 and -log 1/4 = log 4
    >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25], [0.5, 0.25, 0.25]]))
    >>> loss = nl.softmax_cross_entropy_with_integer_labels(logits, jnp.array([0, 1]))
    >>> print(f"{float(loss[0]):.4f} {float(loss[1]):.4f}")
    0.6931 1.3863
  """
  logits = as_float32(logits)
  labels = jnp.asarray(labels)
  if labels.shape != logits.shape[:-1] or not jnp.issubdtype(labels.dtype, jnp.integer):
    raise LabelShapeError(f"integer labels of shape {logits.shape[:-1]} expected for logits "
                          f"{logits.shape}, got {labels.dtype} {labels.shape}")
  log_p = jax.nn.log_softmax(logits, axis=-1)
  return -jnp.take_along_axis(log_p, labels[..., None].astype(jnp.int32), axis=-1)[..., 0]


def label_smoothing_cross_entropy(logits: jax.Array, labels: jax.Array, *,
                                  alpha: float = 0.1) -> jax.Array:
  """CE against smoothed targets `(1 - alpha) * labels + alpha / C` (Szegedy et al., 2016).

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).
    alpha: smoothing mass spread uniformly over the C classes (default 0.1); 0 is plain
      CE.

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # p = (1/2, 1/4, 1/4), label 0, alpha = 0.3: targets (0.8, 0.1, 0.1), so
    >>> # CE = 0.8 log 2 + 0.2 log 4 = 1.2 log 2
    >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
    >>> loss = nl.label_smoothing_cross_entropy(logits, jnp.array([0]), alpha=0.3)
    >>> print(f"{float(loss[0]):.4f}")
    0.8318
  """
  logits, labels = prepare(logits, labels)
  c = logits.shape[-1]
  return softmax_cross_entropy(logits, (1.0 - alpha) * labels + alpha / c)


def forward_corrected_cross_entropy(logits: jax.Array, labels: jax.Array,
                                    transition: jax.Array) -> jax.Array:
  """Forward loss correction (Patrini et al., CVPR 2017), per example.

  CE of the noisy labels under the predicted noisy-label distribution
  `softmax(logits) @ T`: `-sum_j labels_j log (sum_i p_i T[i, j])`, computed in log space.
  The authors' Keras code (giorgiop/loss-correction, `loss.py`) clips p to
  [1e-7, 1 - 1e-7] before the product; nlx does not clip (identical wherever every
  p_i >= 1e-7). A noisy class that no true class flips into (an all-zero column of T)
  has probability 0: a label on it costs inf, and no NaN reaches the other classes'
  gradients.

  Args:
    logits: float `[B, C]` scores for the clean class (or one example `[C]`); any float
      dtype, computed in float32.
    labels: int `[B]` noisy class indices, or float `[B, C]` noisy target rows (one-hot
      or soft).
    transition: float `[C, C]` row-stochastic `T[true, noisy]` (the library's
      orientation; convert a column-stochastic `C[noisy, true]` with `.T` first);
      computed in float32.

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # p = (1/2, 1/2); q = p @ T = (0.6, 0.4); noisy label 1: -log 0.4
    >>> transition = jnp.array([[0.8, 0.2], [0.4, 0.6]])
    >>> loss = nl.forward_corrected_cross_entropy(jnp.zeros((1, 2)), jnp.array([1]),
    ...                                           transition)
    >>> print(f"{float(loss[0]):.4f}")
    0.9163
  """
  logits, labels = prepare(logits, labels)
  log_p = jax.nn.log_softmax(logits, axis=-1)
  transition = as_float32(transition)
  log_t = jnp.log(jnp.clip(transition, 0.0, None))  # log 0 = -inf: impossible flips
  # A noisy class no true class flips into (an all-zero column) has log q_j = -inf; its
  # logsumexp over -inf alone has a NaN gradient, so it is computed on a finite stand-in
  # and put back as -inf (the value as before; no NaN reaches the other classes' gradients).
  reached = jnp.any(transition > 0, axis=0)  # [C_noisy]
  log_noisy = jax.nn.logsumexp(log_p[..., :, None] + jnp.where(reached, log_t, 0.0), axis=-2)
  log_noisy = jnp.where(reached, log_noisy, -jnp.inf)  # [..., C_noisy]
  return -jnp.sum(jnp.where(labels > 0, labels * log_noisy, 0.0), axis=-1)


def multi_label_inputs(logits, labels):
  """`(float32 logits, float32 targets)` for multi-label losses (same shapes)."""
  logits = as_float32(logits)
  labels = jnp.asarray(labels)
  if labels.shape != logits.shape:
    raise LabelShapeError(f"multi-label targets must have the logits' shape {logits.shape}, "
                          f"got {labels.shape}")
  return logits, as_float32(labels)


def sigmoid_binary_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Multi-label BCE summed over the C classes: `-sum_k [y log s(z) + (1-y) log s(-z)]`.

  s is the sigmoid, computed in log space (`log_sigmoid`).

  Args:
    logits: float `[B, C]` independent per-class scores (or one example `[C]`); any
      float dtype, computed in float32.
    labels: float `[B, C]` targets in [0, 1] (0/1 or soft), the logits' shape.

  Returns:
    float32 `[B]` per-example loss (sum over classes; divide by C for the per-class
    mean), no reduction.

  Raises:
    LabelShapeError: labels whose shape is not the logits' shape.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # s(0) = 1/2, so each of the 3 classes costs log 2 whatever its target: 3 log 2
    >>> loss = nl.sigmoid_binary_cross_entropy(jnp.zeros((1, 3)),
    ...                                        jnp.array([[1.0, 0.0, 1.0]]))
    >>> print(f"{float(loss[0]):.4f}")
    2.0794
  """
  logits, labels = multi_label_inputs(logits, labels)
  return -jnp.sum(labels * jax.nn.log_sigmoid(logits) +
                  (1.0 - labels) * jax.nn.log_sigmoid(-logits), axis=-1)


def binary_cross_entropy(probs: jax.Array, labels: jax.Array, *, eps: float = 1e-7) -> jax.Array:
  """Multi-label BCE of probabilities (not logits), summed over the C classes.

  For models whose noisy-label probability is a mixture (noise adaptation layers, ICNM):
  `-sum_k [y log p + (1-y) log(1-p)]` with p clipped to [eps, 1 - eps] in float32 (in
  bfloat16 the clip would round back to 1).

  Args:
    probs: float `[B, C]` per-class probabilities in [0, 1] (or one example `[C]`); any
      float dtype, computed in float32.
    labels: float `[B, C]` targets in [0, 1] (0/1 or soft), the probs' shape.
    eps: the clip of p away from 0 and 1 (default 1e-7), so that the loss stays finite.

  Returns:
    float32 `[B]` per-example loss (sum over classes), no reduction.

  Raises:
    LabelShapeError: labels whose shape is not the probs' shape.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # -log 0.5 - log(1 - 0.8) = log 2 + log 5 = log 10
    >>> loss = nl.binary_cross_entropy(jnp.array([[0.5, 0.8]]), jnp.array([[1.0, 0.0]]))
    >>> print(f"{float(loss[0]):.4f}")
    2.3026
    >>> # p = 0 with target 1 is clipped to eps: -log(1e-7) = 7 log 10
    >>> loss = nl.binary_cross_entropy(jnp.array([[0.0]]), jnp.array([[1.0]]))
    >>> print(f"{float(loss[0]):.4f}")
    16.1181
  """
  probs, labels = multi_label_inputs(probs, labels)
  p = jnp.clip(probs, eps, 1.0 - eps)
  return -jnp.sum(labels * jnp.log(p) + (1.0 - labels) * jnp.log1p(-p), axis=-1)
