"""ResNet-18/34 (basic blocks) and ResNet-50 (bottleneck blocks; He et al. 2016) with the
CIFAR stem or the ImageNet stem.

Attribute names follow torchvision (`conv1`, `bn1`, `layer1..4`, `fc`, blocks with
`conv1/bn1/conv2/bn2[/conv3/bn3]/downsample`; the bottleneck strides its 3x3 conv, as
torchvision's "v1.5" does), so `nlx.models.pretrained` maps a torchvision state
dict onto it key by key. Padding is explicit, as torchvision's, so outputs match it.
"""

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from nlx.models.outputs import Outputs, grid_pool


def _conv(cin, cout, k, stride, *, dtype, conv_fn, rngs):
  pad = k // 2
  return nnx.Conv(cin, cout, (k, k), strides=stride, padding=((pad, pad), (pad, pad)),
                  use_bias=False, dtype=dtype, conv_general_dilated=conv_fn, rngs=rngs)


def _bn(c, *, dtype, rngs):
  # torchvision: momentum 0.1 for the new batch (0.9 for the running value), eps 1e-5.
  return nnx.BatchNorm(c, momentum=0.9, epsilon=1e-5, dtype=dtype, rngs=rngs)


def _downsample(cin, cout, stride, *, dtype, conv_fn, rngs):
  """torchvision's shortcut (1x1 conv with the block's stride, then BN) where the block
  changes the shape, else None (identity)."""
  if stride == 1 and cin == cout:
    return None
  return nnx.List([_conv(cin, cout, 1, stride, dtype=dtype, conv_fn=conv_fn, rngs=rngs),
                   _bn(cout, dtype=dtype, rngs=rngs)])


def _shortcut(downsample, x, ura: bool):
  if downsample is None:
    return x
  conv, bn = downsample
  return bn(conv(x), use_running_average=ura)


class BasicBlock(nnx.Module):
  """Two 3x3 convs: `[B, H, W, cin] -> [B, H/stride, W/stride, width]`."""
  expansion = 1

  def __init__(self, cin: int, cout: int, stride: int, *, dtype, conv_fn, rngs: nnx.Rngs):
    self.conv1 = _conv(cin, cout, 3, stride, dtype=dtype, conv_fn=conv_fn, rngs=rngs)
    self.bn1 = _bn(cout, dtype=dtype, rngs=rngs)
    self.conv2 = _conv(cout, cout, 3, 1, dtype=dtype, conv_fn=conv_fn, rngs=rngs)
    self.bn2 = _bn(cout, dtype=dtype, rngs=rngs)
    self.downsample = _downsample(cin, cout, stride, dtype=dtype, conv_fn=conv_fn, rngs=rngs)

  def __call__(self, x, train: bool):
    ura = not train
    h = nnx.relu(self.bn1(self.conv1(x), use_running_average=ura))
    h = self.bn2(self.conv2(h), use_running_average=ura)
    return nnx.relu(h + _shortcut(self.downsample, x, ura))


class Bottleneck(nnx.Module):
  """1x1 (cin -> width), 3x3 with the stride (width -> width), 1x1 (width -> 4 width):
  `[B, H, W, cin] -> [B, H/stride, W/stride, 4 width]`."""
  expansion = 4

  def __init__(self, cin: int, width: int, stride: int, *, dtype, conv_fn, rngs: nnx.Rngs):
    cout = width * self.expansion
    self.conv1 = _conv(cin, width, 1, 1, dtype=dtype, conv_fn=conv_fn, rngs=rngs)
    self.bn1 = _bn(width, dtype=dtype, rngs=rngs)
    self.conv2 = _conv(width, width, 3, stride, dtype=dtype, conv_fn=conv_fn, rngs=rngs)
    self.bn2 = _bn(width, dtype=dtype, rngs=rngs)
    self.conv3 = _conv(width, cout, 1, 1, dtype=dtype, conv_fn=conv_fn, rngs=rngs)
    self.bn3 = _bn(cout, dtype=dtype, rngs=rngs)
    self.downsample = _downsample(cin, cout, stride, dtype=dtype, conv_fn=conv_fn, rngs=rngs)

  def __call__(self, x, train: bool):
    ura = not train
    h = nnx.relu(self.bn1(self.conv1(x), use_running_average=ura))
    h = nnx.relu(self.bn2(self.conv2(h), use_running_average=ura))
    h = self.bn3(self.conv3(h), use_running_average=ura)
    return nnx.relu(h + _shortcut(self.downsample, x, ura))


class ResNet(nnx.Module):
  """`x [B, H, W, C_in] -> Outputs(logits [B, C], features [B, D])`, D = 512 with basic
  blocks, 2048 with bottlenecks.

  stem="cifar": 3x3 stride-1 conv, no max-pool (32x32 inputs).
  stem="imagenet": 7x7 stride-2 conv + 3x3 stride-2 max-pool (224x224 inputs).
  """

  def __init__(self, stage_sizes: Sequence[int], in_channels: int, num_classes: int, *,
               stem: str = "cifar", block=BasicBlock, feature_grid: int = 1,
               dtype=jnp.float32, conv_fn=jax.lax.conv_general_dilated, rngs: nnx.Rngs):
    if stem not in ("cifar", "imagenet"):
      raise ValueError(f"stem must be 'cifar' or 'imagenet', got {stem!r}")
    self.stem = stem
    k, s = (3, 1) if stem == "cifar" else (7, 2)
    self.conv1 = _conv(in_channels, 64, k, s, dtype=dtype, conv_fn=conv_fn, rngs=rngs)
    self.bn1 = _bn(64, dtype=dtype, rngs=rngs)
    cin = 64
    for i, n in enumerate(stage_sizes):
      width = 64 * 2 ** i
      blocks = []
      for j in range(n):
        blocks.append(block(cin, width, 2 if (j == 0 and i > 0) else 1, dtype=dtype,
                            conv_fn=conv_fn, rngs=rngs))
        cin = width * block.expansion
      setattr(self, f"layer{i + 1}", nnx.List(blocks))
    self.num_stages = len(stage_sizes)
    self.fc = nnx.Linear(cin, num_classes, dtype=dtype, rngs=rngs)
    self.feature_grid = feature_grid  # features: the last map pooled to grid x grid cells
    self.feature_dim = cin * feature_grid ** 2

  def stem_features(self, x: jax.Array, *, train: bool) -> jax.Array:
    """conv1 -> BN -> ReLU (-> 3x3 stride-2 max-pool, padding 1, for the imagenet stem):
    `[B, H, W, C_in] -> [B, H', W', 64]`, torchvision's `maxpool(relu(bn1(conv1(x))))`."""
    h = nnx.relu(self.bn1(self.conv1(x), use_running_average=not train))
    if self.stem == "imagenet":
      h = nnx.max_pool(h, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))
    return h

  def __call__(self, x: jax.Array, *, train: bool, rngs: nnx.Rngs | None = None) -> Outputs:
    del rngs
    h = self.stem_features(x, train=train)
    for i in range(self.num_stages):
      for block in getattr(self, f"layer{i + 1}"):
        h = block(h, train)
    pooled = h.mean(axis=(1, 2))
    features = pooled if self.feature_grid == 1 else grid_pool(h, self.feature_grid)
    return Outputs(logits=self.fc(pooled).astype(jnp.float32),
                   features=features.astype(jnp.float32))


ResNet18 = functools.partial(ResNet, (2, 2, 2, 2))
ResNet34 = functools.partial(ResNet, (3, 4, 6, 3))
ResNet50 = functools.partial(ResNet, (3, 4, 6, 3), block=Bottleneck)
