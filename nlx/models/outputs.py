"""What every nlx model returns."""

from typing import NamedTuple

import jax


class Outputs(NamedTuple):
  logits: jax.Array    # [B, C] float32
  features: jax.Array  # [B, D] float32: the penultimate representation methods use
  # label-embedding outputs only: the output vector [B, d] and the label embeddings [C, d]
  vector: jax.Array | None = None
  label_embeddings: jax.Array | None = None
