"""Forward loss correction (Patrini et al., CVPR 2017).

Loss: CE of the noisy label under `softmax(logits) @ T` (`T[true, noisy]`).
`config.method.transition`:
- "estimate" (the paper): T starts as the identity (so the first
  `estimate_after_epochs` epochs are plain CE), then is estimated once from the model's
  predictions on the training set with the anchor-point estimator
  (`nlx.ops.transition.estimate_from_anchors`, 97th percentile) and kept fixed.
  `anchor`: "percentile" (default, the paper's reading: the example at the 97th
  percentile) or "below_percentile" (the authors' code: the largest value strictly
  below it; see the estimator).
- "oracle": T is the realised transition of the training labels, computed from the
  clean labels: an upper bound that needs information a real user lacks.
Remaining difference from the authors' code (giorgiop/loss-correction `experiment.py`):
they estimate T from a separately trained CE model (its best validation-loss
checkpoint) and train a fresh network with the corrected loss; nlx estimates from the
same network after its CE warm-up and keeps training it. Their loss also clips p to
[1e-7, 1 - 1e-7] (see `nlx.losses.forward_corrected_cross_entropy`).
Defaults (`default_config`): transition "estimate", estimate_after_epochs = 5,
percentile = 97.0, anchor "percentile".
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from nlx import losses
from nlx.data.noise import realized_transition
from nlx.errors import ConfigError
from nlx.ops.transition import ANCHORS, estimate_from_anchors


def default_config(name: str = "forward") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": name, "transition": "estimate",
                                    "estimate_after_epochs": 5, "percentile": 97.0,
                                    "anchor": "percentile"})


def scale_phases(config, epochs: int) -> None:
  """T is estimated after `epochs` epochs of plain CE."""
  config.estimate_after_epochs = epochs


def init_state(config, *, dataset, model, rng, **unused):
  del model, rng, unused
  c = dataset.num_classes
  if config.transition == "oracle":
    t = realized_transition(dataset.train.clean_labels, dataset.train.hard_labels(), c)
  elif config.transition == "estimate":
    t = np.eye(c)
  else:
    raise ConfigError(f"method.transition must be 'estimate' or 'oracle', "
                      f"got {config.transition!r}")
  if config.anchor not in ANCHORS:
    raise ConfigError(f"method.anchor must be one of {ANCHORS}, got {config.anchor!r}")
  return {}, {"transition": jnp.asarray(t, jnp.float32)}


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del params, rng, config
  labels = losses.as_distribution(batch["label"], ctx.num_classes)
  return losses.forward_corrected_cross_entropy(outputs.logits, labels, state["transition"]), {}


def end_of_epoch(ctx, state, epoch, *, config):
  if config.transition != "estimate" or epoch != config.estimate_after_epochs:
    return state
  probs = jax.nn.softmax(ctx.predict_outputs(state, ctx.dataset.train)[0], axis=-1)
  t = estimate_from_anchors(np.asarray(probs), config.percentile, config.anchor)
  new = {**state.method_state, "transition": ctx.replicate(jnp.asarray(t, jnp.float32))}
  return state.replace(method_state=new)
