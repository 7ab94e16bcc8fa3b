"""Convolutions whose gradients XLA's CPU backend computes slowly, as matrix products.

XLA's CPU backend computes the gradient of a k x k convolution with respect to its
kernel as a convolution with a huge window (the whole feature map) and a k x k output;
on a 2-core CPU that takes two to three times as long as the forward pass, for the same
arithmetic (experiments/bench_xla_cpu.py), and inside a `lax.scan` (nlx's compiled
chunks of steps) 3 to 76 times as long as in a program of its own: at [128, 16, 16, 32]
-> 64, 3 x 3, 6.2 s a step against 42 ms for the product below; the gradient with
respect to the input, XLA's transposed convolution, up to 11 times
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

Strided convolutions (ResNet's downsampling, 3 x 3 and 1 x 1 at stride 2) fare worse:
their kernel gradient took 49-51 s a step in a scan at ResNet-18's CIFAR shapes (batch
128), 0.12-0.15 s as strided patches times the output gradient. Their input gradient is
`g @ W^T` spread back over each output position's taps (col2im), as fast as XLA's alone.

XLA's CPU backend (jaxlib 0.10) hands dots, reductions and most convolutions to YNNPACK
by default (its `xla_cpu_experimental_ynn_fusion_type`); at nlx's shapes XLA's own
convolutions are faster, inside a compiled chunk of steps most of all: the small CNN's
step at batch 128 on 32 x 32 inputs 44-52 ms against 65 ms, ResNet-18's 1.47-1.72 s
against 2.08 s (2-core AVX-512 CPU, 2026-12-06; experiments/results/bench_run.md,
invocation 14). The choices below (`SMALL_MAP`, the chunked kernel gradient) were measured
against YNNPACK's convolutions; with XLA's own, its kernel gradient alone is as fast as
the chunked one, but inside a chunk still far slower (the quickstart 25-28 s against
8-10 s with `model.conv=xla`). So
the programs that run a model with `model.conv=auto` are compiled with
`compiler_options(conv)`: YNNPACK keeps the dots and reductions, not the convolutions.

`conv_general_dilated` has `jax.lax.conv_general_dilated`'s signature, for
`nnx.Conv(conv_general_dilated=...)`: it takes these paths only where they apply (a
float32 NHWC/HWIO convolution with a square kernel, one stride and one zero padding for
both spatial dimensions, no dilation, one group, on a CPU backend) and is
`jax.lax.conv_general_dilated` everywhere else (GPU: cuDNN's kernels).
"""

import functools
import re

import jax
import jax.numpy as jnp
from absl import logging

_CHUNK_BYTES = 9 * 2 ** 19  # one chunk's patches: 4.5 MiB
SMALL_MAP = 4  # maps of at most this many pixels: the product of the patches (module doc)
_NHWC = ("NHWC", "HWIO", "NHWC")


def _pads(size: int, padding) -> tuple[int, int]:
  """`padding` (low, high) of both spatial dimensions; None: "same" for an odd `size`."""
  if padding is not None:
    return tuple(padding)
  if size < 1 or size % 2 == 0:
    raise ValueError(f"size={size}: a 'same' convolution needs an odd kernel size")
  return size // 2, size // 2


def _lax_conv(x, w, stride: int = 1, padding=None):
  """XLA's convolution: `w [k, k, C, D]`, `stride` and zero `padding` (low, high) in both
  spatial dimensions (None: "same" for an odd k)."""
  p = _pads(w.shape[0], padding)
  return jax.lax.conv_general_dilated(x, w, (stride, stride), (p, p), dimension_numbers=_NHWC)


def chunk_size(n: int, h: int, w: int, c: int, size: int = 3) -> int:
  """Examples per chunk: the largest divisor of `n` whose patches (`size x size` taps of
  `c` channels at `h x w` output positions, float32) fit `_CHUNK_BYTES`."""
  target = max(1, _CHUNK_BYTES // (h * w * size * size * c * 4))
  return max(d for d in range(1, min(n, target) + 1) if n % d == 0)


def _patches(x_pad: jax.Array, h: int, w: int, size: int, stride: int = 1) -> jax.Array:
  """`[N, h, w, size*size*C]` from the zero-padded input, for `h x w` output positions:
  tap (i, j) at channels `(i*size + j)*C` to `(i*size + j + 1)*C` (the row-major order of
  the kernel's [i, j])."""
  span_h, span_w = stride * (h - 1) + 1, stride * (w - 1) + 1
  return jnp.concatenate([x_pad[:, i:i + span_h:stride, j:j + span_w:stride, :]
                          for i in range(size) for j in range(size)], axis=-1)


def kernel_grad(x: jax.Array, g: jax.Array, chunk: int | None = None, size: int = 3,
                stride: int = 1, padding=None) -> jax.Array:
  """`dL/dW [size, size, C, D]` of the convolution with input `x [N, H, W, C]`, `stride`
  and zero `padding` (low, high) in both spatial dimensions (None: "same", `size` odd),
  from its output gradient `g [N, Ho, Wo, D]`, summed over chunks of `chunk` examples (a
  divisor of N; default `chunk_size(N, Ho, Wo, C, size)`; N: one product, no loop)."""
  n, _, _, c = x.shape
  _, ho, wo, d = g.shape
  lo, hi = _pads(size, padding)
  cs = chunk or chunk_size(n, ho, wo, c, size)
  if n % cs:
    raise ValueError(f"chunk={cs} does not divide the batch of {n}")
  xp = jnp.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))

  def product(xs, gs):  # [D, size*size*C]: this orientation is the faster product here
    m = xs.shape[0] * ho * wo
    return gs.reshape(m, d).T @ _patches(xs, ho, wo, size, stride).reshape(m, size * size * c)

  if cs == n:
    acc = product(xp, g)
  else:
    acc = jax.lax.fori_loop(0, n // cs, lambda k, acc: acc + product(
        jax.lax.dynamic_slice_in_dim(xp, k * cs, cs, axis=0),
        jax.lax.dynamic_slice_in_dim(g, k * cs, cs, axis=0)),
        jnp.zeros((d, size * size * c), jnp.float32))
  return acc.T.reshape(size, size, c, d).astype(x.dtype)


def input_grad(g: jax.Array, w: jax.Array, stride: int = 1, padding=None,
               input_hw: tuple[int, int] | None = None) -> jax.Array:
  """`dL/dx [N, H, W, C]` of the convolution with kernel `w [k, k, C, D]`, `stride` and
  zero `padding` (low, high; None: "same", k odd) from its output gradient
  `g [N, Ho, Wo, D]`. Stride 1: the forward convolution of `g` with `w` flipped in space
  and its channels swapped, `[k, k, D, C]`, padded `k - 1 - low, k - 1 - high`; a larger
  stride (`input_hw` = (H, W) needed: rows the strides never reach get 0): each output
  position's gradient spread over its k*k taps, `g @ W^T` (`[N, Ho, Wo, k*k*C]`), and the
  taps added at their strided places (col2im)."""
  k = w.shape[0]
  lo, hi = _pads(k, padding)
  if stride == 1:
    return _lax_conv(g, jnp.flip(w, (0, 1)).swapaxes(2, 3), 1, (k - 1 - lo, k - 1 - hi))
  n, ho, wo, d = g.shape
  c = w.shape[2]
  h, wd = input_hw
  hp, wp = h + lo + hi, wd + lo + hi
  taps = (g.reshape(-1, d) @ w.reshape(k * k * c, d).T).reshape(n, ho, wo, k, k, c)
  zero = jnp.zeros((), g.dtype)
  out = jnp.zeros((n, hp, wp, c), g.dtype)
  for i in range(k):
    for j in range(k):  # tap (i, j) lands at rows i, i + stride, ...: interior padding
      out = out + jax.lax.pad(taps[:, :, :, i, j, :], zero, (
          (0, 0, 0), (i, hp - i - stride * (ho - 1) - 1, stride - 1),
          (j, wp - j - stride * (wo - 1) - 1, stride - 1), (0, 0, 0)))
  return out[:, lo:lo + h, lo:lo + wd]


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


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def conv(x: jax.Array, w: jax.Array, stride: int = 1, padding=None) -> jax.Array:
  """Convolution with a square kernel, the same `stride` and zero `padding` (low, high;
  None: "same", k odd) in both spatial dimensions: `x [N, H, W, C], w [k, k, C, D] ->
  [N, Ho, Wo, D]`. XLA's values; the gradients come from `input_grad` and `kernel_grad`
  (chunked on a single device; one product per device's share of the batch with
  several)."""
  return _lax_conv(x, w, stride, padding)


def _conv_fwd(x, w, stride, padding):
  return _lax_conv(x, w, stride, padding), (x, w)


def _conv_bwd(stride, padding, res, g):
  x, w = res
  chunk = None if _single_cpu_device() else x.shape[0]
  return (input_grad(g, w, stride, padding, x.shape[1:3]),
          kernel_grad(x, g, chunk, w.shape[0], stride, padding))


conv.defvjp(_conv_fwd, _conv_bwd)


def _conv_args(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
               dimension_numbers, feature_group_count, kwargs) -> tuple | None:
  """`(stride, (low, high))` where `conv_general_dilated`'s arguments are `conv`'s
  convolution (float32, NHWC/HWIO, a square kernel, one stride and one padding for both
  spatial dimensions, no dilation, one group), else None."""
  if lhs.ndim != 4 or rhs.ndim != 4 or rhs.shape[0] != rhs.shape[1]:
    return None
  if feature_group_count != 1 or lhs.dtype != jnp.float32 or rhs.dtype != jnp.float32:
    return None
  strides = tuple(window_strides)
  if len(strides) != 2 or strides[0] != strides[1] or any(v is not None for v in kwargs.values()):
    return None
  if any(dil is not None and tuple(dil) != (1, 1) for dil in (lhs_dilation, rhs_dilation)):
    return None
  nhwc = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, _NHWC)
  if jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) != nhwc:
    return None
  k, s = rhs.shape[0], strides[0]
  if isinstance(padding, str):
    padding = jax.lax.padtype_to_pads(lhs.shape[1:3], (k, k), strides, padding)
  pads = [tuple(int(v) for v in p) for p in padding]
  if len(pads) != 2 or pads[0] != pads[1] or min(pads[0]) < 0:
    return None
  return s, pads[0]


# jaxlib 0.10's default YNNPACK fusion types less INDIVIDUAL_CONVOLUTION (module doc)
YNN_FUSIONS_WITHOUT_CONV = "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"


def library_fusions(hlo_text: str, op: str) -> int:
  """How many instructions of a compiled program (`compiled.as_text()`) run as YNNPACK
  fusions whose op_name metadata names `op` (`conv_general_dilated`, `dot_general`,
  `reduce_sum`); an operand's name does not count."""
  pattern = re.compile(r'op_name="[^"]*' + re.escape(op))
  return sum('"__ynn_fusion"' in line and bool(pattern.search(line))
             for line in hlo_text.splitlines())


def _probe(x, w, m):  # a convolution, a dot and a reduction, each one YNNPACK takes by default
  h = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), dimension_numbers=_NHWC)
  h = h.reshape(h.shape[0], -1)
  return h @ m, h.sum(1)


@functools.cache
def _own_convolution_options() -> tuple | None:
  """`YNN_FUSIONS_WITHOUT_CONV` as compile options where, on this jaxlib, they change
  exactly one thing against its defaults: a program's convolution leaves YNNPACK, its dot
  and its reduction stay (a jaxlib with other defaults, without YNNPACK's convolutions or
  without the option keeps its defaults; logged). Compiled once per process."""
  options = {"xla_cpu_experimental_ynn_fusion_type": YNN_FUSIONS_WITHOUT_CONV}
  shapes = [jax.ShapeDtypeStruct(s, jnp.float32)
            for s in ((8, 16, 16, 32), (3, 3, 32, 32), (16 * 16 * 32, 4))]
  try:
    texts = [jax.jit(_probe, compiler_options=o).lower(*shapes).compile().as_text()
             for o in (None, options)]
  except Exception as e:  # noqa: BLE001 (a jaxlib without the option or the value)
    logging.info("XLA's default convolutions kept: this jaxlib refuses %s (%s)", options, e)
    return None
  counts = [[library_fusions(t, op) for op in ("conv_general_dilated", "dot_general",
                                                "reduce_sum")] for t in texts]
  (conv, dot, reduce), own = counts
  if conv == 0 or own != [0, dot, reduce]:
    logging.info("XLA's default convolutions kept: YNNPACK fusions (convolution, dot, "
                 "reduction) %s by default, %s with %s", counts[0], own, options)
    return None
  return tuple(options.items())


def compiler_options(conv: str = "auto") -> dict | None:
  """XLA compile options for the programs that run a model whose convolutions are
  `model.conv=conv`: on a CPU backend with `conv="auto"`, the convolutions stay XLA's own
  instead of YNNPACK's (module doc); None (XLA's defaults) for `conv="xla"`, on other
  backends, and where the option does not do exactly that on this jaxlib
  (`_own_convolution_options`). A new dict each call."""
  if conv != "auto" or not _cpu():
    return None
  options = _own_convolution_options()
  return None if options is None else dict(options)


@functools.cache
def _single_cpu_device() -> bool:
  return jax.default_backend() == "cpu" and jax.device_count() == 1


@functools.cache
def _cpu() -> bool:
  return jax.default_backend() == "cpu"


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         precision=None, **kwargs):
  """`jax.lax.conv_general_dilated`, taking `conv_patches` or `conv` where they apply
  (module doc)."""
  args = _conv_args(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                    dimension_numbers, feature_group_count, kwargs) if _cpu() else None
  if args is not None:
    stride, pads = args
    if (rhs.shape[0], stride, pads) == (3, 1, (1, 1)) and lhs.shape[1] * lhs.shape[2] <= SMALL_MAP:
      return conv_patches(lhs, rhs)
    return conv(lhs, rhs, stride, pads)
  return jax.lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation,
                                      rhs_dilation, dimension_numbers, feature_group_count,
                                      precision=precision, **kwargs)
