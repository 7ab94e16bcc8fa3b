import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nlx.ops import targets, transition


def test_ema_update_only_touches_the_batch_rows():
  t = jnp.full((5, 3), 1 / 3)
  logits = jnp.log(jnp.array([[0.5, 0.3, 0.2], [0.9999999, 1e-9, 1e-9]]))
  new = targets.ema_update(t, jnp.array([1, 3]), logits, beta=0.7)
  np.testing.assert_allclose(np.asarray(new)[[0, 2, 4]], np.asarray(t)[[0, 2, 4]])
  np.testing.assert_allclose(new[1], 0.7 / 3 + 0.3 * np.array([0.5, 0.3, 0.2]), rtol=1e-5)
  # The second prediction is clamped to [1e-4, 1 - 1e-4] and renormalised first.
  p = np.array([1 - 1e-4, 1e-4, 1e-4])
  np.testing.assert_allclose(new[3], 0.7 / 3 + 0.3 * p / p.sum(), rtol=1e-5)
  g = jax.grad(lambda z: targets.ema_update(t, jnp.array([0]), z).sum())(logits[:1])
  np.testing.assert_array_equal(g, 0)  # stop-gradient prediction


def test_anchor_estimator_recovers_rows_at_the_anchors():
  rng = np.random.default_rng(0)
  t_true = rng.dirichlet(np.ones(4) * 0.5, size=4) * 0.5 + np.eye(4) * 0.5
  # Each example's clean posterior is a mixture; the most confident one per class is pure.
  clean = rng.dirichlet(np.ones(4), size=400) * 0.8
  clean[np.arange(400), rng.integers(0, 4, 400)] += 0.2
  clean[:4] = np.eye(4)
  noisy = clean @ t_true
  est = transition.estimate_from_anchors(noisy, percentile=100)
  # With percentile 100 the anchor is the example with the largest p(noisy = i); for a
  # diagonally dominant T that is the pure example of class i.
  np.testing.assert_allclose(est, t_true, atol=1e-9)
  np.testing.assert_allclose(transition.estimate_from_anchors(noisy).sum(1), 1)


def test_anchor_estimator_percentile_picks_the_quantile_example():
  probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.5, 0.5]])
  est = transition.estimate_from_anchors(probs, percentile=50)
  # Median of column 0 is 0.5 (example 4), of column 1 is 0.5 (example 4 again).
  np.testing.assert_allclose(est, [[0.5, 0.5], [0.5, 0.5]])
  assert pytest.approx(est.sum()) == 2


def test_ema_update_at_a_non_default_momentum():
  t = jnp.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
  logits = jnp.log(jnp.array([[0.8, 0.2]]))
  new = targets.ema_update(t, jnp.array([2]), logits, beta=0.9)
  np.testing.assert_allclose(new[2], 0.9 * np.array([0.0, 1.0]) + 0.1 * np.array([0.8, 0.2]),
                             rtol=1e-5)
  np.testing.assert_array_equal(np.asarray(new)[:2], np.asarray(t)[:2])


def test_anchor_estimator_below_percentile_takes_the_largest_value_under_it():
  probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8], [0.5, 0.5]])
  # class 0: the 'higher' median of (.9, .6, .3, .2, .5) is .5; entries >= .5 of column 0
  # are zeroed (examples 0, 1, 4), the largest left is .3 (example 2): T[0] = (.3, .7).
  # class 1: median of (.1, .4, .7, .8, .5) is .5; the largest below it is .4 (example 1),
  # whose row now reads (0, .4), class 0's filter having zeroed its .6: T[1] = (0, 1).
  est = transition.estimate_from_anchors(probs, percentile=50, anchor="below_percentile")
  np.testing.assert_allclose(est, [[0.3, 0.7], [0.0, 1.0]])


def test_ema_update_default_momentum_is_elrs_0_7():
  t = jnp.array([[1.0, 0.0], [0.0, 1.0]])
  new = targets.ema_update(t, jnp.array([1]), jnp.log(jnp.array([[0.6, 0.4]])))
  np.testing.assert_allclose(new[1], [0.3 * 0.6, 0.7 + 0.3 * 0.4], rtol=1e-5)


def test_anchor_estimator_default_is_the_97th_percentile_higher():
  # p(0) = 0.01, 0.02, ..., 1.00 over 100 examples, p(1) = 1 - p(0). numpy's "higher" 97th
  # percentile of 100 values sits at position 0.97 * 99 = 96.03 -> 97 (0-based, sorted):
  # p(0) = 0.98 for class 0, p(1) = 0.97 for class 1 (sorted p(1): 0.00, 0.01, ...).
  p0 = np.arange(1, 101) / 100
  probs = np.stack([p0, 1 - p0], axis=1)
  np.testing.assert_allclose(transition.estimate_from_anchors(probs), [[0.98, 0.02], [0.03, 0.97]],
                             atol=1e-12)


def test_ema_update_momentum_is_keyword_only_and_arrays_may_be_named():
  t = jnp.array([[1.0, 0.0]])
  logits = jnp.log(jnp.array([[0.5, 0.5]]))
  new = targets.ema_update(targets=t, index=jnp.array([0]), logits=logits, beta=0.5)
  np.testing.assert_allclose(new, [[0.75, 0.25]], rtol=1e-5)
  with pytest.raises(TypeError):
    targets.ema_update(t, jnp.array([0]), logits, 0.5)
