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
  """Soft bootstrapping (Reed et al., ICLR 2015 workshop), beta = 0.95.

  `-sum_k [beta * y_k + (1 - beta) * p_k] log p_k`, with gradient through both terms as
  in the paper, where it is CE plus (1 - beta) times a minimum-entropy regulariser.
  beta = 1 is plain CE. (Reed et al. published no code; the Keras `boot_soft` of
  giorgiop/loss-correction and of the SCE repository compute the same, clipping p to
  [1e-7, 1 - 1e-7].)
  """
  logits, labels = prepare(logits, labels)
  log_p = jax.nn.log_softmax(logits, axis=-1)
  target = beta * labels + (1.0 - beta) * jnp.exp(log_p)
  return -jnp.sum(target * log_p, axis=-1)


def bootstrap_hard(logits: jax.Array, labels: jax.Array, *, beta: float = 0.8) -> jax.Array:
  """Hard bootstrapping (Reed et al., 2015), beta = 0.8:
  `-sum_k [beta * y_k + (1 - beta) * z_k] log p_k`, z = one-hot argmax of p (as the SCE
  repository's Keras `boot_hard`, which also clips p to [1e-7, 1 - 1e-7])."""
  logits, labels = prepare(logits, labels)
  log_p = jax.nn.log_softmax(logits, axis=-1)
  z = jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1], dtype=log_p.dtype)
  return -jnp.sum((beta * labels + (1.0 - beta) * z) * log_p, axis=-1)


def _per_class_gce(log_p: jax.Array, q: float) -> jax.Array:
  # p^q as exp(q log p): finite gradients even where p underflows to 0.
  return -jnp.expm1(q * log_p) / q  # expm1: exact as q -> 0 (the CE limit)


def generalized_cross_entropy(logits: jax.Array, labels: jax.Array, *, q: float = 0.7) -> jax.Array:
  """GCE / L_q loss (Zhang & Sabuncu, NeurIPS 2018), q = 0.7: `(1 - p_y^q) / q`.

  q -> 0 gives CE, q = 1 gives MAE / 2 (`1 - p_y`). Paper and authors' code
  (AlanChou/Truncated-Loss) agree; the APL code clamps p at 1e-7 first.
  """
  logits, labels = prepare(logits, labels)
  return jnp.sum(labels * _per_class_gce(jax.nn.log_softmax(logits, axis=-1), q), axis=-1)


def truncated_generalized_cross_entropy(logits: jax.Array, labels: jax.Array, *, q: float = 0.7,
                                        k: float = 0.5,
                                        weights: jax.Array | None = None) -> jax.Array:
  """Truncated L_q (Zhang & Sabuncu, 2018), q = 0.7, k = 0.5.

  Without `weights` (the paper's truncated loss as written): `L_q(p_y)` if `p_y > k`, else the
  constant `L_q(k)` (no gradient). From a random start every `p_y < k` once C > 1/k,
  so this form alone never trains: use `weights`.

  With `weights [B]` in [0, 1] (the paper's alternating pruning, as in the authors' code,
  AlanChou/Truncated-Loss `TruncatedLoss.py`): `w L_q(p_y) + (1 - w) L_q(k)`, where w
  is each example's weight, 1 at the start and set to `[p_y > k]` at pruning epochs by
  the method (`nlx.methods.robust_loss`). The authors' code returns
  `w (L_q(p_y) - L_q(k))`: the same gradient, values lower by the constant `L_q(k)`.
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


def reverse_cross_entropy(logits: jax.Array, labels: jax.Array, *, log_zero: float = -4.0) -> jax.Array:
  """Reverse CE `-sum_k p_k log y_k` with `log 0` replaced by `log_zero` = A.

  For one-hot y this is `-A (1 - p_y)`. Default A = -4: the SCE paper (Wang et al.,
  ICCV 2019). Every official implementation (the SCE repository's Keras `loss.py`,
  HanxunH/Active-Passive-Losses `loss.py`) clamps the labels at 1e-4, i.e.
  A = log(1e-4) = -9.21 (`OFFICIAL_LOG_ZERO`): a 2.3x larger term. They also clamp p at
  1e-7, which adds at most `(C - 1) * 1e-7 * |A|`; nlx does not.
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
  """
  logits, labels = prepare(logits, labels)
  return (alpha * softmax_cross_entropy(logits, labels) +
          beta * reverse_cross_entropy(logits, labels, log_zero=log_zero))


def taylor_cross_entropy(logits: jax.Array, labels: jax.Array, *, order: int = 2) -> jax.Array:
  """Taylor cross-entropy (Feng et al., IJCAI 2020): `sum_{k=1..t} (1 - p_y)^k / k`.

  The order-t Taylor series of `-log p_y` around `p_y = 1`: t = 1 is MAE / 2, large t
  approaches CE. (Not "Taylor-softmax", which expands exp in the softmax.) Default t = 2.
  """
  logits, labels = prepare(logits, labels)
  p = jax.nn.softmax(logits, axis=-1)
  one_minus = 1.0 - p
  series = sum(jnp.power(one_minus, k) / k for k in range(1, order + 1))
  return jnp.sum(labels * series, axis=-1)


def mean_absolute_error(logits: jax.Array, labels: jax.Array, *, reduced: bool = False) -> jax.Array:
  """MAE (Ghosh et al., AAAI 2017).

  Default (the paper's L1 norm): `sum_k |p_k - y_k|`, `2 (1 - p_y)` for one-hot y.
  `reduced=True` (the APL code, HanxunH/Active-Passive-Losses `MeanAbsoluteError`):
  `1 - <p, y>`, half of it for one-hot y.
  """
  logits, labels = prepare(logits, labels)
  p = jax.nn.softmax(logits, axis=-1)
  if reduced:
    return 1.0 - jnp.sum(labels * p, axis=-1)
  return jnp.sum(jnp.abs(p - labels), axis=-1)


def normalized_cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
  """Normalised CE (Ma et al., ICML 2020): `-sum_k y_k log p_k / -sum_j log p_j`
  (paper and APL code agree)."""
  logits, labels = prepare(logits, labels)
  log_p = jax.nn.log_softmax(logits, axis=-1)
  return jnp.sum(labels * log_p, axis=-1) / jnp.sum(log_p, axis=-1)


def active_passive_loss(logits: jax.Array, labels: jax.Array, *, alpha: float = 1.0,
                        beta: float = 1.0, log_zero: float = -4.0) -> jax.Array:
  """APL NCE+RCE (Ma et al., ICML 2020): `alpha * NCE + beta * RCE`, CIFAR-10 defaults
  alpha = beta = 1, RCE with `log 0 = A = -4` (the SCE paper's A); the APL code's RCE
  uses A = log(1e-4) (`log_zero=OFFICIAL_LOG_ZERO`)."""
  logits, labels = prepare(logits, labels)
  return (alpha * normalized_cross_entropy(logits, labels) +
          beta * reverse_cross_entropy(logits, labels, log_zero=log_zero))


def sigmoid_bootstrap_soft(logits: jax.Array, labels: jax.Array, *, beta: float = 0.95) -> jax.Array:
  """Multi-label soft bootstrapping: BCE against `beta * y + (1 - beta) * sigmoid(z)`
  (per class, summed over classes; the prediction term keeps its gradient, as in softmax
  `bootstrap_soft`). `labels` have the logits' shape."""
  logits, labels = multi_label_inputs(logits, labels)
  return sigmoid_binary_cross_entropy(logits, beta * labels + (1.0 - beta) * jax.nn.sigmoid(logits))


def sigmoid_bootstrap_hard(logits: jax.Array, labels: jax.Array, *, beta: float = 0.8) -> jax.Array:
  """Multi-label hard bootstrapping: BCE against `beta * y + (1 - beta) * [sigmoid(z) > 0.5]`."""
  logits, labels = multi_label_inputs(logits, labels)
  z = (logits > 0).astype(logits.dtype)
  return sigmoid_binary_cross_entropy(logits, beta * labels + (1.0 - beta) * z)
