import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import count_train_steps, load_config, shared_path, write_idx, write_image_folder

from nlx import data as data_lib
from nlx import dynamics, io, label_issues, methods, models, train
from nlx.errors import NonFiniteLossError
from nlx.periodic import itstime


def tiny(name="quickstart", variant="tiny", **overrides):
  return load_config(name, variant, **overrides)


def check_workdir(workdir, results):
  for f in ("config.json", "metrics.jsonl", "results.json", "curves.png"):
    assert os.path.exists(os.path.join(workdir, f)), f
  with open(os.path.join(workdir, "results.json")) as f:
    saved = json.load(f)
  assert saved["test"] == results["test"]
  assert 0.0 <= saved["test"]["accuracy"] <= 1.0 and saved["wall_time_s"] > 0
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    records = [json.loads(line) for line in f]
  assert {r["kind"] for r in records} == {"train", "eval"}
  assert all(np.isfinite(r["loss"]) for r in records if r["kind"] == "train")
  return records


def test_quickstart_tiny_end_to_end(tmp_path):
  results = train.train_and_evaluate(tiny(), str(tmp_path))
  records = check_workdir(str(tmp_path), results)
  assert results["noise_rate"] == pytest.approx(round(0.4 * 256) / 256)
  assert results["steps"] == 2 * (256 // 32)
  assert [r["epoch"] for r in records if r["kind"] == "eval"] == [1, 2]
  # Learned something from 60%-clean labels: well above chance (10%) on clean test labels.
  assert results["test"]["accuracy"] > 0.2


@pytest.mark.slow
def test_face_sentiment_tiny_end_to_end(tmp_path):
  d = shared_path("face_sentiment")
  for label_set in ("sample", "soft"):
    c = tiny("ce_face_sentiment", f"{label_set},tiny", **{"data.data_dir": d})
    results = train.train_and_evaluate(c, str(tmp_path / label_set))
    check_workdir(str(tmp_path / label_set), results)
    assert results["label_set"] == label_set


@pytest.mark.slow
def test_cifar10_and_cifar10n_tiny_end_to_end(tmp_path, cifar10_dir):
  r = train.train_and_evaluate(tiny("ce_cifar10", "sym40,tiny", **{"data.data_dir": cifar10_dir}),
                               str(tmp_path / "c10"))
  check_workdir(str(tmp_path / "c10"), r)
  label_file = shared_path("cifar10n", "CIFAR-10_human.pt")
  r = train.train_and_evaluate(tiny("ce_cifar10n", "worst,tiny", **{
      "data.data_dir": cifar10_dir, "data.label_file": label_file}), str(tmp_path / "c10n"))
  check_workdir(str(tmp_path / "c10n"), r)
  assert 0.3 < r["noise_rate"] < 0.5  # 40.2% on all 50k; a 256-image subset is close


@pytest.mark.slow
def test_fashion_mnist_and_image_folder_tiny_end_to_end(tmp_path):
  rng = np.random.default_rng(0)
  fm = tmp_path / "fm"
  fm.mkdir()
  for stem, shape in [("train-images-idx3-ubyte", (300, 28, 28)),
                      ("t10k-images-idx3-ubyte", (60, 28, 28))]:
    write_idx(str(fm / f"{stem}.gz"), rng.integers(0, 256, shape))
  write_idx(str(fm / "train-labels-idx1-ubyte.gz"), rng.integers(0, 10, 300))
  write_idx(str(fm / "t10k-labels-idx1-ubyte.gz"), rng.integers(0, 10, 60))
  r = train.train_and_evaluate(tiny("ce_fashion_mnist", "tiny", **{"data.data_dir": str(fm)}),
                               str(tmp_path / "fm_run"))
  check_workdir(str(tmp_path / "fm_run"), r)
  folder = tmp_path / "imgs"
  folder.mkdir()
  write_image_folder(folder, 20)
  r = train.train_and_evaluate(tiny("ce_image_folder", "tiny", **{"data.data_dir": str(folder)}),
                               str(tmp_path / "if_run"))
  check_workdir(str(tmp_path / "if_run"), r)
  assert "val" in r


def run_steps(trainer, state, n, seed=0):
  it = trainer.train_iterator(1)
  losses = []
  for _ in range(n):
    state, m = trainer.train_step(state, trainer.shard(next(it)))
    losses.append(float(m["loss"]))
  return state, losses


def test_sharded_step_equals_single_device_step():
  assert jax.device_count() == 8
  config = tiny(**{"data.batch_size": 64})
  ds = data_lib.load_dataset(config)
  one = train.Trainer(config, ds, train.make_mesh(jax.devices()[:1]))
  eight = train.Trainer(config, ds, train.make_mesh(jax.devices()))
  s1, l1 = run_steps(one, one.initial_state, 3)
  s8, l8 = run_steps(eight, eight.initial_state, 3)
  np.testing.assert_allclose(l1, l8, rtol=1e-5, atol=1e-5)
  for a, b in zip(jax.tree.leaves(s1.params), jax.tree.leaves(s8.params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)
  assert len(s8.params["model"]["head"]["kernel"].sharding.device_set) == 8


def test_train_step_compiles_once():
  config = tiny(**{"data.on_device": False})  # grain: host batches, one step a call
  trainer = train.Trainer(config, data_lib.load_dataset(config))
  state, _ = run_steps(trainer, trainer.initial_state, 5)
  assert trainer.train_step._cache_size() == 1
  trainer.predict(state, trainer.dataset.test)
  trainer.predict(state, trainer.dataset.test)  # last batch padded: same shape, no recompile
  assert trainer.eval_step._cache_size() == 1


def test_the_compiled_chunk_and_the_resident_prediction_compile_once():
  # data on the device: calls of every length up to the limit (3: a mid-epoch checkpoint
  # every 3 steps) run one chunk program; every split is predicted by one program (the
  # eval step over each resident block)
  config = tiny(**{"train.checkpoint_every_steps": 3})
  trainer = train.Trainer(config, data_lib.load_dataset(config))
  assert trainer.steps_per_call == 3
  it = trainer.train_iterator(2)
  state = trainer.initial_state
  for n in (3, 1, 2, 3):
    state, _ = trainer.train_chunk(state, trainer.shard_chunk(
        [next(it)["index"] for _ in range(n)]), np.int32(n))
  assert trainer.device_data.jitted_chunk._cache_size() == 1
  assert int(state.step) == 9
  trainer.predict(state, trainer.dataset.test)
  trainer.predict(state, trainer.dataset.test)
  assert trainer.eval_step._cache_size() == 1
  trainer.predict(state, trainer.dataset.train)  # another split, the same program
  assert trainer.eval_step._cache_size() == 1


def checkpoint_steps(workdir) -> list[int]:
  """The steps of the checkpoints on disk, by their directory names."""
  return sorted(int(n) for n in os.listdir(os.path.join(workdir, "checkpoints")) if n.isdigit())


def resumable(**overrides):
  """tiny() with a small MLP: the resume tests train it four times."""
  return tiny(**{"model.name": "mlp", "model.hidden": (32,), **overrides})


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
  """An uninterrupted run of resumable() (2 epochs of 8 steps) and one stopped at step 11
  that kept checkpoints 4 (mid-epoch), 8 (epoch 1) and 11 (the stop): checkpoint_every_steps,
  max_checkpoints and stop_after_steps are not in the fingerprint, so resumable() resumes it."""
  root = tmp_path_factory.mktemp("resume")
  full = train.train_and_evaluate(resumable(), str(root / "full"))
  stopped = train.train_and_evaluate(resumable(**{
      "train.stop_after_steps": 11, "train.checkpoint_every_steps": 4,
      "train.max_checkpoints": 3}), str(root / "stopped"))
  return full, stopped, root


def assert_same_run(resumed, full, workdir, full_dir, logged):
  assert resumed["steps"] == full["steps"] == 16
  for a, b in zip(jax.tree.leaves(full["state"].params), jax.tree.leaves(resumed["state"].params)):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
  assert resumed["test"] == full["test"]
  assert resumed["label_issues"] == full["label_issues"]
  with open(workdir / "metrics.jsonl") as f:
    steps = [json.loads(line)["step"] for line in f if '"train"' in line]
  assert steps == sorted(set(steps))  # no duplicated log lines after the resume
  assert steps == logged
  with open(full_dir / "metrics.jsonl") as f:
    assert [json.loads(line)["step"] for line in f if '"train"' in line] == [4, 8, 12, 16]


def test_resume_after_stop_gives_the_same_final_params(stopped_run, tmp_path, monkeypatch):
  full, stopped, root = stopped_run
  assert stopped["status"] == "stopped" and stopped["step"] == 11
  assert checkpoint_steps(root / "stopped") == [4, 8, 11]  # every 4 steps, epoch 1, the stop
  wd = tmp_path / "resumed"
  shutil.copytree(root / "stopped", wd)
  steps_run = count_train_steps(monkeypatch)
  resumed = train.train_and_evaluate(resumable(), str(wd))
  assert len(steps_run) == 16 - 11  # resumed from the newest checkpoint, step 11
  # train lines every 4 steps and at the stop (11); a resume from an older checkpoint
  # would have dropped the line of step 11
  assert_same_run(resumed, full, wd, root / "full", logged=[4, 8, 11, 12, 16])
  assert checkpoint_steps(wd) == [11, 16]  # this run keeps the default 2


def test_resume_from_a_checkpoint_older_than_the_newest_files_gives_the_same_run(
    stopped_run, tmp_path, monkeypatch):
  """Checkpoints 8 and 11 lost: the run resumes mid-epoch 1 at step 4, older than the
  dynamics file of epoch 1 and the log lines of steps 8 and 11 the stopped attempt left,
  and ends as the uninterrupted run did."""
  full, _, root = stopped_run
  wd = tmp_path / "resumed"
  shutil.copytree(root / "stopped", wd)
  for step in ("8", "11"):
    shutil.rmtree(wd / "checkpoints" / step)
  assert os.listdir(wd / "dynamics") == ["epoch_0001.npz"]
  steps_run = count_train_steps(monkeypatch)
  resumed = train.train_and_evaluate(resumable(), str(wd))
  assert len(steps_run) == 16 - 4
  assert_same_run(resumed, full, wd, root / "full", logged=[4, 8, 12, 16])  # 11's dropped
  whole, got = dynamics.load(str(root / "full")), dynamics.load(str(wd))
  assert (got.count, got.epoch) == (whole.count, whole.epoch) == (2, 2)
  np.testing.assert_allclose(got.sum_margin, whole.sum_margin, rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(got.sum_probs, whole.sum_probs, rtol=1e-6, atol=1e-6)
  np.testing.assert_array_equal(got.epoch_counts, whole.epoch_counts)


def test_a_finished_run_extended_and_stopped_keeps_no_results_of_its_earlier_finish(
    stopped_run, tmp_path):
  # The 2-epoch run finished; extended to 3 epochs (train.allow_more_epochs) and stopped at
  # step 20 of 24, its workdir holds no results.json nor label issues, so nothing (nlx
  # report, label_issues.find, a benchmark's finished cell) reads the 2-epoch finish as the
  # 3-epoch run's result.
  _, _, root = stopped_run
  workdir = tmp_path / "extended"
  shutil.copytree(root / "full", workdir)
  finished = ("results.json", "curves.png", "label_issues.csv", "label_issues.json")
  assert all(os.path.exists(workdir / name) for name in finished)
  stopped = train.train_and_evaluate(resumable(**{
      "train.num_epochs": 3, "train.allow_more_epochs": True,
      "train.stop_after_steps": 20}), str(workdir))
  assert stopped["status"] == "stopped" and stopped["step"] == 20
  assert [name for name in finished if os.path.exists(workdir / name)] == []
  with pytest.raises(FileNotFoundError, match="label_issues.csv"):
    label_issues.find(str(workdir))


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path):
  # Epoch 1 trains normally; from epoch 2 the step schedule multiplies lr by 1e30.
  # Checkpoints every 4 steps, up to 3 kept: 4 and 8 are written before the loss of
  # epoch 2 (checked when step 12 logs) is non-finite, so none from then on.
  config = tiny(**{"optimizer.schedule": "step", "optimizer.step_epochs": (1,),
                   "optimizer.step_factor": 1e30, "train.num_epochs": 3,
                   "train.checkpoint_every_steps": 4, "train.max_checkpoints": 3})
  with pytest.raises(NonFiniteLossError, match=r"at step \d+: training stopped; the last good "
                                               r"checkpoint is step 8"):
    train.train_and_evaluate(config, str(tmp_path))
  from nlx.checkpointing import Checkpointer
  assert checkpoint_steps(tmp_path) == [4, 8]
  assert Checkpointer(str(tmp_path / "checkpoints")).latest_step() == 8


@pytest.mark.slow
def test_restore_returns_the_final_state(tmp_path):
  result = train.train_and_evaluate(tiny(), str(tmp_path))
  trainer, state = train.restore(tiny(), str(tmp_path))
  assert int(state.step) == result["steps"]
  np.testing.assert_allclose(trainer.predict(state, trainer.dataset.test),
                             trainer.predict(result["state"], trainer.dataset.test), rtol=1e-6)


@pytest.mark.slow
def test_bfloat16_compute_trains_float32_params_and_optimizer_state():
  f32, bf16 = (tiny(**{"model.dtype": d, "data.on_device": False})  # host batches
               for d in ("float32", "bfloat16"))
  ds = data_lib.load_dataset(f32)
  t32 = train.Trainer(f32, ds, train.make_mesh(jax.devices()[:1]))
  t16 = train.Trainer(bf16, ds, train.make_mesh(jax.devices()[:1]))
  batch = t16.shard(next(t16.train_iterator(1)))
  hlo = t16.train_step.lower(t16.initial_state, batch).as_text()
  assert "bf16" in hlo and "convolution" in hlo  # the convolutions run in bfloat16
  _, m32 = t32.train_step(t32.initial_state, batch)
  s16, m16 = t16.train_step(t16.initial_state, batch)
  floats = [x for x in jax.tree.leaves((s16.params, s16.opt_state))
            if jnp.issubdtype(x.dtype, jnp.floating)]
  assert floats and all(x.dtype == jnp.float32 for x in floats)
  # Same init, same batch: the losses agree to bfloat16's precision, and are not identical.
  assert float(m16["loss"]) == pytest.approx(float(m32["loss"]), rel=2e-2)
  assert float(m16["loss"]) != float(m32["loss"])


def test_itstime_by_hand():
  # every 50 of 120 steps: 50, 100, and the last step 120 (unless last=False)
  assert [s for s in range(1, 121) if itstime(s, 50, 120)] == [50, 100, 120]
  assert [s for s in range(1, 121) if itstime(s, 50, 120, last=False)] == [50, 100]
  assert [s for s in range(1, 7) if itstime(s, 0, 6)] == [6]  # every <= 0: only the last
  assert [e for e in range(1, 6) if itstime(e, 2, 5)] == [2, 4, 5]


def count_predictions(monkeypatch, trainer_cls=train.Trainer) -> list:
  """Records the length of every split any network of a Trainer predicts: each pass over a
  device-resident split (`_predict_resident`; a pass the epoch's end shares counts once)
  and each through the input pipeline (`predict_network` of a split not held there)."""
  seen = []
  resident_pass = trainer_cls._predict_resident

  def _predict_resident(self, name, params, model_state, split):
    shared = self._shared_predictions
    before = None if shared is None else len(shared)
    out = resident_pass(self, name, params, model_state, split)
    if out is not None and (before is None or len(shared) > before):
      seen.append(len(split))
    return out
  monkeypatch.setattr(trainer_cls, "_predict_resident", _predict_resident)
  network = trainer_cls.predict_network

  def predict_network(self, name, params, model_state, split, progress=False):
    if self._resident(split) is None:
      seen.append(len(split))
    return network(self, name, params, model_state, split, progress)
  monkeypatch.setattr(trainer_cls, "predict_network", predict_network)
  return seen


def test_training_dynamics_off_predicts_the_train_set_only_to_guard_evaluations(
    tmp_path, monkeypatch):
  runs = {}
  for on in (True, False):
    seen = count_predictions(monkeypatch)
    config = tiny(**{"train.training_dynamics": on, "train.num_epochs": 3,
                     "train.eval_every_epochs": 2})
    workdir = tmp_path / str(on)
    runs[on] = (train.train_and_evaluate(config, str(workdir)), list(seen), workdir)
    monkeypatch.undo()
  (on_res, on_seen, on_dir), (off_res, off_seen, off_dir) = runs[True], runs[False]
  n_train, n_test = on_res["num_train"], on_res["num_test"]
  # evaluations at epochs 2 and 3 (the last): a test pass each; dynamics on: the train
  # set after each of the 3 epochs (the guard reuses them); off: only for the guard
  assert sorted(on_seen) == sorted([n_train] * 3 + [n_test] * 2)
  assert sorted(off_seen) == sorted([n_train] * 2 + [n_test] * 2)
  assert "label_issues" in on_res and "label_issues" not in off_res
  assert (on_dir / "label_issues.csv").exists() and (on_dir / "dynamics").is_dir()
  assert not (off_dir / "label_issues.csv").exists() and not (off_dir / "dynamics").exists()
  # the same training either way: the guard's eval records agree, and so does the test
  evals = [[r for r in io.read_jsonl(str(d / "metrics.jsonl")) if r["kind"] == "eval"]
           for d in (on_dir, off_dir)]
  assert evals[0] == evals[1] and evals[0][0]["train_top_class_share"] > 0
  assert on_res["test"] == off_res["test"]


def test_method_networks_are_named_and_two_of_one_size_both_run(monkeypatch):
  import types
  ce = methods.get("ce")
  seen_names = []

  def init_state(config, *, dataset, model, rng, new_model):
    a, b = new_model(rng, name="a"), new_model(jax.random.fold_in(rng, 1), name="b")
    return {"a": a.params, "b": b.params}, {"a": a.state, "b": b.state}

  def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
    seen_names.append(sorted(ctx.apply_fns))
    out_a, _ = ctx.apply_fns["a"](params["a"], state["a"], batch["input"], train=False)
    out_b, _ = ctx.apply_fns["b"](params["b"], state["b"], batch["input"], train=False)
    per_example, _ = ce.loss_fn(params, state, outputs, batch, rng, config=config, ctx=ctx)
    return per_example, {"metrics": {"a_minus_b": out_a.logits - out_b.logits}}

  module = types.ModuleType("two_nets")
  module.default_config, module.init_state, module.loss_fn = ce.default_config, init_state, loss_fn
  monkeypatch.setattr(methods, "get", lambda name: methods.Method.from_module(module))
  config = tiny(**{"data.on_device": False})  # host batches through the per-step program
  trainer = train.Trainer(config, data_lib.load_dataset(config), train.make_mesh(jax.devices()[:1]))
  # keyed by class count (as before), b would have replaced a
  assert set(trainer.graphdefs) == {train.MODEL, "a", "b"}
  s0 = trainer.initial_state
  pa, pb = (jax.tree.map(np.asarray, s0.params["method"][k]) for k in "ab")  # s0 is donated
  batch = trainer.shard(next(trainer.train_iterator(1)))
  x = train.normalize(batch["image"], trainer.dataset.mean, trainer.dataset.std)
  logits = {k: np.asarray(models.apply(trainer.graphdefs[k], p, s0.method_state[k], x,
                                       train=False)[0].logits) for k, p in (("a", pa), ("b", pb))}
  want = np.mean(logits["a"] - logits["b"])
  _, m = trainer.train_step(s0, batch)
  assert seen_names[-1] == ["a", "b"]
  assert abs(want) > 1e-3 and float(m["a_minus_b"]) == pytest.approx(want, rel=1e-4, abs=1e-6)

  def twice(config, *, dataset, model, rng, new_model):
    new_model(rng, name="a")
    new_model(rng, name="a")
  module.init_state = twice
  with pytest.raises(ValueError, match="two networks named 'a'"):
    train.Trainer(config, trainer.dataset, train.make_mesh(jax.devices()[:1]))


def test_a_methods_init_state_gets_the_keywords_it_declares():
  """The trainer passes `batch_size` (ARNet's held-back features); a module written
  without it (its hook declaring dataset, model, rng and new_model only, as above) still
  runs, one that declares it or `**kwargs` gets it."""
  import types
  got = {}

  def old_style(config, *, dataset, model, rng, new_model):
    got["old"] = True
    return {}, {}

  def wants_it(config, *, dataset, model, rng, batch_size):
    got["batch_size"] = batch_size
    return {}, {}

  def takes_all(config, **kwargs):
    got["all"] = sorted(kwargs)
    return {}, {}
  config = tiny(**{"data.batch_size": 16, "data.eval_batch_size": 32})
  dataset = data_lib.load_dataset(config)
  for fn in (old_style, wants_it, takes_all):
    module = types.ModuleType(fn.__name__)
    module.default_config, module.loss_fn = methods.get("ce").default_config, methods.get(
        "ce").loss_fn
    module.init_state = fn
    method = methods.Method.from_module(module)
    method.init_state(config.method, dataset=dataset, model=None, rng=None, new_model=None,
                      batch_size=16)
  assert got == {"old": True, "batch_size": 16,
                 "all": ["batch_size", "dataset", "model", "new_model", "rng"]}


def test_every_inference_runs_in_the_trainers_steps():
  # a network runs only in train_step / eval_step (so every prediction goes through the
  # input pipeline: decode, eval transform, padded batches), never on raw split arrays
  import pathlib
  root = pathlib.Path(train.__file__).parent
  callers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                   if "models.apply(" in p.read_text() or "apply_fns[" in p.read_text()
                   and p.parts[-2] != "methods")
  assert callers == ["train.py"]


def test_checkpointer_keeps_the_newest_and_restores_any_kept_step(tmp_path):
  from nlx.checkpointing import Checkpointer
  for keep, kept in ((2, [3, 4]), (3, [2, 3, 4])):
    ckpt = Checkpointer(str(tmp_path / str(keep) / "checkpoints"), max_to_keep=keep)
    assert ckpt.latest_step() is None
    for step in (1, 2, 3, 4):
      ckpt.save(step, {"w": jnp.full(3, float(step))}, {"position": 10 * step})
    ckpt.wait()  # saves are asynchronous: the last one's files written
    assert checkpoint_steps(tmp_path / str(keep)) == kept
    assert ckpt.latest_step() == 4
    for step in kept:  # the newest and an older one: each its own arrays and data state
      state, data = ckpt.restore(step, {"w": jnp.zeros(3)})
      np.testing.assert_array_equal(np.asarray(state["w"]), [step] * 3)
      assert data == {"position": 10 * step}
    ckpt.close()


def test_init_from_loads_the_newest_checkpoint_less_the_excluded_modules(tmp_path):
  """`train.init_from` reads another run's latest checkpoint (not an older one it kept);
  a module in `train.init_from_exclude` keeps this model's own initial values."""
  from flax import nnx

  from nlx.checkpointing import Checkpointer, load_model_weights

  class Net(nnx.Module):
    def __init__(self, rngs):
      self.body = nnx.Linear(3, 4, rngs=rngs)
      self.norm = nnx.BatchNorm(4, rngs=rngs)
      self.head = nnx.Linear(4, 2, rngs=rngs)

  def split(net):
    return nnx.state(net, nnx.Param), nnx.state(net, nnx.BatchStat)

  ckpt = Checkpointer(str(tmp_path / "checkpoints"), max_to_keep=3)
  for step in (1, 2):  # the other run: every weight and statistic = its step
    params, stats = split(Net(nnx.Rngs(step)))
    params, stats = (jax.tree.map(lambda x, s=step: jnp.full_like(x, s), t)
                     for t in (params, stats))
    ckpt.save(step, {"params": {"model": params}, "model_state": stats}, {})
  ckpt.close()
  params, stats = split(Net(nnx.Rngs(7)))  # this model's init
  init = nnx.to_pure_dict(params)
  got_params, got_stats = load_model_weights(str(tmp_path), params, stats, exclude=["head"])
  got = nnx.to_pure_dict(got_params)
  for leaf in jax.tree.leaves(got["body"]) + jax.tree.leaves(nnx.to_pure_dict(got_stats)):
    np.testing.assert_array_equal(np.asarray(leaf), np.full(np.shape(leaf), 2.0))  # step 2
  jax.tree.map(np.testing.assert_array_equal, got["head"], init["head"])
  assert float(np.abs(np.asarray(init["head"]["kernel"]) - 2.0).min()) > 0  # not loaded
  everything, _ = load_model_weights(str(tmp_path), params, stats)  # nothing excluded
  for leaf in jax.tree.leaves(nnx.to_pure_dict(everything)):
    np.testing.assert_array_equal(np.asarray(leaf), np.full(np.shape(leaf), 2.0))


def test_the_logged_learning_rate_is_the_schedule_at_the_last_step_taken(tmp_path):
  """Each train record's learning_rate is the cosine schedule (by hand) at the record's
  last step, counted from 0: lr * (1 + cos(pi * (step - 1) / total)) / 2."""
  import math
  config = tiny(**{"model.name": "mlp", "model.hidden": (16,), "optimizer.schedule": "cosine",
                   "optimizer.learning_rate": 0.02})
  train.train_and_evaluate(config, str(tmp_path))
  records = [r for r in io.read_jsonl(str(tmp_path / "metrics.jsonl")) if r["kind"] == "train"]
  total = records[-1]["step"]
  assert len(records) >= 3 and total > 4
  for r in records:
    want = 0.02 * (1 + math.cos(math.pi * (r["step"] - 1) / total)) / 2
    assert r["learning_rate"] == pytest.approx(want, rel=1e-5), r["step"]
