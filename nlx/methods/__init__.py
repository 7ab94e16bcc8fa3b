"""Training methods: one module each, all with the same small API.

A method module exports:
  default_config(name) -> ConfigDict with `name` and the method's hyperparameters
      (the paper's defaults), stored under `config.method`.
  init_state(config, *, dataset, model, rng) -> (params, state): trainable method
      parameters (they get gradients and the optimiser; e.g. ARNet's prototypes, a
      second network) and non-trainable method state (per-example targets, memories),
      both pytrees; arrays indexed by example are `[N, ...]` and updated by `index`.
      `dataset` is the `nlx.data.Dataset`, `model` the `nlx.models.Model`.
  loss_fn(params, state, outputs, batch, rng, *, config, ctx) -> (per_example [B], aux):
      (methods that train more networks create them in init_state with
      `new_model(rng, num_classes=None)` and run them with `ctx.apply_fns[num_classes]`)
      `outputs` are the model's `Outputs(logits, features)` on `batch["input"]`; the
      trainer minimises the mean of `per_example`. `batch` holds `input` (normalised),
      `image`, `label`, `clean_label` (never for training) and `index`; `ctx` is
      `nlx.train.StepContext` (step, steps_per_epoch, num_classes, apply_fn).
  update_state(state, batch, aux, *, config) -> state, after each step, inside jit.
  `aux` may hold `"metrics"`: a dict of per-example `[B]` (or scalar) values that the
      trainer averages and logs in metrics.jsonl beside `loss` (e.g. each loss term).
Optional:
  prepare_batch(batch, rng, *, config, ctx) -> batch, before the forward pass (MixUp).
  end_of_epoch(trainer, state, epoch, *, config) -> state, on the host after each epoch.
  refined_labels(state) -> [N] and trust_scores(state) -> [N], for the label-precision
      curve and noise-detection metrics.
  TASKS: the label types it trains on, ("multi_class",) unless it says otherwise
      (multi-label methods: ("multi_label",)); the trainer refuses other data.
"""

import importlib
import types

import ml_collections

from nlx.errors import ConfigError

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
MULTI_LABEL_NAMES = ("bce", "bootstrap_sigmoid", "learnq_sigmoid", "icnm", "can")
# label_embedding trains only a model with a label-embedding output (nlx.models.multimodal)
EMBEDDING_OUTPUT_NAMES = ("label_embedding",)
MULTI_CLASS_NAMES = tuple(n for n in NAMES
                          if n not in MULTI_LABEL_NAMES + EMBEDDING_OUTPUT_NAMES)


def get(name: str) -> types.ModuleType:
  if name not in REGISTRY:
    raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(NAMES)}")
  return importlib.import_module(f"nlx.methods.{REGISTRY[name]}")


def tasks(module: types.ModuleType) -> tuple:
  return getattr(module, "TASKS", ("multi_class",))


def default_config(name: str) -> ml_collections.ConfigDict:
  return get(name).default_config(name)
