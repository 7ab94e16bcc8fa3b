"""ARNet's external memory: prototypes C `[L, d]` with soft labels G `[L, K]`.

Read (Eq. 1): `p_ij = softmax_j(cos(h_i, c_j) / tau)`, `v_i = sum_j p_ij g_j`.
Write (Eq. 5): `g_j <- beta g_j + (1 - beta) * sum_i q_ij r_i / sum_i q_ij`.
`normalized_entropy` measures how far a read (or an assignment) is from uniform.
"""

import jax
import jax.numpy as jnp


def l2_normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
  return x * jax.lax.rsqrt(jnp.maximum(jnp.sum(x * x, axis=axis, keepdims=True), eps * eps))


def cosine_scores(features: jax.Array, prototypes: jax.Array) -> jax.Array:
  """`[B, d] x [L, d] -> [B, L]` cosine similarities."""
  return l2_normalize(features) @ l2_normalize(prototypes).T


def memory_read(features: jax.Array, prototypes: jax.Array, proto_labels: jax.Array, *,
                temperature: float = 1.0) -> tuple[jax.Array, jax.Array]:
  """Returns `(log_p [B, L], v [B, K])`: the log attention over prototypes and the
  aggregated soft label. Eq. 1 of ARNet has no temperature (tau = 1)."""
  return read_scores(cosine_scores(features, prototypes), proto_labels, temperature=temperature)


def read_scores(cosines: jax.Array, proto_labels: jax.Array, *,
                temperature: float = 1.0) -> tuple[jax.Array, jax.Array]:
  """`memory_read` from the cosines `[B, L]` already computed."""
  log_p = jax.nn.log_softmax(cosines / temperature, axis=-1)
  return log_p, jnp.exp(log_p) @ proto_labels


def normalized_entropy(probs: jax.Array) -> jax.Array:
  """`H(p) / log n` of each row of `[..., n]` distributions: 1 for uniform, 0 for one-hot
  (zero entries contribute 0; rows that do not sum to 1 are taken as given)."""
  return jnp.sum(jax.scipy.special.entr(probs), axis=-1) / jnp.log(probs.shape[-1])


def refine_targets(predictions: jax.Array, aggregated: jax.Array, lam: float) -> jax.Array:
  """`t = (1 - lam) r + lam v`, a constant target (stop-gradient)."""
  return jax.lax.stop_gradient((1.0 - lam) * predictions + lam * aggregated)


def update_prototype_labels(proto_labels: jax.Array, assignment: jax.Array,
                            predictions: jax.Array, *, beta: float = 0.8,
                            axis_name=None) -> jax.Array:
  """EMA of the assignment-weighted mean prediction of each prototype's samples.

  `g_j <- beta g_j + (1 - beta) sum_i q_ij r_i / sum_i q_ij`; a prototype with no mass
  in the batch keeps its label. Rows of g stay distributions when r's rows are.

  Args:
    proto_labels: `[L, K]`.
    assignment: `[B, L]` Sinkhorn assignment q.
    predictions: `[B, K]` softmax predictions r (treated as constants).
    axis_name: mapped axis the batch is split over, or None.
  """
  q = jax.lax.stop_gradient(assignment)
  r = jax.lax.stop_gradient(predictions)
  num = q.T @ r
  den = jnp.sum(q, axis=0)[:, None]
  if axis_name is not None:
    num, den = jax.lax.psum(num, axis_name), jax.lax.psum(den, axis_name)
  mean = num / jnp.where(den > 0, den, 1.0)
  return jnp.where(den > 0, beta * proto_labels + (1.0 - beta) * mean, proto_labels)


def push_to_cache(cache: jax.Array, count: jax.Array, position: jax.Array, rows: jax.Array):
  """Ring buffer of the last `S` rows: `[S, d]`, written at slots `position`,
  `position + 1`, ... (mod S), so no row moves once written. Returns `(cache, count,
  position)`: count = number of filled slots (saturates at S; started at 0 with position
  0, the filled slots are the first `count`), position = the next slot to write. A push
  of S rows or more keeps its last S."""
  size, b = cache.shape[0], rows.shape[0]
  rows = jax.lax.stop_gradient(rows).astype(cache.dtype)
  if b >= size:
    return rows[b - size:], jnp.full_like(count, size), jnp.zeros_like(position)
  slots = (position + jnp.arange(b, dtype=position.dtype)) % size
  return (cache.at[slots].set(rows, unique_indices=True), jnp.minimum(count + b, size),
          (position + b) % size)
