"""A small CNN: three conv-BN-ReLU-maxpool blocks, global average pooling, linear head."""

import itertools

import jax
import jax.numpy as jnp
from flax import nnx

from nlx.models.outputs import Outputs, grid_pool


def max_pool_2x2(h: jax.Array) -> jax.Array:
  """2x2 stride-2 max-pool ("VALID": an odd last row/column is dropped), `[B, H, W, C] ->
  [B, H // 2, W // 2, C]`: the values and the gradient of
  `nnx.max_pool(h, (2, 2), strides=(2, 2))`, ties included (the gradient goes to the first
  maximum in row-major window order). Written as a reshape and a one-hot mask of the
  window's argmax, so that its gradient is elementwise: XLA's CPU select-and-scatter for
  max-pool's gradient costs a quarter of the small CNN's step."""
  b, hh, ww, c = h.shape
  h = h[:, :hh // 2 * 2, :ww // 2 * 2].reshape(b, hh // 2, 2, ww // 2, 2, c)
  windows = h.transpose(0, 1, 3, 5, 2, 4).reshape(b, hh // 2, ww // 2, c, 4)
  first_max = jax.nn.one_hot(jnp.argmax(jax.lax.stop_gradient(windows), axis=-1), 4,
                             dtype=h.dtype)
  return jnp.sum(windows * first_max, axis=-1)


class SmallCNN(nnx.Module):
  """`x [B, H, W, C_in] -> Outputs(logits [B, C], features [B, grid^2 * 4 * width])`.

  The head reads the globally pooled map; `features` is the map average-pooled to
  `feature_grid x feature_grid` cells (`grid_pool`; 1, the default: the same global pool).
  """

  def __init__(self, in_channels: int, num_classes: int, *, width: int = 32,
               dropout: float = 0.0, feature_grid: int = 1, dtype=jnp.float32,
               conv_fn=jax.lax.conv_general_dilated, rngs: nnx.Rngs):
    chans = (in_channels, width, 2 * width, 4 * width)
    self.convs = nnx.List([nnx.Conv(a, b, (3, 3), padding=1, use_bias=False, dtype=dtype,
                                    conv_general_dilated=conv_fn, rngs=rngs)
                           for a, b in itertools.pairwise(chans)])
    self.norms = nnx.List([nnx.BatchNorm(b, momentum=0.9, dtype=dtype, rngs=rngs)
                           for b in chans[1:]])
    self.dropout = nnx.Dropout(dropout)
    self.head = nnx.Linear(chans[-1], num_classes, dtype=dtype, rngs=rngs)
    self.feature_grid = feature_grid
    self.feature_dim = chans[-1] * feature_grid ** 2

  def feature_map(self, x: jax.Array, *, train: bool) -> jax.Array:
    """The last block's output `[B, H / 8, W / 8, 4 * width]` (before global pooling)."""
    h = x
    for conv, norm in zip(self.convs, self.norms):
      h = nnx.relu(norm(conv(h), use_running_average=not train))
      if min(h.shape[1:3]) >= 2:  # pool while the map is at least 2x2 (8x8 digits: 8->4->2->1)
        h = max_pool_2x2(h)
    return h

  def __call__(self, x: jax.Array, *, train: bool, rngs: nnx.Rngs | None = None) -> Outputs:
    fmap = self.feature_map(x, train=train)
    pooled = fmap.mean(axis=(1, 2))
    h = self.dropout(pooled, deterministic=not train, rngs=rngs)
    features = pooled if self.feature_grid == 1 else grid_pool(fmap, self.feature_grid)
    return Outputs(logits=self.head(h).astype(jnp.float32), features=features.astype(jnp.float32))



class Cifar10Quick(nnx.Module):
  """Caffe's "CIFAR10-quick" network, the one Xiao et al. (2015) check their model with:
  conv 5x5 32 -> max-pool 3/2 -> ReLU, conv 5x5 32 -> ReLU -> avg-pool 3/2, conv 5x5 64
  -> ReLU -> avg-pool 3/2, fc 64, fc C; no batch norm, no dropout. Caffe rounds pooled
  sizes up (32 -> 16 -> 8 -> 4), which "SAME" pooling reproduces. `features` = fc-64.
  `x [B, H, W, C_in] -> Outputs(logits [B, C], features [B, 64])`.
  """

  def __init__(self, input_shape, num_classes: int, *, dtype=jnp.float32,
               conv_fn=jax.lax.conv_general_dilated, rngs: nnx.Rngs):
    h, w, cin = input_shape
    chans = (cin, 32, 32, 64)
    self.convs = nnx.List([nnx.Conv(a, b, (5, 5), padding=2, dtype=dtype,
                                    conv_general_dilated=conv_fn, rngs=rngs)
                           for a, b in itertools.pairwise(chans)])
    flat = (-(-h // 8)) * (-(-w // 8)) * chans[-1]
    self.fc = nnx.Linear(flat, 64, dtype=dtype, rngs=rngs)
    self.head = nnx.Linear(64, num_classes, dtype=dtype, rngs=rngs)
    self.feature_dim = 64

  def __call__(self, x: jax.Array, *, train: bool, rngs: nnx.Rngs | None = None) -> Outputs:
    del train, rngs
    pool = {"window_shape": (3, 3), "strides": (2, 2), "padding": "SAME"}
    h = nnx.relu(nnx.max_pool(self.convs[0](x), **pool))
    h = nnx.avg_pool(nnx.relu(self.convs[1](h)), **pool, count_include_pad=False)
    h = nnx.avg_pool(nnx.relu(self.convs[2](h)), **pool, count_include_pad=False)
    features = self.fc(h.reshape(h.shape[0], -1))
    return Outputs(logits=self.head(features).astype(jnp.float32),
                   features=features.astype(jnp.float32))
