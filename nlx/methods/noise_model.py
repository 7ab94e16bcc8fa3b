"""The noise-type model of Xiao et al. (CVPR 2015), trained on clean + noisy data.

Needs a clean subset D_c (`data.clean_fraction > 0`, see `nlx.data.mixture`): batches
carry `known_label` (the clean label on D_c, -1 on D_n). Two networks, as in the paper:
p(y|x) is the trainer's model, p(z|x) (z in {noise-free, random, confusing}) a second
network of the same architecture with 3 outputs (`params["znet"]`). With
`shared_trunk=True` (the option the issue allows), p(z|x) is instead a linear 3-way head
on p(y|x)'s features (`params["z_head"]`): one network, about the cost of a CE step.
- C (`C[noisy, true]`) is estimated once at the start from D_c's (clean, noisy) pairs
  with the closed form of Section 3.2 (`nlx.ops.noise_model.estimate_confusion`).
- Stage 1 (`pretrain_epochs`): only D_c trains: p(y|x) on its clean labels, p(z|x) on the
  optimal z of Eq. 8.
- Stage 2: D_c keeps its known (y, z); D_n is trained through the EM posterior
  q(y, z | y~, x) (Eq. 5) with the M-step losses of Eq. 7; the z network's loss is
  scaled by `z_loss_scale` (0.1 in the authors' second stage).
The per-example loss is normalised by the number of examples that train in the batch.
Defaults: pretrain_epochs = 5, z_loss_scale = 0.1, shared_trunk False.
Label-issue score (`noise_free_posterior`, what `nlx.label_issue_scores` uses for this
method; the `score_labels` hook):
the E-step posterior q(z = noise-free | y~, x), computed from the final networks; the
rank-precision curve uses p(z = confusing | x) (`confusing_probability`).
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from nlx.errors import ConfigError
from nlx.ops import noise_model as nm

ZNET = "znet"  # the p(z|x) network's name (`new_model`, `ctx.apply_fns`)


def default_config(name: str = "noise_model") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": name, "pretrain_epochs": 5, "z_loss_scale": 0.1,
                                    "shared_trunk": False})


NEEDS_CLEAN_SUBSET = True
LABEL_ISSUE_SCORE = "noise_free_posterior"


def shrink_for_tiny(config) -> None:
  """One epoch of stage 1 (D_c only), so a two-epoch run reaches stage 2."""
  config.pretrain_epochs = 1


def clean_pairs(dataset):
  known = dataset.train.extras.get("known_label")
  if known is None:
    raise ConfigError("method noise_model needs a clean subset: set data.clean_fraction > 0")
  mask = known >= 0
  return known[mask], dataset.train.hard_labels()[mask]


def init_state(config, *, dataset, model, rng, new_model, **unused):
  del unused
  true, noisy = clean_pairs(dataset)
  confusion = jnp.asarray(nm.estimate_confusion(true, noisy, dataset.num_classes), jnp.float32)
  if config.shared_trunk:
    d = model.feature_dim
    w = jax.random.normal(rng, (d, 3), jnp.float32) / np.sqrt(d)  # LeCun normal, as nnx.Linear
    return {"z_head": {"w": w, "b": jnp.zeros(3, jnp.float32)}}, {"confusion": confusion}
  znet = new_model(rng, name=ZNET, num_classes=3)
  return {"znet": znet.params}, {"znet_state": znet.state, "confusion": confusion}


def _z_logits(params, state, outputs, batch, rng, ctx):
  """p(z|x)'s logits `[B, 3]` and the z network's new BatchNorm state (None when shared)."""
  if "z_head" in params:
    return outputs.features @ params["z_head"]["w"] + params["z_head"]["b"], None
  z_out, znet_state = ctx.apply_fns[ZNET](params["znet"], state["znet_state"],
                                          batch["input"], train=True, rng=rng)
  return z_out.logits, znet_state


def known_posterior(known, noisy, confusion, num_classes):
  """One-hot q over (y, z) for examples whose clean label is known (z from Eq. 8)."""
  alpha = 1.0 / (num_classes - 1)
  y = jnp.maximum(known, 0)
  z = jnp.where(noisy == y, nm.NOISE_FREE,
                jnp.where(confusion[noisy, y] > alpha, nm.CONFUSING, nm.RANDOM))
  return jax.nn.one_hot(y, num_classes)[:, :, None] * jax.nn.one_hot(z, 3)[:, None, :]


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  z_logits, znet_state = _z_logits(params, state, outputs, batch, rng, ctx)
  log_py = jax.nn.log_softmax(outputs.logits, axis=-1)
  log_pz = jax.nn.log_softmax(z_logits, axis=-1)
  noisy, known = batch["label"], batch["known_label"]
  is_clean = known >= 0
  q = jnp.where(is_clean[:, None, None],
                known_posterior(known, noisy, state["confusion"], ctx.num_classes),
                nm.posterior(log_py, log_pz, noisy, state["confusion"]))
  loss_y, loss_z = nm.m_step_losses(log_py, log_pz, q)
  stage1 = ctx.step // ctx.steps_per_epoch < config.pretrain_epochs
  weight = jnp.where(stage1, is_clean.astype(jnp.float32), 1.0)
  z_scale = jnp.where(stage1, 1.0, config.z_loss_scale)
  per_example = weight * (loss_y + z_scale * loss_z)
  per_example = per_example * weight.shape[0] / jnp.maximum(jnp.sum(weight), 1.0)
  return per_example, {"znet_state": znet_state}


def update_state(state, batch, aux, *, config):
  del batch, config
  if aux["znet_state"] is None:
    return state
  return {**state, "znet_state": aux["znet_state"]}


def z_probabilities(ctx, state, split) -> np.ndarray:
  """p(z | x) `[N, 3]` for a split (eval mode), through the input pipeline (decode, eval
  transform, padded batches). `ctx`: an `EpochContext` or the `Trainer`."""
  if "z_head" in state.params["method"]:
    head = state.params["method"]["z_head"]
    features = ctx.predict_outputs(state, split)[1]
    return np.asarray(jax.nn.softmax(features @ head["w"] + head["b"]))
  logits, _ = ctx.predict_network(ZNET, state.params["method"]["znet"],
                                  state.method_state["znet_state"], split)
  return np.asarray(jax.nn.softmax(logits))


def confusing_probability(ctx, state, split) -> np.ndarray:
  """p(z = confusing | x) `[N]` for a split (for the rank-precision curve)."""
  return z_probabilities(ctx, state, split)[:, nm.CONFUSING]


@jax.jit
def _noise_free(logits, z_probs, noisy, confusion):
  q = nm.posterior(jax.nn.log_softmax(logits, axis=-1), jnp.log(z_probs), noisy, confusion)
  return q[:, :, nm.NOISE_FREE].sum(axis=1)


def noise_free_posterior(ctx, state, split) -> np.ndarray:
  """The label-issue score `[N]`: the E-step posterior (Eq. 5) that the given label is
  noise-free, `sum_y q(y, z = noise-free | y~, x)`; on the known-clean subset D_c, 1 if
  the given label equals the known one, else 0. `ctx`: an `EpochContext` or the
  `Trainer`."""
  noisy = np.asarray(split.hard_labels(), np.int32)
  q = np.asarray(_noise_free(jnp.asarray(ctx.predict_outputs(state, split)[0]),
                             jnp.asarray(z_probabilities(ctx, state, split)),
                             jnp.asarray(noisy), state.method_state["confusion"]))
  known = split.extras.get("known_label")
  if known is None:
    return q
  return np.where(known >= 0, (known == noisy).astype(np.float64), q)


score_labels = noise_free_posterior  # the Method hook behind LABEL_ISSUE_SCORE
