"""Multi-label support (data, metrics, trainer) and the CAN-paper methods."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config, override

from nlx import data as data_lib
from nlx import losses, methods, metrics, train
from nlx.data import noise
from nlx.data.datasets import cifar10n_mosaic, features
from nlx.errors import ConfigError, DataError
from nlx.methods import can, icnm, multilabel

C = 10


def mosaic_config(tmp_path, variant, **method):
  config = load_config("can_cifar10n_mosaic", variant + ",tiny")
  config.data.data_dir = features.write_synthetic_cache(str(tmp_path))
  override(config.method, **method)
  return config


# ---------------------------------------------------------------- metrics and data

def test_voc07_eleven_point_ap_by_hand():
  scores = np.array([[0.9], [0.8], [0.7], [0.6]])
  targets = np.array([[1], [0], [1], [0]])
  # PR points: (R .5, P 1), (.5, .5), (1, 2/3), (1, .5): recall >= t for t <= .5 has max
  # precision 1 (6 levels), for t in .6..1 max precision 2/3 (5 levels).
  np.testing.assert_allclose(metrics.voc07_average_precision(scores, targets),
                             [(6 + 5 * 2 / 3) / 11])
  # scikit-learn's (non-interpolated) AP: .5 * 1 + .5 * 2/3.
  m = metrics.multilabel_metrics(scores, targets)
  np.testing.assert_allclose(m["map"], 0.5 + 0.5 * 2 / 3)
  assert m["per_class_ap"] == [pytest.approx(0.5 + 0.5 * 2 / 3)]


def test_mosaic_index_uses_every_image_evenly_and_unions_labels():
  idx = cifar10n_mosaic.mosaic_index(10, 7, seed=0)  # 28 slots over 10 images: 2 or 3 each
  assert idx.shape == (7, 4)
  counts = np.bincount(idx.ravel(), minlength=10)
  assert counts.min() >= 2 and counts.max() <= 3
  labels = np.array([0, 1, 1, 2])
  got = cifar10n_mosaic.union_labels(labels, np.array([[0, 1, 2, 3], [1, 2, 1, 2]]), 3)
  np.testing.assert_array_equal(got, [[1, 1, 1], [0, 1, 0]])


def test_mosaic_dataset_clean_noisy_and_shuffle(tmp_path):
  ds = data_lib.load_dataset(mosaic_config(tmp_path, "worst"))
  assert ds.multi_label and ds.train.labels.shape == (256, C)
  assert ds.train.inputs.shape == (256, 64)  # four 16-d tiles, at most 256 of 512 mosaics
  assert set(np.unique(ds.train.labels)) <= {0.0, 1.0}
  assert 1 <= ds.train.clean_labels.sum(1).min() and ds.train.clean_labels.sum(1).max() <= 4
  assert 0.3 < ds.info["noise_rate"] < 1.0  # P(some tile of four flipped) = 1 - .7^4 = .76
  clean = data_lib.load_dataset(mosaic_config(tmp_path, "clean"))
  assert clean.info["noise_rate"] == 0.0
  shuffled = data_lib.load_dataset(mosaic_config(tmp_path, "shuffle40"))
  np.testing.assert_array_equal(shuffled.train.labels.sum(1), shuffled.train.clean_labels.sum(1))
  assert 0.2 < shuffled.info["noise_rate"] <= 0.4  # a shuffle may leave the vector unchanged


def test_multilabel_shuffle_permutes_with_probability_p():
  y = (np.random.default_rng(0).random((4000, 10)) < 0.3).astype(np.float32)
  noisy = noise.multilabel_shuffle_noise(y, 0.5, seed=1)
  np.testing.assert_array_equal(np.sort(noisy, 1), np.sort(y, 1))
  assert 0.4 < np.mean((noisy != y).any(1)) < 0.5


def test_multilabel_validation_and_task_mismatch_errors(tmp_path):
  split = data_lib.Split(np.zeros((2, 3), np.float32), np.array([[0, 2.0], [1, 0]]),
                         np.array([[0, 1.0], [1, 0]]))
  with pytest.raises(DataError, match="only 0 and 1"):
    data_lib.validate_split(split, 2, "x", multi_label=True)
  config = mosaic_config(tmp_path, "worst")
  config.method = methods.default_config("ce")
  with pytest.raises(ConfigError, match="multi_label"):
    train.Trainer(config, data_lib.load_dataset(config))
  single = load_config("baselines", "ce,tiny")
  single.method = methods.default_config("can")
  with pytest.raises(ConfigError, match="multi_class"):
    train.Trainer(single, data_lib.load_dataset(single))
  config = mosaic_config(tmp_path, "worst")
  config.noise.type, config.noise.rate = "symmetric", 0.2
  with pytest.raises(ConfigError, match="multi-label"):
    data_lib.load_dataset(config)


# ---------------------------------------------------------------- baselines

def test_learnq_sigmoid_noisy_probability_and_trace_by_hand():
  p = multilabel.noisy_probability(jnp.array([[0.0, 100.0]]), jnp.array([0.1, 0.1]),
                                   jnp.array([0.2, 0.2]))
  np.testing.assert_allclose(p, [[0.5 * 0.8 + 0.5 * 0.1, 0.8]], rtol=1e-6)


def test_icnm_with_certain_relevance_is_plain_bce():
  cfg = icnm.default_config()
  cfg.init_logit = 30.0  # r1 = 1, r0 = 0: the noisy label is the visual label
  ds = type("D", (), {"num_classes": 3})
  model = type("M", (), {"feature_dim": 4})
  params, state = icnm.init_state(cfg, dataset=ds, model=model, rng=jax.random.key(0))
  logits = jnp.array([[1.0, -2.0, 0.5]])
  out = type("O", (), {"logits": logits, "features": jnp.ones((1, 4))})
  y = jnp.array([[1.0, 0.0, 0.0]])
  got, _ = icnm.loss_fn(params, state, out, {"label": y}, None, config=cfg, ctx=None)
  np.testing.assert_allclose(got, losses.sigmoid_binary_cross_entropy(logits, y), rtol=1e-5)


# ---------------------------------------------------------------- CAN

def numpy_can_objective(params, a, y, u, eps, tau, lam):
  """The objective written out in numpy from the equations, given the sampler noise."""
  p = {k: {kk: np.asarray(vv, np.float64) for kk, vv in v.items()} for k, v in params.items()}
  sig = lambda x: 1 / (1 + np.exp(-x))
  relu = lambda x: np.maximum(x, 0)
  lin = lambda layer, x: x @ layer["w"] + layer["b"]
  prior = sig(a)
  diff = relu(lin(p["contrast"], y)) - relu(lin(p["contrast"], prior))
  mu, log_var = np.split(lin(p["quality"], diff), 2, axis=-1)
  q_logit = lin(p["posterior"], relu(lin(p["add_prior"], prior)) + relu(lin(p["add_noisy"], y)))
  q = sig(q_logit)
  y_sample = sig((q_logit + np.log(u) - np.log(1 - u)) / tau)
  s = mu + np.exp(0.5 * log_var) * eps
  r = sig(lin(p["dec_out"], relu(lin(p["dec_hidden"], np.concatenate([y_sample, s], -1)))))
  recon = -np.sum(y * np.log(r) + (1 - y) * np.log(1 - r), -1)
  kl_y = np.sum(q * np.log(q / prior) + (1 - q) * np.log((1 - q) / (1 - prior)), -1)
  kl_s = 0.5 * np.sum(mu ** 2 + np.exp(log_var) - 1 - log_var, -1)
  h_y = -np.sum(q * np.log(q) + (1 - q) * np.log(1 - q), -1)
  h_s = 0.5 * np.sum(1 + np.log(2 * np.pi) + log_var, -1)
  return recon + kl_y + kl_s + lam * (h_y + h_s)


def can_setup(num_classes=4, batch=6):
  cfg = can.default_config()
  cfg.hidden, cfg.quality_dim = 8, 3
  ds = type("D", (), {"num_classes": num_classes})
  params, state = can.init_state(cfg, dataset=ds, model=None, rng=jax.random.key(0))
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.standard_normal((batch, num_classes)), jnp.float32)
  y = jnp.asarray(rng.random((batch, num_classes)) < 0.4, jnp.float32)
  return cfg, params, state, a, y


def test_can_objective_matches_a_numpy_implementation():
  cfg, params, _, a, y = can_setup()
  rng, tau = jax.random.key(7), 0.7
  terms = can.elbo_terms(params, a, y, rng, tau, cfg.mi_weight)
  # Re-draw the sampler noise the way elbo_terms does (same keys, same calls).
  rng_y, rng_s = jax.random.split(rng)
  u = np.asarray(jax.random.uniform(rng_y, a.shape, minval=1e-6, maxval=1 - 1e-6), np.float64)
  eps = np.asarray(jax.random.normal(rng_s, (a.shape[0], cfg.quality_dim)), np.float64)
  want = numpy_can_objective(params, np.asarray(a, np.float64), np.asarray(y, np.float64), u,
                             eps, tau, cfg.mi_weight)
  np.testing.assert_allclose(sum(terms), want, rtol=2e-4)


def test_can_annealing_moves_the_prior_gradient_from_bce_to_the_objective(step_context):
  cfg, params, state, a, y = can_setup()
  cfg.anneal_epochs = 2  # 20 steps
  batch = {"label": y}

  def prior_grad(step):
    out = lambda z: type("O", (), {"logits": z})
    f = lambda z: can.loss_fn(params, state, out(z), batch, jax.random.key(3), config=cfg,
                              ctx=step_context(step, steps_per_epoch=10, num_classes=4))[0].sum()
    return jax.grad(f)(a)

  bce = jax.grad(lambda z: losses.sigmoid_binary_cross_entropy(z, y).sum())(a)
  np.testing.assert_allclose(prior_grad(0), bce, rtol=1e-5, atol=1e-6)
  t, tau = can.anneal(jnp.asarray(20), 10, cfg)
  objective = jax.grad(lambda z: sum(can.elbo_terms(params, z, y, jax.random.key(3), tau,
                                                    cfg.mi_weight)).sum())(a)
  assert float(t) == 1.0 and float(tau) == pytest.approx(cfg.tau_end)
  np.testing.assert_allclose(prior_grad(20), objective, rtol=1e-5, atol=1e-6)
  # Half way: the mix of the two (the sample is the same: same key, tau differs).
  t, tau = can.anneal(jnp.asarray(10), 10, cfg)
  half_obj = jax.grad(lambda z: sum(can.elbo_terms(params, z, y, jax.random.key(3), tau,
                                                   cfg.mi_weight)).sum())(a)
  np.testing.assert_allclose(prior_grad(10), 0.5 * bce + 0.5 * half_obj, rtol=1e-4, atol=1e-6)


def test_can_encoder_gets_the_objective_gradient_at_every_step(step_context):
  cfg, params, state, a, y = can_setup()
  out = type("O", (), {"logits": a})
  g0 = jax.grad(lambda p: can.loss_fn(
      p, state, out, {"label": y}, jax.random.key(1), config=cfg,
      ctx=step_context(0, steps_per_epoch=10, num_classes=4))[0].sum())(params)
  tau = can.anneal(jnp.asarray(0), 10, cfg)[1]
  want = jax.grad(lambda p: sum(can.elbo_terms(p, a, y, jax.random.key(1), tau,
                                               cfg.mi_weight)).sum())(params)
  jax.tree.map(lambda g, w: np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-7), g0, want)


@pytest.mark.slow
@pytest.mark.parametrize("name", methods.MULTI_LABEL_NAMES)
def test_multilabel_methods_learn_mosaics_end_to_end(tmp_path, name):
  config = mosaic_config(tmp_path, f"{name},worst")
  config.train.num_epochs = 6
  config.data.max_train_examples = -1  # all 512 mosaics
  result = train.train_and_evaluate(config, str(tmp_path / "run"))
  test = result["test"]
  # Label frequency ~ 1 - .9^4 = .34 per class: a random ranking has mAP about .34.
  assert test["map"] > 0.6, test
  assert 0 < test["map_voc07"] <= 1 and len(test["per_class_ap"]) == C
  assert (tmp_path / "run" / "curves.png").exists()


def test_can_starts_with_the_latent_label_at_the_observed_one():
  cfg, params, _, a, y = can_setup(num_classes=5, batch=32)
  _, _, q_logits = can.encode(params, a, y)
  np.testing.assert_array_equal(np.asarray(q_logits > 0), np.asarray(y > 0.5))
  # and the decoder maps a latent label back to itself (s = 0)
  r = can.decode(params, y, jnp.zeros((32, cfg.quality_dim)))
  np.testing.assert_array_equal(np.asarray(r > 0), np.asarray(y > 0.5))


def test_conditional_transitions_by_hand():
  latent = np.array([[1, 0], [1, 0], [0, 1], [1, 1]])
  noisy = np.array([[1, 0], [0, 1], [0, 1], [1, 0]])
  t = can.conditional_transitions(latent, noisy, np.array([0, 0, 0, 1]), 2)
  # group 0: latent class 0 in rows 0, 1 -> noisy (1, 0), (0, 1); class 1 in row 2 -> (0, 1)
  np.testing.assert_allclose(t[0], [[0.5, 0.5], [0.0, 1.0]])
  np.testing.assert_allclose(t[1], [[1.0, 0.0], [1.0, 0.0]])


# ---------------------------------------------------------------- method values, by hand

def np_sigmoid(x):
  return 1 / (1 + np.exp(-np.asarray(x, np.float64)))


def np_bce(p, y):
  return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p), -1)


ML_LOGITS = np.array([[1.5, -0.5, 0.2], [-2.0, 0.7, 3.0]])
ML_LABELS = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]])


def test_bootstrap_sigmoid_loss_at_a_non_default_beta():
  cfg = multilabel.default_config("bootstrap_sigmoid")
  assert cfg.beta == 0.95
  cfg.beta = 0.6
  out = type("O", (), {"logits": jnp.asarray(ML_LOGITS, jnp.float32)})
  got, _ = multilabel.loss_fn({}, {}, out, {"label": jnp.asarray(ML_LABELS)}, None, config=cfg,
                              ctx=None)
  s = np_sigmoid(ML_LOGITS)
  np.testing.assert_allclose(got, np_bce(s, 0.6 * ML_LABELS + 0.4 * s), rtol=1e-5)


def test_learnq_sigmoid_init_flip_rates_and_loss_by_hand():
  cfg = multilabel.default_config("learnq_sigmoid")
  cfg.init_eps, cfg.trace_weight = 0.05, 0.5
  ds = type("D", (), {"num_classes": 3})
  params, _ = multilabel.init_state(cfg, dataset=ds, model=None, rng=None)
  for rate in multilabel.flip_rates(params):
    np.testing.assert_allclose(rate, [0.05] * 3, rtol=1e-5)
  # distinct flip rates: rho+ = P(noisy 1 | true 0), rho- = P(noisy 0 | true 1)
  rho_plus, rho_minus = np.array([0.1, 0.3, 0.02]), np.array([0.2, 0.05, 0.4])
  logit = lambda v: np.log(v / (1 - v))
  params = {"flip_logits": jnp.asarray(np.stack([logit(rho_plus), logit(rho_minus)]), jnp.float32)}
  out = type("O", (), {"logits": jnp.asarray(ML_LOGITS, jnp.float32)})
  got, aux = multilabel.loss_fn(params, {}, out, {"label": jnp.asarray(ML_LABELS)}, None,
                                config=cfg, ctx=None)
  p = np_sigmoid(ML_LOGITS)
  noisy_p = p * (1 - rho_minus) + (1 - p) * rho_plus
  data = np_bce(noisy_p, ML_LABELS)
  reg = 0.5 * np.sum((1 - rho_plus) + (1 - rho_minus))  # trace of the three 2x2 Q_c
  np.testing.assert_allclose(aux["metrics"]["data_loss"], data, rtol=1e-5)
  np.testing.assert_allclose(aux["metrics"]["reg_loss"], reg, rtol=1e-5)
  np.testing.assert_allclose(got, data + reg, rtol=1e-5)


def test_icnm_relevance_start_and_loss_by_hand():
  cfg = icnm.default_config()
  cfg.init_logit = 2.0
  ds = type("D", (), {"num_classes": 3})
  model = type("M", (), {"feature_dim": 2})
  params, _ = icnm.init_state(cfg, dataset=ds, model=model, rng=jax.random.key(0))
  np.testing.assert_array_equal(params["relevance"]["b"], [-2, -2, -2, 2, 2, 2])
  np.testing.assert_array_equal(params["relevance"]["w"], np.zeros((2, 6)))
  h = np.array([[1.0, -1.0], [0.5, 2.0]])
  out = type("O", (), {"logits": jnp.asarray(ML_LOGITS, jnp.float32),
                       "features": jnp.asarray(h, jnp.float32)})
  v = np_sigmoid(ML_LOGITS)
  # at the start: r0 = sigmoid(-2) (an absent object is reported), r1 = sigmoid(2)
  got, _ = icnm.loss_fn(params, {}, out, {"label": jnp.asarray(ML_LABELS)}, None, config=cfg,
                        ctx=None)
  want = np_bce(np_sigmoid(2) * v + np_sigmoid(-2) * (1 - v), ML_LABELS)
  np.testing.assert_allclose(got, want, rtol=1e-5)
  # image-conditional relevance: columns 0..2 are r0's logits, 3..5 r1's
  w = np.random.default_rng(0).normal(size=(2, 6))
  params = {"relevance": {"w": jnp.asarray(w, jnp.float32), "b": params["relevance"]["b"]}}
  r = np_sigmoid(h @ w + np.array([-2, -2, -2, 2, 2, 2]))
  got, _ = icnm.loss_fn(params, {}, out, {"label": jnp.asarray(ML_LABELS)}, None, config=cfg,
                        ctx=None)
  np.testing.assert_allclose(got, np_bce(r[:, 3:] * v + r[:, :3] * (1 - v), ML_LABELS), rtol=1e-5)


def test_can_objective_at_a_non_default_mi_weight_and_temperature():
  cfg, params, _, a, y = can_setup(batch=4)
  rng, tau, lam = jax.random.key(9), 2.5, 1.7  # mi_weight 0.3 by default, tau <= 1 in use
  terms = can.elbo_terms(params, a, y, rng, tau, lam)
  rng_y, rng_s = jax.random.split(rng)
  u = np.asarray(jax.random.uniform(rng_y, a.shape, minval=1e-6, maxval=1 - 1e-6), np.float64)
  eps = np.asarray(jax.random.normal(rng_s, (a.shape[0], cfg.quality_dim)), np.float64)
  want = numpy_can_objective(params, np.asarray(a, np.float64), np.asarray(y, np.float64), u,
                             eps, tau, lam)
  np.testing.assert_allclose(sum(terms), want, rtol=2e-4)


def test_can_quality_embedding_by_hand():
  cfg, params, _, a, y = can_setup(batch=5)
  a = np.asarray(a).copy()
  a[0] = np.where(np.asarray(y[0]) > 0.5, 2.0, -2.0)  # prior agrees with y~ on example 0
  trainer = type("T", (), {"predict": staticmethod(lambda state, split: a)})
  state = type("S", (), {"params": {"method": params}})
  split = type("Sp", (), {"labels": np.asarray(y)})
  got = can.quality_embedding(trainer, state, split)
  p = {k: {kk: np.asarray(vv, np.float64) for kk, vv in v.items()} for k, v in params.items()}
  relu = lambda x: np.maximum(x, 0)
  lin = lambda layer, x: x @ layer["w"] + layer["b"]
  prior, yy = np_sigmoid(a), np.asarray(y, np.float64)
  mu = np.split(lin(p["quality"], relu(lin(p["contrast"], yy)) - relu(lin(p["contrast"], prior))),
                2, axis=-1)[0]
  q = np_sigmoid(lin(p["posterior"], relu(lin(p["add_prior"], prior)) +
                     relu(lin(p["add_noisy"], yy))))
  np.testing.assert_allclose(got["prior"], prior, rtol=1e-6)
  np.testing.assert_allclose(got["mu"], mu, rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(got["posterior"], q, rtol=1e-4, atol=1e-6)
  want_trust = [bool(np.all((prior[i] > 0.5) == (yy[i] > 0.5))) for i in range(5)]
  assert want_trust[0] and not all(want_trust)
  np.testing.assert_array_equal(got["trustworthy"], want_trust)


def test_multilabel_baselines_default_to_the_documented_values():
  from nlx.methods import multilabel
  doc = " ".join(multilabel.__doc__.split())
  assert "beta = 0.95" in doc and "Defaults: trace_weight = 0.01, init_eps = 1e-3." in doc
  assert multilabel.default_config("bce").to_dict() == {"name": "bce"}
  assert multilabel.default_config("bootstrap_sigmoid").to_dict() == {
      "name": "bootstrap_sigmoid", "beta": 0.95}
  assert multilabel.default_config("learnq_sigmoid").to_dict() == {
      "name": "learnq_sigmoid", "trace_weight": 0.01, "init_eps": 1e-3}
