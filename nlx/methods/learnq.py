"""LearnQ / S-model (Sukhbaatar et al., ICLR workshop 2015): a learnable linear noise
adaptation layer on top of the softmax.

`p(noisy | x) = softmax(logits) @ Q`, `Q[true, noisy]` row-stochastic, trained jointly
with the network; the classifier's own softmax predicts the clean label. Q is
parameterised as a row-wise softmax of free weights initialised at
`log((1 - eps) I + eps / (C - 1) (1 - I))` with eps = 1e-3, i.e. at the identity up to
eps (an exact identity is a boundary point of the simplex with no gradient to leave
it); the paper instead projects Q onto stochastic matrices after each update. The trace
regulariser `trace_weight * tr(Q)` (added to every example's loss) pushes Q away from
the identity, so that the noise is absorbed by Q rather than by the classifier.
The two terms are logged as `data_loss` and `reg_loss`.
"""

import jax
import jax.numpy as jnp
import ml_collections

from nlx import losses


def default_config(name: str = "learnq") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": name, "trace_weight": 0.01, "init_eps": 1e-3})


def noise_matrix(params) -> jax.Array:
  return jax.nn.softmax(params["q_logits"], axis=-1)


def init_state(config, *, dataset, model, rng, **unused):
  del model, rng, unused
  c = dataset.num_classes
  eye = jnp.eye(c)
  q0 = (1 - config.init_eps) * eye + config.init_eps / (c - 1) * (1 - eye)
  return {"q_logits": jnp.log(q0)}, {}


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del state, rng
  q = noise_matrix(params)
  y = losses.as_distribution(batch["label"], ctx.num_classes)
  data = losses.forward_corrected_cross_entropy(outputs.logits, y, q)
  reg = config.trace_weight * jnp.trace(q)
  return data + reg, {"metrics": {"data_loss": data, "reg_loss": reg}}
