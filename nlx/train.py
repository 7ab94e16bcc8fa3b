"""The one generic training loop: data -> model -> method -> optax; eval; checkpoints.

`train_and_evaluate(config, workdir)` is what `python -m nlx.main` runs, and what tests
and notebooks call. A method plugs in through `nlx.methods` (init_state, loss_fn,
update_state); the loop, data parallelism, checkpoints and metrics are shared.

Data parallel: a 1-D mesh over the devices (axis `data`); batches are sharded along
it, params and method state replicated; `jit` inserts the collectives. Multi-host
(`nlx.distributed`): the mesh spans every process's devices, each process feeds its
rows of the global batch, and the grain iterator state (a position, the same in every
process, which step in lockstep) is saved once with the train state.
"""

import dataclasses
import functools
import json
import os
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm
from absl import logging
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from nlx import collapse, dynamics, label_issues, methods, models, optim
from nlx import data as data_lib
from nlx import metrics as metrics_lib
from nlx import workdir as workdir_lib
from nlx.checkpointing import Checkpointer
from nlx.config_check import check_values
from nlx.data import augment, input_pipeline, on_device
from nlx.errors import ConfigError, NonFiniteLossError
from nlx.report import plots
from nlx.train_state import TrainState


def make_mesh(devices=None) -> Mesh:
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), ("data",))


def normalize(images: jax.Array, mean, std, dtype=jnp.float32) -> jax.Array:
  """uint8 pixels -> standardised floats; float inputs (features) pass through."""
  if jnp.issubdtype(images.dtype, jnp.integer):
    x = images.astype(jnp.float32) / 255.0
    return ((x - jnp.asarray(mean, jnp.float32)) / jnp.asarray(std, jnp.float32)).astype(dtype)
  return images.astype(dtype)


def hard_labels(labels: jax.Array) -> jax.Array:
  return jnp.argmax(labels, -1) if labels.ndim == 2 else labels


@dataclasses.dataclass
class Task:
  """What the step functions need to know about the data and model."""
  num_classes: int
  num_examples: int
  mean: tuple
  std: tuple
  dtype: Any
  multi_label: bool = False


class StepContext(NamedTuple):
  """What a method's `loss_fn` may use besides its own params and state."""
  step: jax.Array          # optimiser steps taken before this one
  steps_per_epoch: int
  num_classes: int
  apply_fn: Callable       # (params, model_state, x, *, train, rng) -> (Outputs, new_state)
  # apply functions of the networks the method created with `new_model`, by class count
  apply_fns: dict


def make_train_step(graphdef, tx, method, method_config, task: Task, steps_per_epoch: int,
                    graphdefs: dict | None = None):
  """Returns the pure `train_step(state, batch) -> (state, metrics)` (to be jitted)."""
  apply_fn = functools.partial(models.apply, graphdef)
  apply_fns = {k: functools.partial(models.apply, g) for k, g in (graphdefs or {}).items()}

  def train_step(state: TrainState, batch: dict):
    step_rng = jax.random.fold_in(state.rng, state.step)
    dropout_rng, method_rng, prepare_rng = jax.random.split(step_rng, 3)
    ctx = StepContext(state.step, steps_per_epoch, task.num_classes, apply_fn, apply_fns)
    batch = {**batch, "input": normalize(batch["image"], task.mean, task.std, task.dtype)}
    if hasattr(method, "prepare_batch"):
      batch = method.prepare_batch(batch, prepare_rng, config=method_config, ctx=ctx)

    def loss_of(params):
      outputs, new_model_state = apply_fn(params["model"], state.model_state, batch["input"],
                                          train=True, rng=dropout_rng)
      per_example, aux = method.loss_fn(params["method"], state.method_state, outputs, batch,
                                        method_rng, config=method_config, ctx=ctx)
      return jnp.mean(per_example), (new_model_state, aux, outputs)

    (loss, (model_state, aux, outputs)), grads = jax.value_and_grad(loss_of, has_aux=True)(
        state.params)
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    # `aux["metrics"]`: per-example [B] or scalar values the method wants logged (loss terms)
    extra = aux.get("metrics", {}) if isinstance(aux, dict) else {}
    method_state = method.update_state(state.method_state, batch, aux, config=method_config)
    new_state = state.replace(step=state.step + 1, params=params, model_state=model_state,
                              opt_state=opt_state, method_state=method_state)
    if task.multi_label:  # entry-wise agreement of sigmoid > 1/2 with the training labels
      noisy_acc = jnp.mean((outputs.logits > 0) == (batch["label"] > 0.5))
    else:
      noisy_acc = jnp.mean(jnp.argmax(outputs.logits, -1) == hard_labels(batch["label"]))
    return new_state, {"loss": loss, "noisy_accuracy": noisy_acc,
                       **{k: jnp.mean(v) for k, v in extra.items()}}

  return train_step


def make_eval_step(graphdef, task: Task):
  def eval_step(state: TrainState, images: jax.Array):
    x = normalize(images, task.mean, task.std, task.dtype)
    outputs, _ = models.apply(graphdef, state.params["model"], state.model_state, x, train=False)
    return outputs.logits, outputs.features
  return eval_step


class Trainer:
  """Builds the state and the jitted, sharded step functions for one config and dataset."""

  def __init__(self, config, dataset: data_lib.Dataset, mesh: Mesh | None = None):
    self.config = config
    self.dataset = dataset
    self.mesh = mesh or make_mesh()
    self.num_devices = self.mesh.devices.size
    self.batch_size = config.data.batch_size
    if self.batch_size % self.num_devices or config.data.eval_batch_size % self.num_devices:
      raise ConfigError(f"data.batch_size ({self.batch_size}) and data.eval_batch_size "
                        f"({config.data.eval_batch_size}) must be multiples of the "
                        f"{self.num_devices} devices")
    self.steps_per_epoch = input_pipeline.steps_per_epoch(len(dataset.train), self.batch_size)
    if self.steps_per_epoch == 0:
      raise ConfigError(f"data.batch_size={self.batch_size} exceeds the {len(dataset.train)} "
                        "training examples")
    self.total_steps = self.steps_per_epoch * config.train.num_epochs
    self.method = methods.get(config.method.name)
    task_kind = "multi_label" if dataset.multi_label else "multi_class"
    if task_kind not in methods.tasks(self.method):
      raise ConfigError(f"method {config.method.name!r} trains on {methods.tasks(self.method)} "
                        f"data, but {dataset.name} is {task_kind}")
    self.data_sharding = NamedSharding(self.mesh, P("data"))
    self.replicated = NamedSharding(self.mesh, P())

    rng = jax.random.PRNGKey(config.seed)
    model_rng, method_rng, state_rng = jax.random.split(rng, 3)
    input_shape = tuple(np.shape(self._first_input()))
    model = models.create(config.model, dataset.num_classes, input_shape, model_rng,
                          data_info=dataset.info, class_names=dataset.class_names)
    if config.train.init_from:  # fine-tune another run's final model
      from nlx.checkpointing import load_model_weights
      model = model._replace(**dict(zip(("params", "state"), load_model_weights(
          config.train.init_from, model.params, model.state,
          exclude=[k for k in config.train.init_from_exclude.split(",") if k]))))
    self.graphdef = model.graphdef
    self.feature_dim = model.feature_dim
    self.graphdefs = {dataset.num_classes: model.graphdef}

    def new_model(r, num_classes=None):
      """Another network of the configured architecture, for methods that train several."""
      num_classes = num_classes or dataset.num_classes
      m = models.create(config.model, num_classes, input_shape, r, data_info=dataset.info,
                        class_names=dataset.class_names)
      self.graphdefs[num_classes] = m.graphdef
      return m

    method_params, method_state = self.method.init_state(
        config.method, dataset=dataset, model=model, rng=method_rng, new_model=new_model)
    self.tx, self.schedule = optim.build(config.optimizer, self.steps_per_epoch,
                                         config.train.num_epochs)
    params = {"model": model.params, "method": method_params}
    state = TrainState(step=jnp.zeros((), jnp.int32), params=params, model_state=model.state,
                       opt_state=self.tx.init(params), method_state=method_state, rng=state_rng)
    # Own buffers for every leaf: a method may use one array twice (donation needs distinct).
    state = jax.tree.map(lambda x: jnp.array(x, copy=True), state)
    self.initial_state = jax.device_put(state, self.replicated)

    task = Task(dataset.num_classes, len(dataset.train), dataset.mean, dataset.std,
                jnp.bfloat16 if config.model.dtype == "bfloat16" else jnp.float32,
                dataset.multi_label)
    step_fn = make_train_step(self.graphdef, self.tx, self.method, config.method, task,
                              self.steps_per_epoch, self.graphdefs)
    jit_kw = {"donate_argnums": (0,), "out_shardings": (self.replicated, self.replicated)}
    # data.on_device: the train set lives on the mesh; batches are cut inside the step
    self.device_data = (on_device.DeviceTrainSet(dataset.train, config.data, self.mesh,
                                                 config.seed) if config.data.on_device else None)
    self.train_step = (self.device_data.jit_step(step_fn, **jit_kw) if self.device_data
                       else jax.jit(step_fn, **jit_kw))
    self.eval_step = jax.jit(make_eval_step(self.graphdef, task), out_shardings=self.replicated)

  def _first_input(self):
    example = input_pipeline.ExampleSource(self.dataset.train)[0]
    return augment.eval_transform(self.config.data.augment, self.config.data.image_size)(
        example["image"])

  def train_iterator(self, num_epochs: int):
    if self.device_data:  # step indices only
      return self.device_data.iterator(num_epochs)
    ds = input_pipeline.train_dataset(
        self.dataset.train, self.config.data, num_epochs=num_epochs, seed=self.config.seed,
        process_index=jax.process_index(), process_count=jax.process_count())
    return iter(ds)

  def shard(self, batch: dict) -> dict:
    """Host batch (this process's part) -> global arrays sharded along `data`."""
    return {k: jax.make_array_from_process_local_data(self.data_sharding, np.asarray(v))
            for k, v in batch.items()}

  def predict(self, state: TrainState, split: data_lib.Split, progress: bool = False) -> np.ndarray:
    """Logits `[N, C]` for a split, in order (eval mode)."""
    return self.predict_outputs(state, split, progress)[0]

  def predict_outputs(self, state: TrainState, split: data_lib.Split,
                      progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`(logits [N, C], features [N, D])` for a split, in order (the last batch is padded,
    then cut)."""
    bs = self.config.data.eval_batch_size
    out = []
    ds = input_pipeline.eval_dataset(split, self.config.data, batch_size=bs)
    for batch in tqdm.tqdm(ds, total=-(-len(split) // bs), desc="eval", leave=False,
                           disable=not progress):
      images = np.asarray(batch["image"])
      n = len(images)
      if n < bs:
        images = np.concatenate([images, np.repeat(images[-1:], bs - n, axis=0)])
      # every process holds the whole eval batch: each device takes its rows
      images = jax.make_array_from_callback(images.shape, self.data_sharding,
                                            lambda idx, x=images: x[idx])
      logits, features = self.eval_step(state, images)
      out.append((np.asarray(logits)[:n], np.asarray(features)[:n]))
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])

  def evaluate(self, state: TrainState, split: data_lib.Split, progress=False) -> dict:
    """Clean-label metrics: accuracy, macro-F1, top-5; multi-label: mAP (and VOC07's)."""
    logits = self.predict(state, split, progress)
    if self.dataset.multi_label:
      return metrics_lib.multilabel_metrics(logits, split.clean_labels)
    return metrics_lib.classification_metrics(logits, split.clean_labels, self.dataset.num_classes)


def restore(config, workdir: str, dataset: data_lib.Dataset | None = None):
  """`(trainer, state)` from the latest checkpoint in `workdir` (e.g. a finished run)."""
  trainer = Trainer(config, dataset or data_lib.load_dataset(config))
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"))
  step = ckpt.latest_step()
  if step is None:
    raise ConfigError(f"no checkpoint in {workdir}/checkpoints")
  state, _ = ckpt.restore(step, trainer.initial_state)
  ckpt.close()
  return trainer, state


def _read_records(path: str, max_step: int) -> list[dict]:
  if not os.path.exists(path):
    return []
  return [r for r in read_jsonl(path) if r["step"] <= max_step]


def read_jsonl(path: str) -> list[dict]:
  """The records of a metrics.jsonl file, in order."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def _write_records(path: str, records: list[dict]) -> None:
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in records)


def _train_logits(trainer, state, split, logits=None):
  """The training set's logits: `logits` when this epoch already predicted them."""
  return trainer.predict(state, split) if logits is None else logits


def _check_finite(pending: list, last_good_ckpt) -> None:
  for step, m in pending:
    if not np.isfinite(m["loss"]):
      raise NonFiniteLossError(
          f"loss is {float(m['loss'])} at step {step}: training stopped; the last good "
          f"checkpoint is step {last_good_ckpt}" if last_good_ckpt is not None else
          f"loss is {float(m['loss'])} at step {step}: training stopped before any checkpoint")


def results_table(results: dict) -> str:
  t = results["test"]
  if "map" in t:
    return ("| dataset | method | model | noise rate | clean-test mAP | mAP (VOC07 11-point) |\n"
            "|---|---|---|---|---|---|\n"
            f"| {results['dataset']} | {results['method']} | {results['model']} | "
            f"{100 * results['noise_rate']:.1f}% | {100 * t['map']:.2f}% | "
            f"{100 * t['map_voc07']:.2f}% |")
  test = "clean-test" if results.get("test_labels", "clean") == "clean" else "test (labels as given)"
  return (f"| dataset | method | model | noise rate | {test} acc | macro-F1 |\n"
          "|---|---|---|---|---|---|\n"
          f"| {results['dataset']} | {results['method']} | {results['model']} | "
          f"{100 * results['noise_rate']:.1f}% | {100 * t['accuracy']:.2f}% | "
          f"{100 * t['macro_f1']:.2f}% |")


def train_and_evaluate(config, workdir: str, *, mesh: Mesh | None = None,
                       dataset: data_lib.Dataset | None = None) -> dict:
  """Trains `config` in `workdir` (resuming from its latest checkpoint), evaluates on the
  clean test labels, writes config.json, metrics.jsonl, results.json and curves.png.

  `dataset` replaces loading `config.data` (for protocols that build their own split).
  Returns the results dict (also written to results.json) with the final `state`.
  A workdir holds one run (`nlx.workdir`): another config there is a ConfigError, a second
  process an error naming the first; Ctrl-C stops with a checkpoint (`workdir.Interrupted`).
  """
  check_values(config)  # value ranges, before anything runs
  with workdir_lib.Run(workdir, is_main=jax.process_index() == 0) as run:
    return _train_and_evaluate(config, workdir, run, mesh=mesh, dataset=dataset)


def _train_and_evaluate(config, workdir: str, run: workdir_lib.Run, *, mesh, dataset) -> dict:
  start_time = time.time()
  is_main = jax.process_index() == 0
  ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config.train.max_checkpoints)
  start_step = ckpt.latest_step()
  extension = run.resume(config, start_step)  # ConfigError unless this run continues
  dataset = dataset or data_lib.load_dataset(config)
  trainer = Trainer(config, dataset, mesh)
  state = trainer.initial_state
  it = trainer.train_iterator(config.train.num_epochs)
  if start_step is not None:
    state, data_state = ckpt.restore(start_step, state)
    it.set_state(data_state)
    logging.info("resumed from step %d", start_step)
  run.record(config, extension, start_step or 0)  # config.json only after a good restore
  start_step = start_step or 0
  last_ckpt = start_step if start_step else None
  # per-example given-label margin/loss summed over epochs (label issues), resumed with it
  tracker = dynamics.Tracker(workdir, dataset.train.hard_labels(), dataset.num_classes,
                             start_step // trainer.steps_per_epoch, write=is_main)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  records = _read_records(metrics_path, start_step)
  if is_main:
    _write_records(metrics_path, records)

  def log(record):
    records.append(record)
    if is_main:
      with open(metrics_path, "a") as f:
        f.write(json.dumps(record) + "\n")

  spe, total = trainer.steps_per_epoch, trainer.total_steps
  cfg_train = config.train
  stop_at = cfg_train.stop_after_steps if cfg_train.stop_after_steps > 0 else total
  pending = []  # (step, device metrics) not yet fetched: fetched at log steps, no per-step sync
  bar = tqdm.tqdm(total=total, initial=start_step, desc="train", disable=not cfg_train.progress_bar)
  step = start_step
  test_metrics = None
  guard = collapse.Guard.from_config(cfg_train, multi_label=dataset.multi_label)
  run.interrupt.watch()
  while step < min(total, stop_at) and not run.interrupt.requested:
    batch = next(it)
    state, m = trainer.train_step(state, trainer.shard(batch))
    step += 1
    bar.update(1)
    pending.append((step, m))
    epoch_end = step % spe == 0
    every = cfg_train.checkpoint_every_steps
    mid_epoch_ckpt = every > 0 and step % every == 0 and not epoch_end
    if (step % cfg_train.log_every_steps == 0 or epoch_end or step == stop_at
        or mid_epoch_ckpt):  # a checkpoint only after its losses were checked finite
      fetched = [(s, jax.device_get(x)) for s, x in pending]
      pending = []
      _check_finite(fetched, last_ckpt)
      log({"kind": "train", "step": step, "epoch": step / spe,
           **{k: float(np.mean([x[k] for _, x in fetched])) for k in fetched[-1][1]},
           "learning_rate": float(trainer.schedule(step - 1))})
      bar.set_postfix(loss=f"{records[-1]['loss']:.4f}")
    if mid_epoch_ckpt:
      ckpt.save(step, state, it.get_state())
      last_ckpt = step
    if epoch_end:
      epoch = step // spe
      if hasattr(trainer.method, "end_of_epoch"):
        state = trainer.method.end_of_epoch(trainer, state, epoch, config=config.method)
      train_logits = None  # one pass over the training set a epoch, shared below
      if not dataset.multi_label:
        train_logits = trainer.predict(state, dataset.train)
        tracker.add_epoch(train_logits, epoch, (last_ckpt or 0) // spe)
      if epoch % cfg_train.eval_every_epochs == 0 or step == total:
        test_metrics = trainer.evaluate(state, dataset.test)
        record = {"kind": "eval", "step": step, "epoch": epoch,
                  **{f"test_{k}": v for k, v in test_metrics.items()}}
        labels = None
        if hasattr(trainer.method, "refined_labels") and not dataset.multi_label:
          refined = np.asarray(trainer.method.refined_labels(state.method_state))
          record["label_precision"] = float(np.mean(refined == dataset.train.clean_labels))
          labels = (refined, dataset.train.hard_labels(), dataset.train.clean_labels)
        record.update(guard.check(epoch, step, functools.partial(
            _train_logits, trainer, state, dataset.train, train_logits), labels))
        log(record)
        if guard.should_stop:  # train.stop_on_collapse: end here, evaluated and written
          total = step
      if epoch % cfg_train.checkpoint_every_epochs == 0 or step == total:
        ckpt.save(step, state, it.get_state())
        last_ckpt = step
  bar.close()
  run.interrupt.restore()  # Ctrl-C from here on interrupts at once
  if step < total:  # stopped early on request: keep a checkpoint to resume from
    if last_ckpt != step:
      ckpt.save(step, state, it.get_state())
    ckpt.close()
    if run.interrupt.requested:
      raise run.interrupted(step, step)
    return {"status": "stopped", "step": step, "state": state}
  ckpt.close()

  if test_metrics is None or records[-1].get("kind") != "eval" or records[-1]["step"] != step:
    test_metrics = trainer.evaluate(state, dataset.test)
  results = {
      "status": "finished", "dataset": dataset.name, "method": config.method.name,
      "model": config.model.name, "noise_rate": dataset.info["noise_rate"],
      "test_labels": dataset.info.get("test_labels", "clean"),  # user data: "as given"
      "num_train": len(dataset.train), "num_test": len(dataset.test),
      "steps": step, "epochs": config.train.num_epochs, "test": test_metrics,
      "wall_time_s": time.time() - start_time, "collapse": guard.collapse,
  }
  if dataset.val is not None:
    results["val"] = trainer.evaluate(state, dataset.val)
  if hasattr(trainer.method, "trust_scores"):
    trust = np.asarray(trainer.method.trust_scores(state.method_state))
    train_labels = dataset.train.labels if dataset.multi_label else dataset.train.hard_labels()
    results["noise_detection"] = metrics_lib.noise_detection(
        trust, train_labels, dataset.train.clean_labels)
  if "label_set" in dataset.info:
    results["label_set"] = dataset.info["label_set"]
  if not dataset.multi_label:
    results["label_issues"] = label_issues.finish_run(workdir, trainer, state, tracker.dynamics,
                                                      is_main=is_main)
  if is_main:
    with open(os.path.join(workdir, "results.json"), "w") as f:
      json.dump(results, f, indent=2)
    plots.training_curves(records, os.path.join(workdir, "curves.png"))
  return {**results, "state": state}
