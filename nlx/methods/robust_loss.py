"""Every robust loss of `nlx.losses` as a method, with its paper's defaults.

`config.method.name` picks the loss; the other keys are its keyword hyperparameters
(keys a loss does not take, like the pruning schedule below, are the method's own).
No method state, except for `truncated_gce`.

`truncated_gce` (Zhang & Sabuncu, NeurIPS 2018, pruning by alternating optimisation): weights w
(`method_state["weights"]`, `[N]`, all 1 at the start) make the loss
`w L_q(p_y) + (1 - w) L_q(k)`, so it trains as plain L_q until the first pruning.
At pruning epochs, `end_of_epoch` predicts the whole training set with the *current*
model (eval mode, no augmentation) and sets `w = [p_y > k]`. The authors' code
(AlanChou/Truncated-Loss `main.py`) prunes at the start of 0-based epochs 39, 49, ...,
119 of 120, i.e. after 39, 49, ..., 119 completed epochs, from the checkpoint with the
best *test* accuracy (chosen with clean test labels: nlx does not copy that). Rule
scaling it to a run of E epochs: prune after completed epochs `s, s + d, s + 2d, ... < E`,
s = `prune_start` (default `round(E / 3)`), d = `prune_every` (default
`max(1, round(E / 12))`, Python's round: half to even). E = 120 gives 40, 50, ..., 110;
E = 30 gives 10, 12, ..., 28; E = 10 gives 3, 4, ..., 9.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

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
    "mae": (losses.mean_absolute_error, {"reduced": False}),
    "nce_rce": (losses.active_passive_loss, {"alpha": 1.0, "beta": 1.0, "log_zero": -4.0}),
}
# truncated_gce's pruning schedule (-1: scaled to the run's length, see the docstring)
PRUNE_DEFAULTS = {"prune_start": -1, "prune_every": -1}


def default_config(name: str) -> ml_collections.ConfigDict:
  extra = PRUNE_DEFAULTS if name == "truncated_gce" else {}
  return ml_collections.ConfigDict({"name": name, **LOSSES[name][1], **extra})


def init_state(config, *, dataset, model, rng, **unused):
  del model, rng, unused
  if config.name == "truncated_gce":
    return {}, {"weights": jnp.ones((len(dataset.train),), jnp.float32)}
  return {}, {}


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del params, rng
  fn, defaults = LOSSES[config.name]
  hparams = {k: config[k] for k in defaults}
  aux = {}
  if config.name == "truncated_gce":
    hparams["weights"] = state["weights"][batch["index"]]
    aux["metrics"] = {"kept_weight": hparams["weights"]}  # fraction of the batch not pruned
  targets = losses.as_distribution(batch["label"], ctx.num_classes)
  return fn(outputs.logits, targets, **hparams), aux


def prune_epochs(num_epochs: int, prune_start: int = -1, prune_every: int = -1) -> list[int]:
  """The completed-epoch counts after which truncated GCE prunes (see the docstring)."""
  start = prune_start if prune_start >= 0 else round(num_epochs / 3)
  every = prune_every if prune_every > 0 else max(1, round(num_epochs / 12))
  return list(range(max(start, 1), num_epochs, every))


def truncation_weights(logits: np.ndarray, labels: np.ndarray, k: float) -> np.ndarray:
  """`[N]` weights `[p_y > k]` from logits `[N, C]` and integer labels `[N]` (the
  authors' `update_weight`: `L_q(k) > L_q(p_y)`, i.e. `p_y > k`)."""
  p = jax.nn.softmax(jnp.asarray(logits, jnp.float32), axis=-1)
  p_y = np.take_along_axis(np.asarray(p), np.asarray(labels)[:, None], axis=-1)[:, 0]
  return (p_y > k).astype(np.float32)


def end_of_epoch(ctx, state, epoch, *, config):
  if config.name != "truncated_gce":
    return state
  epochs = prune_epochs(ctx.num_epochs, config.prune_start, config.prune_every)
  if epoch not in epochs:
    return state
  logits = ctx.predict_outputs(state, ctx.dataset.train)[0]
  w = truncation_weights(logits, ctx.dataset.train.hard_labels(), config.k)
  new = {**state.method_state, "weights": ctx.replicate(jnp.asarray(w))}
  return state.replace(method_state=new)
