"""Training methods: one module each, all with the same small API.

A method module exports:
  default_config() -> ConfigDict with `name` and the method's hyperparameters
      (the paper's defaults), stored under `config.method`.
  init_state(config, *, num_examples, num_classes, feature_dim, rng)
      -> (params, state): trainable method parameters (e.g. ARNet's prototypes; they
      get gradients and the optimiser) and non-trainable method state (per-example
      targets, memories), both pytrees; state arrays indexed by example are `[N, ...]`.
  loss_fn(params, state, outputs, batch, rng, *, config, num_classes)
      -> (per_example_loss [B], aux): `outputs` is `nlx.models.Outputs` (logits,
      features); `batch` has `image`, `label`, `clean_label` (never used for training),
      `index`.
  update_state(state, batch, aux, *, config) -> state, after each step, inside jit.
"""

import importlib
import types

import ml_collections

from nlx.errors import ConfigError

NAMES = ("ce",)


def get(name: str) -> types.ModuleType:
  if name not in NAMES:
    raise ConfigError(f"unknown method {name!r}; known methods: {', '.join(NAMES)}")
  return importlib.import_module(f"nlx.methods.{name}")


def default_config(name: str) -> ml_collections.ConfigDict:
  return get(name).default_config()
