"""Training a label-embedding output (the multimodal study's embedding classifiers).

The model (`nlx.models.multimodal` with `model.output_dim > 0`) outputs a vector f and
the label embeddings E `[C, d]` (learned, or fixed GloVe vectors of the class names);
its logits are cos(f, E_c), so the prediction is the nearest label embedding by cosine.
Losses (`loss`):
- `cosine`: cosine proximity, 1 - cos(f, E_y);
- `mse`: ||f - E_y||^2 / d;
- `hinge`: sum over c != y of max(0, margin - cos(f, E_y) + cos(f, E_c)) (as DeViSE).
Soft or hard labels: the loss is the label-weighted mean over classes y.
"""

import jax
import jax.numpy as jnp
import ml_collections

from nlx import losses
from nlx.errors import ConfigError

LOSSES = ("cosine", "mse", "hinge")
# the outputs are similarities to the label embeddings, not a class softmax
CLASS_PROBABILITIES = False


def default_config(name: str = "label_embedding") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({"name": name, "loss": "cosine", "margin": 0.1})


def init_state(config, *, dataset, model, rng, **unused):
  del dataset, model, rng, unused
  if config.loss not in LOSSES:
    raise ConfigError(f"method.loss must be one of {LOSSES}, got {config.loss!r}")
  return {}, {}


def per_class_loss(outputs, config) -> jax.Array:
  """`[B, C]`: the loss if class c were the label."""
  if outputs.vector is None:
    raise ConfigError("method label_embedding needs a label-embedding output "
                      "(model.name=multimodal with model.output_dim > 0)")
  cos = outputs.logits
  if config.loss == "cosine":
    return 1.0 - cos
  if config.loss == "mse":
    diff = outputs.vector[:, None, :] - outputs.label_embeddings[None, :, :]
    return jnp.mean(jnp.square(diff), axis=-1)
  c = cos.shape[-1]
  margins = jax.nn.relu(config.margin - cos[:, :, None] + cos[:, None, :])  # [B, y, c]
  return jnp.sum(margins * (1.0 - jnp.eye(c))[None], axis=-1)


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del params, state, rng
  y = losses.as_distribution(batch["label"], ctx.num_classes)
  return jnp.sum(y * per_class_loss(outputs, config), axis=-1), {}
