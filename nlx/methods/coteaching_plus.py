"""Co-teaching+ (Yu et al., ICML 2019): two networks, disagreement, small-loss exchange.

Both networks live in one train state: network 1 is the trainer's model, network 2 is
this method's params (`params["net2"]`, BatchNorm statistics in `state["net2_state"]`);
one jitted step updates both. Per step, with e = step // steps_per_epoch (0-based):
- forget rate `R(e) = tau * min((e + 1) / (num_gradual - 1), 1)` (tau = `forget_rate`,
  default the training set's noise rate; num_gradual = 10 = the paper's E_k): the
  authors' `rate_schedule = linspace(0, tau, num_gradual)` read at their epoch e + 1
  (their training loop starts at epoch 1), so R reaches tau at e = num_gradual - 2;
- candidates: all examples while `e + 1 < init_epochs` (default 20; plain Co-teaching; the
  authors' `epoch < init_epoch`, with their 1-based epochs), afterwards the examples
  on which the two networks' predictions disagree;
- each network keeps the `floor((1 - R) * |candidates|)` candidates with the smallest
  loss under it (all candidates when that floor is 0, as the authors' code does), and
  its peer is trained on those: mean CE over the kept examples.

Decided against the authors' code (xingruiyu/coteaching_plus, `loss.py` and `main.py`
at 5a935d1), following the paper's Algorithm 1:
- their disagreement phase applies `F.cross_entropy` to softmax *probabilities*
  (softmax twice); nlx uses CE of the logits, in both phases;
- their loss is the batch mean divided again by `num_remember` (a step size that
  shrinks with the number kept); nlx takes the plain mean over the kept examples;
- they drop one disagreeing example whenever dataset index 0 is among them (an
  `index != 0` filter meant to drop the non-disagreeing zeros); nlx keeps every one;
- with an empty disagreement set they train on the whole batch (CE of probabilities)
  while `epoch * batch_index < 5000`, and on nothing after; nlx trains on nothing (the
  paper's update over an empty set), i.e. that step's loss is 0.
Remaining differences: their runs train `n_epoch - 1` epochs (epoch 0 only evaluates),
with Adam and their learning-rate plan; nlx uses the config's optimiser. Evaluation
uses network 1.
"""

import jax
import jax.numpy as jnp
import ml_collections

from nlx import losses


def default_config(name: str = "coteaching_plus") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": name, "forget_rate": -1.0, "num_gradual": 10,
                                    "init_epochs": 20})


def scale_phases(config, epochs: int) -> None:
  """Plain Co-teaching for `epochs` epochs before the disagreement phase."""
  config.init_epochs = epochs


def init_state(config, *, dataset, model, rng, new_model, **unused):
  del model, unused
  net2 = new_model(rng, name="net2")
  tau = config.forget_rate if config.forget_rate >= 0 else dataset.info["noise_rate"]
  return {"net2": net2.params}, {"net2_state": net2.state,
                                 "forget_rate": jnp.asarray(tau, jnp.float32)}


def forget_rate(tau, epoch, num_gradual: int):
  """`R(e)` for the 0-based epoch e: the authors' `linspace(0, tau, num_gradual)[e + 1]`,
  then tau."""
  if num_gradual <= 1:
    return tau * jnp.ones_like(jnp.asarray(epoch, jnp.float32))
  return tau * jnp.minimum((epoch + 1) / (num_gradual - 1), 1.0)


def _ranks(values, candidate):
  """Rank of each value among the candidates (0 = smallest); non-candidates rank last."""
  return jnp.argsort(jnp.argsort(jnp.where(candidate, values, jnp.inf)))


def select_small_loss(loss1, loss2, candidate, keep_fraction):
  """Masks `(for_net1, for_net2)`: the examples each network is trained on, chosen by its
  peer as the `floor(keep_fraction * |candidates|)` smallest-loss candidates (all of
  them when that is 0, as in the authors' `loss_coteaching`)."""
  n_candidates = jnp.sum(candidate)
  n_keep = jnp.floor(keep_fraction * n_candidates).astype(jnp.int32)
  n_keep = jnp.where(n_keep == 0, n_candidates, n_keep).astype(jnp.int32)
  for_net1 = candidate & (_ranks(loss2, candidate) < n_keep)
  for_net2 = candidate & (_ranks(loss1, candidate) < n_keep)
  return for_net1, for_net2, n_keep


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  out2, net2_state = ctx.apply_fns["net2"](params["net2"], state["net2_state"], batch["input"],
                                          train=True, rng=rng)
  y = losses.as_distribution(batch["label"], ctx.num_classes)
  ce1 = losses.softmax_cross_entropy(outputs.logits, y)
  ce2 = losses.softmax_cross_entropy(out2.logits, y)
  epoch = ctx.step // ctx.steps_per_epoch
  forget = forget_rate(state["forget_rate"], epoch, config.num_gradual)
  disagree = jnp.argmax(outputs.logits, -1) != jnp.argmax(out2.logits, -1)
  candidate = jnp.where(epoch + 1 < config.init_epochs, True, disagree)
  for_net1, for_net2, n_keep = select_small_loss(jax.lax.stop_gradient(ce1),
                                                 jax.lax.stop_gradient(ce2), candidate,
                                                 1.0 - forget)
  scale = ce1.shape[0] / jnp.maximum(n_keep, 1)  # the trainer takes the batch mean
  per_example = (for_net1 * ce1 + for_net2 * ce2) * scale
  return per_example, {"net2_state": net2_state}


def update_state(state, batch, aux, *, config):
  del batch, config
  return {**state, "net2_state": aux["net2_state"]}
