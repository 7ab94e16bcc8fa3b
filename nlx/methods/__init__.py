"""Training methods: one module each, all with the same small API (`MethodModule`).

A method module defines what it uses and nothing more; `get(name)` returns it as a
`Method`, with the defaults below filled in for the hooks it leaves out:
  default_config(name) -> ConfigDict with `name` and the method's hyperparameters
      (the paper's defaults), stored under `config.method`. Required.
  loss_fn(params, state, outputs, batch, rng, *, config, ctx) -> (per_example [B], aux).
      Required. `outputs` are the model's `Outputs(logits, features)` on
      `batch["input"]`; the trainer minimises the mean of `per_example`. `batch` holds
      `input` (normalised), `image`, `label`, `clean_label` (never for training) and
      `index`; `ctx` is a `StepContext`. `aux` may hold `"metrics"`: a dict of
      per-example `[B]` (or scalar) values that the trainer averages and logs in
      metrics.jsonl beside `loss` (e.g. each loss term).
  init_state(config, *, dataset, model, rng, new_model, batch_size) -> (params, state)
      (`batch_size`: the global batch; a module takes what it uses). Default: no
      params, no state. Trainable method parameters (they get gradients and the
      optimiser; e.g. ARNet's prototypes, a second network) and non-trainable method
      state (per-example targets, memories), both pytrees; arrays indexed by example are
      `[N, ...]` and updated by `index`. `dataset` is the `nlx.data.Dataset`, `model` the
      `nlx.models.Model`; `new_model(rng, name=..., num_classes=None)` creates another
      network of the configured architecture, run in `loss_fn` with
      `ctx.apply_fns[name]` and at the epoch's end with `EpochContext.predict_network(name, ...)`.
  update_state(state, batch, aux, *, config) -> state, after each step, inside jit.
      Default: the state unchanged.
  prepare_batch(batch, rng, *, config, ctx) -> batch, before the forward pass (MixUp).
      Default: the batch unchanged.
  end_of_epoch(ctx, state, epoch, *, config) -> state, on the host after each epoch;
      `ctx` is an `EpochContext` (predict, replicate, a few config values), never the
      trainer. Default: the state unchanged.
  refined_labels(state) -> [N] and trust_scores(state) -> [N]: optional capabilities,
      None when absent, for the label-precision curve and noise-detection metrics.
  TASKS: the label types it trains on, ("multi_class",) unless it says otherwise
      (multi-label methods: ("multi_label",)); the trainer refuses other data.
What a method knows about configs and data, so that nothing outside `nlx/methods` names a
method (tests/methods/test_registry.py checks it):
  scale_phases(config, epochs) -> None: sets the length of the method's first phase
      (warm-up, epochs before a switch) to `epochs`, which config files choose as a share
      of `train.num_epochs` (`nlx.config_presets.scale_method_epochs`). Default: no phases.
  shrink_for_tiny(config) -> None: what the `tiny` variant of every config file (seconds
      on a CPU, a few hundred examples) changes in the method's hyperparameters, e.g. a
      smaller memory. Called by `nlx.config_base.make_tiny`. Default: nothing.
  NEEDS_CLEAN_SUBSET: True when the method trains on a known-clean subset D_c, so config
      files that offer it set `data.clean_fraction`. Default False.
  READINGS: {name: hyperparameter overrides}, named readings of the paper (variant group
      `reading` of the config files that offer it). Default none.
  VARIANTS: the values of `config.variant` (the paper's model variants; variant group
      `model` of the config files that offer it). Default none.
  LABEL_ISSUE_SCORE: the per-example score `nlx find-label-issues` ranks by for this
      method (a name in `nlx.label_issue_scores.SCORES`, or the method's own). Default "aum".
  CLASS_PROBABILITIES: whether the softmax of the trained network's logits is a class
      posterior of that one network, which out-of-fold label issues judge a held-out
      example by (`label_issues.folds`). Default True.
  score_labels(ctx, state, split) -> float [N]: the method's own label-issue score of every
      example of `split` (high = the given label is trusted), offered under the name
      LABEL_ISSUE_SCORE; `ctx` is the Trainer (`predict_outputs`, `dataset`). Optional.
"""

import dataclasses
import functools
import importlib
import inspect
import types
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

import ml_collections

from nlx.errors import ConfigError


class StepContext(NamedTuple):
  """What a method's `loss_fn` (and `prepare_batch`) may use besides its own params and
  state, inside the jitted step."""
  step: Any                # int32 scalar: optimiser steps taken before this one
  steps_per_epoch: int
  num_classes: int
  apply_fn: Callable       # (params, model_state, x, *, train, rng) -> (Outputs, new_state)
  apply_fns: dict          # name -> apply function of a network made with `new_model`


class EpochContext(NamedTuple):
  """What a method's `end_of_epoch` may use: predictions through the input pipeline
  (decode, eval transform, padded batches: one compiled program) on the host or, kept on
  the device, `predict_on_device`'s; a way to put arrays back on the mesh, and the config
  values a method needs. (`nlx.train.Trainer`
  has the same `dataset`, `predict_outputs` and `predict_network`, so host functions
  that need only those, like `noise_model.z_probabilities`, take either.)"""
  dataset: Any             # nlx.data.Dataset
  # (state, split) -> (logits [N, C], features [N, D]) of the trained model, eval mode
  predict_outputs: Callable
  # the same as device arrays replicated over the mesh, never fetched (a split held on the
  # device: its blocks joined there; at an epoch's end the pass the dynamics share)
  predict_on_device: Callable
  # (name, params, model_state, split) -> (logits, features) of a `new_model` network
  predict_network: Callable
  replicate: Callable      # pytree -> the same, replicated over the devices
  eval_batch_size: int
  num_epochs: int


class MethodModule(Protocol):
  """The API of a method module (see the package docstring); only `default_config` and
  `loss_fn` are required, `Method` fills in the rest. Shapes: B the batch, N the
  training examples, C the classes; every hook but `end_of_epoch`, `scale_phases`,
  `shrink_for_tiny` and `score_labels` runs inside the jitted step."""

  def default_config(self, name: str) -> ml_collections.ConfigDict:
    """The method's hyperparameters at the paper's defaults.

    Args:
      name: the registry name asked for (one module may serve several, e.g. robust_loss).

    Returns:
      A ConfigDict with `name` and the hyperparameters, stored as `config.method`.
    """

  def loss_fn(self, params, state, outputs, batch, rng, *, config, ctx: StepContext):
    """The per-example training loss.

    Args:
      params: the method's trainable parameters (a pytree; {} when it has none).
      state: the method's non-trainable state (a pytree; per-example arrays `[N, ...]`).
      outputs: the model's `Outputs(logits float [B, C], features float [B, D])` on
        `batch["input"]`, in training mode.
      batch: `input` float [B, ...] (normalised), `image`, `label` int [B] (or float
        [B, C] for multi-label data), `index` int [B] into the training set,
        `clean_label` (never for training).
      rng: a PRNG key for this step (dropout-free randomness: Gumbel noise, mixing).
      config: `config.method`.
      ctx: the `StepContext` (step, steps_per_epoch, num_classes, apply functions).

    Returns:
      (per_example float32 [B], aux dict): the trainer minimises the mean of
      `per_example`; `aux["metrics"]` (optional) holds per-example [B] or scalar values
      logged beside the loss; the rest of `aux` goes to `update_state`.
    """

  def init_state(self, config, *, dataset, model, rng, new_model, batch_size):
    """The method's trainable parameters and state before the first step.

    Args:
      config: `config.method`.
      dataset: the `nlx.data.Dataset` (N training examples, C classes).
      model: the `nlx.models.Model` being trained.
      rng: a PRNG key.
      new_model: `(rng, name=..., num_classes=None) -> params` for a second network.
      batch_size: the global batch size (the rows of a step's batch).

    Returns:
      (params, state), two pytrees; per-example arrays are `[N, ...]`.
    """

  def update_state(self, state, batch, aux, *, config):
    """The state after a step (inside jit), e.g. ELR's running targets at `batch["index"]`.

    Returns:
      The new state, with the same tree structure, shapes and dtypes.
    """

  def end_of_epoch(self, ctx: "EpochContext", state, epoch: int, *, config):
    """Host-side work after each epoch (SINet's weights, forward's T estimate).

    Args:
      ctx: the `EpochContext` (predictions through the evaluation path, replicate).
      state: the method's state.
      epoch: the number of epochs finished (1 after the first).
      config: `config.method`.

    Returns:
      The new state.
    """

  def scale_phases(self, config, epochs: int) -> None:
    """Sets the length in epochs of the method's first phase (in place on `config`)."""

  def shrink_for_tiny(self, config) -> None:
    """Changes, in place, what a tiny run (a few hundred examples, seconds) needs smaller."""

  def score_labels(self, ctx, state, split):
    """The method's own label-issue score (see LABEL_ISSUE_SCORE).

    Args:
      ctx: the Trainer (`predict_outputs`, `dataset`) or an `EpochContext`.
      state: the trained `TrainState`.
      split: the `nlx.data.Split` to score (the training split).

    Returns:
      float [len(split)]: high = the given label is trusted.
    """


def _no_params(config, **unused):
  del config, unused
  return {}, {}


def _same_state(state, batch, aux, *, config):
  del batch, aux, config
  return state


def _same_batch(batch, rng, *, config, ctx):
  del rng, config, ctx
  return batch


def _no_epoch_work(ctx, state, epoch, *, config):
  del ctx, epoch, config
  return state


def _no_phases(config, epochs):
  del config, epochs


def _nothing_to_shrink(config):
  del config


# Method's fields that a module gives as upper-case constants (TASKS, READINGS, ...)
_CONSTANTS = frozenset({"tasks", "needs_clean_subset", "readings", "variants",
                        "label_issue_score", "class_probabilities"})


@dataclasses.dataclass(frozen=True)
class Method:
  """A method module with its hooks' defaults filled in (what the trainer calls)."""
  module: types.ModuleType
  default_config: Callable
  loss_fn: Callable
  init_state: Callable = _no_params
  update_state: Callable = _same_state
  prepare_batch: Callable = _same_batch
  end_of_epoch: Callable = _no_epoch_work
  refined_labels: Callable | None = None
  trust_scores: Callable | None = None
  score_labels: Callable | None = None
  scale_phases: Callable = _no_phases
  shrink_for_tiny: Callable = _nothing_to_shrink
  # the module's upper-case constants (TASKS, READINGS, ...):
  tasks: tuple = ("multi_class",)
  needs_clean_subset: bool = False
  readings: types.MappingProxyType = dataclasses.field(
      default_factory=lambda: types.MappingProxyType({}))
  variants: tuple = ()
  label_issue_score: str = "aum"
  class_probabilities: bool = True

  @classmethod
  def from_module(cls, module: types.ModuleType) -> "Method":
    fields = {f.name for f in dataclasses.fields(cls)} - {"module"}
    found = {k: getattr(module, k) for k in fields - _CONSTANTS if hasattr(module, k)}
    found.update({k: getattr(module, k.upper()) for k in _CONSTANTS
                  if hasattr(module, k.upper())})
    if "readings" in found:
      found["readings"] = types.MappingProxyType(dict(found["readings"]))
    if "init_state" in found:
      found["init_state"] = _with_its_own_arguments(found["init_state"])
    return cls(module=module, **found)


def _with_its_own_arguments(fn: Callable) -> Callable:
  """`fn` called with only the keyword arguments it declares (all of them if it takes
  `**kwargs`): a module whose hook predates an argument the trainer now passes (e.g.
  `init_state`'s `batch_size`) keeps working."""
  parameters = inspect.signature(fn).parameters
  if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
    return fn

  @functools.wraps(fn)
  def call(*args, **kwargs):
    return fn(*args, **{k: v for k, v in kwargs.items() if k in parameters})
  return call


# method name -> module implementing it
REGISTRY = {
    "ce": "ce",
    "label_smoothing": "robust_loss",
    "bootstrap_soft": "robust_loss",
    "bootstrap_hard": "robust_loss",
    "gce": "robust_loss",
    "truncated_gce": "robust_loss",
    "sce": "robust_loss",
    "tce": "robust_loss",
    "mae": "robust_loss",
    "nce_rce": "robust_loss",
    "forward": "forward",
    "elr": "elr",
    "mixup": "mixup",
    "coteaching_plus": "coteaching_plus",
    "learnq": "learnq",
    "arnet": "arnet",
    "noise_model": "noise_model",
    "sinet": "sinet",
    "ce_clean_subset": "clean_subset",
    "ce_clean_and_noisy": "clean_subset",
    "bottom_up": "clean_subset",
    "label_embedding": "label_embedding",
    # multi-label (sigmoid outputs, 0/1 label vectors)
    "bce": "multilabel",
    "bootstrap_sigmoid": "multilabel",
    "learnq_sigmoid": "multilabel",
    "icnm": "icnm",
    "can": "can",
}
NAMES = tuple(REGISTRY)
# label_embedding trains only a model with a label-embedding output (nlx.models.multimodal)
EMBEDDING_OUTPUT_NAMES = ("label_embedding",)


def get(name: str) -> Method:
  if name not in REGISTRY:
    raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(NAMES)}")
  return Method.from_module(importlib.import_module(f"nlx.methods.{REGISTRY[name]}"))


def names_for(task: str) -> tuple:
  """The method names whose module's `TASKS` include `task` (e.g. "multi_label")."""
  return tuple(n for n in NAMES if task in get(n).tasks)


def __getattr__(attr: str) -> tuple:
  """`MULTI_LABEL_NAMES` and `MULTI_CLASS_NAMES` (without the label-embedding methods),
  read from the modules' `TASKS` when first asked for (importing every method)."""
  if attr == "MULTI_LABEL_NAMES":
    return names_for("multi_label")
  if attr == "MULTI_CLASS_NAMES":
    return tuple(n for n in names_for("multi_class") if n not in EMBEDDING_OUTPUT_NAMES)
  raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def default_config(name: str) -> ml_collections.ConfigDict:
  return get(name).default_config(name)


def reading_names() -> tuple:
  """The names of every method's READINGS, in registry order, each once."""
  return tuple(dict.fromkeys(r for name in NAMES for r in get(name).readings))
