"""ELR: early-learning regularisation (Liu et al., NeurIPS 2020).

Loss: `CE(p, y) + lambda * log(1 - <p, t_i>)`, with per-example targets t (method state,
`[N, C]`, zeros at the start as in the authors' code) updated every step, *before* the
term is computed, by `nlx.ops.targets.ema_update` (beta = 0.7). CIFAR-10 defaults:
lambda = 3, beta = 0.7. Logs the CE term as `data_loss` and `lambda * log(1 - <p, t>)`
as `reg_loss` (metrics.jsonl; curves.png plots the data term). Exposes the targets' argmax
as refined labels and the target mass on the given label as a trust score.
"""

import jax.numpy as jnp
import ml_collections

from nlx import losses
from nlx.ops import targets as targets_ops


def default_config(name: str = "elr") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": name, "lam": 3.0, "beta": 0.7})


def init_state(config, *, dataset, model, rng, **unused):
  del config, model, rng, unused
  n, c = len(dataset.train), dataset.num_classes
  return {}, {"targets": jnp.zeros((n, c), jnp.float32),
              "labels": jnp.asarray(dataset.train.hard_labels(), jnp.int32)}


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del params, rng
  new_targets = targets_ops.ema_update(state["targets"], batch["index"], outputs.logits,
                                       beta=config.beta)
  labels = losses.as_distribution(batch["label"], ctx.num_classes)
  reg = config.lam * losses.elr_regularizer(outputs.logits, new_targets[batch["index"]])
  data = losses.softmax_cross_entropy(outputs.logits, labels)
  # logged apart: the total runs far below 0 as <p, t> -> 1; the CE term stays readable
  return data + reg, {"targets": new_targets, "metrics": {"data_loss": data, "reg_loss": reg}}


def update_state(state, batch, aux, *, config):
  del batch, config
  return {**state, "targets": aux["targets"]}


def refined_labels(state):
  return jnp.argmax(state["targets"], axis=-1)


def trust_scores(state):
  return jnp.take_along_axis(state["targets"], state["labels"][:, None], axis=-1)[:, 0]
