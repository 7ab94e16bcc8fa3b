"""Noise-robust per-example losses. `logits [B, C]` (or `[C]`), `labels [B, C]` target
rows or integer `[B]` -> `[B]` float32 (see `nlx.losses.classification` for the label
forms and the float32 rule).

Labels may be one-hot or soft; for a soft label each loss is the label-weighted sum of
its one-hot values (so all agree with the papers on one-hot labels). Where a paper and
its authors' code differ, the default is the paper's and a keyword gives the code's;
each docstring says which is which.
"""

import jax
import jax.numpy as jnp

from nlx.losses.classification import (
  multi_label_inputs,
  prepare,
  sigmoid_binary_cross_entropy,
  softmax_cross_entropy,
)

# log(1e-4): the authors' code of SCE and APL clamps the one-hot label at 1e-4 before the
# log in RCE, i.e. A = log 0 := log(1e-4) = -9.21 (the SCE paper's text uses A = -4).
OFFICIAL_LOG_ZERO = -9.210340371976182


def bootstrap_soft(logits: jax.Array, labels: jax.Array, *, beta: float = 0.95) -> jax.Array:
  """Soft bootstrapping (Reed et al., ICLR 2015 workshop), per example.

  `-sum_k [beta * y_k + (1 - beta) * p_k] log p_k`, p = softmax(logits), with gradient
  through both terms as in the paper, where it is CE plus (1 - beta) times a
  minimum-entropy regulariser. (Reed et al. published no code; the Keras `boot_soft` of
  giorgiop/loss-correction and of the SCE repository compute the same, clipping p to
  [1e-7, 1 - 1e-7].)

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).
    beta: weight of the given label against the model's own prediction (default 0.95,
      the paper's); beta = 1 is plain CE.

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # p = (1/2, 1/4, 1/4), label 0: 0.95 (-log 1/2) + 0.05 H(p), where the entropy
    >>> # H(p) = 1/2 log 2 + 1/2 log 4 = 1.5 log 2; in all 1.025 log 2
    >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
    >>> loss = nl.bootstrap_soft(logits, jnp.array([0]))
    >>> print(f"{float(loss[0]):.4f}")
    0.7105
  """
  logits, labels = prepare(logits, labels)
  log_p = jax.nn.log_softmax(logits, axis=-1)
  target = beta * labels + (1.0 - beta) * jnp.exp(log_p)
  return -jnp.sum(target * log_p, axis=-1)


def bootstrap_hard(logits: jax.Array, labels: jax.Array, *, beta: float = 0.8) -> jax.Array:
  """Hard bootstrapping (Reed et al., 2015), per example.

  `-sum_k [beta * y_k + (1 - beta) * z_k] log p_k`, z = one-hot argmax of p (as the SCE
  repository's Keras `boot_hard`, which also clips p to [1e-7, 1 - 1e-7]).

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).
    beta: weight of the given label against the model's argmax class (default 0.8, the
      paper's); beta = 1 is plain CE.

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # p = (1/2, 1/4, 1/4), argmax 0, label 1: 0.8 log 4 + 0.2 log 2 = 1.8 log 2
    >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
    >>> loss = nl.bootstrap_hard(logits, jnp.array([1]))
    >>> print(f"{float(loss[0]):.4f}")
    1.2477
  """
  logits, labels = prepare(logits, labels)
  log_p = jax.nn.log_softmax(logits, axis=-1)
  z = jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1], dtype=log_p.dtype)
  return -jnp.sum((beta * labels + (1.0 - beta) * z) * log_p, axis=-1)


def _per_class_gce(log_p: jax.Array, q: float) -> jax.Array:
  # p^q as exp(q log p): finite gradients even where p underflows to 0.
  return -jnp.expm1(q * log_p) / q  # expm1: exact as q -> 0 (the CE limit)


def generalized_cross_entropy(logits: jax.Array, labels: jax.Array, *, q: float = 0.7) -> jax.Array:
  """GCE / L_q loss (Zhang & Sabuncu, NeurIPS 2018): `(1 - p_y^q) / q`, per example.

  Paper and authors' code (AlanChou/Truncated-Loss) agree; the APL code clamps p at 1e-7
  first. Computed as `-expm1(q log p_y) / q`: exact as q -> 0, finite gradients even
  where p_y underflows.

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).
    q: the exponent, in (0, 1] (default 0.7, the paper's). q -> 0 gives CE, q = 1 gives
      MAE / 2 (`1 - p_y`).

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # uniform over C = 4, so p_y = 1/4; q = 1/2: (1 - (1/4)^(1/2)) / (1/2) = 1
    >>> loss = nl.generalized_cross_entropy(jnp.zeros((1, 4)), jnp.array([0]), q=0.5)
    >>> print(f"{float(loss[0]):.4f}")
    1.0000
    >>> # p_y = 1/2 and the default q = 0.7: (1 - 0.5 ** 0.7) / 0.7
    >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
    >>> loss = nl.generalized_cross_entropy(logits, jnp.array([0]))
    >>> print(f"{float(loss[0]):.4f}")
    0.5492
  """
  logits, labels = prepare(logits, labels)
  return jnp.sum(labels * _per_class_gce(jax.nn.log_softmax(logits, axis=-1), q), axis=-1)


def truncated_generalized_cross_entropy(logits: jax.Array, labels: jax.Array, *, q: float = 0.7,
                                        k: float = 0.5,
                                        weights: jax.Array | None = None) -> jax.Array:
  """Truncated L_q (Zhang & Sabuncu, 2018), per example; `L_q` is `generalized_cross_entropy`.

  Without `weights` (the paper's truncated loss as written): `L_q(p_y)` if `p_y > k`, else
  the constant `L_q(k)` (no gradient). From a random start every `p_y < k` once C > 1/k,
  so this form alone never trains: use `weights`.

  With `weights [B]` in [0, 1] (the paper's alternating pruning, as in the authors' code,
  AlanChou/Truncated-Loss `TruncatedLoss.py`): `w L_q(p_y) + (1 - w) L_q(k)`, where w
  is each example's weight, 1 at the start and set to `[p_y > k]` at pruning epochs by
  the method (`nlx.methods.robust_loss`). The authors' code returns
  `w (L_q(p_y) - L_q(k))`: the same gradient, values lower by the constant `L_q(k)`.

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).
    q: the L_q exponent, in (0, 1] (default 0.7, the paper's).
    k: the truncation threshold on p_y, in (0, 1) (default 0.5, the paper's).
    weights: float `[B]` per-example weights in [0, 1] (a scalar for one example), or
      None (default) for the truncated loss as written.

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # uniform over C = 4: p_y = 1/4 < k = 1/2, so the constant
    >>> # L_q(k) = (1 - (1/2)^(1/2)) / (1/2) = 2 - sqrt(2)
    >>> logits, labels = jnp.zeros((1, 4)), jnp.array([0])
    >>> loss = nl.truncated_generalized_cross_entropy(logits, labels, q=0.5)
    >>> print(f"{float(loss[0]):.4f}")
    0.5858
    >>> # weight 1 keeps the example: L_q(1/4) = (1 - (1/4)^(1/2)) / (1/2) = 1
    >>> loss = nl.truncated_generalized_cross_entropy(logits, labels, q=0.5,
    ...                                               weights=jnp.array([1.0]))
    >>> print(f"{float(loss[0]):.4f}")
    1.0000
  """
  logits, labels = prepare(logits, labels)
  log_p = jax.nn.log_softmax(logits, axis=-1)
  floor = (1.0 - k ** q) / q
  lq = _per_class_gce(log_p, q)
  if weights is None:
    per_class = jnp.where(log_p > jnp.log(k), lq, floor)
  else:
    w = jnp.asarray(weights, jnp.float32)[..., None]
    per_class = w * lq + (1.0 - w) * floor
  return jnp.sum(labels * per_class, axis=-1)


def reverse_cross_entropy(logits: jax.Array, labels: jax.Array, *,
                          log_zero: float = -4.0) -> jax.Array:
  """Reverse CE `-sum_k p_k log y_k` with `log 0` replaced by `log_zero` = A, per example.

  For one-hot y this is `-A (1 - p_y)`. Every official implementation (the SCE
  repository's Keras `loss.py`, HanxunH/Active-Passive-Losses `loss.py`) clamps the
  labels at 1e-4, i.e. A = log(1e-4) = -9.21 (`OFFICIAL_LOG_ZERO`): a 2.3x larger term.
  They also clamp p at 1e-7, which adds at most `(C - 1) * 1e-7 * |A|`; nlx does not.

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).
      A soft label enters as `max(log y_k, A)`.
    log_zero: A, the value that stands for `log 0` (default -4: the SCE paper, Wang et
      al., ICCV 2019); `OFFICIAL_LOG_ZERO` for the official code's.

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # uniform over C = 4, label 0: -A (1 - p_y) = 4 * 3/4
    >>> logits, labels = jnp.zeros((1, 4)), jnp.array([0])
    >>> loss = nl.reverse_cross_entropy(logits, labels)
    >>> print(f"{float(loss[0]):.4f}")
    3.0000
    >>> # the official A = log(1e-4): 3/4 * log(1e4) = 3 log 10
    >>> loss = nl.reverse_cross_entropy(logits, labels, log_zero=nl.OFFICIAL_LOG_ZERO)
    >>> print(f"{float(loss[0]):.4f}")
    6.9078
  """
  logits, labels = prepare(logits, labels)
  p = jax.nn.softmax(logits, axis=-1)
  log_y = jnp.maximum(jnp.log(jnp.maximum(labels, 1e-30)), log_zero)
  return -jnp.sum(p * log_y, axis=-1)


def symmetric_cross_entropy(logits: jax.Array, labels: jax.Array, *, alpha: float = 0.1,
                            beta: float = 1.0, log_zero: float = -4.0) -> jax.Array:
  """Symmetric learning / SCE (Wang et al., ICCV 2019): `alpha * CE + beta * RCE`.

  Defaults are the paper's CIFAR-10 values (alpha 0.1, beta 1.0, A = -4); the official
  code's RCE uses A = log(1e-4) (`log_zero=OFFICIAL_LOG_ZERO`), see
  `reverse_cross_entropy`.

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).
    alpha: weight of the CE term (default 0.1).
    beta: weight of the RCE term (default 1.0).
    log_zero: RCE's A, the value that stands for `log 0` (default -4, the paper's).

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # uniform over C = 4, label 0: 0.1 * log 4 + 1.0 * 4 * 3/4
    >>> loss = nl.symmetric_cross_entropy(jnp.zeros((1, 4)), jnp.array([0]))
    >>> print(f"{float(loss[0]):.4f}")
    3.1386
  """
  logits, labels = prepare(logits, labels)
  return (alpha * softmax_cross_entropy(logits, labels) +
          beta * reverse_cross_entropy(logits, labels, log_zero=log_zero))


def taylor_cross_entropy(logits: jax.Array, labels: jax.Array, *, order: int = 2) -> jax.Array:
  """Taylor cross-entropy (Feng et al., IJCAI 2020): `sum_{k=1..t} (1 - p_y)^k / k`.

  The order-t Taylor series of `-log p_y` around `p_y = 1`. (Not "Taylor-softmax", which
  expands exp in the softmax.)

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).
    order: t, the number of terms, a positive int (default 2): t = 1 is MAE / 2, large t
      approaches CE.

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # p_y = 1/2: 1/2 + (1/2)^2 / 2 = 0.625; order 3 adds (1/2)^3 / 3
    >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
    >>> loss = nl.taylor_cross_entropy(logits, jnp.array([0]))
    >>> print(f"{float(loss[0]):.4f}")
    0.6250
    >>> loss = nl.taylor_cross_entropy(logits, jnp.array([0]), order=3)
    >>> print(f"{float(loss[0]):.4f}")
    0.6667
  """
  logits, labels = prepare(logits, labels)
  p = jax.nn.softmax(logits, axis=-1)
  one_minus = 1.0 - p
  series = sum(jnp.power(one_minus, k) / k for k in range(1, order + 1))
  return jnp.sum(labels * series, axis=-1)


def mean_absolute_error(logits: jax.Array, labels: jax.Array, *,
                        reduced: bool = False) -> jax.Array:
  """MAE (Ghosh et al., AAAI 2017), per example.

  Default (the paper's L1 norm): `sum_k |p_k - y_k|`, `2 (1 - p_y)` for one-hot y.
  `reduced=True` (the APL code, HanxunH/Active-Passive-Losses `MeanAbsoluteError`):
  `1 - <p, y>`, half of it for one-hot y.

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).
    reduced: False (default) for the paper's L1 norm, True for the APL code's
      `1 - <p, y>`.

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # uniform over C = 4, label 0: |1/4 - 1| + 3 * 1/4 = 2 (1 - 1/4)
    >>> logits, labels = jnp.zeros((1, 4)), jnp.array([0])
    >>> print(f"{float(nl.mean_absolute_error(logits, labels)[0]):.4f}")
    1.5000
    >>> print(f"{float(nl.mean_absolute_error(logits, labels, reduced=True)[0]):.4f}")
    0.7500
  """
  logits, labels = prepare(logits, labels)
  p = jax.nn.softmax(logits, axis=-1)
  if reduced:
    return 1.0 - jnp.sum(labels * p, axis=-1)
  return jnp.sum(jnp.abs(p - labels), axis=-1)


def normalized_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Normalised CE (Ma et al., ICML 2020): `-sum_k y_k log p_k / -sum_j log p_j`.

  Paper and APL code agree. Uniform logits give 1/C for any label.

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # p = (1/2, 1/4, 1/4), label 0: log 2 / (log 2 + 2 log 4) = 1/5
    >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
    >>> loss = nl.normalized_cross_entropy(logits, jnp.array([0]))
    >>> print(f"{float(loss[0]):.4f}")
    0.2000
  """
  logits, labels = prepare(logits, labels)
  log_p = jax.nn.log_softmax(logits, axis=-1)
  return jnp.sum(labels * log_p, axis=-1) / jnp.sum(log_p, axis=-1)


def active_passive_loss(logits: jax.Array, labels: jax.Array, *, alpha: float = 1.0,
                        beta: float = 1.0, log_zero: float = -4.0) -> jax.Array:
  """APL NCE+RCE (Ma et al., ICML 2020): `alpha * NCE + beta * RCE`, per example.

  CIFAR-10 defaults alpha = beta = 1, RCE with `log 0 = A = -4` (the SCE paper's A); the
  APL code's RCE uses A = log(1e-4) (`log_zero=OFFICIAL_LOG_ZERO`). See
  `normalized_cross_entropy` and `reverse_cross_entropy`.

  Args:
    logits: float `[B, C]` unnormalised scores (or one example `[C]`); any float dtype,
      computed in float32.
    labels: int `[B]` class indices, or float `[B, C]` target rows (one-hot or soft).
    alpha: weight of the active NCE term (default 1.0).
    beta: weight of the passive RCE term (default 1.0).
    log_zero: RCE's A, the value that stands for `log 0` (default -4).

  Returns:
    float32 `[B]` per-example loss (a scalar for one example), no reduction.

  Raises:
    LabelShapeError: labels of any other shape, or float labels of shape `[B]`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # p = (1/2, 1/4, 1/4), label 0: NCE = 1/5, RCE = 4 (1 - 1/2) = 2
    >>> logits = jnp.log(jnp.array([[0.5, 0.25, 0.25]]))
    >>> loss = nl.active_passive_loss(logits, jnp.array([0]))
    >>> print(f"{float(loss[0]):.4f}")
    2.2000
  """
  logits, labels = prepare(logits, labels)
  return (alpha * normalized_cross_entropy(logits, labels) +
          beta * reverse_cross_entropy(logits, labels, log_zero=log_zero))


def sigmoid_bootstrap_soft(logits: jax.Array, labels: jax.Array, *,
                           beta: float = 0.95) -> jax.Array:
  """Multi-label soft bootstrapping: BCE against `beta * y + (1 - beta) * sigmoid(z)`.

  Per class, summed over classes (`sigmoid_binary_cross_entropy`); the prediction term
  keeps its gradient, as in softmax `bootstrap_soft`.

  Args:
    logits: float `[B, C]` independent per-class scores (or one example `[C]`); any
      float dtype, computed in float32.
    labels: float `[B, C]` targets in [0, 1] (0/1 or soft), the logits' shape.
    beta: weight of the given labels against the model's own sigmoid (default 0.95).

  Returns:
    float32 `[B]` per-example loss (sum over classes), no reduction.

  Raises:
    LabelShapeError: labels whose shape is not the logits' shape.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # sigmoid(+-log 3) = 3/4, 1/4; labels (1, 0) give targets (0.9875, 0.0125):
    >>> # by symmetry 2 * -(0.9875 log 3/4 + 0.0125 log 1/4)
    >>> logits = jnp.log(jnp.array([[3.0, 1 / 3]]))
    >>> loss = nl.sigmoid_bootstrap_soft(logits, jnp.array([[1.0, 0.0]]))
    >>> print(f"{float(loss[0]):.4f}")
    0.6028
  """
  logits, labels = multi_label_inputs(logits, labels)
  return sigmoid_binary_cross_entropy(logits, beta * labels + (1.0 - beta) * jax.nn.sigmoid(logits))


def sigmoid_bootstrap_hard(logits: jax.Array, labels: jax.Array, *, beta: float = 0.8) -> jax.Array:
  """Multi-label hard bootstrapping: BCE against `beta * y + (1 - beta) * [sigmoid(z) > 0.5]`.

  Per class, summed over classes (`sigmoid_binary_cross_entropy`); the inputs, output and
  errors are `sigmoid_bootstrap_soft`'s.

  Args:
    logits: float `[B, C]` (or `[C]`), per-class scores.
    labels: float `[B, C]` targets in [0, 1].
    beta: weight of the given labels against the model's thresholded prediction
      (default 0.8).

  Returns:
    float32 `[B]`, summed over classes.

  Raises:
    LabelShapeError: as `sigmoid_bootstrap_soft`.

  Examples:
    >>> import jax.numpy as jnp
    >>> import nlx.losses as nl
    >>> # sigmoid(+-log 3) = 3/4, 1/4; labels (0, 0) give targets (0.2, 0):
    >>> # -(0.2 log 3/4 + 0.8 log 1/4) - log 3/4
    >>> logits = jnp.log(jnp.array([[3.0, 1 / 3]]))
    >>> loss = nl.sigmoid_bootstrap_hard(logits, jnp.array([[0.0, 0.0]]))
    >>> print(f"{float(loss[0]):.4f}")
    1.4543
  """
  logits, labels = multi_label_inputs(logits, labels)
  z = (logits > 0).astype(logits.dtype)
  return sigmoid_binary_cross_entropy(logits, beta * labels + (1.0 - beta) * z)
