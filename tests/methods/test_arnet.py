"""ARNet's readings (issue 19): each option's jitted step, each target worked by hand."""

import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config

from nlx import data as data_lib
from nlx import models, train
from nlx.errors import ConfigError
from nlx.methods import arnet
from nlx.ops import memory
from nlx.ops.sinkhorn import sinkhorn_assignment

READINGS = {
    "paper": {},
    "read_temperature": {"read_temperature": 0.1},
    "cluster_temperature": {"cluster_temperature": 0.1},
    "running": {"target": "running", "lam": 0.2},
    "running_lam0": {"target": "running", "lam": 0.0},
    "cache_full_only": {"cache_full_only": True},
}
METRICS = ("loss_ce", "loss_elr", "loss_proto", "read_entropy", "read_max", "q_entropy",
           "r_dot_t", "proto_label_max", "memory_accuracy", "target_accuracy")


def make_trainer(**overrides):
  config = load_config("baselines", "arnet,tiny")
  config.model.name = "mlp"
  config.model.hidden = (32,)
  config.method.num_prototypes, config.method.cache_size = 8, 48
  config.data.on_device = False  # host batches through the per-step program
  config.method.update(overrides)
  return train.Trainer(config, data_lib.load_dataset(config), train.make_mesh(jax.devices()[:1]))


@pytest.mark.slow
@pytest.mark.parametrize("reading", list(READINGS))
def test_each_reading_one_jitted_step_is_finite_and_logs_its_diagnostics(reading):
  trainer = make_trainer(**READINGS[reading])
  s0 = trainer.initial_state
  shapes = jax.tree.map(lambda x: (x.shape, x.dtype), s0)
  batch = trainer.shard(next(trainer.train_iterator(1)))
  # every logged value, worked out again in numpy from this step's network outputs
  want = first_step_metrics_in_numpy(trainer, s0, batch, READINGS[reading])
  s1, m = trainer.train_step(s0, batch)  # donates s0
  assert jax.tree.map(lambda x: (x.shape, x.dtype), s1) == shapes
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(s1)
             if jnp.issubdtype(x.dtype, jnp.floating))
  assert set(METRICS) <= set(m)
  m = {k: float(v) for k, v in m.items()}
  assert all(np.isfinite(v) for v in m.values())
  assert m["loss"] == pytest.approx(m["loss_ce"] + m["loss_elr"] + m["loss_proto"], rel=1e-5)
  # uniform initial G: v = 1/K everywhere, so argmax v is class 0 and G's rows have max 1/K
  assert m["proto_label_max"] == pytest.approx(0.1, rel=1e-5)
  assert 0 < m["read_entropy"] <= 1 and 1 / 8 <= m["read_max"] <= 1
  assert set(want) <= set(m)
  for key, value in want.items():
    assert m[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
  if reading == "read_temperature":  # a sharper read than the paper's
    paper = make_trainer()
    _, m_paper = paper.train_step(paper.initial_state, batch)
    assert m["read_entropy"] < float(m_paper["read_entropy"])
  if READINGS[reading].get("target") == "running":
    running = np.asarray(s1.method_state["running"])
    idx = np.asarray(batch["index"])
    np.testing.assert_allclose(running[idx].sum(1), 0.3, rtol=1e-5)  # 0.7 * 0 + 0.3 * p
    assert np.all(np.delete(running, idx, axis=0) == 0)


def empty_ring(size, dim, batch):
  """ARNet's cache state before its first step: an empty ring of `size` rows of `dim`,
  no features of a `batch`-row step held back (`arnet.written_cache`)."""
  del size
  return {"cache_count": jnp.zeros((), jnp.int32), "cache_position": jnp.zeros((), jnp.int32),
          "cache_pending": jnp.zeros((batch, dim))}


def np_softmax(x):
  x = np.asarray(x, np.float64)
  e = np.exp(x - x.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def np_cosines(h, c):
  h, c = np.asarray(h, np.float64), np.asarray(c, np.float64)
  return (h / np.linalg.norm(h, axis=1, keepdims=True)) @ (
      c / np.linalg.norm(c, axis=1, keepdims=True)).T


def np_sinkhorn(scores, epsilon, num_iters):
  """SwAV's `distributed_sinkhorn` on one device, in float64: Q = exp(S / eps) / sum,
  then per round every prototype's mass -> 1/L and every sample's -> 1/B; rows times B."""
  q = np.exp(np.asarray(scores, np.float64) / epsilon)
  q /= q.sum()
  b, num_protos = q.shape
  for _ in range(num_iters):
    q = q / q.sum(0, keepdims=True) / num_protos
    q = q / q.sum(1, keepdims=True) / b
  return q * b


def first_step_metrics_in_numpy(trainer, s0, batch, reading):
  """The first step's logged means (uniform G, empty cache, zero running targets) from
  the network's outputs on `batch`, in float64 numpy from ARNet's equations."""
  config = {**arnet.default_config().to_dict(), "num_prototypes": 8, "cache_size": 48,
            **reading}
  x = train.normalize(batch["image"], trainer.dataset.mean, trainer.dataset.std)
  out, _ = models.apply(trainer.graphdef, s0.params["model"], s0.model_state, x, train=True)
  r = np_softmax(out.logits)
  label, clean = np.asarray(batch["label"]), np.asarray(batch["clean_label"])
  num_protos, k = 8, r.shape[1]
  cos = np_cosines(out.features, s0.params["method"]["prototypes"])
  p_read = np_softmax(cos / config["read_temperature"])
  v = p_read @ np.full((num_protos, k), 1.0 / k)  # = 1/K in every entry
  clipped = np.clip(r, 1e-4, 1 - 1e-4)
  if config["target"] == "running":  # 0.7 * 0 + 0.3 * (clipped p, renormalised)
    base = (1 - config["target_momentum"]) * clipped / clipped.sum(1, keepdims=True)
  else:
    base = r
  t = (1 - config["lam"]) * base + config["lam"] * v
  q = np_sinkhorn(cos, 0.05, 3)  # the cache is empty at the first step
  log_p_cluster = np.log(np_softmax(cos / config["cluster_temperature"]))
  want = {"loss_ce": -np.log(r[np.arange(len(label)), label]),
          "loss_elr": config["alpha"] * np.log(1 - (clipped * t).sum(1)),
          "loss_proto": -(q * log_p_cluster).sum(1),
          "read_entropy": -(p_read * np.log(p_read)).sum(1) / np.log(num_protos),
          "read_max": p_read.max(1),
          "q_entropy": -(q * np.log(q)).sum(1) / np.log(num_protos),
          "r_dot_t": (r * t).sum(1),
          "memory_accuracy": clean == 0,  # v is flat: argmax v = class 0
          "target_accuracy": np.argmax(base, 1) == clean,
          "noisy_accuracy": np.argmax(r, 1) == label}
  want = {key: float(np.mean(value)) for key, value in want.items()}
  want["loss"] = want["loss_ce"] + want["loss_elr"] + want["loss_proto"]
  return want


def hand_example(ctx, target, lam, alpha=3.0, momentum=0.7):
  """Two classes, one example: logits (0, log 3) -> r = (1/4, 3/4); every prototype's soft
  label is (0.9, 0.1), so v = (0.9, 0.1) whatever the attention."""
  config = arnet.default_config()
  config.update(num_prototypes=4, cache_size=2, target=target, lam=lam, alpha=alpha,
                target_momentum=momentum)
  prototypes = jnp.eye(4, 3)
  state = {"proto_labels": jnp.tile(jnp.array([[0.9, 0.1]]), (4, 1)),
           "cache": jnp.zeros((2, 3)), **empty_ring(2, 3, 1),
           "running": jnp.array([[0.0, 0.0], [0.5, 0.5]])}
  outputs = models.Outputs(jnp.array([[0.0, np.log(3.0)]]), jnp.array([[1.0, 2.0, 0.5]]))
  batch = {"label": jnp.array([1]), "clean_label": jnp.array([0]), "index": jnp.array([1])}
  return arnet.loss_fn({"prototypes": prototypes}, state, outputs, batch, None, config=config,
                       ctx=ctx)


@pytest.mark.parametrize("target,lam,want", [
    # t = (1 - lam) r + lam v, r = (0.25, 0.75), v = (0.9, 0.1)
    ("current", 0.2, [0.8 * 0.25 + 0.2 * 0.9, 0.8 * 0.75 + 0.2 * 0.1]),   # (0.38, 0.62)
    ("current", 0.0, [0.25, 0.75]),
    # running r: 0.7 * (0.5, 0.5) + 0.3 * (0.25, 0.75) = (0.425, 0.575)
    ("running", 0.2, [0.8 * 0.425 + 0.2 * 0.9, 0.8 * 0.575 + 0.2 * 0.1]),  # (0.52, 0.48)
    ("running", 0.0, [0.425, 0.575]),
    ("running", 1.0, [0.9, 0.1]),
])
def test_each_readings_target_against_the_hand_worked_example(target, lam, want, step_context):
  per_example, aux = hand_example(step_context(), target, lam)
  np.testing.assert_allclose(aux["target"], [want], rtol=1e-5)
  assert int(aux["refined"][0]) == int(np.argmax(want))
  r = np.array([0.25, 0.75])
  elr = 3.0 * np.log(1 - r @ np.asarray(want))
  np.testing.assert_allclose(aux["metrics"]["loss_elr"], [elr], rtol=1e-5)
  np.testing.assert_allclose(aux["metrics"]["r_dot_t"], [r @ np.asarray(want)], rtol=1e-5)
  np.testing.assert_allclose(aux["metrics"]["loss_ce"], [-np.log(0.75)], rtol=1e-5)
  np.testing.assert_allclose(per_example, aux["metrics"]["loss_ce"] + aux["metrics"]["loss_elr"]
                             + aux["metrics"]["loss_proto"], rtol=1e-5)
  # clean label 0: argmax v = 0 is right, argmax t right only when the memory wins
  assert float(aux["metrics"]["memory_accuracy"][0]) == 1.0
  assert float(aux["metrics"]["target_accuracy"][0]) == float(np.argmax(want) == 0)
  if target == "running":
    np.testing.assert_allclose(aux["running"][1], [0.425, 0.575], rtol=1e-5)
    np.testing.assert_array_equal(aux["running"][0], [0.0, 0.0])


@pytest.mark.parametrize("lam,want", [
    # momentum 0.4: running = 0.4 * (0.5, 0.5) + 0.6 * (0.25, 0.75) = (0.35, 0.65)
    (0.0, [0.35, 0.65]),
    (0.2, [0.8 * 0.35 + 0.2 * 0.9, 0.8 * 0.65 + 0.2 * 0.1]),  # (0.46, 0.54)
])
def test_running_target_at_another_momentum_and_alpha_by_hand(lam, want, step_context):
  """`target_momentum` 0.4 and `alpha` 1.5 (defaults 0.7 and 3): at 0.7 the running row
  would be (0.425, 0.575), and the ELR term twice as large."""
  per_example, aux = hand_example(step_context(), "running", lam, alpha=1.5, momentum=0.4)
  np.testing.assert_allclose(aux["running"][1], [0.35, 0.65], rtol=1e-5)
  np.testing.assert_array_equal(aux["running"][0], [0.0, 0.0])
  np.testing.assert_allclose(aux["target"], [want], rtol=1e-5)
  r_dot_t = 0.25 * want[0] + 0.75 * want[1]  # 0.575 at lam = 0, 0.52 at lam = 0.2
  np.testing.assert_allclose(aux["metrics"]["r_dot_t"], [r_dot_t], rtol=1e-5)
  np.testing.assert_allclose(aux["metrics"]["loss_elr"], [1.5 * np.log(1 - r_dot_t)], rtol=1e-5)
  np.testing.assert_allclose(per_example, aux["metrics"]["loss_ce"] + aux["metrics"]["loss_elr"]
                             + aux["metrics"]["loss_proto"], rtol=1e-5)


@pytest.mark.parametrize("scale,alpha,momentum", [
    (0.1, None, None), (3.0, None, None), (30.0, None, None),  # small, ordinary, saturated
    (3.0, 1.5, 0.4)])  # ELR's lambda and beta away from their defaults
def test_running_lam0_is_elr_plus_the_prototype_term(scale, alpha, momentum, step_context):
  """At `target=running, lam=0` (alpha = ELR's lambda, momentum = ELR's beta) the CE and ELR
  terms equal nlx.methods.elr's loss on the same batch and running state, and the running
  targets move the same way: what separates the two rows of the ablation table is the
  prototype term alone."""
  from nlx.methods import elr
  key = jax.random.key(int(scale * 10))
  n, b, k, d = 7, 4, 3, 5
  logits = scale * jax.random.normal(key, (b, k))
  h = jax.random.normal(jax.random.fold_in(key, 1), (b, d))
  running = jax.nn.softmax(jax.random.normal(jax.random.fold_in(key, 2), (n, k)))
  running = running.at[0].set(0.0)  # a row not yet visited: zeros, as ELR starts
  batch = {"label": jnp.array([2, 0, 1, 2]), "index": jnp.array([0, 3, 5, 6])}
  config = arnet.default_config()
  elr_config = elr.default_config()
  assert (elr_config.lam, elr_config.beta) == (config.alpha, config.target_momentum)
  if alpha is not None:
    config.update(alpha=alpha, target_momentum=momentum)
    elr_config.update(lam=alpha, beta=momentum)
  config.update(num_prototypes=4, cache_size=2, target="running", lam=0.0)
  state = {"proto_labels": jax.nn.softmax(jax.random.normal(jax.random.fold_in(key, 3), (4, k))),
           "cache": jnp.zeros((2, d)), **empty_ring(2, d, logits.shape[0]),
           "running": running}
  params = {"prototypes": jax.random.normal(jax.random.fold_in(key, 4), (4, d))}
  outputs = models.Outputs(logits, h)
  total, aux = arnet.loss_fn(params, state, outputs, batch, None, config=config,
                             ctx=step_context(num_classes=k))
  elr_total, elr_aux = elr.loss_fn({}, {"targets": running}, outputs, batch, None,
                                   config=elr_config, ctx=step_context(num_classes=k))
  m = aux["metrics"]
  np.testing.assert_allclose(m["loss_ce"] + m["loss_elr"], elr_total, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(total - m["loss_proto"], elr_total, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(aux["running"], elr_aux["targets"], rtol=1e-6)
  assert np.all(np.asarray(m["loss_proto"]) > 0)  # the one term ELR does not have


@pytest.mark.slow
@pytest.mark.parametrize("read_t,cluster_t", [(1.0, 1.0), (0.1, 1.0), (1.0, 0.1), (0.5, 0.2)])
def test_read_and_cluster_temperatures_act_on_their_own_terms(read_t, cluster_t, step_context):
  key = jax.random.key(0)
  h, c = jax.random.normal(key, (6, 3)), jax.random.normal(jax.random.fold_in(key, 1), (4, 3))
  cos = (np.asarray(h) / np.linalg.norm(h, axis=1, keepdims=True)) @ (
      np.asarray(c) / np.linalg.norm(c, axis=1, keepdims=True)).T
  g = np.asarray(jax.nn.softmax(jax.random.normal(jax.random.fold_in(key, 2), (4, 2))))
  config = arnet.default_config()
  config.update(num_prototypes=4, cache_size=2, read_temperature=read_t,
                cluster_temperature=cluster_t, lam=1.0)
  state = {"proto_labels": jnp.asarray(g), "cache": jnp.zeros((2, 3)), **empty_ring(2, 3, 6)}
  batch = {"label": jnp.zeros(6, jnp.int32), "index": jnp.arange(6)}
  _, aux = arnet.loss_fn({"prototypes": c}, state, models.Outputs(jnp.zeros((6, 2)), h),
                         batch, None, config=config,
                         ctx=step_context())

  def softmax(x):
    e = np.exp(x - x.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)
  p_read, p_cluster = softmax(cos / read_t), softmax(cos / cluster_t)
  np.testing.assert_allclose(aux["target"], p_read @ g, rtol=1e-5)  # lam = 1: t = v
  np.testing.assert_allclose(aux["metrics"]["read_max"], p_read.max(1), rtol=1e-5)
  np.testing.assert_allclose(aux["metrics"]["read_entropy"],
                             -(p_read * np.log(p_read)).sum(1) / np.log(4), rtol=1e-5)
  q = np.asarray(aux["q"])
  np.testing.assert_allclose(q, np.asarray(sinkhorn_assignment(jnp.asarray(cos))), rtol=1e-5,
                             atol=1e-7)  # the assignment ignores both temperatures
  np.testing.assert_allclose(aux["metrics"]["loss_proto"], -(q * np.log(p_cluster)).sum(1),
                             rtol=1e-5)


def test_read_and_cluster_temperatures_by_hand(step_context):
  """read_temperature 0.5 and cluster_temperature 0.25 (both 1 by default): the read
  (Eq. 1) divides the cosines by the first, the prototype term (Eq. 3) by the second.
  One example: h = (3, 4) has cosines (0.6, 0.8, -0.6) with the prototypes
  (1, 0), (0, 1), (-1, 0); with one sample Sinkhorn's equipartition gives q = 1/3 each."""
  config = arnet.default_config()
  config.update(num_prototypes=3, cache_size=2, read_temperature=0.5, cluster_temperature=0.25,
                lam=0.6)
  g = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
  state = {"proto_labels": jnp.asarray(g, jnp.float32), "cache": jnp.zeros((2, 2)),
           **empty_ring(2, 2, 1)}
  outputs = models.Outputs(jnp.array([[0.0, np.log(3.0)]]), jnp.array([[3.0, 4.0]]))
  batch = {"label": jnp.array([1]), "clean_label": jnp.array([0]), "index": jnp.array([0])}
  per_example, aux = arnet.loss_fn(
      {"prototypes": jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])}, state, outputs, batch,
      None, config=config, ctx=step_context())
  e = np.exp([1.2, 1.6, -1.2])  # cosines / 0.5
  p_read = e / e.sum()  # (0.3969, 0.5921, 0.0109)
  v = p_read @ g  # (0.6551, 0.3449)
  r = np.array([0.25, 0.75])
  t = 0.4 * r + 0.6 * v  # (0.4931, 0.5069)
  np.testing.assert_allclose(aux["target"], [t], rtol=1e-5)
  np.testing.assert_allclose(aux["trust"], [v[1]], rtol=1e-5)  # v at the given label 1
  np.testing.assert_allclose(aux["metrics"]["read_max"], [p_read[1]], rtol=1e-5)
  np.testing.assert_allclose(aux["metrics"]["read_entropy"],
                             [-(p_read * np.log(p_read)).sum() / np.log(3)], rtol=1e-5)
  np.testing.assert_allclose(aux["metrics"]["memory_accuracy"], [1.0])  # argmax v = 0
  np.testing.assert_allclose(aux["metrics"]["loss_elr"], [3.0 * np.log(1 - r @ t)], rtol=1e-5)
  np.testing.assert_allclose(aux["q"], [[1 / 3, 1 / 3, 1 / 3]], rtol=1e-5)
  s = np.array([2.4, 3.2, -2.4])  # cosines / 0.25
  log_p_cluster = s - np.log(np.exp(s).sum())
  np.testing.assert_allclose(aux["metrics"]["loss_proto"], [-log_p_cluster.mean()], rtol=1e-5)
  np.testing.assert_allclose(per_example, [-np.log(0.75) + 3.0 * np.log(1 - r @ t)
                                           - log_p_cluster.mean()], rtol=1e-5)


@pytest.mark.parametrize("full_only", [False, True])
def test_loss_assignment_uses_the_configs_epsilon_iterations_and_cache_rule(full_only,
                                                                           step_context):
  """epsilon 0.5 and one Sinkhorn round (defaults 0.05 and 3), a cache of 4 slots holding
  3 rows: Q is SwAV's Sinkhorn over [those 3 rows; the batch] or, with `cache_full_only`,
  over the batch alone (numpy reference above)."""
  key = jax.random.key(5)
  h = jax.random.normal(key, (3, 4))
  protos = jax.random.normal(jax.random.fold_in(key, 1), (3, 4))
  # the previous step's 3 features (L2-normalised) held back, written into the empty ring
  # at this step's start: the cache holds 3 of its 4 rows
  held = memory.l2_normalize(jax.random.normal(jax.random.fold_in(key, 2), (3, 4)))
  config = arnet.default_config()
  config.update(num_prototypes=3, cache_size=4, epsilon=0.5, sinkhorn_iters=1,
                cache_full_only=full_only)
  state = {"proto_labels": jnp.full((3, 2), 0.5), "cache": jnp.zeros((4, 4)),
           **empty_ring(4, 4, 3), "cache_pending": held}
  batch = {"label": jnp.array([0, 1, 1]), "index": jnp.arange(3)}
  _, aux = arnet.loss_fn({"prototypes": protos}, state, models.Outputs(jnp.zeros((3, 2)), h),
                         batch, None, config=config, ctx=step_context(1))  # a step ran
  assert int(aux["cache"][1]) == 3
  rows = h if full_only else np.concatenate([np.asarray(held), np.asarray(h)])
  want = np_sinkhorn(np_cosines(rows, protos), 0.5, 1)[-3:]
  np.testing.assert_allclose(aux["q"], want, rtol=1e-5, atol=1e-7)


def test_the_assignment_shifts_by_the_cosines_bound_not_their_maximum():
  """`assign` passes the cosines' bound 1 to the Sinkhorn: no max over the batch and the
  cache in its program, and the Q of the max shift (cosines of random unit rows)."""
  key = jax.random.key(8)
  unit = memory.l2_normalize(jax.random.normal(key, (20, 6)))
  protos = memory.l2_normalize(jax.random.normal(jax.random.fold_in(key, 1), (4, 6)))
  scores, cache_scores = unit[:5] @ protos.T, unit[5:] @ protos.T
  q = arnet.assign(scores, cache_scores, jnp.asarray(12), epsilon=0.05, num_iters=3)
  want = sinkhorn_assignment(scores, queue=cache_scores, queue_valid=jnp.arange(15) < 12)
  np.testing.assert_allclose(q, want, rtol=1e-5, atol=1e-7)
  jaxpr = jax.make_jaxpr(lambda a, b, n: arnet.assign(a, b, n, epsilon=0.05, num_iters=3))(
      scores, cache_scores, jnp.asarray(12))
  assert "reduce_max" not in {eqn.primitive.name for eqn in jaxpr.jaxpr.eqns}


def test_epsilon_below_the_float32_floor_is_an_error_and_at_it_every_row_keeps_mass():
  """epsilon under `MIN_EPSILON` (2 / ln(1 / float32's smallest normal) = 0.0229): a
  ConfigError naming it; just above it, a row whose cosines all sit at -1 (2 below the
  bound) still gets an assignment summing to 1 (at 0.02 it would get none)."""
  assert arnet.MIN_EPSILON == pytest.approx(0.02290, abs=1e-5)
  config = arnet.default_config()
  config.epsilon = 0.0228
  with pytest.raises(ConfigError, match="method.epsilon=0.0228 must be >= 0.0229"):
    arnet.check_config(config)
  config.epsilon = arnet.MIN_EPSILON
  arnet.check_config(config)
  scores = jnp.array([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
  eps = arnet.MIN_EPSILON * 1.01
  q = np.asarray(arnet.assign(scores, jnp.zeros((0, 2)), jnp.asarray(0), epsilon=eps,
                              num_iters=3))
  np.testing.assert_allclose(q.sum(1), 1.0, rtol=1e-5)
  lost = np.asarray(arnet.assign(scores, jnp.zeros((0, 2)), jnp.asarray(0), epsilon=0.02,
                                 num_iters=3))
  assert lost[0].sum() == 0.0  # what the error guards against


def test_update_state_writes_prototype_labels_at_its_beta():
  """beta = 0.5 (default 0.8), two prototypes, two examples (Eq. 5 by hand):
  prototype 0: (0.5 (0.6, 0.4) + 0.25 (0.2, 0.8)) / 0.75 = (7/15, 8/15);
  prototype 1: (0.5 (0.6, 0.4) + 0.75 (0.2, 0.8)) / 1.25 = (0.36, 0.64)."""
  config = arnet.default_config()
  config.update(beta=0.5, num_prototypes=2, cache_size=3)
  state = {"proto_labels": jnp.array([[0.9, 0.1], [0.2, 0.8]]), "cache": jnp.zeros((3, 2)),
           **empty_ring(3, 2, 2), "refined": jnp.array([0, 1, 1, 0]),
           "trust": jnp.zeros(4), "labels": jnp.array([0, 1, 1, 0])}
  ring = (jnp.array([[0.0, 1.0], [0, 0], [0, 0]]), jnp.asarray(1, jnp.int32),
          jnp.asarray(1, jnp.int32))  # the ring loss_fn read (written at its start)
  aux = {"q": jnp.array([[0.5, 0.5], [0.25, 0.75]]), "r": jnp.array([[0.6, 0.4], [0.2, 0.8]]),
         "features": jnp.array([[0.6, 0.8], [0.0, 1.0]]), "refined": jnp.array([1, 0]),
         "trust": jnp.array([0.3, 0.7]), "cache": ring}  # features: loss_fn's unit vectors
  new = arnet.update_state(state, {"index": jnp.array([3, 1])}, aux, config=config)
  np.testing.assert_allclose(new["proto_labels"],
                             [[0.5 * 0.9 + 0.5 * 7 / 15, 0.5 * 0.1 + 0.5 * 8 / 15],
                              [0.5 * 0.2 + 0.5 * 0.36, 0.5 * 0.8 + 0.5 * 0.64]], rtol=1e-5)
  # the ring as loss_fn wrote it; this step's features held for the next
  np.testing.assert_array_equal(new["cache"], ring[0])
  assert int(new["cache_count"]) == 1 and int(new["cache_position"]) == 1
  np.testing.assert_array_equal(new["cache_pending"], aux["features"])
  # and the next step writes them into the ring's first free slots
  cache, count, position = arnet.written_cache(new, held=True)
  np.testing.assert_allclose(cache, [[0.0, 1.0], [0.6, 0.8], [0.0, 1.0]], rtol=1e-6)
  assert (int(count), int(position)) == (3, 0)
  # before a first step nothing is held: the count and position stay
  _, count, position = arnet.written_cache(state, held=False)
  assert (int(count), int(position)) == (0, 0)
  np.testing.assert_array_equal(new["refined"], [0, 0, 1, 1])
  np.testing.assert_allclose(new["trust"], [0, 0.7, 0, 0.3])
  np.testing.assert_array_equal(new["labels"], [0, 1, 1, 0])
  assert "running" not in new


def test_cache_joins_the_sinkhorn_only_when_full_on_request():
  key = jax.random.key(3)
  scores = jax.random.uniform(jax.random.fold_in(key, 1), (6, 3), minval=-1, maxval=1)
  cache_scores = jax.random.uniform(jax.random.fold_in(key, 2), (5, 3), minval=-1, maxval=1)
  batch_only = arnet.assign(scores, cache_scores, jnp.asarray(0), epsilon=0.05, num_iters=3)
  for count in (2, 4):
    partial = arnet.assign(scores, cache_scores, jnp.asarray(count), epsilon=0.05, num_iters=3)
    swav = arnet.assign(scores, cache_scores, jnp.asarray(count), epsilon=0.05, num_iters=3,
                        full_only=True)
    np.testing.assert_allclose(swav, batch_only, rtol=1e-6)
    # the first `count` slots are the filled ones
    want = np_sinkhorn(np.concatenate([scores, cache_scores[:count]]), 0.05, 3)[:6]
    np.testing.assert_allclose(partial, want, rtol=1e-4, atol=1e-6)
    assert not np.allclose(partial, batch_only)
  full = [arnet.assign(scores, cache_scores, jnp.asarray(5), epsilon=0.05, num_iters=3,
                       full_only=f) for f in (False, True)]
  np.testing.assert_allclose(full[0], full[1], rtol=1e-6)
  assert not np.allclose(full[0], batch_only)


def test_the_steps_cache_is_the_last_features_once_the_ring_wraps(step_context):
  """Three steps of 3 examples into a 4-slot cache (the third wraps): the fourth step's Q is
  SwAV's Sinkhorn over the last 4 features pushed and its batch (numpy reference, float64),
  whatever slots the ring put them in."""
  key = jax.random.key(21)
  config = arnet.default_config()
  config.update(num_prototypes=3, cache_size=4, epsilon=0.2, sinkhorn_iters=2)
  protos = jax.random.normal(jax.random.fold_in(key, 99), (3, 5))
  state = {"proto_labels": jnp.full((3, 2), 0.5), "cache": jnp.zeros((4, 5)),
           **empty_ring(4, 5, 3), "refined": jnp.zeros(12, jnp.int32), "trust": jnp.zeros(12),
           "labels": jnp.zeros(12, jnp.int32)}
  pushed = []
  for step in range(4):
    h = 3.0 * jax.random.normal(jax.random.fold_in(key, step), (3, 5))
    batch = {"label": jnp.array([0, 1, 1]), "index": jnp.arange(3) + 3 * step}
    _, aux = arnet.loss_fn({"prototypes": protos}, state, models.Outputs(jnp.zeros((3, 2)), h),
                           batch, None, config=config, ctx=step_context(step))
    rows = np.concatenate([np.asarray(h)] + [x[None] for x in pushed[-4:]])  # batch; cache
    want = np_sinkhorn(np_cosines(rows, protos), 0.2, 2)[:3]
    np.testing.assert_allclose(aux["q"], want, rtol=1e-4, atol=1e-6)
    state = arnet.update_state(state, batch, aux, config=config)
    pushed += list(np.asarray(h))
  # after the fourth step: the ring holds the first three steps' last 4 features (9 pushed:
  # the position 9 mod 4), the fourth step's 3 are held for the next
  def unit(x):
    return np.asarray(x) / np.linalg.norm(x, axis=1, keepdims=True)
  assert int(state["cache_count"]) == 4 and int(state["cache_position"]) == 9 % 4
  np.testing.assert_allclose(np.sort(np.asarray(state["cache"]), axis=0),
                             np.sort(unit(pushed[5:9]), axis=0), rtol=1e-5)
  np.testing.assert_allclose(state["cache_pending"], unit(pushed[9:]), rtol=1e-5)


def test_diagnostics_by_hand():
  p = jnp.array([[0.5, 0.5], [1.0, 0.0]])
  q = jnp.array([[0.25, 0.75], [0.5, 0.5]])
  v = jnp.array([[0.2, 0.8], [0.6, 0.4]])
  t = jnp.array([[0.7, 0.3], [0.1, 0.9]])
  r = jnp.array([[0.5, 0.5], [0.0, 1.0]])
  g = jnp.array([[0.9, 0.1], [0.3, 0.7]])
  d = arnet.diagnostics(p, v, t, q, r, g, jnp.array([1, 0]))
  np.testing.assert_allclose(d["read_entropy"], [1.0, 0.0], atol=1e-6)
  np.testing.assert_allclose(d["read_max"], [0.5, 1.0])
  h = -(0.25 * np.log(0.25) + 0.75 * np.log(0.75)) / np.log(2)
  np.testing.assert_allclose(d["q_entropy"], [h, 1.0], rtol=1e-5)
  np.testing.assert_allclose(d["r_dot_t"], [0.5, 0.9], rtol=1e-6)
  assert float(d["proto_label_max"]) == pytest.approx(0.8)
  np.testing.assert_array_equal(d["memory_accuracy"], [1.0, 1.0])
  np.testing.assert_array_equal(d["target_accuracy"], [0.0, 0.0])


@pytest.mark.parametrize("key,value,words", [
    ("target", "ema", "method.target='ema'"), ("read_temperature", 0.0, "read_temperature"),
    ("cluster_temperature", -1.0, "cluster_temperature"), ("target_momentum", 1.0, "momentum"),
    ("epsilon", 0.0, "method.epsilon=0.0 must be > 0"), ("sinkhorn_iters", -1, "sinkhorn_iters"),
    ("cache_size", -1, "cache_size=-1 must be >= 0"), ("num_prototypes", 0, "num_prototypes")])
def test_bad_reading_is_a_one_line_config_error(key, value, words):
  with pytest.raises(ConfigError, match=words):
    make_trainer(**{key: value})


@pytest.mark.parametrize("config_name", ["arnet_fi", "arnet_emotion6"])
def test_named_readings_are_config_variants(config_name):
  assert load_config(config_name, "sym40").method.to_dict() == {
      **arnet.default_config().to_dict(), "num_prototypes": 64}  # the paper as written
  for name, reading in arnet.READINGS.items():
    method = load_config(config_name, f"sym40,{name}").method
    assert all(method[k] == v for k, v in reading.items())
  with pytest.raises(ConfigError, match="two reading words, .swav. and .running."):
    load_config(config_name, "swav,running")


def test_arnet_defaults_are_the_documented_ones():
  doc = " ".join(arnet.__doc__.split())
  line = doc.split("Defaults:", 1)[1].split("Inference uses only the network", 1)[0]
  shown = ["lam = 0.8,", "alpha = 3.0,", "beta = 0.8,", "num_prototypes = 64 ", "epsilon = 0.05",
           "sinkhorn_iters = 3 ", "cache_size = 1000,", "temperatures 1.0,",
           'target "current"', "target_momentum = 0.7,", "cache_full_only False."]
  assert [s for s in shown if s not in line] == []
  assert arnet.default_config().to_dict() == {
      "name": "arnet", "lam": 0.8, "alpha": 3.0, "beta": 0.8, "num_prototypes": 64,
      "epsilon": 0.05, "sinkhorn_iters": 3, "cache_size": 1000, "read_temperature": 1.0,
      "cluster_temperature": 1.0, "target": "current", "target_momentum": 0.7,
      "cache_full_only": False}


def test_the_initial_memory_is_built_without_compiling_and_its_prototypes_orthonormal(caplog):
  """The state in numpy (each jax array built eagerly compiled a program of its own, the
  orthogonal prototypes a quarter of a second of a cold start-up); the prototypes'
  rows orthonormal (columns, for more prototypes than dimensions), the key's draw."""
  labels = np.array([3, 1, 4, 1, 5])

  class Train:
    def __len__(self):
      return 5

    def hard_labels(self):
      return labels
  dataset = types.SimpleNamespace(train=Train(), num_classes=6)
  config = arnet.default_config()
  config.update(num_prototypes=8, cache_size=4, target="running")
  key = jax.device_put(np.asarray(jax.random.PRNGKey(7)))
  model = types.SimpleNamespace(feature_dim=32)
  with jax.log_compiles(True), caplog.at_level("WARNING"):
    params, state = arnet.init_state(config, dataset=dataset, model=model, rng=key,
                                     batch_size=3)
  assert not [r for r in caplog.records if "Compiling" in r.getMessage()]
  c = params["prototypes"]
  assert c.shape == (8, 32) and c.dtype == np.float32
  np.testing.assert_allclose(c @ c.T, np.eye(8), atol=1e-6)
  np.testing.assert_array_equal(arnet.init_state(config, dataset=dataset, model=model,
                                                 rng=key, batch_size=3)[0]["prototypes"], c)
  other = arnet.init_state(config, dataset=dataset, model=model,
                           rng=jax.device_put(np.asarray(jax.random.PRNGKey(8))), batch_size=3)
  assert np.abs(other[0]["prototypes"] - c).max() > 0.1
  np.testing.assert_array_equal(state["refined"], labels)
  np.testing.assert_array_equal(state["labels"], labels)
  np.testing.assert_allclose(state["proto_labels"], np.full((8, 6), 1 / 6), rtol=1e-7)
  assert state["cache"].shape == (4, 32) and not state["cache"].any()
  assert int(state["cache_count"]) == 0 and int(state["cache_position"]) == 0
  assert state["cache_pending"].shape == (3, 32) and not state["cache_pending"].any()
  assert state["running"].shape == (5, 6) and not state["running"].any()
  tall = arnet.orthogonal_rows(key, 40, 32)
  np.testing.assert_allclose(tall.T @ tall, np.eye(32), atol=1e-6)
  # Haar: the QR's column signs fixed by R's diagonal (LAPACK's Householder QR alone gives
  # a first entry of one sign), so each entry takes either sign
  firsts = [arnet.orthogonal_rows(np.array([0, seed], np.uint32), 4, 16)[0, 0]
            for seed in range(200)]
  assert 0.3 < np.mean(np.asarray(firsts) > 0) < 0.7


def test_an_empty_cache_is_the_batch_alone_and_one_round_is_allowed(step_context):
  """`cache_size=0` (the boundary the config allows): Q over the batch alone, as
  `cache_full_only` before the cache fills; `sinkhorn_iters=0`, SwAV's first scaling."""
  key = jax.random.key(31)
  h = jax.random.normal(key, (4, 3))
  protos = jax.random.normal(jax.random.fold_in(key, 1), (2, 3))
  for iters in (0, 2):
    config = arnet.default_config()
    config.update(num_prototypes=2, cache_size=0, sinkhorn_iters=iters, epsilon=0.3)
    state = {"proto_labels": jnp.full((2, 2), 0.5), "cache": jnp.zeros((0, 3)),
             **empty_ring(0, 3, 4)}
    batch = {"label": jnp.array([0, 1, 1, 0]), "index": jnp.arange(4)}
    _, aux = arnet.loss_fn({"prototypes": protos}, state, models.Outputs(jnp.zeros((4, 2)), h),
                           batch, None, config=config, ctx=step_context(3))
    want = np_sinkhorn(np_cosines(h, protos), 0.3, iters)
    np.testing.assert_allclose(aux["q"], want, rtol=1e-4, atol=1e-6)


def test_a_run_without_a_cache_trains():
  """`cache_size=0` is allowed (a config error below it): two jitted steps, finite, the
  second with the first's features held, nothing counted in the empty ring."""
  trainer = make_trainer(cache_size=0)
  batch = trainer.shard(next(trainer.train_iterator(1)))
  state, _ = trainer.train_step(trainer.initial_state, batch)
  state, m = trainer.train_step(state, batch)
  assert np.isfinite(float(m["loss"])) and np.isfinite(float(m["loss_proto"]))
  assert state.method_state["cache"].shape[0] == 0 and int(state.method_state["cache_count"]) == 0
