"""Plain cross-entropy on the given (possibly noisy) labels: the baseline every method beats.

A method module exports `default_config()`, `init_state`, `loss_fn` and `update_state`
(and optionally `end_of_epoch`); see `nlx.methods` for the contract.
"""

import ml_collections

from nlx import losses


def default_config() -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": "ce"})


def init_state(config, *, num_examples, num_classes, feature_dim, rng):
  del config, num_examples, num_classes, feature_dim, rng
  return {}, {}


def loss_fn(params, state, outputs, batch, rng, *, config, num_classes):
  del params, state, rng, config
  targets = losses.as_distribution(batch["label"], num_classes)
  return losses.softmax_cross_entropy(outputs.logits, targets), {}


def update_state(state, batch, aux, *, config):
  del batch, aux, config
  return state
