import functools

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh
from jax.sharding import PartitionSpec as P

from nlx.ops import memory
from nlx.ops.sinkhorn import sinkhorn_assignment


def swav_reference(scores, epsilon=0.05, iters=3):
  """SwAV's distributed_sinkhorn on one device, written out in float64 numpy."""
  q = np.exp((scores - scores.max()) / epsilon).T  # [K, B]
  k, b = q.shape
  q /= q.sum()
  for _ in range(iters):
    q /= q.sum(axis=1, keepdims=True)
    q /= k
    q /= q.sum(axis=0, keepdims=True)
    q /= b
  return (q * b).T


def random_scores(b=16, k=4, seed=0):
  """`[b, k]` scores of b samples against k prototypes, uniform in [-1, 1]."""
  return np.asarray(jax.random.uniform(jax.random.key(seed), (b, k), minval=-1, maxval=1))


def test_matches_the_swav_reference():
  s = random_scores()
  np.testing.assert_allclose(sinkhorn_assignment(jnp.asarray(s)), swav_reference(s), rtol=1e-4,
                             atol=1e-6)


def test_marginals_rows_one_columns_equal_at_convergence():
  s = random_scores(b=32, k=8, seed=1)
  q = np.asarray(sinkhorn_assignment(jnp.asarray(s), epsilon=0.5, num_iters=200))
  np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-5)
  np.testing.assert_allclose(q.sum(0), 32 / 8, rtol=1e-3)  # equipartition: B / L each
  q3 = np.asarray(sinkhorn_assignment(jnp.asarray(s)))
  np.testing.assert_allclose(q3.sum(1), 1.0, rtol=1e-5)  # rows exact after any iterations


def test_invalid_rows_are_excluded():
  s = random_scores(b=12, k=4, seed=2)
  valid = np.array([False] * 4 + [True] * 8)
  q = np.asarray(sinkhorn_assignment(jnp.asarray(s), valid=jnp.asarray(valid)))
  assert np.all(q[:4] == 0)
  np.testing.assert_allclose(q[4:], swav_reference(s[4:]), rtol=1e-4, atol=1e-6)
  # an invalid row's scores do not set the shift either (9 above the rest: exp(-180)
  # would underflow every valid entry)
  s = s.copy()
  s[1] = 10.0
  q = np.asarray(sinkhorn_assignment(jnp.asarray(s), valid=jnp.asarray(valid)))
  np.testing.assert_allclose(q[4:], swav_reference(s[4:]), rtol=1e-4, atol=1e-6)


def test_no_gradient_through_the_assignment():
  s = jnp.asarray(random_scores())
  g = jax.grad(lambda x: jnp.sum(sinkhorn_assignment(x) * jnp.arange(4.0)))(s)
  np.testing.assert_array_equal(g, 0)


@pytest.mark.slow
def test_eight_devices_with_psum_equal_one_device():
  assert jax.device_count() == 8
  mesh = Mesh(np.asarray(jax.devices()), ("data",))
  s = jnp.asarray(random_scores(b=64, k=8, seed=3))
  sharded = jax.shard_map(functools.partial(sinkhorn_assignment, axis_name="data"), mesh=mesh,
                          in_specs=P("data"), out_specs=P("data"))(s)
  np.testing.assert_allclose(sharded, sinkhorn_assignment(s), rtol=1e-5, atol=1e-7)
  r = jax.nn.softmax(jax.random.normal(jax.random.key(4), (64, 5)))
  g = jnp.full((8, 5), 0.2)
  q = sinkhorn_assignment(s)
  upd = jax.shard_map(functools.partial(memory.update_prototype_labels, axis_name="data"),
                      mesh=mesh, in_specs=(P(), P("data"), P("data")), out_specs=P())(g, q, r)
  np.testing.assert_allclose(upd, memory.update_prototype_labels(g, q, r), rtol=1e-5, atol=1e-7)


def test_memory_read_by_hand():
  h = jnp.array([[1.0, 0.0], [0.0, 2.0]])
  c = jnp.array([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
  g = jnp.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
  log_p, v = memory.memory_read(h, c, g)
  cos = np.array([[1, 0, -1], [0, 1, 0]], np.float64)
  p = np.exp(cos) / np.exp(cos).sum(1, keepdims=True)
  np.testing.assert_allclose(np.exp(log_p), p, rtol=1e-6)
  np.testing.assert_allclose(v, p @ np.asarray(g), rtol=1e-6)
  t = memory.refine_targets(jnp.array([[0.9, 0.1], [0.2, 0.8]]), v, 0.8)
  np.testing.assert_allclose(t, 0.2 * np.array([[0.9, 0.1], [0.2, 0.8]]) + 0.8 * np.asarray(v),
                             rtol=1e-6)


def test_prototype_label_update_by_hand():
  g = jnp.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]])
  q = jnp.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])   # prototype 2 receives no mass
  r = jnp.array([[0.9, 0.1], [0.3, 0.7]])
  new = memory.update_prototype_labels(g, q, r, beta=0.8)
  mean0 = (1.0 * np.array([0.9, 0.1]) + 0.5 * np.array([0.3, 0.7])) / 1.5
  np.testing.assert_allclose(new[0], 0.8 * np.array([0.5, 0.5]) + 0.2 * mean0, rtol=1e-6)
  np.testing.assert_allclose(new[1], 0.8 * np.array([1.0, 0.0]) + 0.2 * np.array([0.3, 0.7]),
                             rtol=1e-6)
  np.testing.assert_array_equal(new[2], g[2])
  np.testing.assert_allclose(np.asarray(new).sum(1), 1.0, rtol=1e-6)


def test_prototype_without_mass_computes_no_nan_on_the_way():
  # the division is guarded (0 / 0 never happens), so the update runs under debug_nans
  g = jnp.array([[0.5, 0.5], [1.0, 0.0]])
  q, r = jnp.array([[1.0, 0.0]]), jnp.array([[0.9, 0.1]])
  with jax.debug_nans(True):
    new = memory.update_prototype_labels(g, q, r, beta=0.8)
  np.testing.assert_allclose(new, [[0.8 * 0.5 + 0.2 * 0.9, 0.8 * 0.5 + 0.2 * 0.1], [1.0, 0.0]],
                             rtol=1e-6)


def test_cache_is_a_ring_of_the_last_rows():
  """Rows go to slots position, position + 1, ... (mod S) and never move; the filled slots
  are the first `count`; a push of S rows or more keeps its last S from slot 0."""
  cache, count, position = jnp.zeros((5, 1)), jnp.asarray(0), jnp.asarray(0)
  cache, count, position = memory.push_to_cache(cache, count, position, jnp.array([[1.0], [2.0]]))
  np.testing.assert_array_equal(cache[:, 0], [1, 2, 0, 0, 0])
  assert (int(count), int(position)) == (2, 2)
  cache, count, position = memory.push_to_cache(cache, count, position,
                                                 jnp.array([[3.0], [4.0], [5.0], [6.0]]))
  np.testing.assert_array_equal(cache[:, 0], [6, 2, 3, 4, 5])  # the last five, 6 wrapped
  assert (int(count), int(position)) == (5, 1)
  cache, count, position = memory.push_to_cache(cache, count, position,
                                                 jnp.array([[7.0], [8.0], [9.0]]))
  np.testing.assert_array_equal(cache[:, 0], [6, 7, 8, 9, 5])
  assert (int(count), int(position)) == (5, 4)
  for b in (5, 7):  # as many rows as slots, and more
    rows = jnp.arange(10.0, 10.0 + b)[:, None]
    new, n, pos = memory.push_to_cache(cache, count, position, rows)
    np.testing.assert_array_equal(new[:, 0], np.arange(10.0, 10.0 + b)[-5:])
    assert (int(n), int(pos)) == (5, 0)
  # jitted, as in the step, with a traced position: the same slots
  jitted = jax.jit(memory.push_to_cache)(jnp.zeros((5, 1)), jnp.asarray(3), jnp.asarray(3),
                                         jnp.array([[1.0], [2.0], [3.0]]))
  np.testing.assert_array_equal(jitted[0][:, 0], [3, 0, 0, 1, 2])
  assert (int(jitted[1]), int(jitted[2])) == (5, 1)


def test_queue_rows_join_every_normalisation_and_only_the_batch_comes_back():
  """SwAV's queue: Q over [batch; the queue's valid rows], the batch's rows returned; the
  queue's order does not matter; epsilon 0.1 and 2 rounds (not the defaults)."""
  s, queue = random_scores(b=6, k=4, seed=11), random_scores(b=9, k=4, seed=12)
  valid = np.array([True, False, True, True, False, True, True, True, False])
  q = sinkhorn_assignment(jnp.asarray(s), epsilon=0.1, num_iters=2, queue=jnp.asarray(queue),
                          queue_valid=jnp.asarray(valid))
  want = swav_reference(np.concatenate([s, queue[valid]]), epsilon=0.1, iters=2)[:6]
  np.testing.assert_allclose(q, want, rtol=1e-4, atol=1e-6)
  order = np.random.default_rng(0).permutation(9)
  shuffled = sinkhorn_assignment(jnp.asarray(s), epsilon=0.1, num_iters=2,
                                 queue=jnp.asarray(queue[order]),
                                 queue_valid=jnp.asarray(valid[order]))
  np.testing.assert_allclose(shuffled, q, rtol=1e-5, atol=1e-7)
  # the queue counts in B: without it the batch's rows are another assignment
  alone = swav_reference(s, epsilon=0.1, iters=2)
  assert not np.allclose(want, alone, atol=1e-3)
  # a queue with no valid row is no queue
  np.testing.assert_allclose(
      sinkhorn_assignment(jnp.asarray(s), epsilon=0.1, num_iters=2, queue=jnp.asarray(queue),
                          queue_valid=jnp.zeros(9, bool)), alone, rtol=1e-4, atol=1e-6)


def test_no_rounds_is_swavs_first_normalisation_times_b():
  s = random_scores(b=7, k=3, seed=13)
  q = np.asarray(sinkhorn_assignment(jnp.asarray(s), num_iters=0))
  e = np.exp((s - s.max()) / 0.05)
  np.testing.assert_allclose(q, e / e.sum() * 7, rtol=1e-5)
  np.testing.assert_allclose(q, swav_reference(s, iters=0), rtol=1e-4, atol=1e-7)
  # with a queue (2 of its 3 rows valid, scoring near the top so that their mass counts):
  # B and the sum both count the queue's valid rows
  queue = np.asarray(s[:3] + 0.01)
  q = np.asarray(sinkhorn_assignment(jnp.asarray(s), num_iters=0, queue=jnp.asarray(queue),
                                     queue_valid=jnp.array([True, False, True])))
  rows = np.concatenate([s, queue[[0, 2]]])
  np.testing.assert_allclose(q, swav_reference(rows, iters=0)[:7], rtol=1e-4, atol=1e-7)


def test_a_prototype_whose_mass_underflows_gets_none_and_no_nan():
  # epsilon 0.01: prototype 1's scores sit 2 or more below the top, exp(-200) = 0 in float32
  s = jnp.array([[1.0, -1.0, 0.9], [0.95, -1.0, 1.0], [0.8, -1.0, 0.85]])
  q = np.asarray(sinkhorn_assignment(s, epsilon=0.01))
  assert np.all(np.isfinite(q))
  np.testing.assert_array_equal(q[:, 1], 0.0)
  np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-5)


def test_two_devices_with_psum_equal_one_device_valid_rows_too():
  """The fast twin of the 8-device test: the batch split over 2 devices, with invalid rows
  on both shards, gives the rows one device computes on the whole batch; the prototype
  write psums its sums. Reference: SwAV's sinkhorn on the valid rows, in numpy."""
  mesh = Mesh(np.asarray(jax.devices()[:2]), ("data",))
  s = random_scores(b=8, k=4, seed=5)
  valid = np.array([True, False, True, True, True, True, False, True])
  q = jax.shard_map(lambda x, m: sinkhorn_assignment(x, valid=m, axis_name="data"), mesh=mesh,
                    in_specs=(P("data"), P("data")), out_specs=P("data"))(
                        jnp.asarray(s), jnp.asarray(valid))
  q = np.asarray(q)
  assert np.all(q[~valid] == 0)
  np.testing.assert_allclose(q[valid], swav_reference(s[valid]), rtol=1e-4, atol=1e-6)
  # each device with a queue of its own (3 rows, one empty slot each): every sum over
  # samples runs over both devices' batch rows and queues
  queue = random_scores(b=6, k=4, seed=14)
  queue_valid = np.array([True, True, False, True, False, True])
  with_queue = jax.shard_map(
      lambda x, m, qs, qm: sinkhorn_assignment(x, valid=m, queue=qs, queue_valid=qm,
                                               axis_name="data"),
      mesh=mesh, in_specs=(P("data"),) * 4, out_specs=P("data"))(
          jnp.asarray(s), jnp.asarray(valid), jnp.asarray(queue), jnp.asarray(queue_valid))
  rows = np.concatenate([s[valid], queue[queue_valid]])
  np.testing.assert_allclose(np.asarray(with_queue)[valid], swav_reference(rows)[:valid.sum()],
                             rtol=1e-4, atol=1e-6)
  # g_j <- beta g_j + (1 - beta) sum_i q_ij r_i / sum_i q_ij over the whole batch
  r = np.asarray(jax.nn.softmax(jax.random.normal(jax.random.key(6), (8, 3))))
  g = np.full((4, 3), 1 / 3)
  upd = jax.shard_map(functools.partial(memory.update_prototype_labels, beta=0.6, axis_name="data"),
                      mesh=mesh, in_specs=(P(), P("data"), P("data")), out_specs=P())(
                          jnp.asarray(g), jnp.asarray(q), jnp.asarray(r))
  want = 0.6 * g + 0.4 * (q.T @ r) / q.sum(0)[:, None]
  np.testing.assert_allclose(upd, want, rtol=1e-5, atol=1e-7)


def _primitives(fn, *args) -> set:
  """Names of the primitives in `fn`'s jaxpr, nested jaxprs included."""
  names = set()

  def walk(jaxpr):
    for eqn in jaxpr.eqns:
      names.add(eqn.primitive.name)
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        walk(sub)
  walk(jax.make_jaxpr(fn)(*args).jaxpr)
  return names


@pytest.mark.parametrize("iters", [0, 1, 3])
def test_a_bound_in_place_of_the_maximum_is_swavs_q_without_a_max(iters):
  """`bound=1` (cosines): the same Q as SwAV's max shift (float64 reference), with a queue
  and invalid rows, at 0, 1 and 3 rounds and epsilon 0.1; scores far below the bound
  (all in [-1, -0.6]: exp shifted by 1.6/epsilon more) too. No max reduction is left."""
  s, queue = random_scores(b=6, k=4, seed=21), random_scores(b=5, k=4, seed=22)
  valid = np.array([True, True, False, True, True, True])
  queue_valid = np.array([True, False, True, True, False])
  want = swav_reference(np.concatenate([s[valid], queue[queue_valid]]), epsilon=0.1,
                        iters=iters)[:valid.sum()]

  def run(scores, rows, bound):
    return sinkhorn_assignment(scores, epsilon=0.1, num_iters=iters, valid=jnp.asarray(valid),
                               queue=rows, queue_valid=jnp.asarray(queue_valid), bound=bound)
  q = np.asarray(run(jnp.asarray(s), jnp.asarray(queue), 1.0))
  np.testing.assert_allclose(q[valid], want, rtol=1e-4, atol=1e-6)
  assert np.all(q[~valid] == 0)
  low_s, low_queue = -0.8 + 0.2 * s, -0.8 + 0.2 * queue
  low = np.asarray(run(jnp.asarray(low_s), jnp.asarray(low_queue), 1.0))
  want_low = swav_reference(np.concatenate([low_s[valid], low_queue[queue_valid]]),
                            epsilon=0.1, iters=iters)[:valid.sum()]
  np.testing.assert_allclose(low[valid], want_low, rtol=1e-4, atol=1e-6)
  args = (jnp.asarray(s), jnp.asarray(queue))
  assert "reduce_max" in _primitives(lambda a, b: run(a, b, None), *args)
  assert "reduce_max" not in _primitives(lambda a, b: run(a, b, 1.0), *args)


def test_a_bound_on_two_devices_equals_one_device_and_needs_no_pmax():
  mesh = Mesh(np.asarray(jax.devices()[:2]), ("data",))
  s, queue = random_scores(b=8, k=4, seed=23), random_scores(b=6, k=4, seed=24)
  queue_valid = np.array([True, False, True, True, True, False])

  def sharded(x, qs, qm):
    return sinkhorn_assignment(x, queue=qs, queue_valid=qm, axis_name="data", bound=1.0)
  fn = jax.shard_map(sharded, mesh=mesh, in_specs=(P("data"),) * 3, out_specs=P("data"))
  args = (jnp.asarray(s), jnp.asarray(queue), jnp.asarray(queue_valid))
  want = swav_reference(np.concatenate([s, queue[queue_valid]]))[:8]
  np.testing.assert_allclose(np.asarray(fn(*args)), want, rtol=1e-4, atol=1e-6)
  assert "pmax" not in _primitives(fn, *args)


def test_a_bound_far_above_the_scores_underflows_to_zero_rows_not_nan():
  """The documented limit: epsilon 0.01 and scores at most 0 under bound 1: every
  exp((s - 1) / 0.01) <= e^-100, below float32's normal range: rows of zeros (or, where
  denormals survive, rows summing to 1), never a NaN; the max shift keeps them."""
  s = jnp.asarray(-0.5 + 0.5 * random_scores(b=5, k=3, seed=25))
  q = np.asarray(sinkhorn_assignment(s, epsilon=0.01, bound=1.0))
  assert np.all(np.isfinite(q))
  assert np.all(np.isclose(q.sum(1), 0.0) | np.isclose(q.sum(1), 1.0, rtol=1e-4))
  np.testing.assert_allclose(np.asarray(sinkhorn_assignment(s, epsilon=0.01)).sum(1), 1.0,
                             rtol=1e-5)


def test_epsilon_and_iterations_follow_the_swav_reference():
  # The marginals test cannot see epsilon (equipartition holds for any); the values can.
  s = random_scores(b=12, k=3, seed=7)
  for eps, iters in ((0.3, 1), (0.02, 6)):
    np.testing.assert_allclose(sinkhorn_assignment(jnp.asarray(s), epsilon=eps, num_iters=iters),
                               swav_reference(s, epsilon=eps, iters=iters), rtol=1e-4, atol=1e-6)


def test_memory_read_temperature_by_hand():
  h = jnp.array([[1.0, 0.0], [1.0, 1.0]])
  c = jnp.array([[3.0, 0.0], [0.0, 0.5]])
  g = jnp.array([[0.9, 0.1], [0.2, 0.8]])
  log_p, v = memory.memory_read(h, c, g, temperature=0.25)
  # cosines: row 0 (1, 0); row 1 (1/sqrt2, 1/sqrt2); divided by tau = 0.25
  cos = np.array([[1.0, 0.0], [2 ** -0.5, 2 ** -0.5]]) / 0.25
  p = np.exp(cos) / np.exp(cos).sum(1, keepdims=True)
  np.testing.assert_allclose(np.exp(log_p), p, rtol=1e-6)
  np.testing.assert_allclose(p[0, 0], np.exp(4) / (np.exp(4) + 1), rtol=1e-12)  # sharper than tau 1
  np.testing.assert_allclose(v, p @ np.asarray(g), rtol=1e-6)


def test_normalized_entropy_by_hand():
  p = jnp.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
  # H / log 4: 1, 0 and log 2 / log 4 = 1/2
  np.testing.assert_allclose(memory.normalized_entropy(p), [1.0, 0.0, 0.5], atol=1e-7)


def test_prototype_label_update_default_momentum_is_0_8():
  g = jnp.array([[1.0, 0.0]])
  new = memory.update_prototype_labels(g, jnp.array([[1.0], [1.0]]), jnp.array([[0.2, 0.8],
                                                                                [0.4, 0.6]]))
  # mean prediction (0.3, 0.7); 0.8 g + 0.2 mean
  np.testing.assert_allclose(new, [[0.8 + 0.2 * 0.3, 0.2 * 0.7]], rtol=1e-6)


def test_l2_normalize_and_entropy_work_on_the_last_axis_of_any_rank():
  v = jnp.array([3.0, 4.0])
  np.testing.assert_allclose(memory.l2_normalize(v), [0.6, 0.8], rtol=1e-6)
  x = jnp.array([[[3.0, 4.0], [0.0, 2.0]]])  # [1, 2, 2]: rows, not columns
  np.testing.assert_allclose(memory.l2_normalize(x), [[[0.6, 0.8], [0.0, 1.0]]], rtol=1e-6)
  # a zero vector stays zero (the eps floor), a tiny one is still scaled to unit length
  np.testing.assert_allclose(memory.l2_normalize(jnp.array([[0.0, 0.0], [1e-3, 0.0]])),
                             [[0.0, 0.0], [1.0, 0.0]], rtol=1e-6)
  np.testing.assert_allclose(memory.normalized_entropy(jnp.array([0.5, 0.5, 0.0, 0.0])), 0.5,
                             rtol=1e-6)
  p = jnp.array([[[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]]])  # [1, 2, 4]
  np.testing.assert_allclose(memory.normalized_entropy(p), [[1.0, 0.0]], atol=1e-7)


def test_options_are_keyword_only_and_arrays_may_be_named():
  h, c = jnp.array([[1.0, 0.0]]), jnp.array([[1.0, 0.0], [0.0, 1.0]])
  g = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  log_p, _ = memory.memory_read(features=h, prototypes=c, proto_labels=g, temperature=0.5)
  # cosines (1, 0) / 0.5: p = (e^2, 1) / (e^2 + 1)
  np.testing.assert_allclose(np.exp(log_p), [[np.e ** 2 / (np.e ** 2 + 1), 1 / (np.e ** 2 + 1)]],
                             rtol=1e-6)
  with pytest.raises(TypeError):
    memory.memory_read(h, c, g, 0.5)
  q, r = jnp.array([[1.0, 0.0]]), jnp.array([[0.0, 1.0]])
  new = memory.update_prototype_labels(proto_labels=g, assignment=q, predictions=r, beta=0.5)
  np.testing.assert_allclose(new, [[0.5, 0.5], [0.0, 1.0]], rtol=1e-6)
  with pytest.raises(TypeError):
    memory.update_prototype_labels(g, q, r, 0.5)
  with pytest.raises(TypeError):
    sinkhorn_assignment(jnp.zeros((2, 2)), 0.05)
  np.testing.assert_allclose(sinkhorn_assignment(scores=jnp.zeros((2, 2)), epsilon=0.1),
                             np.full((2, 2), 0.5), rtol=1e-6)


def test_memory_read_one_example_at_a_time_under_vmap():
  h = jnp.asarray(random_scores(b=5, k=3, seed=8))
  c = jnp.asarray(random_scores(b=4, k=3, seed=9))
  g = jax.nn.softmax(jnp.asarray(random_scores(b=4, k=2, seed=10)))
  log_p, v = memory.memory_read(h, c, g, temperature=0.5)
  one_log_p, one_v = jax.vmap(lambda x: memory.memory_read(x, c, g, temperature=0.5))(h)
  np.testing.assert_allclose(one_log_p, log_p, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(one_v, v, rtol=1e-6, atol=1e-7)
  # and the attention of one example by hand: softmax of its cosines / tau
  cos = np.asarray(c) @ np.asarray(h[0]) / np.linalg.norm(c, axis=1) / np.linalg.norm(h[0])
  np.testing.assert_allclose(np.exp(one_log_p[0]), np.exp(cos / 0.5) / np.exp(cos / 0.5).sum(),
                             rtol=1e-5)


def test_a_valid_row_whose_mass_underflows_gets_zeros_not_nan():
  # epsilon 0.01: row 1's scores sit 2 below the top, exp(-200) = 0 in float32
  s = jnp.array([[1.0, 1.0], [-1.0, -1.0], [1.0, 0.9]])
  q = np.asarray(sinkhorn_assignment(s, epsilon=0.01))
  assert np.all(np.isfinite(q))
  np.testing.assert_array_equal(q[1], [0.0, 0.0])
  np.testing.assert_allclose(q[[0, 2]].sum(1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("kwargs,words", [({"num_iters": -1}, "num_iters=-1"),
                                          ({"epsilon": 0.0}, "epsilon=0.0"),
                                          ({"bound": float("inf")}, "bound=inf"),
                                          ({"bound": float("nan")}, "bound=nan")])
def test_a_negative_round_count_or_no_entropy_is_a_one_line_error(kwargs, words):
  with pytest.raises(ValueError, match=words):
    sinkhorn_assignment(jnp.zeros((2, 2)), **kwargs)
