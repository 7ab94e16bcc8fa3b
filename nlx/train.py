"""The one generic training loop: data -> model -> method -> optax; eval; checkpoints.

`train_and_evaluate(config, workdir)` is what `python -m nlx.main` runs, and what tests
and notebooks call. A method plugs in through `nlx.methods` (`Method`: loss_fn and the
hooks it uses); the loop, data parallelism, checkpoints and metrics are shared. Every
periodic action (log, evaluate, checkpoint) is decided by `nlx.periodic.itstime`; the
run's files (metrics.jsonl, results.json, curves.png) are written by
`nlx.report.run_files`.

Data parallel: a 1-D mesh over the devices (axis `data`); batches are sharded along
it, params and method state replicated; `jit` inserts the collectives. Multi-host
(`nlx.distributed`): the mesh spans every process's devices, each process feeds its
rows of the global batch, and the grain iterator state (a position, the same in every
process, which step in lockstep) is saved once with the train state.
"""

import contextlib
import dataclasses
import functools
import os
import threading
import time
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tqdm
from absl import logging
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from nlx import (
  checkpointing,
  collapse,
  dynamics,
  feature_cache,
  gc_policy,
  label_issues,
  methods,
  models,
  optim,
)
from nlx import data as data_lib
from nlx import metrics as metrics_lib
from nlx import workdir as workdir_lib
from nlx.checkpointing import Checkpointer
from nlx.config_check import check_values
from nlx.data import augment, input_pipeline, on_device
from nlx.data import folds as folds_lib
from nlx.errors import NO_ROOM_ERRNOS, ConfigError, DiskError, NonFiniteLossError, disk_cause
from nlx.methods import EpochContext, StepContext
from nlx.periodic import itstime
from nlx.report import run_files
from nlx.train_state import TrainState

MODEL = "model"  # the name of the trained model among the trainer's networks


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


def make_train_step(graphdef, tx, method: methods.Method, method_config, task: Task,
                    steps_per_epoch: int, graphdefs: dict | None = None):
  """Returns the pure `train_step(state, batch) -> (state, metrics)` (to be jitted);
  `graphdefs`: name -> graph of each network the method made with `new_model`."""
  apply_fn = functools.partial(models.apply, graphdef)
  apply_fns = {k: functools.partial(models.apply, g) for k, g in (graphdefs or {}).items()}

  def train_step(state: TrainState, batch: dict):
    step_rng = jax.random.fold_in(state.rng, state.step)
    dropout_rng, method_rng, prepare_rng = jax.random.split(step_rng, 3)
    ctx = StepContext(state.step, steps_per_epoch, task.num_classes, apply_fn, apply_fns)
    batch = {**batch, "input": normalize(batch["image"], task.mean, task.std, task.dtype)}
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
    return new_state, {"loss": loss, "noisy_accuracy": noisy_acc, **batch_means(extra)}

  return train_step


def batch_means(values: dict) -> dict:
  """Each value's mean, in `values`' order; the `[B]` float32 ones (a method's per-example
  loss terms and diagnostics) as one reduction of their stack, not one each."""
  rows = [k for k, v in values.items()
          if jnp.ndim(v) == 1 and jnp.result_type(v) == jnp.float32]
  rows = [k for k in rows if jnp.shape(values[k]) == jnp.shape(values[rows[0]])]  # [B] alike
  means = (dict(zip(rows, jnp.mean(jnp.stack([values[k] for k in rows]), axis=1)))
           if len(rows) > 1 else {})
  return {k: means[k] if k in means else jnp.mean(v) for k, v in values.items()}


def make_eval_step(graphdef, task: Task):
  """`eval_step(params, model_state, images) -> (logits, features)` of one network."""
  def eval_step(params, model_state, images: jax.Array):
    x = normalize(images, task.mean, task.std, task.dtype)
    outputs, _ = models.apply(graphdef, params, model_state, x, train=False)
    return outputs.logits, outputs.features
  return eval_step


def holdout_fold(config) -> int:
  """The fold a fold's run does not train on (`label_issues.holdout_fold`); -1: none (also
  for a config from before the key)."""
  section = config.get("label_issues")
  return -1 if section is None else section.get("holdout_fold", -1)


def chunk_limit(train_config, steps_per_epoch: int) -> int:
  """The most steps one compiled call runs (`train.steps_per_call`, 0: no limit of its
  own): never past an epoch's end, a log or a mid-epoch checkpoint, which the loop acts
  on between calls (so the limit is the smallest of their periods)."""
  periods = [steps_per_epoch, train_config.log_every_steps, train_config.checkpoint_every_steps,
             train_config.steps_per_call]
  return min(p for p in periods if p > 0)


@functools.partial(jax.jit, static_argnums=1)
def _split_seed(seed: jax.Array, n: int) -> jax.Array:
  """`n` keys `[n, 2]` split from the key of `seed` (`seed_keys`' program)."""
  return jax.random.split(jax.random.PRNGKey(seed), n)


def seed_keys(seed: int, n: int) -> list[jax.Array]:
  """`jax.random.split(jax.random.PRNGKey(seed), n)` as `n` keys, the same bits, from one
  compiled program (not three: the seed's, the split's and the unpacking's, a fifth of a
  second of a cold start-up on the 2-core CPU); the keys leave it as numpy rows and go back
  with `device_put` (`jnp.asarray` would compile a program for it)."""
  return [jax.device_put(k) for k in np.asarray(_split_seed(np.int64(seed), n))]


@functools.partial(jax.jit, static_argnums=1)
def _join_rows(blocks: tuple, n: int) -> jax.Array:
  """Blocks `[B, ...]` -> their first `n` rows `[n, ...]`, in order (the padding cut)."""
  return jnp.concatenate(blocks)[:n]


def _host_rows(blocks: list, n: int) -> np.ndarray:
  """Device blocks `[B, ...]` -> their first `n` rows on the host (fetched together)."""
  return np.concatenate(jax.device_get(blocks))[:n]


class FirstCall:
  """Set by the training loop once its first compiled call has returned (`set`), or
  closed at the run's end without one (`close`); `wait()` returns whether the loop ran."""

  def __init__(self):
    self._event, self._ran = threading.Event(), False

  def set(self) -> None:
    self._ran = True
    self._event.set()

  def close(self) -> None:
    self._event.set()

  def wait(self) -> bool:
    self._event.wait()
    return self._ran


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
    # label_issues.holdout_fold (a fold's run, `nlx.replicas`): train on the other folds only
    self.fold_of, self.include = None, None
    if holdout_fold(config) >= 0:
      if dataset.multi_label:
        raise ConfigError("label_issues.folds: out-of-fold label issues are for single-label "
                          f"data; {dataset.name} is multi-label")
      k = config.label_issues.folds
      self.fold_of = folds_lib.stratified_folds(dataset.train.hard_labels(), k, config.seed)
      self.include = np.flatnonzero(self.fold_of != holdout_fold(config))
      self.steps_per_epoch = folds_lib.fold_steps_per_epoch(len(dataset.train), k,
                                                            self.batch_size)
    if self.steps_per_epoch == 0:
      raise ConfigError(f"data.batch_size={self.batch_size} exceeds the "
                        f"{len(dataset.train) if self.include is None else len(self.include)} "
                        "training examples")
    self.total_steps = self.steps_per_epoch * config.train.num_epochs
    self.method = methods.get(config.method.name)
    task_kind = "multi_label" if dataset.multi_label else "multi_class"
    if task_kind not in self.method.tasks:
      raise ConfigError(f"method {config.method.name!r} trains on {self.method.tasks} "
                        f"data, but {dataset.name} is {task_kind}")
    self.data_sharding = NamedSharding(self.mesh, P("data"))
    self.replicated = NamedSharding(self.mesh, P())

    model_rng, method_rng, state_rng = seed_keys(config.seed, 3)
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
    self.graphdefs = {MODEL: model.graphdef}  # name -> graph of every network

    def new_model(r, *, name: str, num_classes: int | None = None):
      """Another network of the configured architecture, for methods that train several;
      `ctx.apply_fns[name]` runs it in the step."""
      if name in self.graphdefs:
        raise ValueError(f"method {config.method.name!r} made two networks named {name!r}")
      m = models.create(config.model, num_classes or dataset.num_classes, input_shape, r,
                        data_info=dataset.info, class_names=dataset.class_names)
      self.graphdefs[name] = m.graphdef
      return m

    method_params, method_state = self.method.init_state(
        config.method, dataset=dataset, model=model, rng=method_rng, new_model=new_model,
        batch_size=config.data.batch_size)
    self.tx, self.schedule = optim.build(config.optimizer, self.steps_per_epoch,
                                         config.train.num_epochs)
    self.learning_rate = jax.jit(self.schedule)  # the logged rate: one program, not op by op
    def initial_state(params, model_state, method_state, rng):
      # Own buffers for every leaf (a copy in the program, so no output is an input passed
      # through): a method may use one array twice, and donation needs distinct buffers.
      state = TrainState(step=jnp.zeros((), jnp.int32), params=params, model_state=model_state,
                         opt_state=self.tx.init(params), method_state=method_state, rng=rng)
      return jax.tree.map(lambda x: jnp.array(x, copy=True), state)

    # one compiled program for the whole state (not one small one per leaf shape: start-up)
    self.initial_state = jax.jit(initial_state, out_shardings=self.replicated,
                                 compiler_options=models.run_once_options(config.model))(
        {"model": model.params, "method": method_params}, model.state, method_state, state_rng)

    task = Task(dataset.num_classes, len(dataset.train), dataset.mean, dataset.std,
                jnp.bfloat16 if config.model.dtype == "bfloat16" else jnp.float32,
                dataset.multi_label)
    step_fn = make_train_step(self.graphdef, self.tx, self.method, config.method, task,
                              self.steps_per_epoch,
                              {k: g for k, g in self.graphdefs.items() if k != MODEL})
    # the model's compile options (its convolutions: nlx.ops.conv) for every program
    # that runs it
    self.compiler_options = models.compiler_options(config.model)
    jit_kw = {"donate_argnums": (0,), "out_shardings": (self.replicated, self.replicated),
              "compiler_options": self.compiler_options}
    # data.on_device (where it applies): the train set lives on the mesh; batches are cut
    # inside the step, and `steps_per_call` steps run in one compiled call
    self.device_data, why = None, None
    if config.data.on_device:
      why = on_device.unsupported(dataset.train, config.data)
      if why is None:
        self.device_data = on_device.DeviceTrainSet(
            dataset.train, config.data, self.mesh, config.seed, include=self.include,
            steps_per_epoch=None if self.include is None else self.steps_per_epoch)
      else:
        logging.info("data.on_device: %s; the batches come from grain, one step per call",
                     why)
    if self.device_data is None and self.include is not None:
      raise ConfigError(
          "label_issues.folds needs the training set held in memory on the device "
          "(data.on_device=True, arrays not image files, data.augment none or crop_flip): "
          f"{why or 'data.on_device is False'}")
    self.step_fn = step_fn  # the pure step (nlx.replicas vmaps it)
    self.train_step = (self.device_data.jit_step(step_fn, **jit_kw) if self.device_data
                       else jax.jit(step_fn, **jit_kw))
    self.steps_per_call = chunk_limit(config.train, self.steps_per_epoch) if self.device_data else 1
    self.chunk_sharding = NamedSharding(self.mesh, P(None, "data"))
    if self.steps_per_call > 1:
      self.train_chunk = self.device_data.jit_chunk(step_fn, self.steps_per_call, **jit_kw)
    # one jitted eval step per network; every inference runs through `predict_network`
    self.eval_steps = {k: jax.jit(make_eval_step(g, task), out_shardings=self.replicated,
                                  compiler_options=self.compiler_options)
                       for k, g in self.graphdefs.items()}
    self.eval_step = self.eval_steps[MODEL]
    self._resident_splits = {}
    self._shared_predictions = None  # see sharing_predictions
    self._precompiling = None  # see precompile_predictions

  def precompile_predictions(self, state: TrainState, splits, on_train_logits=None) -> None:
    """Compiles, in a background thread, the prediction program of the device-resident
    `splits` (an epoch's end: the training set for the dynamics, a method's hook or the
    collapse guard; the test set for the evaluation) while the training chunk compiles
    and runs: a machine's first run of a config otherwise compiles it at the first
    epoch's end. Splits predict through one program, the eval step over one block of
    `data.eval_batch_size` rows (`_resident`), so it compiles once for all of them; with
    `on_train_logits`, the join of the training set's logits on the device (`_join_rows`,
    what the dynamics take) is compiled here too (the others join on the host). Only
    compiles; JAX keeps the executables, so the later calls run them. `on_train_logits
    (logits)`, if given, is called in the thread with the training set's joined logits (a
    ShapeDtypeStruct) once their program is compiled (the training dynamics compile their
    sums' program there). The first prediction waits for the thread; a failure there only
    leaves the compile to that call, which reports what is wrong."""
    self.await_precompiled()  # (called again: the first thread's work is not orphaned)
    if jax.process_count() > 1:  # processes compile in lockstep (their programs' order
      return  # matters); a thread's order is not theirs: two processes waited forever
    todo = [(split, blocks) for split in splits
            if split is not None and (blocks := self._resident(split)) is not None]
    if not todo:
      return
    params, model_state = state.params[MODEL], state.model_state
    avals = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding,
                                                        weak_type=x.weak_type),
                         (params, model_state))

    def compile_all():
      try:
        block = None  # the eval step's block (one for every split: `_resident`)
        for split, blocks in todo:
          if block is None:
            block = self._compile_block(avals, blocks[0])
          if on_train_logits is not None and split is self.dataset.train:
            logits = self._compile_join(block, len(blocks), len(split))
            try:
              on_train_logits(logits)
            except Exception as e:  # noqa: BLE001 (compiled when first used instead)
              logging.info("precompiling for the training set's logits failed (%s)", e)
      except Exception as e:  # noqa: BLE001 (the call that needs the program compiles it)
        logging.info("precompiling the predictions failed (%s); they compile when used", e)

    self._precompiling = threading.Thread(target=compile_all, name="nlx-precompile",
                                          daemon=True)
    self._precompiling.start()

  def lower_train_chunk(self, state: TrainState) -> None:
    """Traces and lowers the compiled chunk (`steps_per_call` > 1) for `state` now, before
    `precompile_predictions`' thread starts: both are Python work under one lock, and the
    chunk's trace, the first step's critical path, took 2-3x as long beside the thread's
    (ARNet's: 0.49 s against 0.19 s alone, on the 2-core CPU). JAX keeps the lowering, so
    the first call only compiles it (while the thread traces the predictions)."""
    if self.steps_per_call <= 1:
      return
    rows = jax.ShapeDtypeStruct((self.steps_per_call, self.batch_size), np.int32,
                                sharding=self.chunk_sharding)
    data = self.device_data
    data.jitted_chunk.trace(state, {"index": rows}, np.int32(0), data.arrays, data.key).lower()

  def _compile_block(self, avals, block: jax.Array) -> jax.ShapeDtypeStruct:
    """Compiles the eval step for `(params, model_state)` of `avals` over one resident
    `block`; returns its logits' ShapeDtypeStruct."""
    lowered = self.eval_step.lower(
        *avals, jax.ShapeDtypeStruct(block.shape, block.dtype, sharding=block.sharding))
    lowered.compile()
    out = lowered.out_info[0]
    return jax.ShapeDtypeStruct(out.shape, out.dtype, sharding=self.replicated)

  def _compile_join(self, block: jax.ShapeDtypeStruct, count: int, n: int):
    """Compiles `_join_rows` of `count` logits blocks like `block` to `n` rows; returns the
    joined logits' ShapeDtypeStruct (what `predict_on_device` returns for the split)."""
    joined = _join_rows.lower((block,) * count, n)
    joined.compile()
    logits = joined.out_info  # placed as its inputs are (JAX leaves the lowered output's open)
    return jax.ShapeDtypeStruct(logits.shape, logits.dtype, sharding=self.replicated)

  def await_precompiled(self) -> None:
    """Waits for `precompile_predictions`' thread, if one runs."""
    if self._precompiling is not None:
      self._precompiling.join()
      self._precompiling = None

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

  def shard_chunk(self, rows: list[np.ndarray]) -> dict:
    """This process's index rows of `n` steps -> `{"index": [K, B]}` sharded along the
    batch axis, rows past `n` zero (the chunk runs only the first `n`)."""
    local = np.zeros((self.steps_per_call, len(rows[0])), np.int32)
    local[:len(rows)] = rows
    return {"index": jax.make_array_from_process_local_data(self.chunk_sharding, local)}

  def shard(self, batch: dict) -> dict:
    """Host batch (this process's part) -> global arrays sharded along `data`."""
    return {k: jax.make_array_from_process_local_data(self.data_sharding, np.asarray(v))
            for k, v in batch.items()}

  def predict(self, state: TrainState, split: data_lib.Split, progress: bool = False) -> np.ndarray:
    """Logits `[N, C]` for a split, in order (eval mode)."""
    blocks = self._predict_resident(MODEL, state.params["model"], state.model_state, split)
    if blocks is not None:  # the logits only: the features are not fetched
      return _host_rows([b[0] for b in blocks], len(split))
    return self.predict_outputs(state, split, progress)[0]

  def predict_outputs(self, state: TrainState, split: data_lib.Split,
                      progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`(logits [N, C], features [N, D])` of the trained model for a split, in order."""
    return self.predict_network(MODEL, state.params["model"], state.model_state, split,
                                progress)

  def predict_network(self, name: str, params, model_state, split: data_lib.Split,
                      progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """`(logits [N, C], features [N, D])` of the network `name` (`MODEL` or one a method
    made with `new_model`) for a split, in order, eval mode: through the input pipeline
    (decode, eval transform), every batch padded to `data.eval_batch_size` (the last one
    repeats its last example, then is cut), so one program serves every split."""
    eval_step = self.eval_steps[name]
    bs = self.config.data.eval_batch_size
    blocks = self._predict_resident(name, params, model_state, split)
    if blocks is not None:  # the same program over the split's resident blocks
      return tuple(_host_rows([b[i] for b in blocks], len(split)) for i in (0, 1))
    self.await_precompiled()  # a batch of the resident blocks' shape: the thread's program
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
      logits, features = eval_step(params, model_state, images)
      out.append((np.asarray(logits)[:n], np.asarray(features)[:n]))
    return np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])

  def predict_on_device(self, state: TrainState, split: data_lib.Split,
                        features: bool = True):
    """`predict_outputs`' `(logits [N, C], features [N, D])` as device arrays replicated
    over the mesh, never fetched: a split held on the device joins its blocks there
    (`_join_rows`; within `sharing_predictions` the pass shared by a method's epoch end,
    e.g. SINet's weights, and the training dynamics); another goes through
    `predict_outputs` and is put back. `features=False` (the training dynamics):
    `(logits, None)`, the features neither joined nor put there."""
    blocks = self._predict_resident(MODEL, state.params["model"], state.model_state, split)
    if blocks is None:
      logits, feats = self.predict_outputs(state, split)
      return jax.device_put((logits, feats if features else None), self.replicated)
    return tuple(_join_rows(tuple(b[i] for b in blocks), len(split)) if i == 0 or features
                 else None for i in (0, 1))

  def _predict_resident(self, name: str, params, model_state, split: data_lib.Split):
    """The eval step's `(logits [B, C], features [B, D])` on the device for each block of
    a split held there (`_resident`; the last one padded), else None; within
    `sharing_predictions`, one pass per network, state and split."""
    resident = self._resident(split)
    if resident is None:
      return None
    shared, key = self._shared_predictions, (name, params, model_state, split)
    # the same objects (immutable arrays): the same outputs
    blocks = next((out for k, out in shared or () if k[0] == name and all(
        a is b for a, b in zip(k[1:], key[1:], strict=True))), None)
    if blocks is None:
      self.await_precompiled()
      step = self.eval_steps[name]
      blocks = [step(params, model_state, block) for block in resident]
      if shared is not None:
        shared.append((key, blocks))
    return blocks

  @contextlib.contextmanager
  def sharing_predictions(self):
    """Within it, predicting a device-resident split again with the same network, state
    and split reuses the first pass (an epoch's end: a method's hook, e.g. SINet's
    weights, and the training dynamics predict the training set with one state); the
    outputs are released on exit."""
    self._shared_predictions = []
    try:
      yield
    finally:
      self._shared_predictions = None

  def _resident(self, split: data_lib.Split):
    """An in-memory split's eval inputs on the mesh: blocks `[eval_batch_size, ...]`, each
    sharded along its batch axis as the eval step's input (the last one padded with the
    last example), put there once per split; every split's blocks have one shape, so one
    compiled eval step predicts them all. None when predictions go through the input
    pipeline (data.on_device off, image files, or resize_crop_flip's eval crop)."""
    cfg = self.config.data
    if not cfg.on_device or split.decode is not None or cfg.augment == "resize_crop_flip":
      return None
    key = id(split)
    if key not in self._resident_splits:
      bs = cfg.eval_batch_size
      images = on_device.host_arrays(split, cfg.image_size)["image"]
      rows = [images[i:i + bs] for i in range(0, len(images), bs)]
      # only the last block is padded: a copy of the whole split to pad it took 0.8-1.0 s
      # of the CPU protocol's start-up (184 MB of fresh pages) for a block it never padded
      if rows and len(rows[-1]) < bs:
        rows[-1] = np.concatenate([rows[-1], np.repeat(images[-1:], bs - len(rows[-1]), 0)])
      blocks = [jax.make_array_from_callback((bs, *images.shape[1:]), self.data_sharding,
                                             lambda idx, x=x: x[idx]) for x in rows]
      self._resident_splits[key] = (split, blocks)  # the split kept: its id stays its own
    return self._resident_splits[key][1]

  def epoch_context(self) -> EpochContext:
    """What a method's `end_of_epoch` gets instead of the trainer."""
    return EpochContext(
        dataset=self.dataset, predict_outputs=self.predict_outputs,
        predict_on_device=self.predict_on_device, predict_network=self.predict_network,
        replicate=functools.partial(jax.device_put, device=self.replicated),
        eval_batch_size=self.config.data.eval_batch_size,
        num_epochs=self.config.train.num_epochs)

  def evaluate(self, state: TrainState, split: data_lib.Split, progress=False) -> dict:
    """Clean-label metrics: accuracy, macro-F1, top-5; multi-label: mAP (and VOC07's)."""
    logits = self.predict(state, split, progress)
    if self.dataset.multi_label:
      return metrics_lib.multilabel_metrics(logits, split.clean_labels)
    return metrics_lib.classification_metrics(logits, split.clean_labels, self.dataset.num_classes)


def load_dataset(config, mesh: Mesh | None = None) -> data_lib.Dataset:
  """`config.data`'s dataset; with `data.backbone`, its images embedded by that pretrained
  network (`embedded`), so the run trains on features."""
  dataset = data_lib.load_dataset(config)
  return embedded(dataset, config, mesh) if config.data.backbone else dataset


def embedded(dataset: data_lib.Dataset, config, mesh: Mesh | None = None) -> data_lib.Dataset:
  """`dataset` (image files) with every split's images replaced by the pooled features of
  the pretrained `data.backbone` (`data.backbone_weights`; `nlx.feature_cache.RANDOM`: a
  random network), cached by `nlx.feature_cache` and computed, on a miss, by this module's
  own prediction path (`Trainer.predict_outputs`: decode, `resize_crop_flip`'s eval crop
  at `data.image_size`, the dataset's normalisation, padded batches of
  `data.eval_batch_size` sharded over the mesh). Each split keeps its files in `paths`."""
  cfg = config.data
  splits = [s for s in (dataset.train, dataset.val, dataset.test) if s is not None]
  if any(s.decode is None for s in splits):
    raise ConfigError(f"data.backbone embeds image files; {dataset.name} holds arrays "
                      "(unset data.backbone, or use image_folder)")
  if cfg.augment != "none":  # the run trains on feature vectors, not on images
    raise ConfigError(f"data.backbone: the run trains on features, so data.augment must be "
                      f"'none', got {cfg.augment!r}")
  paths = np.concatenate([s.inputs for s in splits])
  whole = data_lib.Split(paths, np.zeros(len(paths), np.int64), np.zeros(len(paths), np.int64),
                         decode=splits[0].decode)
  spec = backbone_spec(config, dataset)
  key = feature_cache.cache_key(paths, cfg.backbone_weights, spec["model"], spec["transform"],
                                spec["image_size"], spec["mean"], spec["std"])
  backbone = []  # built on the first block to extract (a cached run never builds it)

  def embed(indices: np.ndarray) -> np.ndarray:
    if not backbone:
      backbone.append(backbone_trainer(
          config, dataclasses.replace(dataset, train=whole, test=whole, val=None), mesh))
    trainer = backbone[0]
    return trainer.predict_outputs(trainer.initial_state, whole.subset(indices))[1]

  start_time = time.perf_counter()
  feats = feature_cache.cached_features(paths, key, cfg.features_cache or
                                        feature_cache.default_dir(), embed,
                                        progress=config.train.progress_bar)
  seconds = time.perf_counter() - start_time
  out, start = [], 0
  for s in splits:
    out.append(dataclasses.replace(s, inputs=feats[start:start + len(s)], decode=None,
                                   paths=s.inputs))
    start += len(s)
  return dataclasses.replace(
      dataset, train=out[0], test=out[-1], val=out[1] if len(out) == 3 else None,
      mean=(0.0,), std=(1.0,), info={**dataset.info, "backbone": cfg.backbone,
                                     "feature_dim": int(feats.shape[1]),
                                     "feature_cache_key": key,
                                     "feature_seconds": round(seconds, 2)})


def backbone_spec(config, dataset: data_lib.Dataset) -> dict:
  """How `data.backbone` sees the images: `model` (the config.model keys that build it),
  `transform` (the eval transform: `data.augment`'s name), `image_size`, `mean`, `std`.
  A torchvision file: ImageNet's centre crop at `data.image_size` and the dataset's
  normalisation. A network nlx trained (`nlx.models.pretrained.save_backbone`): the model
  keys, input size and normalisation its file records."""
  from nlx.models import pretrained
  cfg = config.data
  if not cfg.backbone:
    raise ConfigError("data.backbone is unset: name the pretrained network (e.g. "
                      "resnet50_imagenet)")
  record = (pretrained.backbone_record(cfg.backbone_weights)
            if cfg.backbone_weights != feature_cache.RANDOM else None)
  if record is None:
    return {"model": {"name": cfg.backbone, "feature_grid": cfg.backbone_grid},
            "transform": "resize_crop_flip", "image_size": cfg.image_size,
            "mean": list(dataset.mean), "std": list(dataset.std)}
  if record["model"].get("name") != cfg.backbone:
    raise ConfigError(f"data.backbone is {cfg.backbone!r} but {cfg.backbone_weights} holds a "
                      f"{record['model'].get('name')!r} network")
  model = {k: tuple(v) if isinstance(v, list) else v for k, v in record["model"].items()}
  return {"model": {**model, "feature_grid": cfg.backbone_grid}, "transform": "none",
          "image_size": record["image_size"], "mean": record["mean"], "std": record["std"]}


def backbone_trainer(config, dataset: data_lib.Dataset, mesh: Mesh | None = None) -> Trainer:
  """A Trainer of the pretrained `data.backbone` (weights `data.backbone_weights`;
  `feature_cache.RANDOM`: random) over `dataset`'s image files, whose `predict_outputs`
  give the pooled features: decode, the backbone's eval transform (`backbone_spec`), its
  normalisation, padded batches of `data.eval_batch_size` on the mesh."""
  spec = backbone_spec(config, dataset)
  c = ml_collections.ConfigDict(config.to_dict())
  c.model.update(spec["model"])
  # conv auto: the forward pass is XLA's convolution as with xla (but on maps of at most
  # `nlx.ops.conv.SMALL_MAP` pixels, a product of patches: the same values up to float32
  # round-off), and on a CPU its programs get XLA's own convolutions, not YNNPACK's
  # (ResNet-50 at 224 x 224, batch 32: 0.93 s against 1.40 s; conv.compiler_options)
  c.model.dtype, c.model.conv = "float32", "auto"
  c.model.pretrained = "" if config.data.backbone_weights == feature_cache.RANDOM else \
      config.data.backbone_weights
  c.data.augment, c.data.image_size, c.data.on_device = spec["transform"], spec["image_size"], False
  mesh = mesh or make_mesh()
  c.data.batch_size = mesh.devices.size  # never trained: the smallest batch the mesh takes
  c.method = methods.default_config("ce")
  dataset = dataclasses.replace(dataset, mean=tuple(spec["mean"]), std=tuple(spec["std"]))
  return Trainer(c, dataset, mesh)


def restore(config, workdir: str, dataset: data_lib.Dataset | None = None):
  """`(trainer, state)` from the latest checkpoint in `workdir` (e.g. a finished run)."""
  trainer = Trainer(config, dataset or load_dataset(config))
  with Checkpointer(os.path.join(workdir, "checkpoints")) as ckpt:
    step = ckpt.latest_step()
    if step is None:
      raise ConfigError(f"no checkpoint in {workdir}/checkpoints")
    state, _ = ckpt.restore(step, trainer.initial_state)
  return trainer, state


def _check_finite(fetched: list, last_good_ckpt, finish_save) -> None:
  """A NonFiniteLossError at the first step whose loss is not finite, naming the last good
  checkpoint; `finish_save()` first (the save in flight: complete, or its DiskError)."""
  for step, m in fetched:
    if not np.isfinite(m["loss"]):
      finish_save()
      raise NonFiniteLossError(
          f"loss is {float(m['loss'])} at step {step}: training stopped; the last good "
          f"checkpoint is step {last_good_ckpt}" if last_good_ckpt is not None else
          f"loss is {float(m['loss'])} at step {step}: training stopped before any checkpoint")


class _Loop:
  """The steps of one run and what happens between them: logging, epoch ends (the
  method's hook, training dynamics, evaluation, collapse guard) and checkpoints, each
  when `itstime` says so."""

  def __init__(self, config, trainer: Trainer, ckpt: Checkpointer, it, workdir: str,
               start_step: int, is_main: bool):
    self.config, self.trainer, self.ckpt, self.it = config, trainer, ckpt, it
    self.dataset = trainer.dataset
    self.spe, self.total = trainer.steps_per_epoch, trainer.total_steps
    cfg = config.train
    self.stop_at = cfg.stop_after_steps if cfg.stop_after_steps > 0 else self.total
    self.last_ckpt = start_step if start_step else None
    self.metrics = run_files.MetricsLog(workdir, start_step, write=is_main)
    self.guard = collapse.Guard.from_config(cfg, multi_label=self.dataset.multi_label)
    self.test_metrics = None
    # train.training_dynamics: predict the training set after every epoch and sum the
    # given label's margin and loss (label issues), resumed with the run
    self.tracker = (dynamics.Tracker(workdir, self.dataset.train.hard_labels(),
                                     self.dataset.num_classes, start_step // self.spe,
                                     write=is_main)
                    if cfg.training_dynamics and not self.dataset.multi_label else None)
    self.pending = []  # (step, device metrics) not yet fetched: fetched when logged

  def _acts_after(self, step: int) -> bool:
    """Whether the loop acts after `step` (logs, ends an epoch, checkpoints or stops)."""
    cfg = self.config.train
    return (itstime(step, cfg.log_every_steps, self.stop_at) or step % self.spe == 0
            or itstime(step, cfg.checkpoint_every_steps, self.total, last=False)
            or step >= min(self.total, self.stop_at))

  def chunk_length(self, step: int) -> int:
    """The steps of the next call: up to the next step the loop acts after, at most
    `steps_per_call` (so a compiled call never runs past a log, an epoch's end, a
    checkpoint or the run's end)."""
    n = 1
    while n < self.trainer.steps_per_call and not self._acts_after(step + n):
      n += 1
    return n

  def run(self, state: TrainState, step: int, interrupt,
          compiled: FirstCall) -> tuple[TrainState, int]:
    """Trains from `step` to the end (or a stop, an interrupt); `compiled` is set once the
    first call returns (its program compiled; `import_beside_training`)."""
    cfg, trainer = self.config.train, self.trainer
    bar = tqdm.tqdm(total=self.total, initial=step, desc="train", disable=not cfg.progress_bar)
    while step < min(self.total, self.stop_at) and not interrupt.requested:
      if trainer.steps_per_call > 1:  # a compiled chunk: n steps, metrics stacked [K]
        n = self.chunk_length(step)
        rows = [next(self.it)["index"] for _ in range(n)]
        state, m = trainer.train_chunk(state, trainer.shard_chunk(rows), np.int32(n))
      else:
        n = 1
        state, m = trainer.train_step(state, trainer.shard(next(self.it)))
      compiled.set()
      self.pending.append((step, n, m, trainer.steps_per_call > 1))
      step += n
      bar.update(n)
      epoch_end = itstime(step, self.spe, self.total, last=False)
      mid_epoch_ckpt = itstime(step, cfg.checkpoint_every_steps, self.total,
                               last=False) and not epoch_end
      # a checkpoint only after its losses were checked finite
      if itstime(step, cfg.log_every_steps, self.stop_at) or epoch_end or mid_epoch_ckpt:
        self.log_train(step)
        bar.set_postfix(loss=f"{self.metrics.records[-1]['loss']:.4f}")
      if mid_epoch_ckpt:
        self.save(step, state)
      if epoch_end:
        state = self.end_of_epoch(state, step)
    bar.close()
    return state, step

  def log_train(self, step: int) -> None:
    fetched = []  # (step, {name: value}) of every step since the last log
    for first, n, m, stacked in self.pending:
      m = jax.device_get(m)
      fetched += ([(first + j + 1, {k: v[j] for k, v in m.items()}) for j in range(n)]
                  if stacked else [(first + 1, m)])
    self.pending = []
    _check_finite(fetched, self.last_ckpt, self.ckpt.wait)
    self.metrics.log({"kind": "train", "step": step, "epoch": step / self.spe,
                      **{k: float(np.mean([x[k] for _, x in fetched])) for k in fetched[-1][1]},
                      "learning_rate": float(self.trainer.learning_rate(step - 1))})

  def save(self, step: int, state: TrainState) -> None:
    self.ckpt.wait()  # the previous save finished first: its failure is the one to report
    if self.tracker is not None:  # the sums this checkpoint's resume reloads, first
      self.tracker.save((self.last_ckpt or 0) // self.spe)
    self.ckpt.save(step, state, self.it.get_state())
    self.last_ckpt = step

  def end_of_epoch(self, state: TrainState, step: int) -> TrainState:
    trainer, cfg, train = self.trainer, self.config.train, self.dataset.train
    epoch = step // self.spe
    train_logits = None  # one pass over the training set an epoch, shared below
    with trainer.sharing_predictions():  # the method's hook and the dynamics: one pass
      state = trainer.method.end_of_epoch(trainer.epoch_context(), state, epoch,
                                          config=self.config.method)
      if self.tracker is not None:  # on the device when the training set is (not fetched)
        train_logits = trainer.predict_on_device(state, train, features=False)[0]
        self.tracker.add_epoch(train_logits, epoch)
    if itstime(epoch, cfg.eval_every_epochs, self.total // self.spe):
      self.evaluate(state, step, epoch, train_logits)
    if itstime(epoch, cfg.checkpoint_every_epochs, self.total // self.spe):
      self.save(step, state)
    return state

  def evaluate(self, state: TrainState, step: int, epoch: int, train_logits) -> None:
    trainer, train = self.trainer, self.dataset.train
    self.test_metrics = trainer.evaluate(state, self.dataset.test)
    record = {"kind": "eval", "step": step, "epoch": epoch,
              **{f"test_{k}": v for k, v in self.test_metrics.items()}}
    labels = None
    if trainer.method.refined_labels is not None and not self.dataset.multi_label:
      refined = np.asarray(trainer.method.refined_labels(state.method_state))
      record["label_precision"] = float(np.mean(refined == train.clean_labels))
      labels = (refined, train.hard_labels(), train.clean_labels)
    # the guard predicts the training set only when this epoch did not already
    record.update(self.guard.check(epoch, step, functools.partial(
        _given_or_predicted, train_logits, trainer, state, train), labels))
    self.metrics.log(record)
    if self.guard.should_stop:  # train.stop_on_collapse: end here, evaluated and written
      self.total = step

  def evaluated_at(self, step: int) -> bool:
    last = self.metrics.records[-1] if self.metrics.records else {}
    return self.test_metrics is not None and last.get("kind") == "eval" and last["step"] == step


def _given_or_predicted(logits, trainer: Trainer, state, split) -> np.ndarray:
  return trainer.predict(state, split) if logits is None else np.asarray(logits)


def train_and_evaluate(config, workdir: str, *, mesh: Mesh | None = None,
                       dataset: data_lib.Dataset | None = None) -> dict:
  """Trains `config` in `workdir` (resuming from its latest checkpoint), evaluates on the
  clean test labels, writes config.json, metrics.jsonl, results.json and curves.png.

  A workdir holds one run (`nlx.workdir`). It resumes from the newest checkpoint that
  passes its integrity check (a damaged one is set aside, `nlx.checkpointing`).

  Args:
    config: an `ml_collections.ConfigDict` of `nlx.config_base.base_config()`'s shape
      (`data`, `noise`, `model`, `method`, `optimizer`, `train`, `label_issues`, ...),
      usually from a file in `configs/`; its values are checked before anything runs.
    workdir: the run's folder (created if missing); holds checkpoints/, workdir.json,
      config.json, metrics.jsonl, results.json, curves.png and, with
      `train.training_dynamics`, the label-issue files.
    mesh: the device mesh to shard batches over (`nlx.parallel`); default: every local
      device on one data axis.
    dataset: an `nlx.data.Dataset` to train on instead of loading `config.data` (for
      protocols that build their own split, e.g. cached features).

  Returns:
    The results dict, also written to results.json, plus the final `state`
    (`nlx.train_state.TrainState`): on a finished run `status` "finished", `dataset`,
    `method`, `model`, `noise_rate`, `num_train`, `num_test`, `steps`, `epochs`, `test`
    (clean-test metrics: accuracy, macro F1, or mAP for multi-label data), `wall_time_s`,
    `collapse`, and where they apply `val`, `noise_detection` (the method's trust scores
    against the clean labels), `label_set` and `label_issues` (counts and file names). A
    run stopped early by `train.stop_after_steps` returns `{"status": "stopped", "step",
    "state"}`.

  Raises:
    ConfigError: a bad config value, or another config already in `workdir`.
    DataError: missing or corrupt data, a label out of range.
    DiskError: a file that cannot be written for lack of space or permission (one line
      naming it and the checkpoint a rerun resumes from).
    workdir.Interrupted: Ctrl-C, after saving a checkpoint to resume from.
    NonFiniteLossError: a NaN or infinite loss; the last good checkpoint is kept and named.
  """
  check_values(config)  # value ranges, before anything runs
  if config.train.replicas > 1 or (config.label_issues.folds and holdout_fold(config) < 0):
    raise ConfigError("train.replicas / label_issues.folds: several runs in one program are "
                      "trained by nlx.replicas.train_and_evaluate (python -m nlx.main does)")
  with workdir_lib.Run(workdir, is_main=jax.process_index() == 0) as run:
    try:
      return _train_and_evaluate(config, workdir, run, mesh=mesh, dataset=dataset)
    except OSError as e:  # a full disk or a permission under a run file: one line
      cause = disk_cause(e)
      if cause is None:
        raise
      what = (f"cannot write {e.filename or f'a file in {workdir}'}"
              if e.errno in NO_ROOM_ERRNOS
              else e.filename or f"a file in {workdir}")
      raise DiskError(f"{what}: {cause}; "
                      f"{checkpointing.resume_hint(os.path.join(workdir, 'checkpoints'))}"
                      ) from None


def _train_and_evaluate(config, workdir: str, run: workdir_lib.Run, *, mesh, dataset) -> dict:
  start_time = time.time()
  is_main = jax.process_index() == 0
  # the workdir is locked: no one else writes there. Closed on every way out (an error
  # loading the data included), so its cleanup thread never outlives the run.
  with Checkpointer(os.path.join(workdir, "checkpoints"), config.train.max_checkpoints,
                    cleanup=True) as ckpt:
    return _train_with(config, workdir, run, ckpt, start_time, is_main, mesh, dataset)


def import_beside_training(pyplot_after: FirstCall) -> threading.Thread:
  """Imports matplotlib's pyplot (the figures at the run's end, about 1 s on the 2-core
  CPU) in a background thread once the loop's first compiled call is done
  (`pyplot_after`, set by the loop), so that the import takes no CPU from that compile
  and is done before the end needs it; a run that ends before (closed) does not import
  it. A later import of it waits for this one (Python's module locks) instead of starting
  its own. The thread imports no module of nlx (`nlx.report.plots` is imported here
  first), so no import of the main thread can wait for it in a circle. A failure is left
  to the import that needs the module. (The metrics are numpy's, `nlx.metrics`: a run
  imports no scikit-learn.)"""
  from nlx.report import plots

  def work():
    try:
      if not pyplot_after.wait():
        return  # the run ended before its loop: no figure to draw
      plots.pyplot()
    except Exception as e:  # noqa: BLE001 (the import that needs it reports the error)
      logging.info("importing beside the training failed (%s)", e)

  thread = threading.Thread(target=work, name="nlx-imports", daemon=True)
  thread.start()
  return thread


def _train_with(config, workdir, run, ckpt: Checkpointer, start_time, is_main, mesh,
                dataset) -> dict:
  try:
    start_step = ckpt.latest_step()
    extension = run.resume(config, start_step)  # ConfigError unless this run continues
    dataset = dataset or load_dataset(config, mesh)
    compiled = FirstCall()  # set once the loop's first call is compiled (closed on exit)
    # beside the model's build, its compile and the steps
    imports = import_beside_training(pyplot_after=compiled)
    try:
      return _train_on(config, workdir, run, ckpt, start_time, is_main, mesh, dataset,
                       start_step, extension, compiled)
    finally:
      compiled.close()  # (an error before the loop: the thread skips pyplot)
      imports.join()  # never leave an import running into the exit
  finally:
    gc_policy.resume()  # where the loop was not reached (an error before it): here


def _train_on(config, workdir, run, ckpt: Checkpointer, start_time, is_main, mesh, dataset,
              start_step, extension, compiled: FirstCall) -> dict:
  trainer = Trainer(config, dataset, mesh)
  state = trainer.initial_state
  it = trainer.train_iterator(config.train.num_epochs)
  if start_step is not None:  # the newest checkpoint that passes its integrity check
    start_step, state, data_state = ckpt.restore_latest(state)
    it.set_state(data_state)
    logging.info("resumed from step %d", start_step)
  run.record(config, extension, start_step or 0)  # config.json only after a good restore
  start_step = start_step or 0
  loop = _Loop(config, trainer, ckpt, it, workdir, start_step, is_main)
  if is_main and start_step < loop.total:
    # A run that trains again is not finished: an earlier finish's results (before
    # train.allow_more_epochs extended it) would be read as this run's by `nlx report`,
    # label_issues.find and the benchmarks.
    run_files.remove_results(workdir)
    label_issues.remove_files(workdir)
  # the command line's start-up without collections ends here, before the compile thread
  # below starts (its lowering is garbage soon, not to be frozen)
  gc_policy.resume()
  if start_step < loop.total:  # the epoch end's predictions compile beside the training
    trainer.lower_train_chunk(state)  # (its Python work first, alone)
    predicts_train = (loop.tracker is not None or loop.guard.share > 0
                      or trainer.method.end_of_epoch is not methods.Method.end_of_epoch)
    trainer.precompile_predictions(
        state, ([dataset.train] if predicts_train else []) + [dataset.test],
        on_train_logits=loop.tracker.dynamics.precompile if loop.tracker else None)
  run.interrupt.watch()
  try:
    state, step = loop.run(state, start_step, run.interrupt, compiled)
  finally:
    trainer.await_precompiled()  # never leave a compile running into the exit
  run.interrupt.restore()  # Ctrl-C from here on interrupts at once
  if step < loop.total:  # stopped early on request: keep a checkpoint to resume from
    if loop.last_ckpt != step:
      loop.save(step, state)
    ckpt.close()
    if run.interrupt.requested:
      raise run.interrupted(step, step)
    return {"status": "stopped", "step": step, "state": state}
  ckpt.close()
  results = _results(config, trainer, state, loop, step, start_time)
  if loop.tracker is not None:
    results["label_issues"] = label_issues.finish_run(workdir, trainer, state,
                                                      loop.tracker.dynamics, is_main=is_main)
  if is_main:
    run_files.write_results(workdir, results, loop.metrics.records)
  return {**results, "state": state}


def _results(config, trainer: Trainer, state: TrainState, loop: _Loop, step: int,
             start_time: float) -> dict:
  """results.json's content (less `label_issues`): the final test metrics and the run."""
  dataset = trainer.dataset
  test_metrics = (loop.test_metrics if loop.evaluated_at(step)
                  else trainer.evaluate(state, dataset.test))
  results = {
      "status": "finished", "dataset": dataset.name, "method": config.method.name,
      "model": config.model.name, "noise_rate": dataset.info["noise_rate"],
      "test_labels": dataset.info.get("test_labels", "clean"),  # user data: "as given"
      "num_train": len(dataset.train), "num_test": len(dataset.test),
      "steps": step, "epochs": config.train.num_epochs, "test": test_metrics,
      "wall_time_s": time.time() - start_time, "collapse": loop.guard.collapse,
  }
  if dataset.val is not None:
    results["val"] = trainer.evaluate(state, dataset.val)
  if trainer.method.trust_scores is not None:
    trust = np.asarray(trainer.method.trust_scores(state.method_state))
    train_labels = dataset.train.labels if dataset.multi_label else dataset.train.hard_labels()
    results["noise_detection"] = metrics_lib.noise_detection(
        trust, train_labels, dataset.train.clean_labels)
  if "label_set" in dataset.info:
    results["label_set"] = dataset.info["label_set"]
  if "backbone" in dataset.info:  # trained on a backbone's features (`embedded`)
    results["backbone"] = {k: dataset.info[k] for k in (
        "backbone", "feature_dim", "feature_cache_key", "feature_seconds")}
  return results
