"""Every robust loss of `nlx.losses` as a method, with its paper's defaults.

`config.method.name` picks the loss; the other keys are its keyword hyperparameters.
No method state: these change only the loss.
"""

import ml_collections

from nlx import losses

# name -> (loss function, the paper's default hyperparameters)
LOSSES = {
    "label_smoothing": (losses.label_smoothing_cross_entropy, {"alpha": 0.1}),
    "bootstrap_soft": (losses.bootstrap_soft, {"beta": 0.95}),
    "bootstrap_hard": (losses.bootstrap_hard, {"beta": 0.8}),
    "gce": (losses.generalized_cross_entropy, {"q": 0.7}),
    "truncated_gce": (losses.truncated_generalized_cross_entropy, {"q": 0.7, "k": 0.5}),
    "sce": (losses.symmetric_cross_entropy, {"alpha": 0.1, "beta": 1.0, "log_zero": -4.0}),
    "tce": (losses.taylor_cross_entropy, {"order": 2}),
    "mae": (losses.mean_absolute_error, {}),
    "nce_rce": (losses.active_passive_loss, {"alpha": 1.0, "beta": 1.0, "log_zero": -4.0}),
}


def default_config(name: str) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": name, **LOSSES[name][1]})


def init_state(config, *, dataset, model, rng, **unused):
  del config, dataset, model, rng, unused
  return {}, {}


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del params, state, rng
  fn, defaults = LOSSES[config.name]
  hparams = {k: config[k] for k in defaults}
  targets = losses.as_distribution(batch["label"], ctx.num_classes)
  return fn(outputs.logits, targets, **hparams), {}


def update_state(state, batch, aux, *, config):
  del batch, aux, config
  return state
