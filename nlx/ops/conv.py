"""A 3x3 convolution whose kernel gradient is computed in cache-sized chunks (CPU).

XLA's CPU backend computes the gradient of a 3x3 convolution with respect to its
kernel as a convolution with a huge window (the whole feature map) and a 3x3 output;
on a 2-core CPU that takes two to three times as long as the forward pass, for the same
arithmetic (experiments/bench_xla_cpu.py). The same gradient is a matrix product,

  dW[i, j, c, d] = sum_{n, h, w} x_pad[n, h + i, w + j, c] * g[n, h, w, d],

i.e. `patches^T @ g` with `patches [N*H*W, 9*C]` (im2col). Materialising all patches at
once costs more than it saves (9x the input through memory), so `conv3x3` loops over
chunks of the batch sized so that one chunk's patches (about 4.5 MiB) stay in cache,
and accumulates `g_chunk^T @ patches_chunk`. The forward pass and the input gradient
stay XLA's convolutions.

On the smallest maps (at most `SMALL_MAP` pixels: the 2 x 2 map of the small CNN's last
block on 8 x 8 digits) XLA's CPU convolution is slow in both directions: 23.7 ms against
2.9 ms for a product of the patches at [256, 2, 2, 64] -> 128 channels, forward, and
24.3 ms against 5.5 ms for the kernel gradient (experiments/bench_small_maps.py, 2-core
CPU, 2026-12-03; at 4 x 4 the patches won by 1.1-2.2x over three runs, a candidate for a
higher threshold; from 16 x 16 up XLA's forward wins: experiments/bench_xla_cpu.py). There
the whole convolution is `conv3x3_patches`: im2col and one matrix product, differentiated
by JAX.

`conv_general_dilated` has `jax.lax.conv_general_dilated`'s signature, for
`nnx.Conv(conv_general_dilated=...)`: it takes these paths only where they are known
to win (a float32 3x3 stride-1 "same" NHWC/HWIO convolution on a CPU backend; the
chunked one with a single device, so that no partitioner splits the batch the loop
walks through) and is `jax.lax.conv_general_dilated` everywhere else (GPU: cuDNN's
kernels).
"""

import functools

import jax
import jax.numpy as jnp

_CHUNK_BYTES = 9 * 2 ** 19  # one chunk's patches: 4.5 MiB
SMALL_MAP = 4  # maps of at most this many pixels: the product of the patches (module doc)
_NHWC = ("NHWC", "HWIO", "NHWC")


def _lax_conv(x, w):
  return jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_NHWC)


def chunk_size(n: int, h: int, w: int, c: int) -> int:
  """Examples per chunk: the largest divisor of `n` whose patches fit `_CHUNK_BYTES`."""
  target = max(1, _CHUNK_BYTES // (h * w * 9 * c * 4))
  return max(d for d in range(1, min(n, target) + 1) if n % d == 0)


def kernel_grad(x: jax.Array, g: jax.Array, chunk: int | None = None) -> jax.Array:
  """`dL/dW [3, 3, C, D]` of a 3x3 stride-1 "same" convolution with input `x [N, H, W, C]`
  and output gradient `g [N, H, W, D]`, summed over chunks of `chunk` examples (a divisor
  of N; default `chunk_size(N, H, W, C)`)."""
  n, h, w, c = x.shape
  d = g.shape[-1]
  cs = chunk or chunk_size(n, h, w, c)
  if n % cs:
    raise ValueError(f"chunk={cs} does not divide the batch of {n}")
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))

  def body(k, acc):
    xs = jax.lax.dynamic_slice_in_dim(xp, k * cs, cs, axis=0)
    gs = jax.lax.dynamic_slice_in_dim(g, k * cs, cs, axis=0).reshape(cs * h * w, d)
    patches = jnp.concatenate([xs[:, i:i + h, j:j + w, :] for i in range(3) for j in range(3)],
                              axis=-1).reshape(cs * h * w, 9 * c)
    return acc + gs.T @ patches  # [D, 9C]: this orientation is the faster product here

  acc = jax.lax.fori_loop(0, n // cs, body, jnp.zeros((d, 9 * c), jnp.float32))
  return acc.T.reshape(3, 3, c, d).astype(x.dtype)


def conv3x3_patches(x: jax.Array, w: jax.Array) -> jax.Array:
  """3x3 stride-1 "same" convolution as one matrix product: the zero-padded input's nine
  shifted copies side by side (`[N*H*W, 9*C]`, im2col) times the kernel as `[9*C, D]`.
  `x [N, H, W, C], w [3, 3, C, D] -> [N, H, W, D]`; XLA's values up to float32 round-off."""
  n, h, wd, c = x.shape
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  patches = jnp.concatenate([xp[:, i:i + h, j:j + wd, :] for i in range(3) for j in range(3)],
                            axis=-1)
  return (patches.reshape(n * h * wd, 9 * c) @ w.reshape(9 * c, -1)).reshape(n, h, wd, -1)


@jax.custom_vjp
def conv3x3(x: jax.Array, w: jax.Array) -> jax.Array:
  """3x3 stride-1 convolution, zero padding 1: `x [N, H, W, C], w [3, 3, C, D] -> [N, H, W, D]`.
  Same values as XLA's; the kernel gradient comes from `kernel_grad`."""
  return _lax_conv(x, w)


def _conv3x3_fwd(x, w):
  return _lax_conv(x, w), (x, w)


def _conv3x3_bwd(res, g):
  x, w = res
  # the convolution is linear in x: its transpose alone (jax.vjp would trace the forward
  # convolution again and leave it to XLA to drop)
  dx, = jax.linear_transpose(lambda x_: _lax_conv(x_, w), x)(g)
  return dx, kernel_grad(x, g)


conv3x3.defvjp(_conv3x3_fwd, _conv3x3_bwd)


def _is_same_3x3(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                 dimension_numbers, feature_group_count, kwargs) -> bool:
  if lhs.ndim != 4 or rhs.shape[:2] != (3, 3) or feature_group_count != 1:
    return False
  if lhs.dtype != jnp.float32 or rhs.dtype != jnp.float32:
    return False
  if tuple(window_strides) != (1, 1) or any(v is not None for v in kwargs.values()):
    return False
  if any(dil is not None and tuple(dil) != (1, 1) for dil in (lhs_dilation, rhs_dilation)):
    return False
  if padding != "SAME" and [tuple(p) for p in padding] != [(1, 1), (1, 1)]:
    return False
  nhwc = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
  return jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) == nhwc


@functools.cache
def _single_cpu_device() -> bool:
  return jax.default_backend() == "cpu" and jax.device_count() == 1


@functools.cache
def _cpu() -> bool:
  return jax.default_backend() == "cpu"


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         precision=None, **kwargs):
  """`jax.lax.conv_general_dilated`, taking `conv3x3_patches` or `conv3x3` where that is
  faster (module doc)."""
  if _cpu() and _is_same_3x3(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                             dimension_numbers, feature_group_count, kwargs):
    if lhs.shape[1] * lhs.shape[2] <= SMALL_MAP:
      return conv3x3_patches(lhs, rhs)
    if _single_cpu_device():
      return conv3x3(lhs, rhs)
  return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                      rhs_dilation, dimension_numbers, feature_group_count,
                                      precision=precision, **kwargs)
