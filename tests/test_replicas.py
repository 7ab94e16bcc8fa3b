"""Several runs in one program (`nlx.replicas`): seeds as a vmapped axis (`train.replicas`)
and out-of-fold label issues (`label_issues.folds`). A replica is the run of its seed
alone; a fold's run never trains on its fold; the out-of-fold scores are worked out by
hand; bad input is a one-line error naming the key."""

import json
import os
import types

import jax
import numpy as np
import pytest
from conftest import load_config
from test_compiled import tiny_mlp

from nlx import replicas, train
from nlx.config_check import check_values
from nlx.data import folds as folds_lib
from nlx.data import on_device
from nlx.data.datasets.features import write_synthetic_cache
from nlx.errors import ConfigError, NonFiniteLossError
from nlx.label_issue_scores import OOF_COUNTS, out_of_fold
from nlx.ops.confident_learning import confident_learning_counts


def assert_same_leaves(a, b, rtol=1e-5, atol=1e-6):
  leaves_a, leaves_b = jax.tree.leaves(a), jax.tree.leaves(b)
  assert len(leaves_a) == len(leaves_b)
  for x, y in zip(leaves_a, leaves_b, strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


def with_values(config, **values):
  c = config.copy_and_resolve_references()
  c.unlock()
  for key, value in values.items():
    *path, last = key.split(".")
    node = c
    for p in path:
      node = node[p]
    node[last] = value
  c.lock()
  return c


# ---- replicas: each is its seed's run alone ---------------------------------------------

@pytest.mark.parametrize("method,devices", [
    ("ce", 1), pytest.param("elr", 1, marks=pytest.mark.slow),
    pytest.param("ce", 8, marks=pytest.mark.slow)])
def test_a_replica_trains_as_its_seed_alone(tmp_path, method, devices):
  # quickstart tiny: 40% symmetric noise, so each replica draws its own noisy labels
  mesh = train.make_mesh(jax.devices()[:devices])
  config = with_values(tiny_mlp(method), **{"seed": 3, "noise.seed": 5})
  # the fast case passes each replica's dataset (as the benchmarks do); the others load them
  datasets = ([train.load_dataset(with_values(config, **{"seed": s, "noise.seed": n}))
               for s, n in ((3, 5), (4, 6))] if (method, devices) == ("ce", 1) else None)
  out = replicas.train_and_evaluate(with_values(config, **{"train.replicas": 2}),
                                    str(tmp_path / "both"), mesh=mesh, dataset=datasets)
  assert [r["workdir"] for r in out["summary"]["runs"]] == ["seed_3", "seed_4"]
  for r, (seed, noise_seed) in enumerate([(3, 5), (4, 6)]):
    alone_dir = str(tmp_path / f"alone{r}")
    alone = train.train_and_evaluate(
        with_values(config, **{"seed": seed, "noise.seed": noise_seed}), alone_dir, mesh=mesh)
    replica = out["runs"][r]
    assert_same_leaves(replica["state"], alone["state"])  # params, Adam, ELR's targets
    assert replica["test"]["accuracy"] == pytest.approx(alone["test"]["accuracy"], abs=1 / 128)
    assert replica["noise_rate"] == alone["noise_rate"]
    sub = tmp_path / "both" / f"seed_{seed}"
    with open(sub / "workdir.json") as f, open(os.path.join(alone_dir, "workdir.json")) as g:
      assert json.load(f)["fingerprint"] == json.load(g)["fingerprint"]
    assert {"results.json", "metrics.jsonl", "label_issues.csv", "checkpoints"} <= set(
        os.listdir(sub))
  # the two replicas really differ (own init, noise draw and batch order)
  labels = [train.load_dataset(with_values(config, **{"seed": s, "noise.seed": n})).train.labels
            for s, n in ((3, 5), (4, 6))]
  assert np.mean(labels[0] != labels[1]) > 0.2
  assert not np.allclose(jax.tree.leaves(out["runs"][0]["state"].params)[0],
                         jax.tree.leaves(out["runs"][1]["state"].params)[0])
  with open(tmp_path / "both" / "summary.json") as f:
    summary = json.load(f)
  # each run records its share of the program's time, and the whole
  program = out["runs"][0]["program"]
  assert program["runs"] == 2 and out["runs"][0]["wall_time_s"] == pytest.approx(
      program["wall_time_s"] / 2)
  accs = [r["test"]["accuracy"] for r in out["runs"]]
  assert summary["test"]["accuracy"]["mean"] == pytest.approx((accs[0] + accs[1]) / 2)
  assert summary["test"]["accuracy"]["std"] == pytest.approx(abs(accs[0] - accs[1]) / 2)


@pytest.mark.slow  # 40 s: three programs of three replicas
def test_replicas_resume_to_the_uninterrupted_program(tmp_path):
  config = with_values(tiny_mlp(), **{"train.replicas": 3})
  whole = replicas.train_and_evaluate(config, str(tmp_path / "whole"))
  wd = str(tmp_path / "wd")
  stopped = replicas.train_and_evaluate(with_values(config, **{"train.stop_after_steps": 6}), wd)
  assert stopped["status"] == "stopped" and stopped["step"] == 6
  for s in range(3):  # every replica kept the step it reached
    assert "6" in os.listdir(os.path.join(wd, f"seed_{s}", "checkpoints"))
  resumed = replicas.train_and_evaluate(config, wd)
  for a, b in zip(resumed["runs"], whole["runs"], strict=True):
    assert_same_leaves(a["state"].params, b["state"].params, rtol=1e-6, atol=1e-7)
    assert a["test"] == b["test"]


@pytest.mark.slow  # 30 s: two programs of two replicas
def test_ctrl_c_stops_every_replica_at_the_chunks_end_with_a_checkpoint(tmp_path, monkeypatch):
  import signal

  from nlx.errors import NlxError
  config = with_values(tiny_mlp(), **{"train.replicas": 2})
  log_train, logged = replicas._Group.log_train, []

  def log_then_ctrl_c(self, step):
    log_train(self, step)
    logged.append(step)
    if step == 4:  # Ctrl-C while the second chunk's results are logged
      signal.raise_signal(signal.SIGINT)

  wd = str(tmp_path / "wd")
  with monkeypatch.context() as m:
    m.setattr(replicas._Group, "log_train", log_then_ctrl_c)
    with pytest.raises(NlxError, match=r"interrupted at step 4; checkpoint step 4 kept"):
      replicas.train_and_evaluate(config, wd)
  assert logged == [4]
  for s in (0, 1):
    assert os.listdir(os.path.join(wd, f"seed_{s}", "checkpoints")) == ["4"]
  resumed = replicas.train_and_evaluate(config, wd)
  whole = replicas.train_and_evaluate(config, str(tmp_path / "whole"))
  for a, b in zip(resumed["runs"], whole["runs"], strict=True):
    assert_same_leaves(a["state"].params, b["state"].params, rtol=1e-6, atol=1e-7)
    assert a["test"] == b["test"]


def test_ctrl_c_while_a_replicas_save_fails_reports_the_failed_save(tmp_path, monkeypatch):
  """The interrupt's message says a checkpoint is kept in each run: the replicas' saves
  are finished before it, so one that failed (a full disk in seed_1's) is the one-line
  DiskError instead of that message."""
  import errno
  import signal

  from nlx import checkpointing
  from nlx.errors import DiskError
  config = with_values(tiny_mlp(), **{"train.replicas": 2})
  log_train = replicas._Group.log_train

  def log_then_ctrl_c(self, step):
    log_train(self, step)
    if step == 4:
      signal.raise_signal(signal.SIGINT)
  write_record = checkpointing.write_record

  def full_for_seed_1(step_dir):
    if f"{os.sep}seed_1{os.sep}" in step_dir:
      raise OSError(errno.ENOSPC, "No space left on device", step_dir)
    write_record(step_dir)
  monkeypatch.setattr(replicas._Group, "log_train", log_then_ctrl_c)
  monkeypatch.setattr(checkpointing, "write_record", full_for_seed_1)
  wd = str(tmp_path / "wd")
  with pytest.raises(DiskError, match=r"seed_1/checkpoints/4: No space left on device; no "
                                      r"checkpoint is complete yet"):
    replicas.train_and_evaluate(config, wd)
  assert os.listdir(os.path.join(wd, "seed_0", "checkpoints")) == ["4"]


def nan_for_seed_1(directory, n=256, batch=32):
  """Synthetic features where one training example is huge (3e38, so its loss is not
  finite) and is drawn by replica seed_1 at step 3 but by seed_0 only after step 4 (so
  the log at step 4 finds seed_1's loss non-finite, seed_0's finite)."""
  write_synthetic_cache(str(directory), n_train=n, n_test=64, dim=8)
  step_of = {s: np.empty(n, int) for s in (0, 1)}
  for s in (0, 1):  # the device iterator's order of epoch 0 for seed s
    step_of[s][np.random.default_rng((s, 0)).permutation(n)] = np.arange(n) // batch + 1
  index = int(np.flatnonzero((step_of[1] == 3) & (step_of[0] > 4))[0])
  path = os.path.join(directory, "features.npz")
  with np.load(path) as f:
    arrays = {k: f[k] for k in f.files}
  arrays["train_features"][index] = 3e38
  np.savez(path, **arrays)
  return str(directory)


def test_a_nan_in_one_replica_names_it_and_keeps_every_last_good_checkpoint(tmp_path):
  data_dir = nan_for_seed_1(tmp_path / "data")

  def config(**kw):
    return load_config("cifar10n_cpu", "tiny", **{
        "data.data_dir": data_dir, "data.label_set": "worst", "data.max_train_examples": -1,
        "data.max_test_examples": -1, "model.hidden": (16,), "train.replicas": 2, **kw})

  wd = str(tmp_path / "wd")
  assert replicas.train_and_evaluate(config(**{"train.stop_after_steps": 1}), wd)["step"] == 1
  sub = os.path.join(wd, "seed_1")
  with pytest.raises(NonFiniteLossError, match=(
      rf"^replica seed_1 \({sub}\): loss is (nan|inf) at step 3: training stopped; the last "
      r"good checkpoint is step 1$")):
    replicas.train_and_evaluate(config(), wd)
  for s in (0, 1):
    assert os.listdir(os.path.join(wd, f"seed_{s}", "checkpoints")) == ["1"]


# ---- folds -----------------------------------------------------------------------------

def test_stratified_folds_spread_every_label_evenly_and_depend_on_the_seed():
  labels = np.repeat([0, 1, 2], [7, 5, 9])  # 21 examples
  fold = folds_lib.stratified_folds(labels, 4, seed=0)
  assert sorted(np.bincount(fold)) == [5, 5, 5, 6]  # ceil / floor of 21 / 4
  for c, n in ((0, 7), (1, 5), (2, 9)):
    per_fold = np.bincount(fold[labels == c], minlength=4)
    assert per_fold.sum() == n and per_fold.max() - per_fold.min() <= 1
  np.testing.assert_array_equal(fold, folds_lib.stratified_folds(labels, 4, seed=0))
  assert not np.array_equal(fold, folds_lib.stratified_folds(labels, 4, seed=1))
  assert folds_lib.fold_steps_per_epoch(21, 4, 4) == 3  # (21 - 6) // 4
  assert folds_lib.fold_steps_per_epoch(20, 4, 5) == 3  # (20 - 5) // 5
  with pytest.raises(ConfigError, match=r"label_issues.folds=6 exceeds the 5 training "
                                        r"examples of label 1"):
    folds_lib.stratified_folds(labels, 6, seed=0)
  with pytest.raises(ConfigError, match=r"label_issues.folds must be >= 2"):
    folds_lib.stratified_folds(labels, 1, seed=0)


def test_a_folds_run_draws_its_batches_from_the_other_folds_only():
  include = np.array([1, 4, 5, 8, 9, 11])
  it = on_device.IndexIterator(12, 2, 2, seed=0, include=include, steps_per_epoch=2)
  epochs = [np.concatenate([next(it)["index"] for _ in range(2)]) for _ in range(2)]
  for rows in epochs:
    assert set(rows) <= set(include) and len(set(rows)) == 4  # 2 steps of 2, no repeat
  # each epoch: the permutation of `include` seeded by (seed, epoch), cut to 2 batches
  for e, rows in enumerate(epochs):
    np.testing.assert_array_equal(
        rows, include[np.random.default_rng((0, e)).permutation(6)][:4])
  with pytest.raises(StopIteration):
    next(it)


def fake_dynamics(aum, probs):
  return types.SimpleNamespace(area_under_margin=lambda: np.asarray(aum, float),
                               mean_probs=lambda: np.asarray(probs, np.float32))


def test_out_of_fold_scores_judge_each_example_by_the_run_that_held_it_out():
  labels = np.array([0, 1, 0, 1, 0, 1])
  fold_of = np.array([0, 0, 1, 1, 2, 2])
  # run k's final logits on all 6 examples (2 classes)
  logits = [np.array([[2.0, 0], [0, 1], [9, 9], [9, 9], [9, 9], [9, 9]]),
            np.array([[9, 9], [9, 9], [0, 3.0], [1, 0], [9, 9], [9, 9]]),
            np.array([[9, 9], [9, 9], [9, 9], [9, 9], [1.0, 0], [0, 0.5]])]
  aum = [[-1, 2, 10, 20, 30, 40], [5, 6, -3, -4, 7, 8], [11, 12, 13, 14, 0.5, 1.5]]
  dyn = [fake_dynamics(a, np.full((6, 2), 0.5)) for a in aum]
  oof_aum = np.array([-1, 2, -3, -4, 0.5, 1.5])
  in_sample = np.array([(5 + 11) / 2, (6 + 12) / 2, (10 + 13) / 2, (20 + 14) / 2,
                        (30 + 7) / 2, (40 + 8) / 2])
  margins = np.array([2.0, 1.0, -3.0, -1.0, 1.0, 0.5])  # given logit minus the other
  for score, expected in [("oof_aum", oof_aum), ("in_sample_aum", in_sample),
                          ("oof_margin", margins),
                          ("oof_confidence", 1 / (1 + np.exp(-margins)))]:
    issues = out_of_fold(labels, fold_of, logits, dyn, score=score)
    np.testing.assert_allclose(issues.scores, expected, rtol=1e-12)
  # combined: the mean of the two ranks (0..5 scaled to [0, 1])
  rank_oof = np.array([2, 5, 1, 0, 3, 4]) / 5
  rank_in = np.array([0, 1, 2, 3, 4, 5]) / 5  # 8, 9, 11.5, 17, 18.5, 24
  combined = out_of_fold(labels, fold_of, logits, dyn, count="oof_final")
  np.testing.assert_allclose(combined.scores, (rank_oof + rank_in) / 2)
  assert combined.score_name == "folds:combined" and combined.count_name == "folds:oof_final"
  # the count: confident learning on the held-out runs' final softmax. By hand: the
  # softmax at the given labels is p0 = .881, .047, .731 (label 0: examples 0, 2, 4) and
  # p1 = .731, .269, .622 (label 1: 1, 3, 5), so the thresholds are t0 = .553, t1 = .541;
  # example 2 (p1 = .953) and example 3 (p0 = .731) are confidently the other class: one
  # wrong label per class
  final = np.array([[2.0, 0], [0, 1], [0, 3], [1, 0], [1, 0], [0, 0.5]])
  probs = np.exp(final) / np.exp(final).sum(1, keepdims=True)
  np.testing.assert_array_equal(combined.per_class_errors, [1, 1])
  np.testing.assert_array_equal(confident_learning_counts(labels, probs), [1, 1])
  # flagged: the lowest combined score of each label (example 0: 0.2 of 0.2, 0.3, 0.7;
  # example 3: 0.3 of 0.6, 0.3, 0.9), suggested: the other class
  np.testing.assert_array_equal(combined.flagged, [1, 0, 0, 1, 0, 0])
  assert combined.suggested[0] == 1 and combined.suggested[3] == 0
  # oof_mean counts from the held-out run's epoch-averaged softmax instead: m below on
  # the run's own fold, its columns swapped elsewhere (what a wrong run would give). By
  # hand: t0 = mean(.9, .6, .8) = .767, t1 = mean(.8, .7, .6) = .7; examples 2 and 5 reach
  # no threshold, the rest their own class: no wrong label
  m = np.array([[.9, .1], [.2, .8], [.6, .4], [.3, .7], [.8, .2], [.4, .6]])
  dyn = [fake_dynamics(a, np.where((fold_of == k)[:, None], m, m[:, ::-1]))
         for k, a in enumerate(aum)]
  np.testing.assert_array_equal(
      out_of_fold(labels, fold_of, logits, dyn, count="oof_mean").per_class_errors, [0, 0])
  np.testing.assert_array_equal(confident_learning_counts(labels, m[:, ::-1]), [3, 3])
  # in_sample: the mean of the other runs' epoch-averaged softmax = m's columns swapped,
  # confidently the other class everywhere: 3 wrong labels per class
  np.testing.assert_array_equal(
      out_of_fold(labels, fold_of, logits, dyn, count="in_sample").per_class_errors, [3, 3])
  # auto: the runs' final predictions on their own training folds ([9, 9]: class 0)
  # agree with half the given labels, so not memorised: the in-sample count ...
  auto = out_of_fold(labels, fold_of, logits, dyn)
  assert auto.count_name == "folds:auto: in_sample"
  np.testing.assert_array_equal(auto.per_class_errors, [3, 3])
  # ... and once each run predicts its training folds' given labels (memorised), the
  # held-out runs' epoch-averaged count
  memorised = [np.where((fold_of == k)[:, None], z, np.eye(2)[labels] * 5)
               for k, z in enumerate(logits)]
  auto = out_of_fold(labels, fold_of, memorised, dyn)
  assert auto.count_name == "folds:auto: oof_mean"
  np.testing.assert_array_equal(auto.per_class_errors, [0, 0])
  assert set(OOF_COUNTS) == {"auto", "oof_final", "oof_mean", "in_sample"}
  with pytest.raises(ConfigError, match="unknown out-of-fold score 'aum'"):
    out_of_fold(labels, fold_of, logits, dyn, score="aum")


def test_folds_runs_hold_their_fold_out_and_the_parent_judges_by_it(tmp_path):
  config = with_values(tiny_mlp(), **{"label_issues.folds": 3})
  out = replicas.train_and_evaluate(config, str(tmp_path / "folds"))
  dataset = train.load_dataset(config)
  labels = dataset.train.hard_labels()
  fold_of = folds_lib.stratified_folds(labels, 3, config.seed)
  # a fold's run is the single run with label_issues.holdout_fold=k: same state
  alone = train.train_and_evaluate(with_values(config, **{"label_issues.holdout_fold": 1}),
                                   str(tmp_path / "alone1"))
  assert_same_leaves(out["runs"][1]["state"], alone["state"])
  # 256 examples, folds of 86/85/85: (256 - 86) // 32 = 5 steps an epoch, 2 epochs
  assert out["runs"][0]["steps"] == alone["steps"] == 10
  # the parent's label issues: out_of_fold on the runs' final logits and dynamics
  from nlx import dynamics, label_issues
  logits, dyns = [], []
  for k in range(3):
    c = with_values(config, **{"label_issues.holdout_fold": k})
    trainer, state = train.restore(c, str(tmp_path / "folds" / f"fold_{k}"), dataset)
    logits.append(trainer.predict(state, dataset.train))
    dyns.append(dynamics.load(str(tmp_path / "folds" / f"fold_{k}")))
  expected = out_of_fold(labels, fold_of, logits, dyns)
  rows = {r["index"]: r for r in label_issues.find(str(tmp_path / "folds"))}
  np.testing.assert_allclose([rows[i]["score"] for i in range(len(labels))], expected.scores,
                             rtol=1e-5)
  assert [rows[i]["flagged"] for i in range(len(labels))] == list(expected.flagged)
  assert out["label_issues"]["estimated_errors"] == int(expected.flagged.sum())
  assert out["label_issues"]["folds"] == 3 and "auroc" in out["label_issues"]


# ---- bad input -------------------------------------------------------------------------

@pytest.mark.parametrize("values,message", [
    ({"label_issues.folds": 1}, r"^label_issues.folds must be 0 \(in-sample\) or >= 2"),
    ({"train.replicas": 0}, r"^train.replicas must be >= 1, got 0$"),
    ({"label_issues.holdout_fold": 2, "label_issues.folds": 2},
     r"^label_issues.holdout_fold=2 needs label_issues.folds > 2, got 2$"),
])
def test_bad_counts_are_one_line_errors(values, message):
  with pytest.raises(ConfigError, match=message):
    check_values(with_values(tiny_mlp(), **values))


@pytest.mark.parametrize("values,message", [
    ({"train.replicas": 2, "label_issues.folds": 2},
     r"^train.replicas=2 and label_issues.folds=2: give one"),
    ({"train.replicas": 2, "data.on_device": False},
     r"^train.replicas needs the training set held in memory on the device .*: "
     r"data.on_device is False$"),
    ({"label_issues.folds": 3, "data.on_device": False},
     r"^label_issues.folds needs the training set held in memory"),
    ({"train.replicas": 2, "train.stop_on_collapse": True},
     r"^train.replicas: the runs step together, so train.stop_on_collapse"),
    ({"label_issues.folds": 3, "train.training_dynamics": False},
     r"^label_issues.folds needs train.training_dynamics=True"),
    ({"label_issues.folds": 200}, r"^label_issues.folds=200 exceeds the \d+ training examples "
                                  r"of label \d"),
])
def test_what_several_runs_cannot_do_is_a_one_line_error(tmp_path, values, message):
  with pytest.raises(ConfigError, match=message):
    replicas.train_and_evaluate(with_values(tiny_mlp(), **values), str(tmp_path / "wd"))
  if "label_issues.folds" in values and values["label_issues.folds"] > 10:
    assert not os.path.exists(tmp_path / "wd")  # refused before any folder was made


def test_folds_refuse_a_method_without_class_probabilities_or_a_clean_subset(tmp_path):
  config = with_values(tiny_mlp(), **{"label_issues.folds": 3, "method.name": "label_embedding"})
  with pytest.raises(ConfigError, match=r"method 'label_embedding' gives no class probabilities"):
    replicas.train_and_evaluate(config, str(tmp_path / "a"))
  config = with_values(tiny_mlp(), **{"label_issues.folds": 3, "data.clean_fraction": 0.1})
  with pytest.raises(ConfigError, match=r"known-clean subset is repeated"):
    replicas.train_and_evaluate(config, str(tmp_path / "b"))


def test_the_single_run_trainer_refuses_several_runs(tmp_path):
  with pytest.raises(ConfigError, match=r"nlx.replicas.train_and_evaluate"):
    train.train_and_evaluate(with_values(tiny_mlp(), **{"train.replicas": 2}), str(tmp_path))


def test_a_workdir_of_one_run_and_one_of_several_refuse_each_other(tmp_path):
  from nlx import workdir as workdir_lib
  single, several = tiny_mlp(), with_values(tiny_mlp(), **{"train.replicas": 3})
  one, many = str(tmp_path / "one"), str(tmp_path / "many")
  for wd, c in ((one, single), (many, several)):  # what a finished first run recorded
    os.makedirs(wd)
    workdir_lib.write_record(wd, c, None, step=16)
  with pytest.raises(ConfigError, match=r"train.replicas: 1 -> 3"):
    replicas.train_and_evaluate(several, one)
  with pytest.raises(ConfigError, match=r"train.replicas: 3 -> 1"):
    replicas.train_and_evaluate(single, many)


@pytest.mark.parametrize("conv,mode", [("auto", "full"), ("xla", "full"), ("auto", "fast")])
def test_the_replicas_chunk_takes_the_models_compile_options(tmp_path, monkeypatch, conv, mode):
  """The vmapped chunk (the one program `nlx.replicas` itself compiles for the K runs) is
  compiled with the model's options (`nlx.ops.conv`: XLA's own convolutions with
  model.conv=auto), as the single run's programs are."""
  import sys

  from nlx.ops import conv as conv_ops
  jitted = []
  real_jit = jax.jit

  def spy(fn, **kw):
    jitted.append((sys._getframe(1).f_globals.get("__name__"), getattr(fn, "__name__", ""), kw))
    return real_jit(fn, **kw)

  monkeypatch.setattr(replicas.jax, "jit", spy)
  config = with_values(load_config("quickstart", "tiny", **{"model.width": 8, "model.conv": conv,
                                                           "model.compile": mode}),
                       **{"train.replicas": 2, "train.num_epochs": 1})
  replicas.train_and_evaluate(config, str(tmp_path / "runs"))
  chunks = [kw for module, name, kw in jitted if module == "nlx.replicas" and name == "chunk"]
  assert len(chunks) == 1, [(module, name) for module, name, _ in jitted]
  assert "compiler_options" in chunks[0]
  fast = {"xla_cpu_use_fusion_emitters": False} if mode == "fast" else {}
  assert chunks[0]["compiler_options"] == ({**(conv_ops.compiler_options(conv) or {}), **fast}
                                           or None)
  assert (conv_ops.compiler_options(conv) is None) == (conv == "xla")
