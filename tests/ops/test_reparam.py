import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from nlx.ops import reparam

N = 200_000


def test_gaussian_rsample_moments_and_gradients():
  mean, log_var = jnp.array([1.5, -2.0]), jnp.log(jnp.array([0.25, 4.0]))
  x = reparam.gaussian_rsample(jax.random.key(0), jnp.broadcast_to(mean, (N, 2)),
                               jnp.broadcast_to(log_var, (N, 2)))
  np.testing.assert_allclose(x.mean(0), mean, atol=0.02)
  np.testing.assert_allclose(x.var(0), [0.25, 4.0], rtol=0.02)
  # d/dmean E[x] = 1; d/dlog_var E[x^2] = d/dlog_var (mean^2 + var) = var.
  def moments(m, lv):
    s = reparam.gaussian_rsample(jax.random.key(1), jnp.broadcast_to(m, (N, 2)),
                                 jnp.broadcast_to(lv, (N, 2)))
    return jnp.sum(s.mean(0)), jnp.sum(jnp.square(s).mean(0))
  g_mean = jax.grad(lambda m: moments(m, log_var)[0])(mean)
  g_lv = jax.grad(lambda lv: moments(mean, lv)[1])(log_var)
  np.testing.assert_allclose(g_mean, [1.0, 1.0], atol=1e-5)
  np.testing.assert_allclose(g_lv, [0.25, 4.0], rtol=0.03)


@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0])
def test_binary_concrete_threshold_probability_is_sigmoid(tau):
  # P(sigmoid((a + L) / tau) > 1/2) = P(L > -a) = sigmoid(a) for logistic L, any tau.
  logits = jnp.array([-2.0, 0.0, 0.7, 3.0])
  s = reparam.binary_concrete(jax.random.key(2), jnp.broadcast_to(logits, (N, 4)), tau)
  assert float(s.min()) >= 0.0 and float(s.max()) <= 1.0
  np.testing.assert_allclose((s > 0.5).mean(0), jax.nn.sigmoid(logits), atol=0.005)


def test_binary_concrete_low_temperature_mean_and_hard_gradient():
  logits = jnp.array([-1.0, 0.5])
  s = reparam.binary_concrete(jax.random.key(3), jnp.broadcast_to(logits, (N, 2)), 0.01)
  np.testing.assert_allclose(s.mean(0), jax.nn.sigmoid(logits), atol=0.005)
  hard = reparam.binary_concrete(jax.random.key(4), jnp.broadcast_to(logits, (8, 2)), 0.5,
                                 hard=True)
  assert set(np.unique(np.asarray(hard))) <= {0.0, 1.0}
  g = jax.grad(lambda a: reparam.binary_concrete(jax.random.key(4), a, 0.5, hard=True).sum())(
      jnp.broadcast_to(logits, (8, 2)))
  assert np.all(np.asarray(g) > 0)  # straight-through: the relaxed sample's gradient


def test_gumbel_softmax_argmax_frequencies_are_softmax():
  logits = jnp.log(jnp.array([0.2, 0.5, 0.3]))
  s = reparam.gumbel_softmax(jax.random.key(5), jnp.broadcast_to(logits, (N, 3)), 0.5)
  np.testing.assert_allclose(s.sum(-1), 1.0, atol=1e-5)
  freq = np.bincount(np.asarray(jnp.argmax(s, -1)), minlength=3) / N
  np.testing.assert_allclose(freq, [0.2, 0.5, 0.3], atol=0.005)
  hard = reparam.gumbel_softmax(jax.random.key(5), jnp.broadcast_to(logits, (N, 3)), 0.5,
                                hard=True)
  np.testing.assert_allclose(hard.mean(0), freq, atol=1e-6)


def test_bernoulli_kl_and_entropy_by_hand():
  q, p = 0.8, 0.3
  kl = q * np.log(q / p) + (1 - q) * np.log((1 - q) / (1 - p))
  logit = lambda v: np.log(v / (1 - v))
  got = reparam.bernoulli_kl(jnp.array([logit(q), 0.0]), jnp.array([logit(p), 0.0]))
  np.testing.assert_allclose(got, kl, rtol=1e-5)  # second pair: KL = 0
  ent = reparam.bernoulli_entropy(jnp.array([[logit(q), logit(p)]]))
  np.testing.assert_allclose(ent, [stats.bernoulli(q).entropy() + stats.bernoulli(p).entropy()],
                             rtol=1e-5)
  # Extreme logits: log sigmoid(x) - log sigmoid(-x) = x, so KL(q=40 || p=-40) =
  # 40 sigmoid(40) - 40 sigmoid(-40) = 40 tanh(20), not inf - inf.
  got = float(reparam.bernoulli_kl(jnp.array([40.0]), jnp.array([-40.0])))
  assert got == pytest.approx(40 * np.tanh(20.0), rel=1e-6)


def test_gaussian_kl_and_entropy_against_scipy_and_monte_carlo():
  mean, log_var = np.array([0.5, -1.0, 2.0]), np.log(np.array([0.3, 1.0, 2.5]))
  ent = float(reparam.gaussian_entropy(jnp.asarray(log_var)))
  want = sum(stats.norm(m, np.sqrt(v)).entropy() for m, v in zip(mean, np.exp(log_var)))
  np.testing.assert_allclose(ent, want, rtol=1e-5)
  kl = float(reparam.gaussian_kl_standard(jnp.asarray(mean), jnp.asarray(log_var)))
  rng = np.random.default_rng(0)
  x = mean + np.sqrt(np.exp(log_var)) * rng.standard_normal((N, 3))
  log_q = stats.norm(mean, np.sqrt(np.exp(log_var))).logpdf(x).sum(1)
  log_p = stats.norm(0, 1).logpdf(x).sum(1)
  np.testing.assert_allclose(kl, np.mean(log_q - log_p), rtol=0.02)


def test_gumbel_softmax_and_binary_concrete_values_at_a_temperature():
  # Argmax frequencies and P(sample > 1/2) do not depend on the temperature; the values do.
  # The noise is re-drawn with the same key and the same jax.random calls.
  logits = jnp.array([[0.5, -1.0, 2.0], [0.0, 0.3, -0.2]])
  key = jax.random.key(11)
  g = np.asarray(jax.random.gumbel(key, logits.shape), np.float64)
  u = np.asarray(jax.random.uniform(key, logits.shape, minval=1e-6, maxval=1 - 1e-6), np.float64)
  for tau in (0.3, 2.0):
    z = (np.asarray(logits, np.float64) + g) / tau
    want = np.exp(z - z.max(-1, keepdims=True))
    want /= want.sum(-1, keepdims=True)
    np.testing.assert_allclose(reparam.gumbel_softmax(key, logits, tau), want, rtol=1e-5, atol=1e-7)
    want_b = 1 / (1 + np.exp(-(np.asarray(logits, np.float64) + np.log(u) - np.log(1 - u)) / tau))
    np.testing.assert_allclose(reparam.binary_concrete(key, logits, tau), want_b, rtol=1e-5,
                               atol=1e-7)


def test_event_axis_is_the_last_for_any_rank():
  # one event of 2 Bernoullis [2] and a [1, 2, 2] batch: sums over the last axis only
  q, p = 0.8, 0.3
  logit = lambda v: float(np.log(v / (1 - v)))
  h = stats.bernoulli(q).entropy() + stats.bernoulli(p).entropy()
  np.testing.assert_allclose(reparam.bernoulli_entropy(jnp.array([logit(q), logit(p)])), h,
                             rtol=1e-5)
  np.testing.assert_allclose(reparam.bernoulli_entropy(jnp.full((1, 2, 2), 0.0)),
                             [[2 * np.log(2), 2 * np.log(2)]], rtol=1e-6)
  kl = q * np.log(q / p) + (1 - q) * np.log((1 - q) / (1 - p))
  np.testing.assert_allclose(reparam.bernoulli_kl(jnp.full((1, 2, 3), logit(q)),
                                                  jnp.full((1, 2, 3), logit(p))),
                             np.full((1, 2), 3 * kl), rtol=1e-5)
  # gaussian: KL(N(1, 1) || N(0, 1)) = 1/2 per dimension; H(N(., 1)) = (1 + log 2 pi) / 2
  np.testing.assert_allclose(
      reparam.gaussian_kl_standard(jnp.ones((1, 2, 3)), jnp.zeros((1, 2, 3))),
      np.full((1, 2), 1.5), rtol=1e-6)
  np.testing.assert_allclose(reparam.gaussian_entropy(jnp.zeros((1, 2, 3))),
                             np.full((1, 2), 1.5 * (1 + np.log(2 * np.pi))), rtol=1e-6)
  # a single hard Gumbel-softmax sample [C] is one-hot
  s = reparam.gumbel_softmax(jax.random.key(0), jnp.log(jnp.array([0.2, 0.5, 0.3])), 0.5, hard=True)
  assert s.shape == (3,) and sorted(np.asarray(s).tolist()) == [0.0, 0.0, 1.0]
  s3 = reparam.gumbel_softmax(jax.random.key(0), jnp.zeros((2, 4, 3)), 0.5, hard=True)
  np.testing.assert_array_equal(np.asarray(s3).sum(-1), np.ones((2, 4)))


def test_hard_is_keyword_only():
  logits = jnp.zeros((2, 3))
  for fn in (reparam.gumbel_softmax, reparam.binary_concrete):
    with pytest.raises(TypeError):
      fn(jax.random.key(0), logits, 0.5, True)
    hard = fn(rng=jax.random.key(0), logits=logits, temperature=0.5, hard=True)
    assert set(np.unique(np.asarray(hard))) <= {0.0, 1.0}
