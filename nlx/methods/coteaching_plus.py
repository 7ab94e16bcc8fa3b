"""Co-teaching+ (Yu et al., ICML 2019): two networks, disagreement, small-loss exchange.

Both networks live in one train state: network 1 is the trainer's model, network 2 is
this method's params (`params["net2"]`, BatchNorm statistics in `state["net2_state"]`);
one jitted step updates both. Per step, with epoch e = step // steps_per_epoch:
- forget rate `R(e) = tau * min(e / num_gradual, 1)`, tau = `forget_rate` (default: the
  training set's noise rate), num_gradual = 10 (the paper's linear ramp);
- candidates: all examples while `e < init_epochs` (plain Co-teaching), afterwards the
  examples on which the two networks' predictions disagree;
- each network keeps the `floor((1 - R) * |candidates|)` candidates with the smallest
  loss under it, and its peer is trained on those (mean CE over the kept examples).
Differences from the authors' code, which we do not copy: their ramp is
`linspace(0, tau, num_gradual)` (reaching tau one epoch early); when the disagreement
set is empty their code falls back to other examples, here the step then has zero loss
(the paper's algorithm updates on the empty set). Evaluation uses network 1.
"""

import jax
import jax.numpy as jnp
import ml_collections

from nlx import losses


def default_config(name: str = "coteaching_plus") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": name, "forget_rate": -1.0, "num_gradual": 10,
                                    "init_epochs": 20})


def init_state(config, *, dataset, model, rng, new_model, **unused):
  del model, unused
  net2 = new_model(rng)
  tau = config.forget_rate if config.forget_rate >= 0 else dataset.info["noise_rate"]
  return {"net2": net2.params}, {"net2_state": net2.state,
                                 "forget_rate": jnp.asarray(tau, jnp.float32)}


def _ranks(values, candidate):
  """Rank of each value among the candidates (0 = smallest); non-candidates rank last."""
  return jnp.argsort(jnp.argsort(jnp.where(candidate, values, jnp.inf)))


def select_small_loss(loss1, loss2, candidate, keep_fraction):
  """Masks `(for_net1, for_net2)`: the examples each network is trained on, chosen by its
  peer as the `floor(keep_fraction * |candidates|)` smallest-loss candidates."""
  n_keep = jnp.floor(keep_fraction * jnp.sum(candidate)).astype(jnp.int32)
  for_net1 = candidate & (_ranks(loss2, candidate) < n_keep)
  for_net2 = candidate & (_ranks(loss1, candidate) < n_keep)
  return for_net1, for_net2, n_keep


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  out2, net2_state = ctx.apply_fn(params["net2"], state["net2_state"], batch["input"],
                                  train=True, rng=rng)
  y = losses.as_distribution(batch["label"], ctx.num_classes)
  ce1 = losses.softmax_cross_entropy(outputs.logits, y)
  ce2 = losses.softmax_cross_entropy(out2.logits, y)
  epoch = ctx.step // ctx.steps_per_epoch
  forget = state["forget_rate"] * jnp.minimum(epoch / config.num_gradual, 1.0)
  disagree = jnp.argmax(outputs.logits, -1) != jnp.argmax(out2.logits, -1)
  candidate = jnp.where(epoch < config.init_epochs, True, disagree)
  for_net1, for_net2, n_keep = select_small_loss(jax.lax.stop_gradient(ce1),
                                                 jax.lax.stop_gradient(ce2), candidate,
                                                 1.0 - forget)
  scale = ce1.shape[0] / jnp.maximum(n_keep, 1)  # the trainer takes the batch mean
  per_example = (for_net1 * ce1 + for_net2 * ce2) * scale
  return per_example, {"net2_state": net2_state}


def update_state(state, batch, aux, *, config):
  del batch, config
  return {**state, "net2_state": aux["net2_state"]}
