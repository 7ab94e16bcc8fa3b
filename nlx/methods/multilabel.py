"""Multi-label baselines of the CAN paper (sigmoid outputs, 0/1 label vectors).

- `bce`: plain sigmoid binary cross-entropy on the noisy label vector (the paper's
  ResnetN / MLPN rows).
- `bootstrap_sigmoid`: soft bootstrapping (Reed et al. 2015) per class, BCE against
  `beta * y~ + (1 - beta) * sigmoid(z)`, beta = 0.95.
- `learnq_sigmoid`: LearnQ's linear noise adaptation layer (Sukhbaatar et al. 2015)
  for independent labels: per class c a 2x2 row-stochastic `Q_c[true, noisy]`, so
  `p(y~_c = 1 | x) = p_c (1 - rho_c^-) + (1 - p_c) rho_c^+` with the flip rates
  `rho^+ = Q_c[0, 1]`, `rho^- = Q_c[1, 0]` (sigmoids of free parameters, initialised at
  `init_eps`); the trace regulariser `trace_weight * sum_c tr(Q_c)` pushes the noise
  into Q as in the multi-class LearnQ. The classifier's own sigmoid predicts the clean label.
  Its two terms are logged as `data_loss` and `reg_loss`. Defaults: trace_weight = 0.01,
  init_eps = 1e-3.
"""

import jax
import jax.numpy as jnp
import ml_collections

from nlx import losses

TASKS = ("multi_label",)


def default_config(name: str = "bce") -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict({"name": name})
  if name == "bootstrap_sigmoid":
    c.beta = 0.95
  elif name == "learnq_sigmoid":
    c.trace_weight = 0.01
    c.init_eps = 1e-3
  return c


def flip_rates(params) -> tuple[jax.Array, jax.Array]:
  """`(rho_plus, rho_minus)` `[C]`: P(noisy 1 | true 0) and P(noisy 0 | true 1)."""
  return jax.nn.sigmoid(params["flip_logits"][0]), jax.nn.sigmoid(params["flip_logits"][1])


def init_state(config, *, dataset, model, rng, **unused):
  del model, rng, unused
  if config.name != "learnq_sigmoid":
    return {}, {}
  eps = config.init_eps
  logit = jnp.log(eps) - jnp.log1p(-eps)
  return {"flip_logits": jnp.full((2, dataset.num_classes), logit, jnp.float32)}, {}


def noisy_probability(logits: jax.Array, rho_plus: jax.Array, rho_minus: jax.Array) -> jax.Array:
  p = jax.nn.sigmoid(logits)
  return p * (1.0 - rho_minus) + (1.0 - p) * rho_plus


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del state, rng, ctx
  y, z = batch["label"], outputs.logits
  if config.name == "bce":
    return losses.sigmoid_binary_cross_entropy(z, y), {}
  if config.name == "bootstrap_sigmoid":
    return losses.sigmoid_bootstrap_soft(z, y, beta=config.beta), {}
  rho_plus, rho_minus = flip_rates(params)
  bce = losses.binary_cross_entropy(noisy_probability(z, rho_plus, rho_minus), y)
  reg = config.trace_weight * jnp.sum((1.0 - rho_plus) + (1.0 - rho_minus))
  return bce + reg, {"metrics": {"data_loss": bce, "reg_loss": reg}}
