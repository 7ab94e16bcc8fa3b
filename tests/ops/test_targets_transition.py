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
