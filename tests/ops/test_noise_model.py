import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nlx.ops import noise_model as nm


def brute_force_column(m, alpha):
  """max over t in {0,1}^n (t != 0) and c on the simplex supported by t of
  sum_{t_i=1} m_i log c_i + sum_{t_i=0} m_i log alpha, by enumeration; for each t the
  best c is checked against random candidates too."""
  n = len(m)
  best, best_c = -np.inf, None
  rng = np.random.default_rng(0)
  for t in itertools.product([0, 1], repeat=n):
    t = np.array(t, bool)
    if not t.any() or (m[t] == 0).any():
      continue
    c = np.where(t, m / m[t].sum(), 0.0)
    e = float(np.sum(m[t] * np.log(c[t])) + np.sum(m[~t]) * math.log(alpha))
    for _ in range(20):  # no other c on the same support does better
      other = np.where(t, rng.dirichlet(np.ones(n)), 0.0)
      other /= other.sum()
      assert np.sum(m[t] * np.log(other[t])) <= np.sum(m[t] * np.log(c[t])) + 1e-9
    if e > best + 1e-12:
      best, best_c = e, c
  return best_c


@pytest.mark.parametrize("seed", range(6))
def test_estimate_matches_brute_force(seed):
  rng = np.random.default_rng(seed)
  num = 5
  true = rng.integers(0, num, 400)
  confusion_pairs = {0: 1, 1: 2, 2: 0, 3: 4, 4: 3}
  noisy = true.copy()
  flip = rng.random(400) < 0.5
  for i in np.flatnonzero(flip):
    noisy[i] = confusion_pairs[true[i]] if rng.random() < 0.6 else rng.integers(0, num)
  c = nm.estimate_confusion(true, noisy, num)
  m = nm.pair_counts(true, noisy, num)
  for j in range(num):
    others = [i for i in range(num) if i != j]
    want = brute_force_column(m[others, j], 1 / (num - 1))
    np.testing.assert_allclose(c[others, j], want, atol=1e-12)
  np.testing.assert_allclose(c.sum(0), 1.0)
  assert np.all(np.diag(c) == 0)
  nonzero = c[c > 0]
  assert np.all(nonzero > 1 / (num - 1))  # Lemma 1


def test_estimate_is_fast_for_a_million_pairs():
  # Correctness at scale; the timing figure lives in experiments/bench_noise_model.py.
  rng = np.random.default_rng(0)
  true = rng.integers(0, 14, 1_000_000)
  noisy = np.where(rng.random(1_000_000) < 0.3, (true + 1) % 14, true)
  c = nm.estimate_confusion(true, noisy, 14)
  np.testing.assert_allclose(np.diag(np.roll(c, -1, axis=0)), 1.0)  # C[(y + 1) % 14, y] = 1


def test_posterior_by_hand():
  num = 3
  confusion = jnp.array([[0.0, 0.3, 0.5], [1.0, 0.0, 0.5], [0.0, 0.7, 0.0]])  # C[noisy, true]
  py = np.array([0.6, 0.3, 0.1])
  pz = np.array([0.5, 0.2, 0.3])
  noisy = 1
  lik = np.zeros((3, 3))
  for y in range(3):
    lik[y, 0] = float(y == noisy)
    lik[y, 1] = float(y != noisy) / (num - 1)
    lik[y, 2] = float(confusion[noisy, y])
  want = lik * py[:, None] * pz[None, :]
  want /= want.sum()
  q = nm.posterior(jnp.log(jnp.asarray(py))[None], jnp.log(jnp.asarray(pz))[None],
                   jnp.array([noisy]), confusion)
  np.testing.assert_allclose(q[0], want, rtol=1e-5, atol=1e-7)
  ly, lz = nm.m_step_losses(jnp.log(jnp.asarray(py))[None], jnp.log(jnp.asarray(pz))[None], q)
  assert float(ly[0]) == pytest.approx(-np.sum(want.sum(1) * np.log(py)), rel=1e-5)
  assert float(lz[0]) == pytest.approx(-np.sum(want.sum(0) * np.log(pz)), rel=1e-5)


def test_posterior_is_vectorised_and_gradient_free():
  k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
  log_py = jax.nn.log_softmax(jax.random.normal(k1, (6, 4)))
  log_pz = jax.nn.log_softmax(jax.random.normal(k2, (6, 3)))
  noisy = jax.random.randint(k3, (6,), 0, 4)
  confusion = (1 - jnp.eye(4)) / 3
  q = nm.posterior(log_py, log_pz, noisy, confusion)
  np.testing.assert_allclose(q.sum((1, 2)), 1.0, rtol=1e-5)
  for i in (0, 4):
    np.testing.assert_allclose(nm.posterior(log_py[i:i + 1], log_pz[i:i + 1], noisy[i:i + 1],
                                            confusion)[0], q[i], rtol=1e-5)
  g = jax.grad(lambda a: nm.posterior(a, log_pz, noisy, confusion)[:, 0, 0].sum())(log_py)
  np.testing.assert_array_equal(g, 0)


def test_optimal_noise_type_and_orientation():
  c = np.array([[0.0, 0.9, 0.2], [1.0, 0.0, 0.8], [0.0, 0.1, 0.0]])
  z = nm.optimal_noise_type(np.array([0, 0, 1, 2]), np.array([0, 1, 2, 0]), c)
  # (0,0) free; C[1,0]=1.0 > 0.5 confusing; C[2,1]=0.1 random; C[0,2]=0.2 random
  np.testing.assert_array_equal(z, [0, 2, 1, 1])
  t = nm.transition_from_confusion(c)
  np.testing.assert_allclose(t.sum(1), 1.0)


def test_optimal_noise_type_threshold_on_its_boundary():
  # L = 3: alpha = 1/2 exactly. "random if C[y~, y] <= 1/(L-1)": 0.5 is random, just above
  # it confusing.
  c = np.array([[0.0, 0.5, 0.49], [0.5, 0.0, 0.51], [0.5, 0.5, 0.0]])
  z = nm.optimal_noise_type(np.array([0, 1, 2, 2]), np.array([1, 0, 1, 0]), c)
  # C[1, 0] = 0.5 random; C[0, 1] = 0.5 random; C[1, 2] = 0.51 confusing; C[0, 2] = 0.49 random
  np.testing.assert_array_equal(z, [nm.RANDOM, nm.RANDOM, nm.CONFUSING, nm.RANDOM])


def test_estimate_by_hand_with_zero_counts_and_no_floating_point_error():
  """L = 3 (alpha = 1/2). True 0: noisy 1 five times, noisy 2 never -> keep only entry 1
  (an entry with no count is never kept). True 1: no wrong label -> uniform 1/2. True 2:
  noisy 0 three times, noisy 1 once: E(k=1) = 1 * log(1/2) = -0.69 beats
  E(k=2) = 3 log 3 + 1 log 1 - 4 log 4 = -2.25, so C[0, 2] = 1. The zero counts take
  no log(0) on the way (numpy errors raised)."""
  true = np.array([0] * 5 + [1] * 4 + [2] * 4 + [0, 2])
  noisy = np.array([1] * 5 + [1] * 4 + [0, 0, 0, 1] + [0, 2])  # last two: y~ = y
  with np.errstate(all="raise"):
    c = nm.estimate_confusion(true, noisy, 3)
  np.testing.assert_allclose(c, [[0.0, 0.5, 1.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.0]], atol=1e-12)


def test_estimate_keeps_two_equal_confusions_when_alpha_is_small():
  """L = 6 (alpha = 1/5). True 0: noisy 1 twice and noisy 2 twice; the other classes have
  no wrong label (uniform 1/5). Keeping both (c = 1/2 each): E = 4 log(1/2) = -2.77 beats
  keeping one (c = 1, the other pair random): E = 2 log 1 + 2 log(1/5) = -3.22. (With
  L = 3, alpha = 1/2, one entry would always win.)"""
  true = np.array([0, 0, 0, 0, 0, 1, 2, 3, 4, 5])
  noisy = np.array([1, 1, 2, 2, 0, 1, 2, 3, 4, 5])
  assert 4 * math.log(1 / 2) > 2 * math.log(1 / 5)
  c = nm.estimate_confusion(true, noisy, 6)
  want = (1 - np.eye(6)) / 5
  want[:, 0] = [0.0, 0.5, 0.5, 0.0, 0.0, 0.0]
  np.testing.assert_allclose(c, want, atol=1e-12)


def test_a_confusion_that_is_not_square_is_an_error():
  """C[noisy, true] has both axes over the same L classes; a [3, 4] C is refused rather
  than giving a likelihood sized by one of its axes."""
  with pytest.raises(ValueError):
    nm.log_noisy_label_likelihood(jnp.array([0, 2]), jnp.full((3, 4), 0.25))


def test_estimate_keeps_an_entry_counted_once():
  """L = 4 (alpha = 1/3). True 0: noisy 1 once, noisy 2 once, noisy 3 never. Keeping one
  (c = 1, the other pair random): E = 1 log 1 + 1 log(1/3) = -1.10 beats keeping both
  (c = 1/2 each): E = 2 log(1/2) = -1.39; so one of classes 1, 2 gets C = 1 (which one
  is a tie) and class 3, never seen, gets 0."""
  true = np.array([0, 0, 0, 1, 2, 3])
  noisy = np.array([1, 2, 0, 1, 2, 3])
  assert math.log(1 / 3) > 2 * math.log(1 / 2)
  c = nm.estimate_confusion(true, noisy, 4)
  np.testing.assert_allclose(sorted(c[1:3, 0]), [0.0, 1.0], atol=1e-12)
  assert c[0, 0] == 0 and c[3, 0] == 0
  np.testing.assert_allclose(c[:, 1:], ((1 - np.eye(4)) / 3)[:, 1:], atol=1e-12)
