"""The noise-type model of Xiao et al. (CVPR 2015): EM posteriors and the estimate of C.

Latent true label y (L classes) and noise type z in {0: noise-free, 1: pure random,
2: confusing}: `p(y~ | y, z) = [y~ = y]` if z = 0, `[y~ != y] / (L - 1)` if z = 1,
`C[y~, y]` if z = 2 (Eq. 1). C is stored as in the authors' code, `C[noisy, true]`:
columns sum to 1, zero diagonal. `transition_from_confusion` converts it to the library's
`T[true, noisy]`.
"""

import jax
import jax.numpy as jnp
import numpy as np

NOISE_FREE, RANDOM, CONFUSING = 0, 1, 2


def transition_from_confusion(c: np.ndarray) -> np.ndarray:
  """Xiao's column-stochastic `C[noisy, true]` -> row-stochastic `T[true, noisy]`."""
  return np.asarray(c).T


def log_noisy_label_likelihood(noisy: jax.Array, confusion: jax.Array) -> jax.Array:
  """`log p(y~ | y, z)` for every y and z: `[B, L, 3]` (-inf where impossible).

  Args:
    noisy: `[B]` integer noisy labels.
    confusion: `[L, L]` `C[noisy, true]`.
  """
  num_classes = confusion.shape[0]
  same = jax.nn.one_hot(noisy, num_classes, dtype=jnp.float32)          # [B, L]: y == y~
  free = jnp.log(same)
  random = jnp.log((1.0 - same) / (num_classes - 1))
  confusing = jnp.log(confusion[noisy])                                   # row y~ of C: [B, L]
  return jnp.stack([free, random, confusing], axis=-1)


def posterior(log_py: jax.Array, log_pz: jax.Array, noisy: jax.Array,
              confusion: jax.Array) -> jax.Array:
  """E-step (Eq. 5): `q(y, z | y~, x) ∝ p(y~ | y, z) p(y | x) p(z | x)`, in log space.

  Args:
    log_py: `[B, L]` log p(y | x).
    log_pz: `[B, 3]` log p(z | x).
    noisy: `[B]` noisy labels.
    confusion: `[L, L]` `C[noisy, true]`.

  Returns:
    `[B, L, 3]` posteriors (each example's entries sum to 1), without gradient.
  """
  joint = (log_noisy_label_likelihood(noisy, confusion) + log_py[:, :, None]
           + log_pz[:, None, :])
  norm = jax.nn.logsumexp(joint, axis=(1, 2), keepdims=True)
  return jax.lax.stop_gradient(jnp.exp(joint - norm))


def m_step_losses(log_py: jax.Array, log_pz: jax.Array, q: jax.Array) -> tuple[jax.Array,
                                                                               jax.Array]:
  """M-step (Eq. 7): per-example CE of p(y|x) against `sum_z q` and of p(z|x) against
  `sum_y q` (q constant). Returns `([B], [B])`."""
  return -jnp.sum(q.sum(2) * log_py, axis=-1), -jnp.sum(q.sum(1) * log_pz, axis=-1)


def pair_counts(true: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
  """`m[noisy, true]`: counts of the pairs, diagonal (y~ = y) dropped. O(N')."""
  m = np.bincount(np.asarray(noisy) * num_classes + np.asarray(true),
                  minlength=num_classes * num_classes).reshape(num_classes, num_classes)
  np.fill_diagonal(m, 0)
  return m.astype(np.float64)


def estimate_confusion(true: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
  """Closed-form estimate of C (Section 3.2, Eq. 8-14) from pairs with clean and noisy labels.

  Per true class (column), with the counts of its wrong noisy labels sorted
  `m_1 >= ... >= m_{L-1}`: for each `k*` the best C has `c_i = m_i / sum_{k<=k*} m_k`
  on the top k* entries and 0 elsewhere (the rest explained as random noise, alpha =
  1/(L-1)), scoring `E = sum_{k<=k*} m_k log c_k + sum_{k>k*} m_k log alpha`; the best k*
  wins. A class with no wrong labels gets a uniform column (alpha off the diagonal).
  O(N' + L^2 log L).

  Returns:
    `[L, L]` `C[noisy, true]`, columns summing to 1, zero diagonal.
  """
  num = num_classes
  alpha = 1.0 / (num - 1)
  m = pair_counts(true, noisy, num)
  c = np.zeros((num, num))
  for j in range(num):
    others = np.delete(np.arange(num), j)
    counts = m[others, j]
    total = counts.sum()
    if total == 0:
      c[others, j] = alpha
      continue
    order = np.argsort(-counts, kind="stable")
    s = counts[order]
    cum = np.cumsum(s)
    mlogm = np.cumsum(np.where(s > 0, s * np.log(np.where(s > 0, s, 1.0)), 0.0))
    # E(k) = sum_{i<=k} m_i log m_i - S_k log S_k + (total - S_k) log alpha
    with np.errstate(divide="ignore", invalid="ignore"):
      energy = mlogm - np.where(cum > 0, cum * np.log(cum), 0.0) + (total - cum) * np.log(alpha)
    energy[s == 0] = -np.inf  # never keep an entry with no count
    k = int(np.argmax(energy)) + 1
    c[others[order[:k]], j] = s[:k] / cum[k - 1]
  return c


def optimal_noise_type(true: np.ndarray, noisy: np.ndarray, confusion: np.ndarray) -> np.ndarray:
  """The z of Eq. 8 for labelled pairs: noise-free if y~ = y, else random if
  `C[y~, y] <= 1/(L-1)`, else confusing. `[N]` int."""
  alpha = 1.0 / (confusion.shape[0] - 1)
  z = np.where(np.asarray(confusion)[noisy, true] > alpha, CONFUSING, RANDOM)
  return np.where(np.asarray(noisy) == np.asarray(true), NOISE_FREE, z).astype(np.int32)
