import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nlx import losses


def test_cross_entropy_by_hand():
  logits = jnp.array([[1.0, 2.0, 3.0]])
  z = np.log(np.exp(1) + np.exp(2) + np.exp(3))
  assert losses.softmax_cross_entropy(logits, jnp.array([[0., 0, 1]]))[0] == pytest.approx(z - 3, 1e-6)
  soft = jnp.array([[0.5, 0.5, 0.0]])
  assert losses.softmax_cross_entropy(logits, soft)[0] == pytest.approx(z - 1.5, 1e-6)


def test_integer_labels_match_one_hot_batch_and_single_and_jit():
  logits = jax.random.normal(jax.random.key(0), (6, 4)) * 5
  labels = jnp.array([0, 3, 1, 2, 2, 0])
  a = losses.softmax_cross_entropy_with_integer_labels(logits, labels)
  b = losses.softmax_cross_entropy(logits, losses.as_distribution(labels, 4))
  np.testing.assert_allclose(a, b, rtol=1e-6)
  np.testing.assert_allclose(jax.jit(losses.softmax_cross_entropy)(logits, jax.nn.one_hot(labels, 4)), b, rtol=1e-6)
  single = losses.softmax_cross_entropy(logits[2:3], jax.nn.one_hot(labels[2:3], 4))
  assert single[0] == pytest.approx(float(b[2]), rel=1e-6)


def test_cross_entropy_gradients_finite_at_extreme_logits():
  logits = jnp.array([[1e4, -1e4, 0.0]])
  g = jax.grad(lambda x: losses.softmax_cross_entropy(x, jnp.array([[0., 1, 0]])).sum())(logits)
  assert np.all(np.isfinite(g))
  np.testing.assert_allclose(g, [[1.0, -1.0, 0.0]], atol=1e-6)


def test_label_smoothing_at_another_alpha_with_a_soft_label_by_hand():
  # alpha = 0.6, C = 3: target 0.4 (0.5, 0.5, 0) + 0.2 = (0.4, 0.4, 0.2); CE = z - 1.8
  logits = jnp.array([[1.0, 2.0, 3.0]])
  z = np.log(np.exp(1) + np.exp(2) + np.exp(3))
  got = losses.label_smoothing_cross_entropy(logits, jnp.array([[0.5, 0.5, 0.0]]), alpha=0.6)
  assert got[0] == pytest.approx(z - 1.8, rel=1e-6)


def test_binary_cross_entropy_clips_at_its_eps_by_hand():
  # p = (0, 0.5, 1), y = (1, 0, 0): clipped to (eps, 0.5, 1 - eps), so -2 log eps + log 2
  probs, y = jnp.array([[0.0, 0.5, 1.0]]), jnp.array([[1.0, 0.0, 0.0]])
  for eps in (0.01, 0.2):
    got = losses.binary_cross_entropy(probs, y, eps=eps)
    assert got[0] == pytest.approx(-2 * np.log(eps) + np.log(2), rel=1e-6)
  # y = (1, 0, 1): -(log 0.01 + log 0.5 + log 0.99)
  got = losses.binary_cross_entropy(probs, jnp.array([[1.0, 0.0, 1.0]]), eps=0.01)
  assert got[0] == pytest.approx(-(np.log(0.01) + np.log(0.5) + np.log(0.99)), rel=1e-6)
