"""Stride-1 "same" convolutions whose gradients XLA's CPU backend computes slowly.

XLA's CPU backend computes the gradient of a k x k convolution with respect to its
kernel as a convolution with a huge window (the whole feature map) and a k x k output;
on a 2-core CPU that takes two to three times as long as the forward pass, for the same
arithmetic (experiments/bench_xla_cpu.py), and inside a `lax.scan` (nlx's compiled
chunks of steps) 16 to 55 times as long as in a program of its own: at [128, 16, 16, 32]
-> 64, 3 x 3, 6.6 s a step against 50 ms for the product below; the gradient with
respect to the input, XLA's transposed convolution, 1.5 to 13 times
(experiments/bench_conv_scan.py, 2-core CPU, 2026-12-05; experiments/results/bench_run.md,
invocation 12).
The kernel gradient is a matrix product,

  dW[i, j, c, d] = sum_{n, h, w} x_pad[n, h + i, w + j, c] * g[n, h, w, d],

i.e. `patches^T @ g` with `patches [N*H*W, k*k*C]` (im2col). Materialising all patches at
once costs more than it saves (k*k times the input through memory), so `kernel_grad`
loops over chunks of the batch sized so that one chunk's patches (about 4.5 MiB) stay in
cache, and accumulates `g_chunk^T @ patches_chunk` (with several devices, whose
partitioner would gather the batch the loop walks through, one product over each
device's whole share). The input gradient is the forward convolution of `g` with the
kernel flipped in space and its in/out channels swapped (what XLA's transpose computes,
written as a forward convolution, which XLA runs at its forward speed in a scan too).

On the smallest maps (at most `SMALL_MAP` pixels: the 2 x 2 map of the small CNN's last
block on 8 x 8 digits) XLA's CPU convolution is slow in both directions: 23.7 ms against
2.9 ms for a product of the patches at [256, 2, 2, 64] -> 128 channels, forward, and
24.3 ms against 5.5 ms for the kernel gradient (experiments/bench_small_maps.py, 2-core
CPU, 2026-12-03, 3 x 3; at 4 x 4 the patches won by 1.1-2.2x over three runs, a
candidate for a higher threshold; from 16 x 16 up XLA's forward wins:
experiments/bench_xla_cpu.py). There a 3 x 3 convolution is `conv_patches`: im2col and
one matrix product, differentiated by JAX.

`conv_general_dilated` has `jax.lax.conv_general_dilated`'s signature, for
`nnx.Conv(conv_general_dilated=...)`: it takes these paths only where they apply (a
float32 stride-1 "same" NHWC/HWIO convolution with an odd square kernel on a CPU
backend) and is `jax.lax.conv_general_dilated` everywhere else (GPU: cuDNN's kernels).
"""

import functools

import jax
import jax.numpy as jnp

_CHUNK_BYTES = 9 * 2 ** 19  # one chunk's patches: 4.5 MiB
SMALL_MAP = 4  # maps of at most this many pixels: the product of the patches (module doc)
_NHWC = ("NHWC", "HWIO", "NHWC")


def _lax_conv(x, w):
  """XLA's stride-1 "same" convolution, `w [k, k, C, D]` with k odd."""
  p = w.shape[0] // 2
  return jax.lax.conv_general_dilated(x, w, (1, 1), ((p, p), (p, p)), dimension_numbers=_NHWC)


def chunk_size(n: int, h: int, w: int, c: int, size: int = 3) -> int:
  """Examples per chunk: the largest divisor of `n` whose patches (`size x size` taps of
  `c` channels at `h x w` positions, float32) fit `_CHUNK_BYTES`."""
  target = max(1, _CHUNK_BYTES // (h * w * size * size * c * 4))
  return max(d for d in range(1, min(n, target) + 1) if n % d == 0)


def _patches(x_pad: jax.Array, h: int, w: int, size: int) -> jax.Array:
  """`[N, H, W, size*size*C]` from the zero-padded input: tap (i, j) at channels
  `(i*size + j)*C` to `(i*size + j + 1)*C` (the row-major order of the kernel's [i, j])."""
  return jnp.concatenate([x_pad[:, i:i + h, j:j + w, :] for i in range(size)
                          for j in range(size)], axis=-1)


def kernel_grad(x: jax.Array, g: jax.Array, chunk: int | None = None,
                size: int = 3) -> jax.Array:
  """`dL/dW [size, size, C, D]` of a stride-1 "same" convolution (`size` odd, zero padding
  `size // 2`) with input `x [N, H, W, C]` and output gradient `g [N, H, W, D]`, summed
  over chunks of `chunk` examples (a divisor of N; default `chunk_size(N, H, W, C, size)`;
  N: one product, no loop)."""
  n, h, w, c = x.shape
  d = g.shape[-1]
  if size < 1 or size % 2 == 0:
    raise ValueError(f"size={size}: a 'same' kernel gradient needs an odd kernel size")
  cs = chunk or chunk_size(n, h, w, c, size)
  if n % cs:
    raise ValueError(f"chunk={cs} does not divide the batch of {n}")
  p = size // 2
  xp = jnp.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))

  def product(xs, gs):  # [D, size*size*C]: this orientation is the faster product here
    m = xs.shape[0] * h * w
    return gs.reshape(m, d).T @ _patches(xs, h, w, size).reshape(m, size * size * c)

  if cs == n:
    acc = product(xp, g)
  else:
    acc = jax.lax.fori_loop(0, n // cs, lambda k, acc: acc + product(
        jax.lax.dynamic_slice_in_dim(xp, k * cs, cs, axis=0),
        jax.lax.dynamic_slice_in_dim(g, k * cs, cs, axis=0)),
        jnp.zeros((d, size * size * c), jnp.float32))
  return acc.T.reshape(size, size, c, d).astype(x.dtype)


def input_grad(g: jax.Array, w: jax.Array) -> jax.Array:
  """`dL/dx [N, H, W, C]` of a stride-1 "same" convolution with kernel `w [k, k, C, D]`
  (k odd) and output gradient `g [N, H, W, D]`: the forward convolution of `g` with `w`
  flipped in space and its channels swapped, `[k, k, D, C]` (module doc)."""
  return _lax_conv(g, jnp.flip(w, (0, 1)).swapaxes(2, 3))


def conv_patches(x: jax.Array, w: jax.Array) -> jax.Array:
  """Stride-1 "same" convolution as one matrix product: the zero-padded input's k*k
  shifted copies side by side (`[N*H*W, k*k*C]`, im2col) times the kernel as
  `[k*k*C, D]`. `x [N, H, W, C], w [k, k, C, D] -> [N, H, W, D]`; XLA's values up to
  float32 round-off."""
  n, h, wd, c = x.shape
  k = w.shape[0]
  xp = jnp.pad(x, ((0, 0), (k // 2, k // 2), (k // 2, k // 2), (0, 0)))
  return (_patches(xp, h, wd, k).reshape(n * h * wd, k * k * c)
          @ w.reshape(k * k * c, -1)).reshape(n, h, wd, -1)


@jax.custom_vjp
def conv_same(x: jax.Array, w: jax.Array) -> jax.Array:
  """Stride-1 convolution with an odd square kernel, zero padding k // 2 ("same"):
  `x [N, H, W, C], w [k, k, C, D] -> [N, H, W, D]`. XLA's values; the gradients come from
  `input_grad` and `kernel_grad` (chunked on a single device; one product per device's
  share of the batch with several)."""
  return _lax_conv(x, w)


def _conv_same_fwd(x, w):
  return _lax_conv(x, w), (x, w)


def _conv_same_bwd(res, g):
  x, w = res
  chunk = None if _single_cpu_device() else x.shape[0]
  return input_grad(g, w), kernel_grad(x, g, chunk, w.shape[0])


conv_same.defvjp(_conv_same_fwd, _conv_same_bwd)


def _is_same(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
             dimension_numbers, feature_group_count, kwargs) -> bool:
  """Whether `conv_general_dilated`'s arguments are `conv_same`'s convolution: float32,
  NHWC/HWIO, an odd square kernel, stride 1, no dilation, zero padding k // 2 each side,
  one group."""
  k = rhs.shape[0] if rhs.ndim == 4 else 0
  if lhs.ndim != 4 or rhs.shape[:2] != (k, k) or k % 2 == 0 or feature_group_count != 1:
    return False
  if lhs.dtype != jnp.float32 or rhs.dtype != jnp.float32:
    return False
  if tuple(window_strides) != (1, 1) or any(v is not None for v in kwargs.values()):
    return False
  if any(dil is not None and tuple(dil) != (1, 1) for dil in (lhs_dilation, rhs_dilation)):
    return False
  if padding != "SAME" and not (padding == "VALID" and k == 1) and (
      isinstance(padding, str) or [tuple(p) for p in padding] != [(k // 2, k // 2)] * 2):
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
  """`jax.lax.conv_general_dilated`, taking `conv_patches` or `conv_same` where they
  apply (module doc)."""
  if _cpu() and _is_same(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                         dimension_numbers, feature_group_count, kwargs):
    if rhs.shape[0] == 3 and lhs.shape[1] * lhs.shape[2] <= SMALL_MAP:
      return conv_patches(lhs, rhs)
    return conv_same(lhs, rhs)
  return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                      rhs_dilation, dimension_numbers, feature_group_count,
                                      precision=precision, **kwargs)
