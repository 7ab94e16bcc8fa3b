"""The layout attempt of the small-CNN step benchmark computes the same convolution."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nlx.benchmarks import conv_speed


def _numpy_conv(x, w, stride, pad):
  """Cross-correlation by loops: `x [N, H, W, C]`, `w [kh, kw, C, D]`, zero padding `pad`."""
  n, h, wd, _ = x.shape
  kh, kw, _, d = w.shape
  xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
  ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
  out = np.zeros((n, ho, wo, d))
  for i in range(ho):
    for j in range(wo):
      patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
      out[:, i, j, :] = np.einsum("nhwc,hwcd->nd", patch, w)
  return out


@pytest.mark.parametrize("stride", [1, 2])
def test_nchw_conv_equals_the_convolution_by_loops_and_xlas_gradients(stride):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, 6, 3)).astype(np.float32)  # odd height, C != D
  w = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
  dn = ("NHWC", "HWIO", "NHWC")
  got = conv_speed.nchw_conv(x, w, (stride, stride), ((1, 1), (1, 1)), dimension_numbers=dn)
  np.testing.assert_allclose(got, _numpy_conv(x.astype(np.float64), w, stride, 1), atol=1e-4)

  def loss(f):
    return lambda x_, w_: jnp.sum(jnp.sin(f(x_, w_, (stride, stride), ((1, 1), (1, 1)),
                                             dimension_numbers=dn)))
  ours = jax.grad(loss(conv_speed.nchw_conv), argnums=(0, 1))(x, w)
  xla = jax.grad(loss(jax.lax.conv_general_dilated), argnums=(0, 1))(x, w)
  for a, b in zip(ours, xla):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_nchw_conv_inside_a_flax_conv_equals_flaxs_own():
  x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
  default = nnx.Conv(3, 5, (3, 3), padding=1, rngs=nnx.Rngs(0))
  nchw = nnx.Conv(3, 5, (3, 3), padding=1, conv_general_dilated=conv_speed.nchw_conv,
                  rngs=nnx.Rngs(0))
  np.testing.assert_allclose(nchw(x), default(x), rtol=1e-5, atol=1e-5)


def test_nchw_conv_refuses_arguments_in_another_layout():
  """It transposes as if given flax's NHWC / HWIO: anything else would be a wrong answer."""
  x, w = np.zeros((2, 3, 8, 8), np.float32), np.zeros((4, 3, 3, 3), np.float32)
  with pytest.raises(ValueError, match="NHWC / HWIO"):
    conv_speed.nchw_conv(x, w, (1, 1), ((1, 1), (1, 1)),
                         dimension_numbers=("NCHW", "OIHW", "NCHW"))


@pytest.mark.parametrize("k,stride", [(3, 1), (5, 1), (3, 2), (1, 2)])
def test_the_scan_benchmarks_parts_pair_up_and_the_scan_sums_the_nudged_calls(k, stride):
  """`scan_parts`: XLA's and nlx's kernel gradient agree, and so do the input gradients
  (a mislabelled part would time the wrong pair); `in_a_scan` is the sum of `fn` at
  inputs nudged by 0, 1e-3, 2e-3 (each step's own work, not one call hoisted)."""
  keys = jax.random.split(jax.random.key(0), 3)
  x = jax.random.normal(keys[0], (2, 6, 6, 3))
  w = jax.random.normal(keys[1], (k, k, 3, 4)) * 0.1
  g = jax.random.normal(keys[2], (2, 6 // stride, 6 // stride, 4))
  parts = conv_speed.scan_parts(stride)
  for grad in ("kernel", "input"):
    np.testing.assert_allclose(parts[f"nlx {grad} gradient"](x, w, g),
                               parts[f"XLA {grad} gradient"](x, w, g), rtol=1e-4, atol=1e-4)
  fn = parts["nlx kernel gradient"]
  want = sum(float(jnp.sum(fn(x + s, w + s, g + s))) for s in (0.0, 1e-3, 2e-3))
  np.testing.assert_allclose(float(jax.jit(conv_speed.in_a_scan(fn, 3))(x, w, g)), want,
                             rtol=1e-5)
  # the timing compiles ahead of time and runs the same program
  assert conv_speed.compiled_time(conv_speed.in_a_scan(fn, 3), x, w, g, steps=2) > 0


@pytest.mark.parametrize("warmups,calls", [(0, 2), (3, 5)])
def test_median_time_calls_the_warm_ups_then_the_timed_steps(warmups, calls):
  """`compiled_time` passes 0 warm-ups (XLA's slowest programs take minutes a call)."""
  from nlx.benchmarks.timing import median_time
  seen = []
  median_time(lambda: seen.append(1) or jnp.zeros(()), steps=2, warmups=warmups)
  assert len(seen) == calls


def test_has_avx512_bf16_reads_the_flags_line_whole_words(tmp_path):
  f = tmp_path / "cpuinfo"
  f.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 avx512vl\n")
  assert conv_speed.has_avx512_bf16(str(f)) is True
  f.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16x avx512vl\n"
               "model name\t: avx512_bf16 in a name is not a flag\n")
  assert conv_speed.has_avx512_bf16(str(f)) is False
  assert conv_speed.has_avx512_bf16(str(tmp_path / "missing")) is None
