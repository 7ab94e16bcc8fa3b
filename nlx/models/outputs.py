"""What every nlx model returns."""

from typing import NamedTuple

import jax

from nlx.errors import ConfigError


class Outputs(NamedTuple):
  logits: jax.Array    # [B, C] float32
  features: jax.Array  # [B, D] float32: the penultimate representation methods use
  # label-embedding outputs only: the output vector [B, d] and the label embeddings [C, d]
  vector: jax.Array | None = None
  label_embeddings: jax.Array | None = None


def grid_pool(fmap: jax.Array, grid: int) -> jax.Array:
  """`[B, H, W, C]` -> `[B, grid * grid * C]`: the map average-pooled to `grid x grid`
  cells, flattened cell by cell in row-major order (row, column, channel). `grid=1` is
  global average pooling. H and W must be multiples of `grid`."""
  b, h, w, c = fmap.shape
  if grid < 1 or h % grid or w % grid:  # known when traced: the map's size is the input's
    raise ConfigError(f"model.feature_grid (data.backbone_grid for a backbone) = {grid} does "
                      f"not divide the {h}x{w} feature map")
  return fmap.reshape(b, grid, h // grid, grid, w // grid, c).mean((2, 4)).reshape(b, -1)
