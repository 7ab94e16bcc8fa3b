"""Sinkhorn-Knopp assignment of samples to prototypes (SwAV's `distributed_sinkhorn`).

Works on one device or inside `shard_map`/`pmap` with the batch split over `axis_name`:
every sum over samples is `psum`-ed, so each device gets its rows of the assignment
that one device would compute on the whole batch.

SwAV normalises Q's columns, then its rows, `num_iters` times, rewriting Q each time.
Every such Q is `diag(a) K diag(b)` (K the exponentiated scores), so this keeps the two
scale vectors instead: a round is two matrix-vector products, `b_j = 1 / (L sum_i K_ij a_i)`
and `a_i = 1 / (B sum_j K_ij b_j)`, and the returned rows are formed once, at the end.
The same Q as SwAV's in exact arithmetic; in float32 another rounding (the tests compare
both with SwAV's code in float64). As in SwAV's own code, epsilon must keep exp(-range /
epsilon) in float32's range: on cosines (range 2) epsilon above about 0.025; below it the
smallest entries underflow and both forms lose the prototypes they held.

`bound`: scores with a known upper bound (cosines: 1) are shifted by it rather than by
their maximum, which the exponentials do not need in exact arithmetic (Q is the same for
any shift): the maximum over the batch and a queue took about half the assignment's time
on a CPU (ARNet's 128 + 1,000 rows; experiments/results/README.md, Speed). The range
condition above is then on `bound - min(scores)`, for cosines the same 2.
"""

import math

import jax
import jax.numpy as jnp


def _psum(x, axis_name):
  return x if axis_name is None else jax.lax.psum(x, axis_name)


def _pmax(x, axis_name):
  return x if axis_name is None else jax.lax.pmax(x, axis_name)


def _positive_inverse(x, scale):
  """`1 / (scale x)` where x > 0, else 0 (a row or column with no mass keeps none); x
  floored at float32's smallest normal number, so that the scale stays finite."""
  return jnp.where(x > 0, 1.0 / (scale * jnp.maximum(x, jnp.finfo(jnp.float32).tiny)), 0.0)


def sinkhorn_assignment(scores: jax.Array, *, epsilon: float = 0.05, num_iters: int = 3,
                        valid: jax.Array | None = None, queue: jax.Array | None = None,
                        queue_valid: jax.Array | None = None, axis_name=None,
                        bound: float | None = None) -> jax.Array:
  """Soft assignment Q maximising `Tr(Q^T scores) + epsilon * H(Q)` with equipartition.

  `Q = exp(scores / epsilon)` (the global max, or `bound`, subtracted first), then
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
    queue: optional `[S, L]` scores of more samples (SwAV's queue of past features,
      ARNet's cache) that take part in every normalisation, and in B, as the rows of
      `scores` do, but whose assignment is not returned; with `axis_name`, each device's
      own queue (summed like its batch rows).
    queue_valid: optional `[S]` bool, the queue's `valid`.
    axis_name: mapped axis the samples are split over, or None.
    bound: optional upper bound of every valid score (1 for cosines), subtracted in
      place of their maximum (no max reduction, no `pmax`); the scores may not exceed it
      (by more than rounding: exp((score - bound) / epsilon) would overflow) nor lie so
      far below that `exp((score - bound) / epsilon)` underflows for all of a row.

  Returns:
    `[B_local, L]` assignment of `scores`' rows, rows summing to 1 (0 for invalid rows
    and for rows whose mass underflows).
  """
  if num_iters < 0:
    raise ValueError(f"num_iters={num_iters}: the rounds of normalisation, 0 or more")
  if isinstance(epsilon, (int, float)) and not epsilon > 0:
    raise ValueError(f"epsilon={epsilon}: the entropy weight must be > 0")
  if isinstance(bound, (int, float)) and not math.isfinite(bound):
    raise ValueError(f"bound={bound}: the scores' upper bound must be a finite number")
  blocks = [(scores, valid)]
  if queue is not None and queue.shape[0]:  # (an empty queue, e.g. a cache of 0 rows: none)
    blocks.append((queue, queue_valid))
  num_protos = scores.shape[1]
  masks, scaled = [], []
  for s, v in blocks:
    s = jax.lax.stop_gradient(s.astype(jnp.float32))
    masks.append(jnp.ones(s.shape[0], bool) if v is None else v)
    scaled.append(s)
  if bound is None:
    top = _pmax(jnp.max(jnp.stack([jnp.max(jnp.where(m[:, None], s, -jnp.inf))
                                   for s, m in zip(scaled, masks)])), axis_name)
  else:
    top = jnp.asarray(bound, jnp.float32)
  k = [jnp.where(m[:, None], jnp.exp((s - top) / epsilon), 0.0) for s, m in zip(scaled, masks)]
  total = _psum(sum(jnp.sum(m).astype(jnp.float32) for m in masks), axis_name)
  if num_iters == 0:  # SwAV's Q / sum(Q), times B
    return k[0] * (total / _psum(sum(jnp.sum(x) for x in k), axis_name))
  a = [m.astype(jnp.float32) for m in masks]  # SwAV's Q / sum(Q): a scale the columns undo
  for i in range(num_iters):
    b = _positive_inverse(_psum(sum(ai @ ki for ai, ki in zip(a, k)), axis_name), num_protos)
    if i < num_iters - 1:
      a = [_positive_inverse(ki @ b, total) for ki in k]
  q = k[0] * b  # the last row normalisation, times B: each row divided by its sum
  row = jnp.sum(q, axis=1, keepdims=True)
  return q / jnp.where(row > 0, row, 1.0)
