"""Baselines of Xiao et al. (CVPR 2015), Table 1, for data with a clean subset D_c
(`data.clean_fraction > 0`, or a dataset that gives `known_label`, e.g. Clothing1M):

- `ce_clean_subset`: CE on D_c only, with its clean labels (the batch loss is the mean
  over the D_c examples in it; the others get no gradient).
- `ce_clean_and_noisy`: CE on D_c and D_n, the clean label where it is known and the
  noisy label (taken as truth) elsewhere.
- `bottom_up` (Sukhbaatar & Fergus 2014, "bottom-up"): a fixed confusion matrix Q
  (`Q[true, noisy]`) estimated once from D_c's (clean, noisy) pairs; D_n's noisy labels
  are modelled as `softmax(logits) @ Q` (forward-corrected CE), D_c is trained with CE
  on its clean labels. Q is mixed with the uniform matrix (`q_smoothing` = 0.01): a
  noisy label that D_c never shows would otherwise have probability 0 (infinite loss).
"""

import jax.numpy as jnp
import ml_collections

from nlx import losses
from nlx.data.noise import realized_transition
from nlx.methods.noise_model import clean_pairs

NAMES = ("ce_clean_subset", "ce_clean_and_noisy", "bottom_up")
NEEDS_CLEAN_SUBSET = True


def default_config(name: str = "bottom_up") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict({"name": name})
  if name == "bottom_up":
    c.q_smoothing = 0.01
  return c


def init_state(config, *, dataset, model, rng, **unused):
  del model, rng, unused
  true, noisy = clean_pairs(dataset)  # ConfigError when there is no clean subset
  state = {}
  if config.name == "bottom_up":
    q = realized_transition(true, noisy, dataset.num_classes)
    q = (1 - config.q_smoothing) * q + config.q_smoothing / dataset.num_classes
    state["q"] = jnp.asarray(q, jnp.float32)
  return {}, state


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del params, rng
  known, noisy = batch["known_label"], batch["label"]
  is_clean = known >= 0
  target = jnp.where(is_clean, known, noisy)
  ce = losses.softmax_cross_entropy_with_integer_labels(outputs.logits, target)
  if config.name == "ce_clean_and_noisy":
    return ce, {}
  if config.name == "ce_clean_subset":
    w = is_clean.astype(jnp.float32)
    return w * ce * w.shape[0] / jnp.maximum(jnp.sum(w), 1.0), {}
  y = losses.as_distribution(noisy, ctx.num_classes)
  forward = losses.forward_corrected_cross_entropy(outputs.logits, y, state["q"])
  return jnp.where(is_clean, ce, forward), {}
