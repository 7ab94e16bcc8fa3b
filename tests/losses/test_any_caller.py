"""Every loss for any caller: integer or row labels (never a silent broadcast, even when
B == C), bfloat16 logits (float32 inside and out), one example at a time under
`vmap(grad)`, extreme logits."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nlx import losses as nl

T5 = 0.7 * jnp.eye(5) + 0.06  # a row-stochastic T[true, noisy] for C = 5

# softmax losses: (name, fn(logits, labels)) with labels integer [B] or rows [B, C]
SOFTMAX = [
    ("ce", nl.softmax_cross_entropy),
    ("label_smoothing", nl.label_smoothing_cross_entropy),
    ("bootstrap_soft", nl.bootstrap_soft),
    ("bootstrap_hard", nl.bootstrap_hard),
    ("gce", nl.generalized_cross_entropy),
    ("truncated_gce", nl.truncated_generalized_cross_entropy),
    ("truncated_gce_weighted", functools.partial(nl.truncated_generalized_cross_entropy,
                                                 weights=jnp.float32(1.0))),
    ("sce", nl.symmetric_cross_entropy),
    ("rce", nl.reverse_cross_entropy),
    ("tce", nl.taylor_cross_entropy),
    ("mae", nl.mean_absolute_error),
    ("mae_reduced", functools.partial(nl.mean_absolute_error, reduced=True)),
    ("nce", nl.normalized_cross_entropy),
    ("nce_rce", nl.active_passive_loss),
    ("forward", lambda z, y: nl.forward_corrected_cross_entropy(z, y, T5)),
]
NAMES = [n for n, _ in SOFTMAX]
FNS = dict(SOFTMAX)


def batch(b=5, c=5, scale=3.0, seed=0):
  k1, k2 = jax.random.split(jax.random.key(seed))
  return jax.random.normal(k1, (b, c)) * scale, jax.random.randint(k2, (b,), 0, c)


@pytest.mark.parametrize("name", NAMES)
def test_integer_labels_with_batch_equal_to_classes_are_class_indices(name):
  fn = FNS[name]
  logits, y = batch(b=5, c=5)  # B == C: a broadcast would go unnoticed by shape
  want = fn(logits, jax.nn.one_hot(y, 5))
  got = fn(logits, y)
  assert got.shape == (5,) and got.dtype == jnp.float32
  np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
  # per row by hand: the one-hot value of row i uses label y[i] only
  for i in range(5):
    np.testing.assert_allclose(fn(logits[i:i + 1], y[i:i + 1])[0], want[i], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", NAMES)
def test_labels_of_a_wrong_shape_or_float_indices_raise_one_clear_error(name):
  fn = FNS[name]
  logits, y = batch(b=5, c=5)
  with pytest.raises(nl.LabelShapeError, match="integer class indices"):
    fn(logits, y.astype(jnp.float32))  # [B] floats: not indices, not rows
  with pytest.raises(nl.LabelShapeError, match="fit neither"):
    fn(logits, jax.nn.one_hot(y, 6))
  with pytest.raises(nl.LabelShapeError):
    fn(logits, y[:4])


@pytest.mark.parametrize("name", NAMES)
def test_vmap_grad_per_example_equals_batched_gradient(name):
  fn = FNS[name]
  logits, y = batch(b=6, c=5, seed=1)
  want = jax.grad(lambda z: fn(z, y).sum())(logits)
  per_example = jax.vmap(jax.grad(lambda z, t: fn(z, t)))(logits, y)  # z: [C], t: scalar
  np.testing.assert_allclose(per_example, want, rtol=1e-5, atol=1e-7)
  rows = jax.vmap(jax.grad(lambda z, t: fn(z, t)))(logits, jax.nn.one_hot(y, 5))
  np.testing.assert_allclose(rows, want, rtol=1e-5, atol=1e-7)
  assert fn(logits[0], y[0]).shape == ()


@pytest.mark.parametrize("name", NAMES)
def test_bfloat16_logits_are_computed_in_float32(name):
  fn = FNS[name]
  logits, y = batch(b=64, c=5, scale=20.0, seed=2)
  low = logits.astype(jnp.bfloat16)
  got = fn(low, y)
  assert got.dtype == jnp.float32
  np.testing.assert_allclose(got, fn(low.astype(jnp.float32), y), rtol=1e-6, atol=1e-7)
  g = jax.grad(lambda z: fn(z, y).sum())(low)
  # the float32 gradient, rounded once to the logits' dtype on the way back
  g32 = jax.grad(lambda z: fn(z, y).sum())(low.astype(jnp.float32))
  assert g.dtype == jnp.bfloat16
  np.testing.assert_array_equal(np.asarray(g, np.float32),
                                np.asarray(g32.astype(jnp.bfloat16), np.float32))


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_extreme_logits_scale_50_finite_values_and_gradients(name):
  fn = FNS[name]
  logits, y = batch(b=16, c=10, scale=50.0, seed=3)
  if name == "forward":
    fn = lambda z, t: nl.forward_corrected_cross_entropy(z, t, 0.7 * jnp.eye(10) + 0.03)
  g = jax.grad(lambda z: fn(z, y).sum())(logits)
  assert np.all(np.isfinite(fn(logits, y))) and np.all(np.isfinite(g))


def test_elr_regularizer_in_bfloat16_at_logit_scale_16_and_20_is_finite():
  # In bf16, 1 - 1e-4 rounds to 1.0, so a bf16 clamp gives log(1 - 1) = -inf on rows
  # whose prediction and target agree; nlx clamps in float32.
  rng = np.random.default_rng(0)
  for scale in (16.0, 20.0):
    logits = jnp.asarray(rng.standard_normal((4096, 10)) * scale, jnp.bfloat16)
    t = jax.nn.softmax(logits.astype(jnp.float32) * 2.0)  # targets agreeing with p
    reg = nl.elr_regularizer(logits, t)
    assert reg.dtype == jnp.float32 and np.all(np.isfinite(reg))
    p = np.clip(np.asarray(jax.nn.softmax(logits.astype(jnp.float32))), 1e-4, 1 - 1e-4)
    want = np.log(1 - np.sum(np.asarray(t) * p, axis=1))
    np.testing.assert_allclose(reg, want, rtol=1e-5, atol=1e-6)
    assert np.min(want) < -8  # confident rows: near the clamp's floor log(1e-4)


def test_binary_cross_entropy_of_bfloat16_probabilities_is_finite():
  p = jax.nn.sigmoid(jnp.array([[20.0, -20.0]], jnp.bfloat16))  # bf16: exactly 1.0 and ~2e-9
  y = jnp.array([[0.0, 1.0]])
  got = nl.binary_cross_entropy(p, y)
  assert got.dtype == jnp.float32 and np.isfinite(float(got[0]))
  # both entries sit beyond the clip [1e-7, 1 - 1e-7] (applied in float32)
  eps_hi = np.float32(1.0) - np.float32(1e-7)
  want = -np.log1p(-np.float64(eps_hi)) - np.log(np.float64(np.float32(1e-7)))
  np.testing.assert_allclose(float(got[0]), want, rtol=1e-5)


def test_sigmoid_losses_want_targets_of_the_logits_shape():
  logits = jnp.zeros((4, 4))
  with pytest.raises(nl.LabelShapeError, match="logits' shape"):
    nl.sigmoid_binary_cross_entropy(logits, jnp.array([0, 1, 2, 3]))
  np.testing.assert_allclose(nl.sigmoid_binary_cross_entropy(logits, jnp.eye(4, dtype=jnp.int32)),
                             4 * np.log(2), rtol=1e-6)


def test_integer_labels_for_softmax_cross_entropy_with_integer_labels_only():
  logits, y = batch(b=5, c=5)
  np.testing.assert_allclose(nl.softmax_cross_entropy_with_integer_labels(logits, y),
                             nl.softmax_cross_entropy(logits, y), rtol=1e-6)
  per = jax.vmap(jax.grad(nl.softmax_cross_entropy_with_integer_labels))(logits, y)
  np.testing.assert_allclose(per, jax.nn.softmax(logits) - jax.nn.one_hot(y, 5), rtol=1e-5,
                             atol=1e-7)
  with pytest.raises(nl.LabelShapeError):
    nl.softmax_cross_entropy_with_integer_labels(logits, jax.nn.one_hot(y, 5))


def test_extreme_logits_finite_values_and_gradients_fast():
  """Fast twin of the slow scale-50 test: every loss at once in one compiled program, on
  random logits of scale 50 plus rows where the label's logit is 200 below or above
  the rest (log-probabilities of -200: exp underflows to 0 in float32)."""
  logits, y = batch(b=6, c=10, scale=50.0, seed=3)
  crafted = jnp.array([[-100.0] + [100.0] * 9, [100.0] + [-100.0] * 9])
  logits, y = jnp.concatenate([logits, crafted]), jnp.concatenate([y, jnp.array([0, 0])])
  t10 = 0.7 * jnp.eye(10) + 0.03
  fns = {**FNS, "forward": lambda z, t: nl.forward_corrected_cross_entropy(z, t, t10)}

  @jax.jit
  def values_and_grads(z):
    return {n: jax.value_and_grad(lambda z_, f=f: f(z_, y).sum())(z) for n, f in fns.items()}

  for name, (value, grad) in values_and_grads(logits).items():
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(grad))), name


# losses with hyperparameters: (fn, first hyperparameter, a value away from its default)
KEYWORD_ONLY = [
    (nl.label_smoothing_cross_entropy, "alpha", 0.3),
    (nl.bootstrap_soft, "beta", 0.6),
    (nl.bootstrap_hard, "beta", 0.6),
    (nl.generalized_cross_entropy, "q", 0.3),
    (nl.truncated_generalized_cross_entropy, "q", 0.3),
    (nl.reverse_cross_entropy, "log_zero", -6.0),
    (nl.symmetric_cross_entropy, "alpha", 0.5),
    (nl.taylor_cross_entropy, "order", 3),
    (nl.mean_absolute_error, "reduced", True),
    (nl.active_passive_loss, "alpha", 0.5),
    (nl.sigmoid_bootstrap_soft, "beta", 0.6),
    (nl.sigmoid_bootstrap_hard, "beta", 0.6),
]


@pytest.mark.parametrize("fn,name,value", KEYWORD_ONLY,
                         ids=[f.__name__ for f, _, _ in KEYWORD_ONLY])
def test_hyperparameters_are_keyword_only_and_logits_labels_may_be_named(fn, name, value):
  """The API of nlx.losses' doc: `(logits, labels, *, hyperparameters)`. A hyperparameter
  passed by position (a swapped argument order going unnoticed) is a TypeError; logits and
  labels may be passed by name."""
  logits, y = batch(b=4, c=5)
  labels = jax.nn.one_hot(y, 5)  # rows: every loss here, sigmoid ones included, takes them
  want = fn(logits, labels, **{name: value})
  np.testing.assert_allclose(fn(logits=logits, labels=labels, **{name: value}), want, rtol=1e-6)
  with pytest.raises(TypeError):
    fn(logits, labels, value)


def test_binary_cross_entropy_eps_is_keyword_only_and_probs_labels_may_be_named():
  p, y = jnp.array([[0.25, 1.0]]), jnp.array([[1.0, 0.0]])
  # p = 1 with y = 0 is clipped to 1 - eps: -log(0.25) - log(eps), eps = 1e-3
  want = -np.log(0.25) - np.log(1e-3)
  np.testing.assert_allclose(nl.binary_cross_entropy(probs=p, labels=y, eps=1e-3)[0], want,
                             rtol=1e-4)
  with pytest.raises(TypeError):
    nl.binary_cross_entropy(p, y, 1e-3)
