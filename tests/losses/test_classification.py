import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nlx import losses


def test_cross_entropy_by_hand():
  logits = jnp.array([[1.0, 2.0, 3.0]])
  z = np.log(np.exp(1) + np.exp(2) + np.exp(3))
  assert losses.softmax_cross_entropy(logits, jnp.array([[0., 0, 1]]))[0] == pytest.approx(
      z - 3, 1e-6)
  soft = jnp.array([[0.5, 0.5, 0.0]])
  assert losses.softmax_cross_entropy(logits, soft)[0] == pytest.approx(z - 1.5, 1e-6)


def test_integer_labels_match_one_hot_batch_and_single_and_jit():
  logits = jax.random.normal(jax.random.key(0), (6, 4)) * 5
  labels = jnp.array([0, 3, 1, 2, 2, 0])
  a = losses.softmax_cross_entropy_with_integer_labels(logits, labels)
  b = losses.softmax_cross_entropy(logits, losses.as_distribution(labels, 4))
  np.testing.assert_allclose(a, b, rtol=1e-6)
  np.testing.assert_allclose(
      jax.jit(losses.softmax_cross_entropy)(logits, jax.nn.one_hot(labels, 4)), b, rtol=1e-6)
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


def test_forward_correction_with_an_impossible_noisy_class_and_a_rounding_negative_entry():
  # P = (0.5, 0.3, 0.2); T[true, noisy] with no true class flipping into noisy class 2:
  # p(noisy) = P @ T = (0.5 + 0.1, 0.3 + 0.1, 0); label 0 -> -log 0.6, finite (0 log 0 = 0)
  logits = jnp.log(jnp.array([[0.5, 0.3, 0.2]]))
  t = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
  got = losses.forward_corrected_cross_entropy(logits, jnp.array([[1.0, 0.0, 0.0]]), t)
  assert float(got[0]) == pytest.approx(-np.log(0.6), rel=1e-6)
  # an estimated T with an entry at -1e-7 (float rounding) reads it as 0, not as log(-1e-7)
  t2 = jnp.array([[1.0 + 1e-7, -1e-7], [0.2, 0.8]])
  got = losses.forward_corrected_cross_entropy(jnp.log(jnp.array([[0.6, 0.4]])),
                                               jnp.array([[0.0, 1.0]]), t2)
  assert float(got[0]) == pytest.approx(-np.log(0.4 * 0.8), rel=1e-6)


def test_as_distribution_forms_by_hand():
  np.testing.assert_array_equal(losses.as_distribution(jnp.array([2, 0]), 3),
                                [[0, 0, 1], [1, 0, 0]])
  np.testing.assert_array_equal(losses.as_distribution(jnp.int32(1), 3), [0, 1, 0])
  row = losses.as_distribution(jnp.array([0.2, 0.8], jnp.bfloat16), 2)  # one row [C]
  assert row.dtype == jnp.float32 and row.shape == (2,)
  soft = jnp.full((2, 4, 3), 1 / 3)  # [..., C] rows of any rank pass through
  np.testing.assert_allclose(losses.as_distribution(soft, 3), soft)
  with pytest.raises(losses.LabelShapeError, match=r"\[\.\.\., 3\] target rows, got shape \(\)"):
    losses.as_distribution(jnp.float32(1.0), 3)
  with pytest.raises(losses.LabelShapeError, match=r"got shape \(2, 4\)"):
    losses.as_distribution(jnp.zeros((2, 4)), 3)


def test_forward_correction_gradient_is_finite_with_a_class_no_flip_reaches():
  # Noisy class 2 is reached by no true class (T's third column is 0). The loss of a label
  # of class 0 is -log(0.5 * 1 + 0.2 * 0.5) = -log 0.6, and its gradient w.r.t. the logits
  # is q - p with q the posterior of the true class given noisy class 0, worked by hand:
  # p = (0.5, 0.3, 0.2); the noisy-0 mass per true class p_i T[i, 0] = (0.5, 0, 0.1), so
  # d/dz (-log sum_i p_i T[i,0]) = p - (0.5, 0, 0.1) / 0.6.
  t = jnp.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0]])
  p = np.array([0.5, 0.3, 0.2])
  z = jnp.log(jnp.asarray(p[None], jnp.float32))
  y = jnp.array([[1.0, 0.0, 0.0]])
  loss_fn = lambda z: losses.forward_corrected_cross_entropy(z, y, t).sum()
  np.testing.assert_allclose(float(loss_fn(z)), -np.log(0.6), rtol=1e-6)
  np.testing.assert_allclose(np.asarray(jax.grad(loss_fn)(z))[0],
                             p - np.array([0.5, 0.0, 0.1]) / 0.6, rtol=1e-5, atol=1e-7)
  # a label in the unreachable class: an infinite loss, as the impossible flip it is
  assert float(losses.forward_corrected_cross_entropy(z, jnp.array([2]), t)[0]) == np.inf
