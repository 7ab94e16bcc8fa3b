import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nlx import losses as nl

P = np.array([0.5, 0.3, 0.2])
LOGITS = jnp.log(jnp.asarray(P))[None]  # softmax(LOGITS) == P exactly (up to float error)


def onehot(k, c=3):
  return jnp.asarray(np.eye(c)[[k]], jnp.float32)


def lq(p, q):
  return (1 - p ** q) / q


# (loss, label class, value worked out by hand from the papers' formulas)
HAND = [
    (lambda z, y: nl.generalized_cross_entropy(z, y, q=0.7), 0, lq(0.5, 0.7)),
    (lambda z, y: nl.truncated_generalized_cross_entropy(z, y, q=0.7, k=0.4), 0, lq(0.5, 0.7)),
    (lambda z, y: nl.truncated_generalized_cross_entropy(z, y, q=0.7, k=0.4), 1, lq(0.4, 0.7)),
    (lambda z, y: nl.symmetric_cross_entropy(z, y, alpha=0.1, beta=1.0, log_zero=-4.0), 0,
     0.1 * -math.log(0.5) + 4 * (1 - 0.5)),
    (lambda z, y: nl.reverse_cross_entropy(z, y, log_zero=math.log(1e-4)), 2,
     -math.log(1e-4) * 0.8),
    (lambda z, y: nl.taylor_cross_entropy(z, y, order=2), 0, 0.5 + 0.5 ** 2 / 2),
    (lambda z, y: nl.taylor_cross_entropy(z, y, order=3), 1, 0.7 + 0.7 ** 2 / 2 + 0.7 ** 3 / 3),
    (nl.mean_absolute_error, 0, 0.5 + 0.3 + 0.2),
    (nl.normalized_cross_entropy, 0,
     math.log(0.5) / (math.log(0.5) + math.log(0.3) + math.log(0.2))),
    (lambda z, y: nl.active_passive_loss(z, y), 1,
     math.log(0.3) / (math.log(0.5) + math.log(0.3) + math.log(0.2)) + 4 * 0.7),
    (lambda z, y: nl.bootstrap_soft(z, y, beta=0.95), 0,
     -(0.95 + 0.05 * 0.5) * math.log(0.5) - 0.05 * 0.3 * math.log(0.3)
     - 0.05 * 0.2 * math.log(0.2)),
    (lambda z, y: nl.bootstrap_hard(z, y, beta=0.8), 1,
     -(0.8 * math.log(0.3) + 0.2 * math.log(0.5))),
    (lambda z, y: nl.label_smoothing_cross_entropy(z, y, alpha=0.3), 0,
     -(0.8 * math.log(0.5) + 0.1 * math.log(0.3) + 0.1 * math.log(0.2))),
    (lambda z, y: nl.forward_corrected_cross_entropy(
        z, y, jnp.array([[0.8, 0.2, 0], [0.1, 0.9, 0], [0, 0, 1.0]])), 1,
     -math.log(0.5 * 0.2 + 0.3 * 0.9)),
    # every parameter away from its default; where two play different roles, at values
    # whose swap changes the answer
    (lambda z, y: nl.generalized_cross_entropy(z, y, q=0.3), 1, lq(0.3, 0.3)),
    # truncated L_q, q = 0.4 and k = 0.25: p_y = 0.3 > k keeps L_q(0.3); swapped
    # (q = 0.25, k = 0.4) it would be truncated to L_q(0.4) with q = 0.25
    (lambda z, y: nl.truncated_generalized_cross_entropy(z, y, q=0.4, k=0.25), 1, lq(0.3, 0.4)),
    (lambda z, y: nl.truncated_generalized_cross_entropy(z, y, q=0.25, k=0.4), 1, lq(0.4, 0.25)),
    (lambda z, y: nl.truncated_generalized_cross_entropy(z, y, q=0.4, k=0.25), 2, lq(0.25, 0.4)),
    (lambda z, y: nl.truncated_generalized_cross_entropy(z, y, q=0.25, k=0.4), 2, lq(0.4, 0.25)),
    # SCE, alpha = 0.7, beta = 0.2, A = -6: 0.7 CE + 0.2 * 6 (1 - p_y)
    (lambda z, y: nl.symmetric_cross_entropy(z, y, alpha=0.7, beta=0.2, log_zero=-6.0), 1,
     0.7 * -math.log(0.3) + 0.2 * 6 * (1 - 0.3)),
    (lambda z, y: nl.symmetric_cross_entropy(z, y, alpha=0.2, beta=0.7, log_zero=-6.0), 1,
     0.2 * -math.log(0.3) + 0.7 * 6 * (1 - 0.3)),
    # NCE+RCE, alpha = 0.3, beta = 2, A = -7: 0.3 NCE + 2 * 7 (1 - p_y)
    (lambda z, y: nl.active_passive_loss(z, y, alpha=0.3, beta=2.0, log_zero=-7.0), 0,
     0.3 * math.log(0.5) / (math.log(0.5) + math.log(0.3) + math.log(0.2)) + 2 * 7 * 0.5),
    (lambda z, y: nl.active_passive_loss(z, y, alpha=2.0, beta=0.3, log_zero=-7.0), 0,
     2 * math.log(0.5) / (math.log(0.5) + math.log(0.3) + math.log(0.2)) + 0.3 * 7 * 0.5),
    # soft bootstrap, beta = 0.6: target 0.6 y + 0.4 p = (0.2, 0.72, 0.08)
    (lambda z, y: nl.bootstrap_soft(z, y, beta=0.6), 1,
     -(0.2 * math.log(0.5) + 0.72 * math.log(0.3) + 0.08 * math.log(0.2))),
    # hard bootstrap, beta = 0.6: argmax p = class 0, target 0.6 y + 0.4 e_0
    (lambda z, y: nl.bootstrap_hard(z, y, beta=0.6), 2,
     -(0.6 * math.log(0.2) + 0.4 * math.log(0.5))),
    # reduced MAE (the APL code's): 1 - p_y, half the paper's L1 norm
    (lambda z, y: nl.mean_absolute_error(z, y, reduced=True), 1, 1 - 0.3),
    (lambda z, y: nl.reverse_cross_entropy(z, y, log_zero=-5.0), 0, 5 * (0.3 + 0.2)),
]


@pytest.mark.parametrize("fn,label,want", HAND)
def test_hand_computed_values(fn, label, want):
  assert float(fn(LOGITS, onehot(label))[0]) == pytest.approx(want, rel=1e-5)


def test_elr_regularizer_by_hand():
  t = jnp.array([[0.2, 0.5, 0.3]])
  assert float(nl.elr_regularizer(LOGITS, t)[0]) == pytest.approx(math.log(1 - 0.31), rel=1e-5)
  # one example `[C]` (the docstring's other shape), and under vmap: <p, t> = 0.31 again
  assert float(nl.elr_regularizer(LOGITS[0], t[0])) == pytest.approx(math.log(1 - 0.31),
                                                                     rel=1e-5)
  rows = jax.vmap(nl.elr_regularizer)(jnp.tile(LOGITS, (2, 1)), jnp.array([[0.2, 0.5, 0.3],
                                                                           [1.0, 0.0, 0.0]]))
  np.testing.assert_allclose(rows, [math.log(1 - 0.31), math.log(1 - 0.5)], rtol=1e-5)


def test_truncated_gce_weights_by_hand():
  """w L_q(p_y) + (1 - w) L_q(k) per example, q = 0.4, k = 0.6: example 0 (p_y = 0.5, w =
  0.25), example 1 (p_y = 0.2, w = 1), example 2 (p_y = 0.3, w = 0: the constant)."""
  logits = jnp.concatenate([LOGITS] * 3)
  got = nl.truncated_generalized_cross_entropy(logits, jnp.array([0, 2, 1]), q=0.4, k=0.6,
                                               weights=jnp.array([0.25, 1.0, 0.0]))
  np.testing.assert_allclose(got, [0.25 * lq(0.5, 0.4) + 0.75 * lq(0.6, 0.4), lq(0.2, 0.4),
                                   lq(0.6, 0.4)], rtol=1e-5)


def test_soft_labels_by_hand():
  """Soft label (0.5, 0.5, 0) with p = (0.5, 0.3, 0.2): the label-weighted form."""
  y = jnp.array([[0.5, 0.5, 0.0]])
  # RCE: -(0.5 log 0.5 + 0.3 log 0.5 + 0.2 A), A = -4
  assert float(nl.reverse_cross_entropy(LOGITS, y)[0]) == pytest.approx(
      0.8 * math.log(2) + 0.2 * 4, rel=1e-5)
  # MAE: |0.5 - 0.5| + |0.3 - 0.5| + |0.2 - 0| = 0.4; reduced: 1 - (0.25 + 0.15) = 0.6
  assert float(nl.mean_absolute_error(LOGITS, y)[0]) == pytest.approx(0.4, rel=1e-5)
  assert float(nl.mean_absolute_error(LOGITS, y, reduced=True)[0]) == pytest.approx(0.6, rel=1e-5)
  # truncated L_q, q = 0.5, k = 0.4: 0.5 L_q(0.5) + 0.5 L_q(k) (class 1's 0.3 is below k)
  assert float(nl.truncated_generalized_cross_entropy(LOGITS, y, q=0.5, k=0.4)[0]) == pytest.approx(
      0.5 * lq(0.5, 0.5) + 0.5 * lq(0.4, 0.5), rel=1e-5)


def test_sigmoid_bootstraps_at_another_beta_by_hand():
  """beta = 0.6 (defaults 0.95 and 0.8); z = (0, 2), y = (1, 0), s = sigmoid(2)."""
  z, y = jnp.array([[0.0, 2.0]]), jnp.array([[1.0, 0.0]])
  s = 1 / (1 + math.exp(-2))
  # soft: target 0.6 y + 0.4 sigmoid(z) = (0.8, 0.4 s)
  want = math.log(2) - (0.4 * s * math.log(s) + (1 - 0.4 * s) * math.log(1 - s))
  assert float(nl.sigmoid_bootstrap_soft(z, y, beta=0.6)[0]) == pytest.approx(want, rel=1e-5)
  # hard: target 0.6 y + 0.4 [z > 0] = (0.6, 0.4)
  want_h = math.log(2) - (0.4 * math.log(s) + 0.6 * math.log(1 - s))
  assert float(nl.sigmoid_bootstrap_hard(z, y, beta=0.6)[0]) == pytest.approx(want_h, rel=1e-5)


def test_sigmoid_losses_by_hand():
  z, y = jnp.array([[0.0, 2.0]]), jnp.array([[1.0, 0.0]])
  assert float(nl.sigmoid_binary_cross_entropy(z, y)[0]) == pytest.approx(
      math.log(2) + math.log(1 + math.exp(2)), rel=1e-6)
  s = 1 / (1 + math.exp(-2))
  # soft bootstrap target: 0.95 * y + 0.05 * sigmoid(z) = [0.975, 0.05 * s]
  t = [0.95 + 0.05 * 0.5, 0.05 * s]
  want = -(t[0] * math.log(0.5) + (1 - t[0]) * math.log(0.5)) - (
      t[1] * math.log(s) + (1 - t[1]) * math.log(1 - s))
  assert float(nl.sigmoid_bootstrap_soft(z, y)[0]) == pytest.approx(want, rel=1e-5)
  # hard: predictions [0 > 0 -> 0, 1]: target = 0.8 y + 0.2 * [0, 1] = [0.8, 0.2]
  want_h = (-(0.8 * math.log(0.5) + 0.2 * math.log(0.5))
            - (0.2 * math.log(s) + 0.8 * math.log(1 - s)))
  assert float(nl.sigmoid_bootstrap_hard(z, y)[0]) == pytest.approx(want_h, rel=1e-5)


def random_batch(seed=0, b=7, c=5):
  k1, k2 = jax.random.split(jax.random.key(seed))
  logits = jax.random.normal(k1, (b, c)) * 3
  labels = jax.nn.one_hot(jax.random.randint(k2, (b,), 0, c), c)
  return logits, labels


def test_limits():
  logits, y = random_batch()
  ce = nl.softmax_cross_entropy(logits, y)
  np.testing.assert_allclose(nl.generalized_cross_entropy(logits, y, q=1e-6), ce, rtol=1e-4)
  np.testing.assert_allclose(nl.bootstrap_soft(logits, y, beta=1.0), ce, rtol=1e-6)
  np.testing.assert_allclose(nl.bootstrap_hard(logits, y, beta=1.0), ce, rtol=1e-6)
  np.testing.assert_allclose(nl.symmetric_cross_entropy(logits, y, alpha=1.0, beta=0.0), ce,
                             rtol=1e-6)
  np.testing.assert_allclose(nl.label_smoothing_cross_entropy(logits, y, alpha=0.0), ce, rtol=1e-6)
  np.testing.assert_allclose(nl.truncated_generalized_cross_entropy(logits, y, k=1e-30),
                             nl.generalized_cross_entropy(logits, y), rtol=1e-6)
  np.testing.assert_allclose(nl.forward_corrected_cross_entropy(logits, y, jnp.eye(5)), ce,
                             rtol=1e-5)
  # GCE with q = 1 is 1 - p_y = MAE / 2; TCE with t = 1 likewise.
  np.testing.assert_allclose(nl.generalized_cross_entropy(logits, y, q=1.0),
                             nl.mean_absolute_error(logits, y) / 2, rtol=1e-5)
  np.testing.assert_allclose(nl.taylor_cross_entropy(logits, y, order=1),
                             nl.mean_absolute_error(logits, y) / 2, rtol=1e-5)


def test_taylor_ce_approaches_ce_with_order():
  logits = jnp.log(jnp.array([[0.6, 0.3, 0.1]]))
  y = onehot(0)
  ce = float(nl.softmax_cross_entropy(logits, y)[0])
  gaps = [ce - float(nl.taylor_cross_entropy(logits, y, order=t)[0]) for t in (1, 2, 5, 50)]
  assert all(g > 0 for g in gaps) and gaps == sorted(gaps, reverse=True)
  assert gaps[-1] < 1e-6


ALL = [nl.softmax_cross_entropy, nl.label_smoothing_cross_entropy, nl.bootstrap_soft,
       nl.bootstrap_hard, nl.generalized_cross_entropy, nl.truncated_generalized_cross_entropy,
       nl.symmetric_cross_entropy, nl.reverse_cross_entropy, nl.taylor_cross_entropy,
       nl.mean_absolute_error, nl.normalized_cross_entropy, nl.active_passive_loss,
       lambda z, y: nl.forward_corrected_cross_entropy(z, y, 0.7 * jnp.eye(5) + 0.06),
       lambda z, y: nl.elr_regularizer(z, jnp.full_like(y, 0.2)),
       nl.sigmoid_binary_cross_entropy, nl.sigmoid_bootstrap_soft, nl.sigmoid_bootstrap_hard]


@pytest.mark.parametrize("fn", ALL)
def test_batch_single_jit_and_extreme_gradients(fn):
  logits, y = random_batch(1)
  batch = fn(logits, y)
  assert batch.shape == (7,)
  np.testing.assert_allclose(jax.jit(fn)(logits, y), batch, rtol=1e-5, atol=1e-6)
  for i in (0, 3):
    np.testing.assert_allclose(fn(logits[i:i + 1], y[i:i + 1])[0], batch[i], rtol=1e-5, atol=1e-6)
  extreme = jnp.array([[1e4, -1e4, 0.0, 50.0, -50.0]] * 2)
  labels = jnp.asarray(np.eye(5)[[1, 0]], jnp.float32)  # one wrong, one right
  g = jax.grad(lambda z: fn(z, labels).sum())(extreme)
  assert np.all(np.isfinite(g)) and np.all(np.isfinite(fn(extreme, labels)))


# every default, as the docstrings give it (the papers' values)
DEFAULTS = [
    (nl.label_smoothing_cross_entropy, {"alpha": 0.1}),
    (nl.bootstrap_soft, {"beta": 0.95}),
    (nl.bootstrap_hard, {"beta": 0.8}),
    (nl.generalized_cross_entropy, {"q": 0.7}),
    (nl.truncated_generalized_cross_entropy, {"q": 0.7, "k": 0.5}),
    (nl.reverse_cross_entropy, {"log_zero": -4.0}),
    (nl.symmetric_cross_entropy, {"alpha": 0.1, "beta": 1.0, "log_zero": -4.0}),
    (nl.taylor_cross_entropy, {"order": 2}),
    (nl.mean_absolute_error, {"reduced": False}),
    (nl.active_passive_loss, {"alpha": 1.0, "beta": 1.0, "log_zero": -4.0}),
    (nl.sigmoid_bootstrap_soft, {"beta": 0.95}),
    (nl.sigmoid_bootstrap_hard, {"beta": 0.8}),
]


@pytest.mark.parametrize("fn,defaults", DEFAULTS, ids=[f.__name__ for f, _ in DEFAULTS])
def test_defaults_are_the_documented_ones(fn, defaults):
  # p_y on both sides of the truncation k = 0.5, logits on both sides of 0 and of +-1
  logits = jnp.log(jnp.array([[0.7, 0.2, 0.1], [0.3, 0.6, 0.1], [0.2, 0.2, 0.6]]))
  labels = jnp.asarray(np.eye(3)[[0, 0, 2]], jnp.float32)
  np.testing.assert_allclose(fn(logits, labels), fn(logits, labels, **defaults), rtol=1e-6)
  # each default against a value a unit away: the default call must tell them apart
  for name, value in defaults.items():
    for other in ((not value,) if isinstance(value, bool) else (value + 1, value - 1)):
      if fn is nl.taylor_cross_entropy and other < 1:
        continue
      assert not np.allclose(fn(logits, labels),
                             fn(logits, labels, **{**defaults, name: other})), name


def test_binary_cross_entropy_default_eps_is_1e_7():
  # p = 0 with y = 1 is clipped to 1e-7: -log(1e-7) = 16.118
  got = nl.binary_cross_entropy(jnp.array([[0.0]]), jnp.array([[1.0]]))
  assert float(got[0]) == pytest.approx(-math.log(1e-7), rel=1e-5)


def test_truncated_gce_at_p_y_equal_to_k_is_the_constant_branch():
  """The paper's truncation: L_q(p_y) only where p_y > k; at p_y = k exactly (two equal
  logits, k = 0.5) the value is L_q(k) either way, but the loss is the constant, so no
  gradient."""
  logits, y = jnp.zeros((1, 2)), jnp.array([[1.0, 0.0]])
  assert float(nl.truncated_generalized_cross_entropy(logits, y, q=0.7, k=0.5)[0]) == (
      pytest.approx(lq(0.5, 0.7), rel=1e-6))
  g = jax.grad(lambda z: nl.truncated_generalized_cross_entropy(z, y, q=0.7, k=0.5).sum())(logits)
  np.testing.assert_array_equal(g, np.zeros((1, 2)))


def test_reverse_ce_gradient_wrt_soft_labels_with_a_zero_is_finite():
  """Targets that come from a model (soft labels) may have exact zeros. RCE
  `-sum_k p_k max(log y_k, A)`: d/dy_k = -p_k / y_k where log y_k > A, else 0."""
  y = jnp.array([[0.6, 0.4, 0.0]])
  g = jax.grad(lambda t: nl.reverse_cross_entropy(LOGITS, t).sum())(y)
  np.testing.assert_allclose(g, [[-0.5 / 0.6, -0.3 / 0.4, 0.0]], rtol=1e-5)


def test_sigmoid_bootstrap_hard_counts_a_zero_logit_as_negative():
  """z = [sigmoid(logit) > 0.5]: a logit of exactly 0 is not a positive prediction. The
  value at logit 0 is log 2 whatever the target; the gradient sigmoid(0) - target tells:
  target 0.8 * 1 + 0.2 * 0 = 0.8 -> -0.3, and 0.8 * 0 + 0.2 * 0 = 0 -> 0.5."""
  g = jax.grad(lambda z: nl.sigmoid_bootstrap_hard(z, jnp.array([[1.0, 0.0]]), beta=0.8).sum())(
      jnp.zeros((1, 2)))
  np.testing.assert_allclose(g, [[-0.3, 0.5]], rtol=1e-6)
  # and logits 0.5, -0.5 (between 0 and +-1): predicted positive, negative
  z = jnp.array([[0.5, -0.5]])
  s = 1 / (1 + math.exp(-0.5))
  want = -(math.log(s)) - math.log(s)  # targets 1 and 0: BCE = -log s - log(1 - sigmoid(-0.5))
  assert float(nl.sigmoid_bootstrap_hard(z, jnp.array([[1.0, 0.0]]), beta=0.8)[0]) == (
      pytest.approx(want, rel=1e-5))
