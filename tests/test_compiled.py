"""Compiled chunks of steps (`train.steps_per_call`, data on the device): one jitted call
runs up to the next log, epoch end or checkpoint, and gives what the step-by-step loop
gives: the same steps (params within float32 round-off), the same logs, the same stop at
a non-finite loss, Ctrl-C at the next chunk's end with a checkpoint, resumable."""

import functools
import json
import logging
import os
import signal
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config

from nlx import dynamics, train
from nlx.data import on_device
from nlx.data.datasets.features import write_synthetic_cache
from nlx.errors import NlxError, NonFiniteLossError


def tiny_mlp(method="ce", **overrides):
  """The tiny quickstart (256 digits, batch 32: 8 steps an epoch, 2 epochs, a log every 4
  steps) with a small MLP."""
  c = load_config("quickstart", "tiny", **{"model.name": "mlp", "model.hidden": (32,),
                                           **overrides})
  if method != "ce":
    from nlx.config_presets import set_method
    c.unlock()
    set_method(c, method)
    c.lock()
  return c


def train_losses(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [(r["step"], r["loss"]) for r in map(json.loads, f) if r["kind"] == "train"]


def test_a_chunk_runs_its_first_count_steps_and_stacks_their_metrics():
  # a toy step: the state adds up the batch's indices; the metric is that batch's sum
  def step(state, batch, arrays):
    s = jnp.sum(arrays["w"][batch["index"]])
    return {"total": state["total"] + s, "calls": state["calls"] + 1}, {"loss": s}

  chunk = jax.jit(on_device.chunk_step(step, 4))
  arrays = {"w": jnp.arange(10.0) * 10}  # row i weighs 10 i
  rows = jnp.asarray([[1, 2], [3, 4], [5, 6], [7, 8]], jnp.int32)
  start = {"total": jnp.float32(0.5), "calls": jnp.int32(0)}
  for count, total, losses in [(0, 0.5, [0, 0, 0, 0]), (1, 30.5, [30, 0, 0, 0]),
                               (3, 210.5, [30, 70, 110, 0]), (4, 360.5, [30, 70, 110, 150])]:
    state, metrics = chunk(start, {"index": rows}, np.int32(count), arrays)
    assert float(state["total"]) == total and int(state["calls"]) == count
    np.testing.assert_array_equal(np.asarray(metrics["loss"]), losses)


def test_a_chunks_float_scalars_share_one_table_and_other_metrics_keep_their_own():
  """The float32 scalars are written as one row a step (one write, not one per metric);
  an int32 metric past float32's 2^24 and a [2] vector keep their dtype and values, and
  every metric comes back under its name, rows past `count` zero."""
  def step(state, batch):
    i = batch["index"][0]
    x = i.astype(jnp.float32)
    return state + 1, {"loss": x, "big": jnp.int32(2 ** 24 + 1) + i, "vec": jnp.stack([x, -x]),
                       "term": 0.5 * x, "acc": x / 4}

  chunk = jax.jit(on_device.chunk_step(step, 3))
  _, metrics = chunk(jnp.int32(0), {"index": jnp.asarray([[2], [5], [7]], jnp.int32)},
                     np.int32(2))
  assert list(metrics) == ["acc", "big", "loss", "term", "vec"]  # the step's dict, sorted
  np.testing.assert_array_equal(metrics["loss"], [2.0, 5.0, 0.0])
  np.testing.assert_array_equal(metrics["term"], [1.0, 2.5, 0.0])
  np.testing.assert_array_equal(metrics["acc"], [0.5, 1.25, 0.0])
  assert metrics["big"].dtype == jnp.int32
  np.testing.assert_array_equal(metrics["big"], [2 ** 24 + 3, 2 ** 24 + 6, 0])
  np.testing.assert_array_equal(metrics["vec"], [[2.0, -2.0], [5.0, -5.0], [0.0, 0.0]])


def test_batch_means_stacks_the_per_example_float_terms_and_keeps_the_order():
  b = np.arange(6, dtype=np.float32)
  values = {"z_term": jnp.asarray(b), "scalar": jnp.float32(3.0),
            "hits": jnp.asarray(b > 2), "a_term": jnp.asarray(b ** 2),
            "count": jnp.asarray(np.arange(6, dtype=np.int32))}
  means = train.batch_means(values)
  assert list(means) == list(values)  # (jit's outputs would come back sorted by name)
  np.testing.assert_allclose([float(means[k]) for k in values],
                             [2.5, 3.0, 0.5, 55 / 6, 2.5], rtol=1e-6)
  # a Python float, and a float32 vector of another length than the batch's, keep their
  # own means
  more = train.batch_means({**values, "constant": 1.5, "per_prototype": jnp.arange(4.0)})
  assert float(more["constant"]) == 1.5 and float(more["per_prototype"]) == 1.5
  assert float(more["a_term"]) == float(means["a_term"])


def fake_loop(spe=10, total=30, log=4, ckpt_steps=0, per_call=0, stop_at=None):
  cfg = types.SimpleNamespace(log_every_steps=log, checkpoint_every_steps=ckpt_steps,
                              steps_per_call=per_call)
  loop = types.SimpleNamespace(config=types.SimpleNamespace(train=cfg), spe=spe, total=total,
                               stop_at=total if stop_at is None else stop_at)
  loop.trainer = types.SimpleNamespace(steps_per_call=train.chunk_limit(cfg, spe))
  loop._acts_after = functools.partial(train._Loop._acts_after, loop)
  return loop


@pytest.mark.parametrize("kw,limit,lengths", [
    # 10 steps an epoch, a log every 4: 4, 4, then 2 to the epoch's end, 2 to the log at 12
    ({}, 4, {0: 4, 4: 4, 8: 2, 10: 2, 12: 4, 16: 4, 20: 4, 28: 2}),
    # a mid-epoch checkpoint every 3 steps: calls end at 3, 4, 6, 8, 9, 10
    ({"ckpt_steps": 3}, 3, {0: 3, 3: 1, 4: 2, 6: 2, 8: 1, 9: 1, 10: 2}),
    # at most 3 steps a call, below the log period
    ({"per_call": 3}, 3, {0: 3, 3: 1, 4: 3, 7: 1, 8: 2}),
    # a log period longer than the epoch: the epoch's end bounds the call
    ({"log": 50}, 10, {0: 10, 10: 10, 5: 5}),
    # stopped at step 7 (train.stop_after_steps): no call runs past it
    ({"stop_at": 7}, 4, {4: 3, 6: 1}),
    # one step per call: the step-by-step loop
    ({"per_call": 1}, 1, {0: 1, 9: 1}),
])
def test_a_call_ends_at_every_step_the_loop_acts_after(kw, limit, lengths):
  loop = fake_loop(**kw)
  assert loop.trainer.steps_per_call == limit
  assert {s: train._Loop.chunk_length(loop, s) for s in lengths} == lengths


@pytest.mark.parametrize("method", ["ce", "elr", "arnet"])
@pytest.mark.parametrize("devices", [1, 8])
def test_compiled_chunks_train_as_the_step_by_step_loop(tmp_path, method, devices):
  mesh = train.make_mesh(jax.devices()[:devices])
  runs = {}
  for per_call in (1, 0):
    wd = str(tmp_path / f"{per_call}")
    runs[per_call] = train.train_and_evaluate(
        tiny_mlp(method, **{"train.steps_per_call": per_call}), wd, mesh=mesh)
    assert runs[per_call]["steps"] == 16
  chunked = train.Trainer(tiny_mlp(method), train.data_lib.load_dataset(tiny_mlp(method)), mesh)
  assert chunked.steps_per_call == 4  # the log period: 4 calls of 4 steps
  for a, b in zip(jax.tree.leaves(runs[1]["state"]), jax.tree.leaves(runs[0]["state"]),
                  strict=True):  # params, optimiser, method state (ELR's targets, ARNet's ring)
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
  step_losses, chunk_losses = train_losses(tmp_path / "1"), train_losses(tmp_path / "0")
  assert [s for s, _ in chunk_losses] == [s for s, _ in step_losses] == [4, 8, 12, 16]
  np.testing.assert_allclose([x for _, x in chunk_losses], [x for _, x in step_losses],
                             rtol=1e-5)
  assert runs[0]["test"]["accuracy"] == pytest.approx(runs[1]["test"]["accuracy"], abs=1 / 128)


def nan_features(directory, n=256, seed=0, epoch=0, position=2 * 32 + 5):
  """A features.npz whose training example at `position` of epoch `epoch`'s order is huge
  (3e38, finite: the loader refuses NaN inputs), so that its logits overflow and the loss
  is not finite; with batches of 32 it is first drawn at step position // 32 + 1."""
  write_synthetic_cache(str(directory), n_train=n, n_test=64, dim=8)
  path = os.path.join(directory, "features.npz")
  with np.load(path) as f:
    arrays = {k: f[k] for k in f.files}
  # BatchSource's (and the device iterator's) order of epoch e: this permutation
  order = np.random.default_rng((seed, epoch)).permutation(n)
  arrays["train_features"][order[position]] = 3e38
  np.savez(path, **arrays)
  return str(directory)


@pytest.mark.parametrize("per_call", [0, 1])
def test_a_nan_mid_chunk_names_its_step_and_keeps_the_last_good_checkpoint(tmp_path, per_call):
  data_dir = nan_features(tmp_path / "data")  # not finite from step 3 on

  def config(**kw):
    return load_config("cifar10n_cpu", "tiny", **{
        "data.data_dir": data_dir, "data.label_set": "worst", "data.max_train_examples": -1,
        "data.max_test_examples": -1, "model.hidden": (16,), "train.steps_per_call": per_call,
        **kw})

  wd = str(tmp_path / "wd")
  # a checkpoint at step 1; then (compiled) one call of steps 2-4, up to the log at 4:
  # step 3 is mid-call, and step 4 runs on NaN params in the same call
  assert train.train_and_evaluate(config(**{"train.stop_after_steps": 1}), wd)["step"] == 1
  assert train.chunk_limit(config().train, 8) == (4 if per_call == 0 else 1)
  with pytest.raises(NonFiniteLossError, match=r"^loss is (nan|inf) at step 3: training stopped; "
                                               r"the last good checkpoint is step 1$"):
    train.train_and_evaluate(config(), wd)
  assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["1"]


def test_a_nan_after_a_save_that_failed_in_the_background_names_the_failed_save(
    tmp_path, monkeypatch):
  """Saves finish in the background: when a non-finite loss stops the run, the save in
  flight is finished first, so a save that failed there is reported (a DiskError naming
  the last complete checkpoint, 1) rather than named as the last good checkpoint (2)."""
  import errno

  from nlx import checkpointing
  from nlx.errors import DiskError
  data_dir = nan_features(tmp_path / "data")  # not finite from step 3 on

  def config(**kw):
    return load_config("cifar10n_cpu", "tiny", **{
        "data.data_dir": data_dir, "data.label_set": "worst", "data.max_train_examples": -1,
        "data.max_test_examples": -1, "model.hidden": (16,),
        "train.checkpoint_every_steps": 2, **kw})

  wd = str(tmp_path / "wd")
  assert train.train_and_evaluate(config(**{"train.stop_after_steps": 1}), wd)["step"] == 1
  write_record = checkpointing.write_record

  def full_at_2(step_dir):
    if os.path.basename(step_dir).split(".")[0] == "2":
      raise OSError(errno.ENOSPC, "No space left on device", step_dir)
    write_record(step_dir)
  monkeypatch.setattr(checkpointing, "write_record", full_at_2)
  with pytest.raises(DiskError, match=r"checkpoint .*/2: No space left on device; the last "
                                      r"complete checkpoint is step 1") as e:
    train.train_and_evaluate(config(), wd)
  chain, x = [], e.value
  while x is not None:
    chain.append(type(x))
    x = x.__context__
  assert NonFiniteLossError not in chain  # found first, before the loss was checked
  assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == ["1"]


def test_ctrl_c_stops_at_the_end_of_the_call_with_a_checkpoint(tmp_path, monkeypatch):
  config = tiny_mlp()
  reference = train.train_and_evaluate(config, str(tmp_path / "reference"))
  shard_chunk, calls = train.Trainer.shard_chunk, []

  def shard_then_ctrl_c(self, rows):
    calls.append(len(rows))
    if len(calls) == 3:  # Ctrl-C while the third call (steps 9-12) is prepared
      signal.raise_signal(signal.SIGINT)
    return shard_chunk(self, rows)

  with monkeypatch.context() as m:
    m.setattr(train.Trainer, "shard_chunk", shard_then_ctrl_c)
    with pytest.raises(NlxError, match=r"interrupted at step 12; checkpoint step 12 kept"):
      train.train_and_evaluate(config, str(tmp_path / "wd"))
  assert calls == [4, 4, 4]
  assert sorted(os.listdir(tmp_path / "wd" / "checkpoints"), key=int) == ["8", "12"]
  resumed = train.train_and_evaluate(config, str(tmp_path / "wd"))
  for a, b in zip(jax.tree.leaves(resumed["state"].params),
                  jax.tree.leaves(reference["state"].params), strict=True):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
  assert resumed["test"] == reference["test"]


def test_the_grain_path_and_data_on_device_off_run_one_step_a_call():
  c = tiny_mlp()
  ds = train.data_lib.load_dataset(c)
  assert train.Trainer(c, ds).steps_per_call == 4
  off = tiny_mlp(**{"data.on_device": False})
  assert train.Trainer(off, ds).steps_per_call == 1 and train.Trainer(off, ds).device_data is None
  # resize_crop_flip is cut by grain: on_device falls back with a log line, not an error
  grain = tiny_mlp(**{"data.augment": "resize_crop_flip", "data.image_size": 8})
  t = train.Trainer(grain, ds)
  assert t.device_data is None and t.steps_per_call == 1


@pytest.mark.parametrize("name,network,devices", [("quickstart", train.MODEL, 1),
                                                  ("quickstart", train.MODEL, 8),
                                                  ("baselines", "znet", 1)])
def test_a_resident_split_is_predicted_as_through_the_input_pipeline(name, network, devices):
  # eval batches of 48: the 256 training digits end with a short batch of 16 (padded);
  # on 8 devices each block's rows are cut into 8 shards of 6
  assert len(jax.devices()) >= devices
  kw = {"data.eval_batch_size": 48, "model.name": "mlp", "model.hidden": (16,)}
  variant = "noise_model,tiny" if name == "baselines" else "tiny"
  on, off = (load_config(name, variant, **{**kw, "data.on_device": flag})
             for flag in (True, False))
  ds = train.data_lib.load_dataset(on)
  mesh = train.make_mesh(jax.devices()[:devices])
  resident, piped = train.Trainer(on, ds, mesh), train.Trainer(off, ds, mesh)
  state = resident.initial_state
  params = (state.params["model"], state.model_state) if network == train.MODEL else (
      state.params["method"]["znet"], state.method_state["znet_state"])
  for split in (ds.train, ds.test):
    got = resident.predict_network(network, *params, split)
    want = piped.predict_network(network, *params, split)
    classes = ds.num_classes if network == train.MODEL else 3  # the z network: 3 noise types
    assert got[0].shape == (len(split), classes) and got[1].shape[0] == len(split)
    for g, w in zip(got, want):
      np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
  # the training set's blocks and the test set's: one program, the pipeline's one shape
  assert resident.eval_steps[network]._cache_size() == 1
  assert piped.eval_steps[network]._cache_size() == 1


@pytest.mark.parametrize("devices", [1, 8])
def test_predictions_on_the_device_are_predict_outputs_never_fetched(devices, monkeypatch):
  """`Trainer.predict_on_device` (SINet's epoch end): `predict_outputs`' logits and
  features as device arrays replicated over the mesh, for a split held on the device (its
  blocks joined there: no numpy array on the way, and within `sharing_predictions` the
  pass the dynamics then reuse) and for one that is not (put back)."""
  assert len(jax.devices()) >= devices
  kw = {"data.eval_batch_size": 48, "model.name": "mlp", "model.hidden": (16,)}
  on, off = (load_config("quickstart", "tiny", **{**kw, "data.on_device": flag})
             for flag in (True, False))
  ds = train.data_lib.load_dataset(on)
  mesh = train.make_mesh(jax.devices()[:devices])
  resident, piped = train.Trainer(on, ds, mesh), train.Trainer(off, ds, mesh)
  state = resident.initial_state
  for trainer in (resident, piped):
    for split in (ds.train, ds.test):
      got = trainer.predict_on_device(state, split)
      want = trainer.predict_outputs(state, split)
      for g, w in zip(got, want, strict=True):
        assert isinstance(g, jax.Array) and g.sharding.is_fully_replicated
        np.testing.assert_array_equal(np.asarray(g), w)
      logits, none = trainer.predict_on_device(state, split, features=False)  # the dynamics'
      assert none is None and logits.sharding.is_fully_replicated
      np.testing.assert_array_equal(np.asarray(logits), want[0])
  passes = []
  step = resident.eval_steps[train.MODEL]
  monkeypatch.setitem(resident.eval_steps, train.MODEL,
                      lambda *a: passes.append(1) or step(*a))
  with resident.sharing_predictions():
    logits, _ = resident.predict_on_device(state, ds.train)
    shared = resident.predict_on_device(state, ds.train, features=False)[0]
  assert len(passes) == -(-len(ds.train) // 48)  # one pass over the blocks, not two
  np.testing.assert_array_equal(np.asarray(shared), np.asarray(logits))
  # never fetched: no host array made on the way (predict_outputs would be)
  monkeypatch.setattr(train, "_host_rows", lambda *a: pytest.fail("fetched to the host"))
  resident.predict_on_device(state, ds.test)


def test_the_quickstart_checkpoints_every_10_epochs_and_its_tiny_variant_every_epoch():
  # 30 short epochs saved 30 times were a quarter of the run
  # (experiments/results/README.md, Speed); the tiny variant's 2 epochs stay checkpointed
  # each (the resume tests rely on epoch 1's)
  assert load_config("quickstart").train.checkpoint_every_epochs == 10
  assert load_config("quickstart", "tiny").train.checkpoint_every_epochs == 1
  assert load_config("quickstart").train.num_epochs == 30


def test_the_quickstart_logs_once_an_epoch():
  # a log inside an epoch splits its compiled chunk in two calls: the quickstart's log
  # interval is its epoch (1,438 digits, batches of 64)
  c = load_config("quickstart")
  ds = train.data_lib.load_dataset(c)
  assert c.train.log_every_steps == len(ds.train) // c.data.batch_size == 22
  loop = types.SimpleNamespace(config=c, spe=22, stop_at=660, total=660,
                               trainer=types.SimpleNamespace(steps_per_call=22))
  loop._acts_after = functools.partial(train._Loop._acts_after, loop)
  # every epoch one call of 22 steps (logged every 20 steps: 20, then 2)
  assert [train._Loop.chunk_length(loop, s) for s in (0, 22, 638)] == [22, 22, 22]


def test_a_run_that_ends_before_its_loop_does_not_import_pyplot(tmp_path):
  """In a fresh interpreter: an error building the trainer ends the run before its loop;
  the imports thread, waiting to import pyplot, is released without importing it (no
  figure will be drawn)."""
  import subprocess
  import sys

  from conftest import REPO, main_env
  code = f"""
import json, sys
sys.path.insert(0, {os.path.join(REPO, "tests")!r})
from conftest import load_config
from nlx import train
def fails(self, *a, **k):
  raise RuntimeError("no trainer today")
train.Trainer.__init__ = fails
try:
  train.train_and_evaluate(load_config("quickstart", "tiny"), {str(tmp_path / "wd")!r})
except RuntimeError as e:
  print(json.dumps({{"error": str(e), "pyplot": "matplotlib.pyplot" in sys.modules}}))
"""
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=main_env(), cwd=str(tmp_path))
  assert out.returncode == 0, out.stderr[-2000:]
  got = json.loads(out.stdout.strip().splitlines()[-1])
  assert got == {"error": "no trainer today", "pyplot": False}


def test_an_error_before_the_loop_releases_the_imports_thread(tmp_path, monkeypatch):
  """pyplot's import waits for the loop's first call; an error before the loop must not
  leave the run waiting for that thread at its exit."""
  import threading

  def fails(self, *a, **k):
    raise RuntimeError("no trainer today")
  monkeypatch.setattr(train.Trainer, "__init__", fails)
  errors = []

  def run():
    try:
      train.train_and_evaluate(load_config("quickstart", "tiny"), str(tmp_path / "wd"))
    except RuntimeError as e:
      errors.append(str(e))
  t = threading.Thread(target=run, daemon=True)
  t.start()
  t.join(120)
  assert not t.is_alive() and errors == ["no trainer today"]


def lowered_in(caplog, name: str = "eval_step") -> list[str]:
  """The threads in which the program `name` was lowered (JAX logs each lowering, at
  DEBUG unless jax_log_compiles is set; a disk-cache hit is lowered too)."""
  return [r.threadName for r in caplog.records
          if r.getMessage().startswith(f"Compiling jit({name})")]


def test_the_epoch_ends_predictions_compile_beside_the_training_once(tmp_path, caplog):
  """The prediction program of the training set (dynamics, collapse guard) and of the test
  set, one program for both (the eval step over a resident block), compiles in the
  background thread while the chunks run, and the join of the training set's logits
  there too; the epoch ends and the final evaluation run them without compiling again.
  (A width and a training set size no other test uses: JAX's in-process cache would skip
  the lowering, and its log line, for shapes seen before.)"""
  caplog.set_level(logging.DEBUG, logger="jax._src.interpreters.pxla")
  train.train_and_evaluate(tiny_mlp(**{"model.hidden": (29,), "data.max_train_examples": 220}),
                           str(tmp_path / "wd"))
  assert lowered_in(caplog) == ["nlx-precompile"]
  assert lowered_in(caplog, "_join_rows") == ["nlx-precompile"]
  caplog.clear()
  # nothing predicts the training set (no dynamics, no collapse guard, CE has no epoch
  # hook): only the test set's program, and the training set is not put on the device
  # a second time for it
  run = train.train_and_evaluate(tiny_mlp(**{"model.hidden": (31,), "train.collapse_share": 0.0,
                                             "train.training_dynamics": False}),
                                 str(tmp_path / "none"))
  assert lowered_in(caplog) == ["nlx-precompile"]
  assert lowered_in(caplog, "_join_rows") == []  # nothing joins the training set's logits
  assert run["steps"] == 16
  caplog.clear()
  # the collapse guard predicts the training set, on the host: its prediction compiles
  # beside the training, no join (the dynamics' alone need the logits on the device)
  train.train_and_evaluate(tiny_mlp(**{"model.hidden": (30,), "data.max_train_examples": 212,
                                       "train.training_dynamics": False}),
                           str(tmp_path / "guard"))
  assert lowered_in(caplog) == ["nlx-precompile"]
  assert lowered_in(caplog, "_join_rows") == []


def test_the_chunk_is_lowered_once_before_the_predictions_thread_starts(tmp_path, caplog,
                                                                         monkeypatch):
  """The chunk's trace and lowering (the first step's critical path) run in the main
  thread before `precompile_predictions` starts its thread (beside it, under one lock,
  they took 2-3x as long), and the first call reuses that lowering: one lowering, no
  second. (Sizes of this test only: JAX's in-process cache would skip the log line.)"""
  caplog.set_level(logging.DEBUG, logger="jax._src.interpreters.pxla")
  at_precompile = []
  real = train.Trainer.precompile_predictions

  def precompile(self, *args, **kwargs):
    at_precompile.append(lowered_in(caplog, "chunk"))
    return real(self, *args, **kwargs)
  monkeypatch.setattr(train.Trainer, "precompile_predictions", precompile)
  run = train.train_and_evaluate(tiny_mlp(**{"model.hidden": (27,),
                                             "data.max_train_examples": 252}),
                                 str(tmp_path / "wd"))
  assert at_precompile == [["MainThread"]]
  assert lowered_in(caplog, "chunk") == ["MainThread"]
  assert run["steps"] == 14


def test_only_the_training_sets_logits_are_joined_on_the_device(tmp_path, caplog):
  """The training dynamics take the training set's logits on the device: its blocks'
  logits are joined there (`_join_rows`, compiled once, in the background thread, for
  the logits only: the features, width 37 here, are neither joined nor fetched); the
  evaluation fetches the test set's blocks and joins them on the host (no program).
  Sizes of this test only: JAX's in-process cache would skip the lowering's log line."""
  caplog.set_level(logging.DEBUG, logger="jax._src.interpreters.pxla")
  config = tiny_mlp(**{"data.max_train_examples": 228, "data.max_test_examples": 93,
                       "model.hidden": (37,)})
  run = train.train_and_evaluate(config, str(tmp_path / "wd"))
  joins = [r for r in caplog.records if r.getMessage().startswith("Compiling jit(_join_rows)")]
  assert [r.threadName for r in joins] == ["nlx-precompile"]
  assert ",10]" in joins[0].getMessage() and ",37]" not in joins[0].getMessage(), (
      joins[0].getMessage()[:160])
  assert run["num_train"] == 228 and run["num_test"] == 93


def test_a_chunk_traces_its_step_once():
  """`chunk_step` traces the step once (the metrics' shapes and the loop's body share the
  trace: it was traced twice, a fifth of a second of every run's start-up); the chunk runs
  the first `count` steps and stacks their metrics, rows past `count` zero."""
  traced = []

  def step(state, indices, scale):
    traced.append(1)
    return state + scale * indices["index"].sum(), {"loss": state, "n": indices["index"][0]}
  chunk = jax.jit(on_device.chunk_step(step, 4))
  rows = jnp.arange(12, dtype=jnp.int32).reshape(4, 3)  # step sums 3, 12, 21, 30
  state, metrics = chunk(jnp.float32(1.0), {"index": rows}, 3, jnp.float32(2.0))
  assert len(traced) == 1
  assert float(state) == 1.0 + 2 * (3 + 12 + 21)
  np.testing.assert_array_equal(metrics["loss"], [1.0, 7.0, 31.0, 0.0])
  np.testing.assert_array_equal(metrics["n"], [0, 3, 6, 0])


def test_the_dynamics_sums_compile_beside_the_training_once(tmp_path, caplog):
  """The training dynamics' per-epoch program (`nlx.dynamics._add_epoch`) compiles in the
  background thread after the training set's prediction, for the logits that prediction
  returns; the epoch ends run it without compiling again (236 training examples: a size
  no other test uses, so JAX's in-process cache cannot skip the lowering's log line)."""
  caplog.set_level(logging.DEBUG, logger="jax._src.interpreters.pxla")
  config = tiny_mlp(**{"data.max_train_examples": 236})
  train.train_and_evaluate(config, str(tmp_path / "wd"))
  assert [r.threadName for r in caplog.records
          if r.getMessage().startswith("Compiling jit(_add_epoch)")] == ["nlx-precompile"]


def test_a_failing_dynamics_precompile_is_logged_and_left_to_the_epoch_end(tmp_path, caplog,
                                                                          monkeypatch):
  """The dynamics' precompile failing (after the thread compiled the eval step and the
  training set's join) is logged, the thread's programs still serve the run, and the
  first epoch end compiles the dynamics' program itself."""
  def fails(self, logits):
    raise RuntimeError("no compiler today")
  monkeypatch.setattr(dynamics.Dynamics, "precompile", fails)
  caplog.set_level(logging.INFO)
  caplog.set_level(logging.DEBUG, logger="jax._src.interpreters.pxla")
  config = tiny_mlp(**{"data.max_train_examples": 244})  # sizes of this test only
  train.train_and_evaluate(config, str(tmp_path / "wd"))
  assert "precompiling for the training set's logits failed (no compiler today)" in caplog.text
  assert lowered_in(caplog) == ["nlx-precompile"]
  assert lowered_in(caplog, "_join_rows") == ["nlx-precompile"]
  assert [r.threadName for r in caplog.records
          if r.getMessage().startswith("Compiling jit(_add_epoch)")] == ["MainThread"]


def test_seed_keys_are_the_split_of_the_seeds_key():
  for seed in (0, 3, 2**31 - 1, 2**31, 2**32 + 5, -1):
    for n in (2, 3):
      want = jax.random.split(jax.random.PRNGKey(seed), n)
      got = train.seed_keys(seed, n)
      assert len(got) == n
      for k, w in zip(got, want, strict=True):
        assert k.dtype == w.dtype and k.shape == w.shape
        np.testing.assert_array_equal(np.asarray(k), np.asarray(w))


def test_the_first_prediction_waits_for_the_thread_still_compiling(tmp_path, caplog,
                                                                   monkeypatch):
  """A precompile slower than the first epoch: the epoch end waits for it rather than
  compiling the same program a second time on the main thread."""
  import time
  compile_block = train.Trainer._compile_block

  def slow(self, avals, block):
    time.sleep(3.0)  # the tiny run's first epoch (8 steps) ends well before
    return compile_block(self, avals, block)
  monkeypatch.setattr(train.Trainer, "_compile_block", slow)
  caplog.set_level(logging.DEBUG, logger="jax._src.interpreters.pxla")
  train.train_and_evaluate(tiny_mlp(**{"model.hidden": (33,)}), str(tmp_path / "wd"))
  assert lowered_in(caplog) == ["nlx-precompile"]


def test_a_precompile_that_fails_leaves_the_compile_to_the_first_prediction(
    tmp_path, caplog, monkeypatch):
  """Compiling is all the thread does: if it fails, the predictions compile when first
  needed (on the main thread) and the run is the same as one whose thread compiled."""
  config = tiny_mlp(**{"model.hidden": (27,)})  # a width of this test only (above)

  def fails(self, avals, block):
    raise RuntimeError("no compiler today")
  caplog.set_level(logging.INFO)
  caplog.set_level(logging.DEBUG, logger="jax._src.interpreters.pxla")  # the handler too
  with monkeypatch.context() as m:
    m.setattr(train.Trainer, "_compile_block", fails)
    got = train.train_and_evaluate(config, str(tmp_path / "wd"))
  assert "precompiling the predictions failed (no compiler today)" in caplog.text
  assert lowered_in(caplog) == ["MainThread"]
  reference = train.train_and_evaluate(config, str(tmp_path / "reference"))
  assert got["test"] == reference["test"]
  for a, b in zip(jax.tree.leaves(got["state"].params),
                  jax.tree.leaves(reference["state"].params), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_pyplot_is_imported_beside_the_training_and_scikit_learn_not_at_all(tmp_path):
  """In a fresh interpreter (nothing imported yet), a run's import of `matplotlib.pyplot`
  happens on the `nlx-imports` thread, while the training runs, only once the first chunk
  has returned (its program compiled, not slowed by the import); the run imports neither
  scikit-learn nor scipy nor pandas (its F1 and its label issues' AUROC are
  `nlx.metrics`'), and still writes its F1, its detection scores and its figures."""
  import subprocess
  import sys

  from conftest import REPO, main_env
  code = f"""
import importlib.abc, json, sys, threading, time
sys.path.insert(0, {os.path.join(REPO, "tests")!r})
first, order = {{}}, []
class Note(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name == "matplotlib.pyplot":
      first.setdefault(name, threading.current_thread().name)
      order.append(name)
    return None
sys.meta_path.insert(0, Note())
from conftest import load_config
from nlx import train
chunk = train.on_device.DeviceTrainSet.jit_chunk
def noted(self, *a, **k):
  call = chunk(self, *a, **k)
  def run(*b):
    if "chunk returned" not in order:  # the first call: time for pyplot's import to start
      time.sleep(1.0)  # if it did not wait
    out = call(*b)
    order.append("chunk returned")
    return out
  return run
train.on_device.DeviceTrainSet.jit_chunk = noted
r = train.train_and_evaluate(load_config("quickstart", "tiny"), {str(tmp_path / "wd")!r})
print(json.dumps({{"first": first, "order": order, "f1": r["test"]["macro_f1"],
                  "issues": r["label_issues"],
                  "imported": [m for m in ("sklearn", "scipy", "pandas") if m in sys.modules]}}))
"""
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=main_env(), cwd=str(tmp_path))
  assert out.returncode == 0, out.stderr[-2000:]
  got = json.loads(out.stdout.strip().splitlines()[-1])
  assert got["first"] == {"matplotlib.pyplot": "nlx-imports"}
  assert got["imported"] == []
  assert got["order"].index("chunk returned") < got["order"].index("matplotlib.pyplot")
  assert 0 < got["f1"] <= 1
  assert 0 <= got["issues"]["auroc"] <= 1 and 0 < got["issues"]["ap"] <= 1
  assert (tmp_path / "wd" / "curves.png").is_file()
  assert (tmp_path / "wd" / "label_issues.png").is_file()


def _ynn_convs(compiled) -> int:
  """A compiled program's convolutions that YNNPACK runs (their op_name metadata)."""
  from nlx.ops.conv import library_fusions
  return library_fusions(compiled.as_text(), "conv_general_dilated")


@pytest.mark.parametrize("conv", ["auto", "xla"])
def test_every_program_that_runs_the_model_takes_its_convolutions_compile_options(conv):
  """model.conv=auto: the chunk, the step and the eval step (of a batch and of a resident
  block) are compiled with `nlx.ops.conv.compiler_options` (XLA's own convolutions: no
  YNNPACK fusion of a convolution in any of them); conv=xla: XLA's defaults (YNNPACK's
  convolutions, where this jaxlib has them)."""
  from nlx.benchmarks.timing import synthetic_dataset
  from nlx.ops import conv as conv_ops
  c = load_config("quickstart", "tiny", **{"model.conv": conv, "model.width": 16,
                                          "model.compile": "full"})
  ds = synthetic_dataset(128)  # 32 x 32 x 3: maps where YNNPACK takes convolutions
  trainer = train.Trainer(c, ds)
  assert trainer.compiler_options == conv_ops.compiler_options(conv)
  state, dd = trainer.initial_state, trainer.device_data
  it = trainer.train_iterator(1)
  rows = trainer.shard_chunk([next(it)["index"] for _ in range(trainer.steps_per_call)])
  params, model_state = state.params[train.MODEL], state.model_state
  block = trainer._resident(ds.test)[0]
  programs = [
      dd.jitted_chunk.lower(state, rows, np.int32(1), dd.arrays, dd.key).compile(),
      dd.jitted.lower(state, {"index": rows["index"][0]}, dd.arrays, dd.key).compile(),
      trainer.eval_step.lower(params, model_state, jnp.asarray(ds.test.inputs[:4])).compile(),
      trainer.eval_step.lower(params, model_state, block).compile()]  # a resident block
  found = [_ynn_convs(p) for p in programs]
  if conv == "auto":
    assert found == [0, 0, 0, 0]
  elif sum(found) == 0:
    pytest.skip("this jaxlib runs no convolution through YNNPACK")
  else:
    assert all(n > 0 for n in found), found


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_model_compile_reaches_every_program_that_runs_the_model(mode, monkeypatch):
  """model.compile=fast: the model's initialisation, the initial state, the step, the
  chunk and the eval step (every prediction's) are jitted with `FAST_OPTIONS` (full:
  without), and XLA compiles with them: its older fusion emitters leave the train step's
  reductions unwrapped (no `wrapped_reduce` computation), the default ones wrap them. The
  quickstart's config is fast."""
  import sys

  from nlx import models
  from nlx.benchmarks.timing import synthetic_dataset
  assert load_config("quickstart", "").model.compile == "fast"
  jitted, real_jit = {}, jax.jit

  def spy(fn, **kw):  # the first jit of each name (the chunk's inner jit of the step, which
    # XLA inlines into the chunk's program, comes after the per-step program's)
    jitted.setdefault(getattr(fn, "__name__", ""), (sys._getframe(1).f_globals.get("__name__"),
                                                    kw))
    return real_jit(fn, **kw)
  monkeypatch.setattr(jax, "jit", spy)
  c = load_config("quickstart", "tiny", **{"model.width": 8, "model.compile": mode})
  ds = synthetic_dataset(64)
  trainer = train.Trainer(c, ds)
  monkeypatch.undo()
  for name, module in (("init", "nlx.models"), ("initial_state", "nlx.train"),
                       ("step", "nlx.data.on_device"), ("chunk", "nlx.data.on_device"),
                       ("eval_step", "nlx.train")):
    where, kw = jitted[name]
    options = kw.get("compiler_options") or {}
    assert where == module and (models.FAST_OPTIONS.items() <= options.items()) == (
        mode == "fast"), (name, options)
  state, dd = trainer.initial_state, trainer.device_data
  rows = trainer.shard_chunk([next(trainer.train_iterator(1))["index"]] * trainer.steps_per_call)
  texts = [p.as_text() for p in (
      dd.jitted_chunk.lower(state, rows, np.int32(1), dd.arrays, dd.key).compile(),
      dd.jitted.lower(state, {"index": rows["index"][0]}, dd.arrays, dd.key).compile())]
  assert [("wrapped_reduce" in t) for t in texts] == [mode == "full"] * 2


def test_the_protocols_feature_embedder_takes_the_trainers_compile_options():
  """nlx.benchmarks.protocols' embedder (the CPU protocol's features) is compiled as the
  trainer's programs are: no YNNPACK convolution; its values are `conv_features`'."""
  from nlx.benchmarks import protocols
  from nlx.benchmarks.timing import synthetic_dataset
  c = protocols.pretrain_config()
  c.model.width, c.data.batch_size, c.data.augment = 32, 32, "none"
  ds = synthetic_dataset(64)
  trainer = train.Trainer(c, ds)
  state, images = trainer.initial_state, jnp.asarray(ds.test.inputs[:8])
  embed = protocols.embedder(trainer, mean=ds.mean, std=ds.std)
  assert _ynn_convs(embed.lower(state, images).compile()) == 0
  np.testing.assert_allclose(
      embed(state, images),
      protocols.conv_features(trainer.graphdef, state, images, mean=ds.mean, std=ds.std),
      rtol=1e-4, atol=1e-5)
