"""Multi-layer perceptron on flattened inputs (images or precomputed features)."""

import itertools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from nlx.models.outputs import Outputs


class MLP(nnx.Module):
  """`x [B, ...] -> Outputs(logits [B, C], features [B, hidden[-1]])`, ReLU hidden layers."""

  def __init__(self, in_features: int, hidden: Sequence[int], num_classes: int, *,
               dropout: float = 0.0, dtype=jnp.float32, rngs: nnx.Rngs):
    sizes = (in_features, *hidden)
    self.layers = nnx.List([nnx.Linear(a, b, dtype=dtype, rngs=rngs)
                            for a, b in itertools.pairwise(sizes)])
    self.dropout = nnx.Dropout(dropout)
    self.head = nnx.Linear(sizes[-1], num_classes, dtype=dtype, rngs=rngs)
    self.feature_dim = sizes[-1]

  def __call__(self, x: jax.Array, *, train: bool, rngs: nnx.Rngs | None = None) -> Outputs:
    h = x.reshape(x.shape[0], -1)
    for layer in self.layers:
      h = nnx.relu(layer(h))
    features = h
    h = self.dropout(h, deterministic=not train, rngs=rngs)
    return Outputs(logits=self.head(h).astype(jnp.float32), features=features.astype(jnp.float32))
