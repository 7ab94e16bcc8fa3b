"""Plain cross-entropy on the given (possibly noisy) labels: the baseline every method beats."""

import ml_collections

from nlx import losses


def default_config(name: str = "ce") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": name})


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del params, state, rng, config
  targets = losses.as_distribution(batch["label"], ctx.num_classes)
  return losses.softmax_cross_entropy(outputs.logits, targets), {}
