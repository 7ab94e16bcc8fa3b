"""Sinkhorn-Knopp assignment of samples to prototypes (SwAV's `distributed_sinkhorn`).

Works on one device or inside `shard_map`/`pmap` with the batch split over `axis_name`:
every sum over samples is `psum`-ed, so each device gets its rows of the assignment
that one device would compute on the whole batch.
"""

import jax
import jax.numpy as jnp


def _psum(x, axis_name):
  return x if axis_name is None else jax.lax.psum(x, axis_name)


def _pmax(x, axis_name):
  return x if axis_name is None else jax.lax.pmax(x, axis_name)


def sinkhorn_assignment(scores: jax.Array, *, epsilon: float = 0.05, num_iters: int = 3,
                        valid: jax.Array | None = None, axis_name=None) -> jax.Array:
  """Soft assignment Q maximising `Tr(Q^T scores) + epsilon * H(Q)` with equipartition.

  `Q = exp(scores / epsilon)` (the global max subtracted first, for stability), then
  `num_iters` rounds of: every prototype's total mass -> 1/L, every sample's -> 1/B
  (B = number of valid samples over all devices); finally rows are scaled by B so that
  each sample's assignment sums to 1. No gradient flows through Q.

  Args:
    scores: `[B_local, L]` similarities (e.g. cosines of L2-normalised features and
      prototypes).
    epsilon: entropy weight (xi; 0.05 in SwAV and ARNet).
    num_iters: alternating normalisations (3).
    valid: optional `[B_local]` bool; invalid rows (e.g. empty cache slots) get zero
      mass and do not count in B.
    axis_name: mapped axis the samples are split over, or None.

  Returns:
    `[B_local, L]` assignment, rows summing to 1 (0 for invalid rows).
  """
  scores = jax.lax.stop_gradient(scores.astype(jnp.float32))
  num_protos = scores.shape[1]
  mask = jnp.ones(scores.shape[0], bool) if valid is None else valid
  top = _pmax(jnp.max(jnp.where(mask[:, None], scores, -jnp.inf)), axis_name)
  q = jnp.where(mask[:, None], jnp.exp((scores - top) / epsilon), 0.0)
  total = _psum(jnp.sum(mask).astype(jnp.float32), axis_name)
  q = q / _psum(jnp.sum(q), axis_name)
  for _ in range(num_iters):
    q = q / _psum(jnp.sum(q, axis=0, keepdims=True), axis_name) / num_protos
    row = jnp.sum(q, axis=1, keepdims=True)
    q = jnp.where(mask[:, None], q / jnp.where(row > 0, row, 1.0), 0.0) / total
  return q * total
