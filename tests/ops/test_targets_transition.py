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
