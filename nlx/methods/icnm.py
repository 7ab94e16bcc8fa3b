"""ICNM (Misra et al., CVPR 2016, "Seeing through the human reporting bias"): the image-
conditional noise model for multi-label data.

Two classifiers share the network: the visual-presence classifier `v_c(x) = p(y_c = 1 | x)`
(the trainer's model; it alone predicts at test time) and the relevance classifier
`r_c^y(x) = p(y~_c = 1 | y_c = y, x)` for y in {0, 1}, a linear layer on the model's
features h (`params["relevance"]`, `[D, 2C]`). The noisy label is explained by
`p(y~_c = 1 | x) = r_c^1(x) v_c(x) + r_c^0(x) (1 - v_c(x))` and trained with BCE on
y~. The relevance biases start at `+init_logit` for r^1 and `-init_logit` for r^0 (a
labelled object is reported, an absent one is not), weights at zero.
"""

import jax
import jax.numpy as jnp
import ml_collections

from nlx import losses

TASKS = ("multi_label",)


def default_config(name: str = "icnm") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": name, "init_logit": 3.0})


def init_state(config, *, dataset, model, rng, **unused):
  del rng, unused
  c = dataset.num_classes
  bias = jnp.concatenate([jnp.full((c,), -config.init_logit), jnp.full((c,), config.init_logit)])
  return {"relevance": {"w": jnp.zeros((model.feature_dim, 2 * c), jnp.float32), "b": bias}}, {}


def relevance(params, features: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`(r0, r1)` `[B, C]`: P(noisy 1 | true 0, x) and P(noisy 1 | true 1, x)."""
  logits = features.astype(jnp.float32) @ params["relevance"]["w"] + params["relevance"]["b"]
  r0, r1 = jnp.split(jax.nn.sigmoid(logits), 2, axis=-1)
  return r0, r1


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del state, rng, config, ctx
  v = jax.nn.sigmoid(outputs.logits)
  r0, r1 = relevance(params, outputs.features)
  return losses.binary_cross_entropy(r1 * v + r0 * (1.0 - v), batch["label"]), {}
