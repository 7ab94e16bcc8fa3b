
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config

from nlx import data as data_lib
from nlx import losses, methods, models, train
from nlx.methods import arnet, coteaching_plus, learnq, mixup


def make_trainer(name, **method_overrides):
  config = load_config("baselines", f"{name},tiny")
  config.model.name = "mlp"
  config.model.hidden = (32,)
  config.data.on_device = False  # host batches (`first_batch`) through the per-step program
  for k, v in method_overrides.items():
    config.method[k] = v
  ds = data_lib.load_dataset(config)
  return train.Trainer(config, ds, train.make_mesh(jax.devices()[:1]))


def first_batch(trainer):
  return trainer.shard(next(trainer.train_iterator(1)))


@pytest.mark.parametrize("name", methods.MULTI_CLASS_NAMES)
def test_one_jitted_step_finite_and_state_well_formed(name):
  trainer = make_trainer(name)
  s0 = trainer.initial_state
  shapes = jax.tree.map(lambda x: (x.shape, x.dtype), s0)
  s1, m = trainer.train_step(s0, first_batch(trainer))
  assert np.isfinite(float(m["loss"]))
  assert jax.tree.map(lambda x: (x.shape, x.dtype), s1) == shapes
  assert all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(s1)
             if jnp.issubdtype(x.dtype, jnp.floating))
  assert int(s1.step) == 1


def test_elr_step_stores_ema_of_the_pre_step_prediction():
  trainer = make_trainer("elr")
  s0 = trainer.initial_state
  batch = first_batch(trainer)
  x = train.normalize(batch["image"], trainer.dataset.mean, trainer.dataset.std)
  out, _ = models.apply(trainer.graphdef, s0.params["model"], s0.model_state, x, train=True)
  s1, _ = trainer.train_step(s0, batch)
  p = np.clip(np.asarray(jax.nn.softmax(out.logits)), 1e-4, 1 - 1e-4)
  want = 0.3 * p / p.sum(1, keepdims=True)  # targets start at zero, beta = 0.7
  np.testing.assert_allclose(np.asarray(s1.method_state["targets"])[np.asarray(batch["index"])],
                             want, rtol=1e-4, atol=1e-6)
  untouched = np.setdiff1d(np.arange(256), np.asarray(batch["index"]))
  assert np.all(np.asarray(s1.method_state["targets"])[untouched] == 0)


def test_elr_two_steps_at_another_beta_and_lambda_by_hand(step_context):
  """ELR with beta = 0.3 and lambda = 2 (defaults 0.7 and 3), three examples, two steps
  (example 0 in both): t <- 0.3 t + 0.7 p before the term; loss CE + 2 log(1 - <p, t>)."""
  from nlx.methods import elr
  config = elr.default_config()
  config.update(beta=0.3, lam=2.0)
  state = {"targets": jnp.zeros((3, 3)), "labels": jnp.array([1, 0, 0])}
  ctx = step_context(num_classes=3)
  # step 1: examples 2 and 0 predict (0.5, 0.3, 0.2) and (0.1, 0.6, 0.3), labels 0 and 1
  out = models.Outputs(jnp.log(jnp.array([[0.5, 0.3, 0.2], [0.1, 0.6, 0.3]])), None)
  batch = {"label": jnp.array([0, 1]), "index": jnp.array([2, 0])}
  loss, aux = elr.loss_fn({}, state, out, batch, None, config=config, ctx=ctx)
  # t2 = 0.7 (0.5, 0.3, 0.2); t0 = 0.7 (0.1, 0.6, 0.3); <p, t> = 0.266 and 0.322
  np.testing.assert_allclose(aux["targets"], [[0.07, 0.42, 0.21], [0, 0, 0], [0.35, 0.21, 0.14]],
                             rtol=1e-5, atol=1e-7)
  np.testing.assert_allclose(aux["metrics"]["data_loss"], [-np.log(0.5), -np.log(0.6)], rtol=1e-5)
  np.testing.assert_allclose(aux["metrics"]["reg_loss"], [2 * np.log(0.734), 2 * np.log(0.678)],
                             rtol=1e-5)
  np.testing.assert_allclose(loss, [-np.log(0.5) + 2 * np.log(0.734),
                                    -np.log(0.6) + 2 * np.log(0.678)], rtol=1e-5)
  state = elr.update_state(state, batch, aux, config=config)
  # step 2: examples 0 and 1 predict (0.2, 0.2, 0.6) and (0.7, 0.2, 0.1), labels 2 and 0
  out = models.Outputs(jnp.log(jnp.array([[0.2, 0.2, 0.6], [0.7, 0.2, 0.1]])), None)
  batch = {"label": jnp.array([2, 0]), "index": jnp.array([0, 1])}
  loss, aux = elr.loss_fn({}, state, out, batch, None, config=config, ctx=ctx)
  # t0 = 0.3 (0.07, 0.42, 0.21) + 0.7 (0.2, 0.2, 0.6) = (0.161, 0.266, 0.483), <p, t> = 0.3752
  # t1 = 0.7 (0.7, 0.2, 0.1) = (0.49, 0.14, 0.07), <p, t> = 0.378; t2 unchanged
  want = [[0.161, 0.266, 0.483], [0.49, 0.14, 0.07], [0.35, 0.21, 0.14]]
  np.testing.assert_allclose(aux["targets"], want, rtol=1e-5)
  np.testing.assert_allclose(aux["metrics"]["reg_loss"], [2 * np.log(0.6248), 2 * np.log(0.622)],
                             rtol=1e-5)
  np.testing.assert_allclose(loss, [-np.log(0.6) + 2 * np.log(0.6248),
                                    -np.log(0.7) + 2 * np.log(0.622)], rtol=1e-5)
  state = elr.update_state(state, batch, aux, config=config)
  np.testing.assert_allclose(state["targets"], want, rtol=1e-5)
  np.testing.assert_array_equal(elr.refined_labels(state), [2, 0, 0])
  np.testing.assert_allclose(elr.trust_scores(state), [0.266, 0.49, 0.35], rtol=1e-5)


def test_coteaching_selection_by_hand():
  l1 = jnp.array([0.1, 0.5, 0.3, 0.9])
  l2 = jnp.array([0.4, 0.2, 0.8, 0.1])
  f1, f2, n = coteaching_plus.select_small_loss(l1, l2, jnp.ones(4, bool), 0.5)
  assert int(n) == 2
  np.testing.assert_array_equal(f1, [False, True, False, True])   # net 2's two smallest
  np.testing.assert_array_equal(f2, [True, False, True, False])   # net 1's two smallest
  f1, f2, n = coteaching_plus.select_small_loss(l1, l2, jnp.array([True, True, False, True]), 0.5)
  assert int(n) == 1  # floor(0.5 * 3)
  np.testing.assert_array_equal(f1, [False, False, False, True])
  np.testing.assert_array_equal(f2, [True, False, False, False])


def test_coteaching_plus_loss_is_peer_selected_mean(step_context):
  trainer = make_trainer("coteaching_plus", init_epochs=0, forget_rate=0.5, num_gradual=1)
  s0 = trainer.initial_state
  batch = first_batch(trainer)
  ctx = step_context(trainer.steps_per_epoch * 3, trainer=trainer)
  x = train.normalize(batch["image"], trainer.dataset.mean, trainer.dataset.std)
  full = {**batch, "input": x}
  out1, _ = models.apply(trainer.graphdef, s0.params["model"], s0.model_state, x, train=True)
  rng = jax.random.key(0)
  per_ex, _ = coteaching_plus.loss_fn(s0.params["method"], s0.method_state, out1, full, rng,
                                      config=trainer.config.method, ctx=ctx)
  out2, _ = models.apply(trainer.graphdef, s0.params["method"]["net2"],
                         s0.method_state["net2_state"], x, train=True, rng=rng)
  y = jax.nn.one_hot(batch["label"], 10)
  ce1 = np.asarray(losses.softmax_cross_entropy(out1.logits, y))
  ce2 = np.asarray(losses.softmax_cross_entropy(out2.logits, y))
  disagree = np.flatnonzero(np.argmax(out1.logits, -1) != np.argmax(out2.logits, -1))
  keep = int(np.floor(0.5 * len(disagree)))  # epoch 3 >= num_gradual: forget rate 0.5
  assert keep >= 1
  for_1 = disagree[np.argsort(ce2[disagree])[:keep]]
  for_2 = disagree[np.argsort(ce1[disagree])[:keep]]
  want = ce1[for_1].mean() + ce2[for_2].mean()
  assert float(per_ex.mean()) == pytest.approx(want, rel=1e-5)


def test_mixup_mixes_inputs_and_labels_with_one_lambda(step_context):
  b, c = 6, 3
  labels = jnp.array([0, 1, 2, 0, 1, 2])
  batch = {"input": jnp.eye(b), "label": labels}
  ctx = step_context(num_classes=c)
  out = mixup.prepare_batch(batch, jax.random.key(3), config=mixup.default_config(), ctx=ctx)
  x = np.asarray(out["input"])  # row i = lam * e_i + (1 - lam) * e_perm(i)
  diag = np.diag(x)
  moved = ~np.isclose(diag, 1.0)
  assert moved.any() and np.allclose(diag[moved], diag[moved][0])  # one lambda per batch
  assert np.all(np.sort(np.argmax(x - np.diag(diag) * moved, axis=1)) == np.arange(b))
  # Mixed labels are the same combination of the one-hot labels: x @ Y.
  np.testing.assert_allclose(np.asarray(out["label"]), x @ np.eye(c)[np.asarray(labels)],
                             rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(np.asarray(out["label"]).sum(1), 1, rtol=1e-6)


def test_learnq_starts_at_identity_and_adds_the_trace(step_context):
  trainer = make_trainer("learnq")
  q = np.asarray(learnq.noise_matrix(trainer.initial_state.params["method"]))
  np.testing.assert_allclose(q.sum(1), 1, rtol=1e-6)
  assert np.all(np.diag(q) >= 0.999 - 1e-6)
  logits = jnp.log(jnp.array([[0.5, 0.3, 0.2]]))
  params = {"q_logits": jnp.log(jnp.array([[0.8, 0.2, 1e-9], [0.1, 0.9, 1e-9], [1e-9, 1e-9, 1.0]]))}
  ctx = step_context(num_classes=3)
  outputs = models.Outputs(logits, logits)
  per_ex, _ = learnq.loss_fn(params, {}, outputs, {"label": jnp.array([1])}, None,
                             config=learnq.default_config(), ctx=ctx)
  assert float(per_ex[0]) == pytest.approx(-np.log(0.5 * 0.2 + 0.3 * 0.9) + 0.01 * 2.7, rel=1e-4)


@pytest.mark.slow
def test_forward_estimates_transition_after_warmup(tmp_path):
  config = load_config("baselines", "forward,pair40,tiny")
  result = train.train_and_evaluate(config, str(tmp_path))
  t = np.asarray(result["state"].method_state["transition"])
  np.testing.assert_allclose(t.sum(1), 1, rtol=1e-5)
  assert not np.allclose(t, np.eye(10))  # estimated once after epoch 1


@pytest.mark.slow
def test_elr_exposes_refined_labels_and_trust(tmp_path):
  import json

  from sklearn.metrics import roc_auc_score
  config = load_config("baselines", "elr,tiny")
  result = train.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / "metrics.jsonl") as f:
    evals = [json.loads(line) for line in f if '"eval"' in line]
  # the last label precision and the AUROC, recomputed from the final state by hand
  ds, elr = data_lib.load_dataset(config), methods.get("elr")
  state = result["state"].method_state
  refined = np.asarray(elr.refined_labels(state))
  assert evals[-1]["label_precision"] == pytest.approx(np.mean(refined == ds.train.clean_labels))
  noisy = ds.train.hard_labels() != ds.train.clean_labels
  want = roc_auc_score(noisy, -np.asarray(elr.trust_scores(state)))
  assert result["noise_detection"]["auroc"] == pytest.approx(want)


def test_arnet_step_writes_memory_cache_and_refined_labels():
  trainer = make_trainer("arnet", num_prototypes=8, cache_size=48)
  s0 = trainer.initial_state
  batch = first_batch(trainer)
  g0 = np.asarray(s0.method_state["proto_labels"])
  p0 = np.asarray(s0.params["method"]["prototypes"])
  s1, _ = trainer.train_step(s0, batch)  # donates s0
  ms = s1.method_state
  # the 32 features, L2-normalised, held back for the next step to write into the ring
  assert int(ms["cache_count"]) == 0 and ms["cache_pending"].shape[0] == 32
  np.testing.assert_allclose(np.linalg.norm(np.asarray(ms["cache_pending"]), axis=1), 1.0,
                             rtol=1e-5)
  cache, count, position = arnet.written_cache(ms, held=True)  # a 48-slot ring: them first
  assert (int(count), int(position)) == (32, 32)
  np.testing.assert_array_equal(np.asarray(cache)[32:], 0)
  np.testing.assert_array_equal(np.asarray(cache)[:32], np.asarray(ms["cache_pending"]))
  np.testing.assert_allclose(np.asarray(ms["proto_labels"]).sum(1), 1, rtol=1e-5)
  assert not np.allclose(ms["proto_labels"], g0)
  idx = np.asarray(batch["index"])
  assert np.all(np.asarray(ms["trust"])[idx] > 0)
  # trust = v at the given label; with uniform initial prototype labels, v = 1/K.
  np.testing.assert_allclose(np.asarray(ms["trust"])[idx], 0.1, rtol=1e-5)
  np.testing.assert_allclose(p0 @ p0.T, np.eye(8), atol=1e-5)  # orthogonal init
  assert not np.allclose(s1.params["method"]["prototypes"], p0)  # C gets gradients


def test_noise_model_stage1_trains_only_the_clean_subset_and_stage2_all(step_context):
  from nlx.methods import noise_model
  trainer = make_trainer("noise_model")
  known = trainer.dataset.train.extras["known_label"]
  # D_c (10% of 256 = 26 examples) upsampled to half of D_n (230 -> 115 rows).
  assert (known >= 0).sum() == 115 and (known < 0).sum() == 230
  s0 = trainer.initial_state
  c = np.asarray(s0.method_state["confusion"])
  np.testing.assert_allclose(c.sum(0), 1, rtol=1e-6)
  assert np.all(np.diag(c) == 0)
  batch = first_batch(trainer)
  x = train.normalize(batch["image"], trainer.dataset.mean, trainer.dataset.std)
  full = {**batch, "input": x}
  out, _ = models.apply(trainer.graphdef, s0.params["model"], s0.model_state, x, train=True)
  cfg = trainer.config.method
  for step, stage in ((0, 1), (trainer.steps_per_epoch, 2)):
    ctx = step_context(step, trainer=trainer)
    per_ex, _ = noise_model.loss_fn(s0.params["method"], s0.method_state, out, full,
                                    jax.random.key(0), config=cfg, ctx=ctx)
    per_ex = np.asarray(per_ex)
    clean = np.asarray(batch["known_label"]) >= 0
    if stage == 1:
      assert np.all(per_ex[~clean] == 0) and np.all(per_ex[clean] > 0)
    else:
      assert np.all(per_ex > 0)


def test_noise_model_shared_trunk_reads_z_from_the_y_network_features(step_context):
  from nlx.methods import noise_model
  trainer = make_trainer("noise_model", shared_trunk=True, pretrain_epochs=0)
  s0 = trainer.initial_state
  assert "znet" not in s0.params["method"] and "znet_state" not in s0.method_state
  assert s0.params["method"]["z_head"]["w"].shape == (32, 3)
  batch = first_batch(trainer)
  x = train.normalize(batch["image"], trainer.dataset.mean, trainer.dataset.std)
  out, _ = models.apply(trainer.graphdef, s0.params["model"], s0.model_state, x, train=True)
  ctx = step_context(trainer.steps_per_epoch, trainer=trainer)
  per_ex, _ = noise_model.loss_fn(s0.params["method"], s0.method_state, out, {**batch, "input": x},
                                  jax.random.key(0), config=trainer.config.method, ctx=ctx)
  confusion = np.asarray(s0.method_state["confusion"])
  # The same loss from the ops, with p(z|x) = softmax(features @ w + b) written out here.
  head = jax.tree.map(np.asarray, s0.params["method"]["z_head"])  # s0 is donated below
  log_py = jax.nn.log_softmax(out.logits)
  log_pz = jax.nn.log_softmax(np.asarray(out.features) @ head["w"] + head["b"])
  from nlx.ops import noise_model as nm
  known = batch["known_label"]
  q = jnp.where((known >= 0)[:, None, None],
                noise_model.known_posterior(known, batch["label"], confusion, 10),
                nm.posterior(log_py, log_pz, batch["label"], confusion))
  loss_y, loss_z = nm.m_step_losses(log_py, log_pz, q)
  np.testing.assert_allclose(per_ex, loss_y + 0.1 * loss_z, rtol=1e-5)
  s1, m = trainer.train_step(s0, batch)
  assert np.isfinite(float(m["loss"]))
  assert not np.allclose(s1.params["method"]["z_head"]["w"], head["w"])
  p_conf = noise_model.confusing_probability(trainer, s1, trainer.dataset.train)
  assert p_conf.shape == (len(trainer.dataset.train),) and ((p_conf > 0) & (p_conf < 1)).all()


def test_clean_subset_baselines_by_hand(step_context):
  from nlx.methods import clean_subset
  logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [1.0, 3.0]])
  batch = {"label": jnp.array([1, 1, 0]), "known_label": jnp.array([0, -1, -1])}
  ce = lambda z, y: float(-jax.nn.log_softmax(z)[y])
  q = jnp.array([[0.8, 0.2], [0.3, 0.7]])  # Q[true, noisy]
  state = {"q": q}
  ctx = step_context()
  def run(name):
    cfg = clean_subset.default_config(name)
    return np.asarray(clean_subset.loss_fn({}, state, type("O", (), {"logits": logits}), batch,
                                           None, config=cfg, ctx=ctx)[0])
  np.testing.assert_allclose(run("ce_clean_and_noisy"),
                             [ce(logits[0], 0), ce(logits[1], 1), ce(logits[2], 0)], rtol=1e-6)
  np.testing.assert_allclose(run("ce_clean_subset"), [3 * ce(logits[0], 0), 0, 0], rtol=1e-6)
  p = np.asarray(jax.nn.softmax(logits[2]))
  np.testing.assert_allclose(run("bottom_up")[[0, 2]],
                             [ce(logits[0], 0), -np.log(p @ np.asarray(q)[:, 0])], rtol=1e-5)


def test_bottom_up_estimates_q_from_the_clean_subset():
  trainer = make_trainer("bottom_up")
  ds = trainer.dataset
  known = ds.train.extras["known_label"]
  mask = known >= 0
  want = data_lib.noise.realized_transition(known[mask], ds.train.labels[mask], ds.num_classes)
  want = 0.99 * want + 0.01 / ds.num_classes
  np.testing.assert_allclose(trainer.initial_state.method_state["q"], want, rtol=1e-6)


@pytest.mark.slow
def test_cifar10_quick_check_rows_fine_tune_the_clean_only_model(tmp_path, cifar10_dir):
  # The three rows of Xiao et al.'s CIFAR-10 check, tiny: clean_only trains on D_c alone,
  # finetune and noise_model start from its final model.
  runs = {}
  for row in ("clean_only", "finetune", "noise_model"):
    c = load_config("noise_model_cifar10_quick", f"{row},tiny")
    c.data.data_dir = cifar10_dir
    if row != "clean_only":
      c.train.init_from = str(tmp_path / "clean_only")
      start = train.Trainer(c, data_lib.load_dataset(c)).initial_state.params["model"]
      trained = runs["clean_only"]["state"].params["model"]
      for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(trained)):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    runs[row] = train.train_and_evaluate(c, str(tmp_path / row))
    assert np.isfinite(runs[row]["test"]["accuracy"])
  assert runs["clean_only"]["num_train"] == 80 and runs["finetune"]["num_train"] == 480


def test_truncated_gce_prune_schedule_scales_the_authors_40_of_120():
  from nlx.methods import robust_loss
  assert robust_loss.prune_epochs(120) == list(range(40, 120, 10))
  assert robust_loss.prune_epochs(30) == list(range(10, 30, 2))  # round(2.5) = 2 (half to even)
  assert robust_loss.prune_epochs(10) == list(range(3, 10))
  assert robust_loss.prune_epochs(6, prune_start=4, prune_every=5) == [4]
  # never before the first epoch: round(2 / 3) = 1 starts at 1; an explicit 0 also at 1
  assert robust_loss.prune_epochs(2) == [1]
  assert robust_loss.prune_epochs(5, prune_start=0, prune_every=2) == [1, 3]
  assert robust_loss.prune_epochs(5, prune_start=2, prune_every=0) == [2, 3, 4]  # 0: scaled
  logits = jnp.log(jnp.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.45, 0.1, 0.45]]))
  np.testing.assert_array_equal(robust_loss.truncation_weights(logits, np.array([0, 0, 2]), 0.5),
                                [1, 0, 0])


def test_truncated_gce_without_weights_has_no_gradient_from_a_random_start():
  # the failure: every p_y < k = 0.5 at initialisation with C = 10, so the
  # truncated form alone is flat; all-ones weights give plain L_q's gradient
  logits, y = jax.random.normal(jax.random.key(0), (32, 10)) * 0.1, jnp.arange(32) % 10
  flat = jax.grad(lambda z: losses.truncated_generalized_cross_entropy(z, y).sum())(logits)
  np.testing.assert_array_equal(flat, 0)
  ones = jnp.ones(32)
  g = jax.grad(
      lambda z: losses.truncated_generalized_cross_entropy(z, y, weights=ones).sum())(logits)
  want = jax.grad(lambda z: losses.generalized_cross_entropy(z, y).sum())(logits)
  np.testing.assert_allclose(g, want, rtol=1e-6)


def test_truncated_gce_learns_on_digits_and_prunes(tmp_path):
  # 40% symmetric noise, MLP, 6 epochs: prunes after epochs 2, 3, 4, 5 from the current model
  config = load_config("baselines", "truncated_gce")
  config.model.name = "mlp"
  config.model.hidden = (64,)
  config.train.num_epochs = 6
  config.train.progress_bar = False
  result = train.train_and_evaluate(config, str(tmp_path))
  assert result["test"]["accuracy"] > 0.7  # chance is 0.1; the unpruned start used to stay there
  w = np.asarray(result["state"].method_state["weights"])
  assert set(np.unique(w)) <= {0.0, 1.0} and 0.3 < w.mean() < 0.95  # some pruned, most kept
  ds = data_lib.load_dataset(config)
  noisy = ds.train.hard_labels() != ds.train.clean_labels
  assert w[noisy].mean() < w[~noisy].mean() - 0.3  # pruned examples are mostly mislabelled


def test_methods_with_a_regulariser_log_data_and_reg_terms():
  for name in ("elr", "learnq"):
    trainer = make_trainer(name)
    _, m = trainer.train_step(trainer.initial_state, first_batch(trainer))
    assert float(m["loss"]) == pytest.approx(float(m["data_loss"]) + float(m["reg_loss"]), rel=1e-5)
    assert float(m["data_loss"]) > 0


def test_coteaching_plus_disagreement_starts_at_the_authors_epoch(step_context):
  # init_epochs = 2 in the authors' 1-based counting: Co-teaching on epoch 0 only
  trainer = make_trainer("coteaching_plus", init_epochs=2, forget_rate=0.0)
  s0 = trainer.initial_state
  batch = first_batch(trainer)
  x = train.normalize(batch["image"], trainer.dataset.mean, trainer.dataset.std)
  out1, _ = models.apply(trainer.graphdef, s0.params["model"], s0.model_state, x, train=True)
  out2, _ = models.apply(trainer.graphdef, s0.params["method"]["net2"],
                         s0.method_state["net2_state"], x, train=True, rng=jax.random.key(0))
  disagree = np.asarray(jnp.argmax(out1.logits, -1) != jnp.argmax(out2.logits, -1))
  assert 0 < disagree.sum() < len(disagree)
  # the epoch comes from the step: the last step of epoch 0 is still plain Co-teaching
  spe = trainer.steps_per_epoch
  assert spe >= 2
  for step, want_rows in ((0, np.ones_like(disagree)), (spe - 1, np.ones_like(disagree)),
                          (spe, disagree)):
    ctx = step_context(step, trainer=trainer)
    per_ex, _ = coteaching_plus.loss_fn(s0.params["method"], s0.method_state, out1,
                                        {**batch, "input": x}, jax.random.key(0),
                                        config=trainer.config.method, ctx=ctx)
    np.testing.assert_array_equal(np.asarray(per_ex) > 0, want_rows)


def test_method_defaults_fill_the_hooks_a_module_leaves_out():
  from nlx.methods import ce, elr
  assert not any(hasattr(ce, k) for k in ("init_state", "update_state", "end_of_epoch"))
  method = methods.get("ce")
  assert method.init_state(methods.default_config("ce"), dataset=None, model=None,
                           rng=None, new_model=None) == ({}, {})
  state, batch = {"t": jnp.ones(2)}, {"label": jnp.zeros(2)}
  assert method.update_state(state, batch, {}, config=None) is state
  assert method.prepare_batch(batch, None, config=None, ctx=None) is batch
  assert method.end_of_epoch(None, state, 1, config=None) is state
  assert method.refined_labels is None and method.trust_scores is None
  assert method.tasks == ("multi_class",) and method.loss_fn is ce.loss_fn
  assert methods.get("elr").refined_labels is elr.refined_labels
  assert methods.get("can").tasks == ("multi_label",)
  # the name lists follow each module's TASKS
  assert methods.MULTI_LABEL_NAMES == ("bce", "bootstrap_sigmoid", "learnq_sigmoid", "icnm",
                                       "can")
  assert set(methods.MULTI_CLASS_NAMES) == (set(methods.NAMES) - set(methods.MULTI_LABEL_NAMES)
                                            - {"label_embedding"})


def test_no_method_module_defines_a_no_op_hook():
  """A hook whose body only `del`s its arguments and returns one of them is the default."""
  import ast
  import glob
  import os
  import pathlib
  noop = []
  for path in glob.glob(os.path.join(os.path.dirname(methods.__file__), "[!_]*.py")):
    for node in ast.parse(pathlib.Path(path).read_text()).body:
      if not isinstance(node, ast.FunctionDef):
        continue
      body = [b for b in node.body if not isinstance(b, ast.Delete)]
      args = {a.arg for a in node.args.args}
      if (len(body) == 1 and isinstance(body[0], ast.Return)
          and isinstance(body[0].value, ast.Name) and body[0].value.id in args
          or len(body) == 1 and isinstance(body[0], ast.Return)
          and ast.unparse(body[0].value) == "({}, {})"):
        noop.append(f"{os.path.basename(path)}:{node.name}")
  assert not noop, f"no-op hooks (the defaults in nlx.methods.Method): {noop}"


def test_forward_end_of_epoch_needs_only_the_epoch_context():
  from nlx.methods import forward
  from nlx.ops.transition import estimate_from_anchors
  from nlx.train_state import TrainState
  logits = np.log(np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]], np.float32))
  split = object()
  dataset = type("D", (), {"train": split})()
  put = []
  ctx = methods.EpochContext(
      dataset=dataset, predict_outputs=lambda state, s: (logits, None) if s is split else None,
      predict_on_device=None, predict_network=None, replicate=lambda t: put.append(t) or t,
      eval_batch_size=2, num_epochs=3)
  config = forward.default_config()
  config.estimate_after_epochs = 2
  state = TrainState(step=0, params={}, model_state={}, opt_state={},
                     method_state={"transition": jnp.eye(2)}, rng=None)
  assert forward.end_of_epoch(ctx, state, 1, config=config) is state
  t = np.asarray(forward.end_of_epoch(ctx, state, 2, config=config).method_state["transition"])
  want = estimate_from_anchors(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 97.0,
                               "percentile")
  np.testing.assert_allclose(t, want, rtol=1e-6)
  assert len(put) == 1  # put back on the devices through the context


def test_noise_model_z_probabilities_through_the_padded_eval_path():
  from nlx.data import augment
  from nlx.methods import noise_model
  trainer = make_trainer("noise_model")
  state, bs = trainer.initial_state, trainer.config.data.eval_batch_size
  train_split, test_split = trainer.dataset.train, trainer.dataset.test
  assert len(train_split) % bs and not len(test_split) % bs  # a short last batch, and none
  z_train = noise_model.z_probabilities(trainer, state, train_split)
  noise_model.z_probabilities(trainer.epoch_context(), state, test_split)
  assert trainer.eval_steps["znet"]._cache_size() == 1  # one program, padded short batches
  # by hand: the eval transform and normalisation, the z network in eval mode, softmax
  transform = augment.eval_transform(trainer.config.data.augment, trainer.config.data.image_size)
  images = np.stack([transform(x) for x in train_split.inputs])
  x = train.normalize(images, trainer.dataset.mean, trainer.dataset.std)
  out, _ = models.apply(trainer.graphdefs["znet"], state.params["method"]["znet"],
                        state.method_state["znet_state"], x, train=False)
  np.testing.assert_allclose(z_train, jax.nn.softmax(out.logits), rtol=1e-4, atol=1e-6)


def test_robust_loss_methods_default_to_their_losses_documented_defaults():
  """A method's hyperparameters are its loss's keyword defaults (those are pinned to the
  papers' values in tests/losses/test_robust.py), for every robust-loss method."""
  import inspect

  from nlx.methods import robust_loss
  for name, (fn, hparams) in robust_loss.LOSSES.items():
    signature = inspect.signature(fn).parameters
    config = methods.default_config(name)
    assert {k: config[k] for k in hparams} == {k: signature[k].default for k in hparams}, name
  assert set(methods.default_config("truncated_gce")) == {"name", "q", "k", "prune_start",
                                                         "prune_every"}


def test_coteaching_plus_forgets_the_noise_rate_unless_told_otherwise():
  """forget_rate < 0 (the default, -1): tau = the dataset's noise rate (40% here); 0 and
  0.25 are taken as given (0 is a rate, not 'unset')."""
  for forget_rate, tau in ((None, 0.4), (0.0, 0.0), (0.25, 0.25)):
    overrides = {} if forget_rate is None else {"forget_rate": forget_rate}
    trainer = make_trainer("coteaching_plus", **overrides)
    assert trainer.dataset.info["noise_rate"] == pytest.approx(0.4, abs=0.05)
    want = trainer.dataset.info["noise_rate"] if forget_rate is None else tau
    assert float(trainer.initial_state.method_state["forget_rate"]) == pytest.approx(want)
  assert methods.default_config("coteaching_plus").forget_rate == -1.0



def test_clean_subset_ce_is_normalised_by_the_clean_examples_in_the_batch(step_context):
  """Two of three examples known clean: each counts 3/2 (the batch mean is then the
  clean examples' mean), the unknown one 0."""
  from nlx.methods import clean_subset
  logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [1.0, 3.0]])
  batch = {"label": jnp.array([1, 1, 0]), "known_label": jnp.array([0, 1, -1])}
  cfg = clean_subset.default_config("ce_clean_subset")
  got = np.asarray(clean_subset.loss_fn({}, {}, type("O", (), {"logits": logits}), batch, None,
                                        config=cfg, ctx=step_context())[0])
  ce0 = np.log(1 + np.exp(-2.0))  # -log softmax([2, 0])[0]
  ce1 = np.log(1 + np.exp(-1.0))  # -log softmax([0, 1])[1]
  np.testing.assert_allclose(got, [1.5 * ce0, 1.5 * ce1, 0.0], rtol=1e-6)


def test_forward_estimates_from_each_examples_softmax_over_classes():
  """Rows of the predictions are softmaxed over classes: with columns of unequal sums
  (2.4 and 1.6) a softmax over the examples would give another T."""
  from nlx.methods import forward
  from nlx.train_state import TrainState
  probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]], np.float32)
  split = object()
  ctx = methods.EpochContext(
      dataset=type("D", (), {"train": split})(),
      predict_outputs=lambda state, s: (np.log(probs) + 5.0, None),  # a shift: same softmax
      predict_on_device=None, predict_network=None, replicate=lambda t: t, eval_batch_size=2,
      num_epochs=3)
  config = forward.default_config()
  config.estimate_after_epochs, config.percentile = 1, 100.0
  state = TrainState(step=0, params={}, model_state={}, opt_state={},
                     method_state={"transition": jnp.eye(2)}, rng=None)
  t = np.asarray(forward.end_of_epoch(ctx, state, 1, config=config).method_state["transition"])
  # at the 100th percentile the anchor of class i is the example with the largest p_i:
  # class 0 -> [0.9, 0.1], class 1 -> [0.2, 0.8] (T[true, noisy] rows)
  np.testing.assert_allclose(t, [[0.9, 0.1], [0.2, 0.8]], rtol=1e-5)


def test_forward_starts_from_the_identity_or_the_oracle_transition():
  """estimate: T = I until it is estimated; oracle: T = the realised transition of the
  training labels, counted by hand from the clean and noisy labels."""
  from nlx.methods import forward
  clean, noisy = np.array([0, 0, 0, 0, 1, 1]), np.array([0, 0, 0, 1, 1, 0])
  train_split = type("S", (), {"clean_labels": clean, "hard_labels": lambda self: noisy})()
  dataset = type("D", (), {"num_classes": 2, "train": train_split})()
  config = forward.default_config()
  _, state = forward.init_state(config, dataset=dataset, model=None, rng=None)
  np.testing.assert_array_equal(np.asarray(state["transition"]), np.eye(2))
  config.transition = "oracle"
  _, state = forward.init_state(config, dataset=dataset, model=None, rng=None)
  np.testing.assert_allclose(np.asarray(state["transition"]), [[0.75, 0.25], [0.5, 0.5]])
  assert forward.default_config().to_dict() == {
      "name": "forward", "transition": "estimate", "estimate_after_epochs": 5,
      "percentile": 97.0, "anchor": "percentile"}
  doc = " ".join(forward.__doc__.split())
  assert ('Defaults (`default_config`): transition "estimate", estimate_after_epochs = 5, '
          'percentile = 97.0, anchor "percentile".') in doc


def test_mixup_alpha_defaults_to_the_documented_8():
  from nlx.methods import mixup
  assert "alpha = 8 by default" in " ".join(mixup.__doc__.split())
  assert mixup.default_config().to_dict() == {"name": "mixup", "alpha": 8.0}


def test_noise_free_posterior_by_xiaos_eq_5_in_numpy():
  """The noise model's label-issue score, sum_y q(y, z = noise-free | y~, x), against Eq. 5
  written in numpy: p(y~ | y, free) = [y~ = y], p(y~ | y, random) = [y~ != y] / (L - 1),
  p(y~ | y, confusing) = C[y~, y]; on D_c it is 1 when the known label is the given one."""
  from nlx.methods import noise_model
  trainer = make_trainer("noise_model")
  state, split = trainer.initial_state, trainer.dataset.train
  confusion = np.asarray(jax.random.dirichlet(jax.random.key(3), jnp.ones(10), (10,))).T
  state = state.replace(method_state={**state.method_state, "confusion": jnp.asarray(confusion)})
  got = noise_model.noise_free_posterior(trainer, state, split)
  py = np.asarray(jax.nn.softmax(trainer.predict_outputs(state, split)[0]), np.float64)
  pz = np.asarray(noise_model.z_probabilities(trainer, state, split), np.float64)
  noisy = np.asarray(split.hard_labels())
  n, num_classes = py.shape
  same = np.eye(num_classes)[noisy]                                       # [N, L]
  like = np.stack([same, (1 - same) / (num_classes - 1), confusion[noisy]], -1)  # [N, L, 3]
  joint = py[:, :, None] * pz[:, None, :] * like
  want = joint[:, :, 0].sum(1) / joint.sum((1, 2))
  known = split.extras["known_label"]
  want = np.where(known >= 0, (known == noisy).astype(np.float64), want)
  assert (known >= 0).any() and (known < 0).any()
  np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-6)


def test_noise_model_defaults_are_the_documented_ones():
  from nlx.methods import noise_model
  doc = " ".join(noise_model.__doc__.split())
  assert "Defaults: pretrain_epochs = 5, z_loss_scale = 0.1, shared_trunk False." in doc
  assert noise_model.default_config().to_dict() == {
      "name": "noise_model", "pretrain_epochs": 5, "z_loss_scale": 0.1, "shared_trunk": False}


def test_coteaching_plus_defaults_and_a_batch_without_disagreement(step_context):
  """init_epochs defaults to the documented 20; after it, two networks that agree on every
  example leave no candidate: the loss is 0 on every example (not 0 * B / 0)."""
  assert coteaching_plus.default_config().init_epochs == 20
  assert coteaching_plus.default_config().num_gradual == 10
  trainer = make_trainer("coteaching_plus", init_epochs=0, forget_rate=0.0)
  s0 = trainer.initial_state
  batch = first_batch(trainer)
  x = train.normalize(batch["image"], trainer.dataset.mean, trainer.dataset.std)
  out1, _ = models.apply(trainer.graphdef, s0.params["model"], s0.model_state, x, train=True)
  params = {**s0.params["method"], "net2": s0.params["model"]}  # net 2 = net 1
  state = {**s0.method_state, "net2_state": s0.model_state}
  per_ex, _ = coteaching_plus.loss_fn(params, state, out1, {**batch, "input": x},
                                      jax.random.key(0), config=trainer.config.method,
                                      ctx=step_context(trainer.steps_per_epoch, trainer=trainer))
  np.testing.assert_array_equal(np.asarray(per_ex), np.zeros(len(batch["label"])))


def test_learnq_starts_at_the_configured_smoothing(step_context):
  """Q0 = (1 - eps) I + eps / (C - 1) off the diagonal, at eps = 0.3 (not the default)."""
  trainer = make_trainer("learnq", init_eps=0.3)
  q = np.asarray(learnq.noise_matrix(trainer.initial_state.params["method"]))
  want = np.full((10, 10), 0.3 / 9) + np.eye(10) * (0.7 - 0.3 / 9)
  np.testing.assert_allclose(q, want, rtol=1e-5)
