"""What every nlx model returns."""

from typing import NamedTuple

import jax


class Outputs(NamedTuple):
  logits: jax.Array    # [B, C] float32
  features: jax.Array  # [B, D] float32: the penultimate representation methods use
