"""nlx.ops.conv: the kernel and input gradients against the formula and against XLA's."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from nlx import models
from nlx.models.cnn import max_pool_2x2
from nlx.ops import conv as conv_ops

NHWC = ("NHWC", "HWIO", "NHWC")


def lax_conv(x, w):
  p = w.shape[0] // 2
  return jax.lax.conv_general_dilated(x, w, (1, 1), ((p, p), (p, p)), dimension_numbers=NHWC)


def kernel_grad_loops(x, g, size=3, stride=1, pads=None):
  """dW[i, j, c, d] = sum_{n,a,b} x_pad[n, s*a + i, s*b + j, c] g[n, a, b, d], tap by tap."""
  x, g = np.asarray(x, np.float64), np.asarray(g, np.float64)
  _, ho, wo, _ = g.shape
  lo, hi = pads or (size // 2, size // 2)
  xp = np.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))
  out = np.zeros((size, size, x.shape[-1], g.shape[-1]))
  for i in range(size):
    for j in range(size):
      taps = xp[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]
      out[i, j] = np.einsum("nhwc,nhwd->cd", taps, g)
  return out


def input_grad_loops(g, w, stride=1, pads=None, hw=None):
  """dx_pad[n, s*a + i, s*b + j, c] += sum_d g[n, a, b, d] w[i, j, c, d] (then the padding
  cut off), output position by kernel tap, from y[n, a, b, d] = sum x_pad[n, s*a + i,
  s*b + j, c] w[i, j, c, d]."""
  g, w = np.asarray(g, np.float64), np.asarray(w, np.float64)
  n, ho, wo, _ = g.shape
  k = w.shape[0]
  lo, hi = pads or (k // 2, k // 2)
  h, wd = hw or (ho, wo)
  dx_pad = np.zeros((n, h + lo + hi, wd + lo + hi, w.shape[2]))
  for a in range(ho):
    for b in range(wo):
      dx_pad[:, stride * a:stride * a + k, stride * b:stride * b + k] += np.einsum(
          "nd,ijcd->nijc", g[:, a, b], w)
  return dx_pad[:, lo:lo + h, lo:lo + wd]


def random_xg(n=6, h=5, w=7, c=3, d=4):
  rng = np.random.default_rng(0)
  return (jnp.asarray(rng.normal(size=(n, h, w, c)), jnp.float32),
          jnp.asarray(rng.normal(size=(n, h, w, d)), jnp.float32))


def test_kernel_grad_matches_the_formula_for_every_chunk_size():
  x, g = random_xg()
  want = kernel_grad_loops(x, g)
  for chunk in (1, 2, 3, 6, None):
    np.testing.assert_allclose(conv_ops.kernel_grad(x, g, chunk), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [1, 5, 7])
def test_kernel_grad_of_other_odd_sizes_matches_the_formula(size):
  """5 x 5 (CIFAR10-quick), 1 x 1 and 7 x 7 (wider than the 5 x 7 map: taps that only ever
  see padding), chunked and in one product."""
  x, g = random_xg()
  want = kernel_grad_loops(x, g, size)
  assert want.shape == (size, size, 3, 4)
  for chunk in (1, 3, 6):
    np.testing.assert_allclose(conv_ops.kernel_grad(x, g, chunk, size), want,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size", [0, 2, 4])
def test_kernel_grad_rejects_an_even_size(size):
  x, g = random_xg()
  with pytest.raises(ValueError, match=f"size={size}: .* odd kernel size"):
    conv_ops.kernel_grad(x, g, None, size)


@pytest.mark.parametrize("size", [1, 3, 5])
def test_input_grad_matches_the_formula(size):
  _, g = random_xg(c=3, d=4)
  w = np.random.default_rng(7).normal(size=(size, size, 3, 4))
  np.testing.assert_allclose(conv_ops.input_grad(g, jnp.asarray(w, jnp.float32)),
                             input_grad_loops(g, w), rtol=1e-5, atol=1e-5)


def test_kernel_grad_rejects_a_chunk_that_does_not_divide_the_batch():
  x, g = random_xg()
  with pytest.raises(ValueError, match="chunk=4 does not divide the batch of 6"):
    conv_ops.kernel_grad(x, g, 4)


def test_chunk_size_keeps_patches_near_4_5_mib_and_divides_the_batch():
  # patches per example: H*W*k*k*C*4 bytes; 4.5 MiB / (32*32*9*64*4) = 2.0
  assert conv_ops.chunk_size(128, 32, 32, 64) == 2
  # 5 x 5 (CIFAR10-quick's second conv): 16*16*25*32*4 = 819,200 B: 5 fit, 5 divides 40
  assert conv_ops.chunk_size(40, 16, 16, 32, 5) == 5
  assert conv_ops.chunk_size(40, 16, 16, 32, 1) == 40  # 1 x 1: 32,768 B each, 144 fit
  assert conv_ops.chunk_size(128, 4, 4, 512) == 16   # 4.5 MiB / 294,912 B = 16
  assert conv_ops.chunk_size(7, 32, 32, 64) == 1     # 7 is prime
  assert conv_ops.chunk_size(100, 8, 8, 64) == 25    # target 32; 25 divides 100


def test_chunk_size_at_the_edges_of_the_4_5_mib_budget():
  # 8*8*9*64*4 = 147,456 B per example: exactly 32 fit in 4,718,592 B (4.5 MiB), 35 in 5 MiB
  assert conv_ops.chunk_size(34, 8, 8, 64) == 17  # 34 = 2 * 17: 34 examples are 4.78 MiB
  assert conv_ops.chunk_size(33, 8, 8, 64) == 11  # 33 = 3 * 11: 33 examples are 4.64 MiB
  assert conv_ops.chunk_size(32, 8, 8, 64) == 32  # exactly the budget
  # one example alone over the budget (64*64*9*64*4 = 9 MiB): still one per chunk
  assert conv_ops.chunk_size(4, 64, 64, 64) == 1
  assert conv_ops.chunk_size(1, 64, 64, 64) == 1


@pytest.mark.parametrize("k,stride,pads,hw", [
    (3, 2, (1, 1), (8, 8)), (3, 2, (1, 1), (7, 9)),  # ResNet's downsampling; odd sizes
    (1, 2, (0, 0), (8, 8)), (1, 2, (0, 0), (7, 7)),  # its 1 x 1 projection
    (7, 2, (3, 3), (12, 12)), (3, 1, (0, 0), (6, 6)),  # an ImageNet stem; "valid"
    (2, 1, (0, 1), (5, 5)), (4, 3, (2, 1), (10, 10))])  # even kernels, uneven padding
@pytest.mark.parametrize("single", [True, False])
def test_strided_and_padded_convolutions_gradients_equal_the_formulas_and_xlas(
    k, stride, pads, hw, single, monkeypatch):
  """`conv` at any stride and zero padding: the value XLA's, both gradients the loops'
  (rows and columns a stride never reaches get 0) and XLA's transposes."""
  monkeypatch.setattr(conv_ops, "_single_cpu_device", lambda: single)
  rng = np.random.default_rng(k * 10 + stride)
  x = jnp.asarray(rng.normal(size=(4, *hw, 3)), jnp.float32)
  w = jnp.asarray(rng.normal(size=(k, k, 3, 5)), jnp.float32)
  def lax_conv_s(x_, w_):
    return jax.lax.conv_general_dilated(x_, w_, (stride, stride), (pads, pads),
                                        dimension_numbers=NHWC)
  y, vjp = jax.vjp(lambda x_, w_: conv_ops.conv(x_, w_, stride, pads), x, w)
  y_ref, vjp_ref = jax.vjp(lax_conv_s, x, w)
  np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
  g = jnp.asarray(rng.normal(size=y.shape), jnp.float32)
  dx, dw = jax.jit(vjp)(g)
  np.testing.assert_allclose(dw, kernel_grad_loops(x, g, k, stride, pads), rtol=1e-4, atol=1e-4)
  np.testing.assert_allclose(dx, input_grad_loops(g, w, stride, pads, hw), rtol=1e-4, atol=1e-4)
  for got, want in zip((dx, dw), vjp_ref(g)):
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [1, 3, 5])
@pytest.mark.parametrize("single", [True, False])
def test_same_conv_value_and_both_gradients_equal_xlas(size, single, monkeypatch):
  """One CPU device (the kernel gradient chunked) and several (one product)."""
  monkeypatch.setattr(conv_ops, "_single_cpu_device", lambda: single)
  x, g = random_xg(n=4, h=6, w=6, c=5, d=3)
  w = jnp.asarray(np.random.default_rng(1).normal(size=(size, size, 5, 3)), jnp.float32)
  y, vjp = jax.vjp(conv_ops.conv, x, w)
  y_ref, vjp_ref = jax.vjp(lax_conv, x, w)
  np.testing.assert_allclose(y, y_ref, rtol=1e-6, atol=1e-6)
  for got, want in zip(vjp(g), vjp_ref(g)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  # and under jit, against the formulas
  dx, dw = jax.jit(jax.grad(lambda x_, w_: jnp.sum(conv_ops.conv(x_, w_) * g), (0, 1)))(x, w)
  np.testing.assert_allclose(dw, kernel_grad_loops(x, g, size), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(dx, input_grad_loops(g, w), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("single,loops", [(True, True), (False, False)])
def test_the_kernel_gradient_loops_over_chunks_only_on_a_single_device(single, loops,
                                                                      monkeypatch):
  """Patches of 9.4 MB an example (64 x 64 x 9 x 64 x 4 B): one CPU device walks the batch
  one example at a time; with several, whose partitioner would gather the batch for such
  a loop, it is one product (traced on abstract values: nothing runs)."""
  monkeypatch.setattr(conv_ops, "_single_cpu_device", lambda: single)
  x = jax.ShapeDtypeStruct((4, 64, 64, 64), jnp.float32)
  w = jax.ShapeDtypeStruct((3, 3, 64, 64), jnp.float32)
  jaxpr = str(jax.make_jaxpr(jax.grad(lambda x_, w_: conv_ops.conv(x_, w_).sum(),
                                      (0, 1)))(x, w))
  assert ("while" in jaxpr or "scan" in jaxpr) == loops


def test_conv_same_on_8_devices_with_a_sharded_batch_equals_xlas():
  """The several-device path under the partitioner (nlx's mesh, `train.make_mesh`): the
  batch split over the 8 host devices the tests run on, the gradients those of XLA's
  convolution."""
  from jax.sharding import NamedSharding
  from jax.sharding import PartitionSpec as P

  from nlx import train
  assert jax.device_count() == 8
  mesh = train.make_mesh()
  x, g = random_xg(n=16, h=6, w=6, c=5, d=3)
  w = jnp.asarray(np.random.default_rng(1).normal(size=(5, 5, 5, 3)), jnp.float32)
  x, g = (jax.device_put(a, NamedSharding(mesh, P("data"))) for a in (x, g))
  def loss(f):
    return jax.jit(jax.grad(lambda x_, w_: jnp.sum(f(x_, w_) * g), (0, 1)))(x, w)
  for got, want in zip(loss(conv_ops.conv), loss(lax_conv)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("kind,expected", [
    ("same3x3", (1, (1, 1))), ("same_string", (1, (1, 1))), ("stride2", (2, (1, 1))),
    ("1x1", (1, (0, 0))), ("1x1_valid_string", (1, (0, 0))), ("1x1_padding_1", (1, (1, 1))),
    ("2x2", (1, (0, 1))), ("3x5", None), ("strides_1_2", None), ("bf16", None),
    ("dilated", None), ("nchw", None), ("5x5", (1, (2, 2))), ("5x5_padding_1", (1, (1, 1))),
    ("5x5_same", (1, (2, 2))), ("grouped", None), ("valid", (1, (0, 0))),
    ("valid_string", (1, (0, 0))), ("padding_0_1", None), ("same_stride2_string", (2, (0, 1)))])
def test_which_convolutions_take_nlxs_gradients_and_at_which_stride_and_padding(kind,
                                                                                expected):
  """`_conv_args`: float32 NHWC/HWIO, a square kernel, one stride and one padding for both
  spatial dimensions (strings resolved as XLA does), no dilation, one group."""
  x = jnp.zeros((2, 8, 8, 4))
  w = jnp.zeros((3, 3, 4, 6))
  args = {"window_strides": (1, 1), "padding": ((1, 1), (1, 1)), "lhs_dilation": None,
          "rhs_dilation": None, "dimension_numbers": NHWC, "feature_group_count": 1,
          "kwargs": {}}
  if kind == "same_string":
    args["padding"] = "SAME"
  elif kind == "stride2":
    args["window_strides"] = (2, 2)
  elif kind == "1x1":
    w, args["padding"] = jnp.zeros((1, 1, 4, 6)), ((0, 0), (0, 0))
  elif kind == "1x1_valid_string":  # for 1 x 1, "VALID" is "same"
    w, args["padding"] = jnp.zeros((1, 1, 4, 6)), "VALID"
  elif kind == "1x1_padding_1":  # a 1 x 1 whose output is 2 larger
    w = jnp.zeros((1, 1, 4, 6))
  elif kind == "2x2":  # even: no centre tap, "same" would pad unevenly
    w, args["padding"] = jnp.zeros((2, 2, 4, 6)), "SAME"
  elif kind == "3x5":  # not square
    w, args["padding"] = jnp.zeros((3, 5, 4, 6)), ((1, 1), (2, 2))
  elif kind == "strides_1_2":
    args["window_strides"] = (1, 2)
  elif kind == "same_stride2_string":  # 8 -> 4: 1 row of padding in all, after the map
    args["window_strides"], args["padding"] = (2, 2), "SAME"
  elif kind == "bf16":
    x = x.astype(jnp.bfloat16)
  elif kind == "dilated":
    args["rhs_dilation"] = (2, 2)
  elif kind == "nchw":
    x, args["dimension_numbers"] = jnp.zeros((2, 4, 8, 8)), ("NCHW", "HWIO", "NCHW")
  elif kind == "5x5":
    w, args["padding"] = jnp.zeros((5, 5, 4, 6)), ((2, 2), (2, 2))
  elif kind == "5x5_padding_1":  # padding alone would pass: the kernel's size must reject it
    w = jnp.zeros((5, 5, 4, 6))
  elif kind == "5x5_same":
    w, args["padding"] = jnp.zeros((5, 5, 4, 6)), "SAME"
  elif kind == "valid":  # a 3x3 whose output is 2 smaller: not "same"
    args["padding"] = ((0, 0), (0, 0))
  elif kind == "valid_string":
    args["padding"] = "VALID"
  elif kind == "padding_0_1":  # TensorFlow's "same" for stride 2: asymmetric
    args["padding"] = ((0, 1), (1, 1))
  elif kind == "grouped":  # a depthwise 3x3 (4 groups of one channel): not one product
    w, args["feature_group_count"] = jnp.zeros((3, 3, 1, 4)), 4
  assert conv_ops._conv_args(x, w, **args) == expected


@pytest.mark.parametrize("backend,count,expected", [
    ("cpu", 1, True), ("cpu", 2, False), ("cpu", 8, False), ("gpu", 1, False), ("tpu", 1, False)])
def test_chunked_kernel_gradient_only_on_a_single_cpu_device(backend, count, expected,
                                                             monkeypatch):
  """The module doc's rule: the chunk loop needs the CPU backend and one device (the
  tests themselves run on 8 host devices, so the rule is checked on stand-ins)."""
  monkeypatch.setattr(jax, "default_backend", lambda: backend)
  monkeypatch.setattr(jax, "device_count", lambda: count)
  assert conv_ops._single_cpu_device.__wrapped__() is expected


def test_conv_general_dilated_equals_lax_on_either_path(monkeypatch):
  x, _ = random_xg(n=2, h=6, w=6, c=4)
  w = jnp.asarray(np.random.default_rng(2).normal(size=(3, 3, 4, 5)), jnp.float32)
  for single_cpu in (True, False):  # any device count: nlx's gradients
    monkeypatch.setattr(conv_ops, "_single_cpu_device", lambda s=single_cpu: s)
    for strides in ((1, 1), (2, 2)):
      def f(x_, w_, strides=strides):
        return conv_ops.conv_general_dilated(x_, w_, strides, ((1, 1), (1, 1)),
                                             dimension_numbers=NHWC).sum() ** 2
      def f_ref(x_, w_, strides=strides):
        return jax.lax.conv_general_dilated(x_, w_, strides, ((1, 1), (1, 1)),
                                            dimension_numbers=NHWC).sum() ** 2
      jaxpr = str(jax.make_jaxpr(f)(x, w))
      assert "custom_vjp_call" in jaxpr  # stride 2 too
      for got, want in zip(jax.grad(f, (0, 1))(x, w), jax.grad(f_ref, (0, 1))(x, w)):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)


def test_max_pool_2x2_equals_nnx_max_pool_and_its_gradient_ties_included():
  rng = np.random.default_rng(3)
  for shape in ((2, 8, 8, 3), (2, 7, 5, 3)):  # odd sizes: the last row/column is dropped
    for h in (rng.normal(size=shape),              # no ties
              rng.integers(0, 3, size=shape),      # many ties, positive ones too
              np.maximum(rng.normal(size=shape), 0)):  # ReLU outputs: ties at 0
      h = jnp.asarray(h, jnp.float32)
      def ref(h_):
        return nnx.max_pool(h_, (2, 2), strides=(2, 2))
      np.testing.assert_array_equal(max_pool_2x2(h), ref(h))
      cot = jnp.asarray(rng.normal(size=ref(h).shape), jnp.float32)
      np.testing.assert_array_equal(jax.vjp(max_pool_2x2, h)[1](cot)[0],
                                    jax.vjp(ref, h)[1](cot)[0])


@pytest.mark.parametrize("name", ["small_cnn", "cifar10_quick",
                                  pytest.param("resnet18", marks=pytest.mark.slow)])
def test_model_conv_auto_gives_xlas_gradients(name, monkeypatch):
  """model.conv=auto (nlx's gradients, chunked as on one CPU device) and model.conv=xla:
  the same loss and parameter gradients, up to float32 summation order."""
  from nlx.config_base import base_config
  monkeypatch.setattr(conv_ops, "_single_cpu_device", lambda: True)
  x = jnp.asarray(np.random.default_rng(4).normal(size=(4, 16, 16, 3)), jnp.float32)
  grads = []
  for conv in ("auto", "xla"):
    c = base_config().model
    c.name, c.conv = name, conv
    m = models.create(c, 10, (16, 16, 3), jax.random.key(0))
    def loss(p, m=m):
      out, _ = models.apply(m.graphdef, p, m.state, x, train=True)
      return jnp.sum(out.logits ** 2)
    jaxpr = str(jax.make_jaxpr(loss)(m.params))
    assert ("custom_vjp_call" in jaxpr) == (conv == "auto")
    grads.append(jax.jit(jax.value_and_grad(loss))(m.params))
  (v_auto, g_auto), (v_xla, g_xla) = grads
  np.testing.assert_allclose(v_auto, v_xla, rtol=1e-5)
  for a, b in zip(jax.tree.leaves(g_auto), jax.tree.leaves(g_xla)):
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * float(jnp.abs(b).max()) + 1e-6)


def test_model_conv_must_be_auto_or_xla():
  from nlx.config_base import base_config
  from nlx.errors import ConfigError
  c = base_config().model
  c.name, c.conv = "small_cnn", "onednn"
  with pytest.raises(ConfigError, match="model.conv must be auto or xla, got 'onednn'"):
    models.create(c, 10, (8, 8, 3), jax.random.key(0))


def test_resnet18_conv_auto_reaches_every_conv(monkeypatch):
  """Fast twin of the slow resnet18 case above, on abstract parameters (nothing runs):
  with model.conv=auto, every convolution of ResNet-18 (CIFAR stem) is the custom-VJP
  one; with model.conv=xla, none is. Counted by hand: the stem (1), layer1's four, and
  the second conv of each first block plus both of each second block in layers 2-4
  (3 x 3) make 14 at stride 1; the three stride-2 first convs and the three 1x1
  downsample convs make 6 more."""
  monkeypatch.setattr(conv_ops, "_single_cpu_device", lambda: True)
  for conv, want in (("auto", (20, 0)), ("xla", (0, 20))):
    names = resnet18_primitives(conv, 32)  # layer4's maps are 4 x 4: none of them small
    assert (names.count("custom_vjp_call"), names.count("conv_general_dilated")) == want, conv


def resnet18_primitives(conv: str, size: int) -> list[str]:
  """The primitives of ResNet-18's (CIFAR stem) training forward pass on size x size
  inputs with model.conv=`conv`, traced on abstract parameters (nothing runs)."""
  from nlx.config_base import base_config
  c = base_config().model
  c.name, c.conv = "resnet18", conv
  module = nnx.eval_shape(lambda: models.build_module(c, 10, (size, size, 3), jax.random.key(0)))
  graphdef, params, state = nnx.split(module, nnx.Param, ...)
  jaxpr = jax.make_jaxpr(lambda p, s: models.apply(
      graphdef, p, s, jnp.zeros((2, size, size, 3)), train=True)[0].logits)(params, state)
  return [e.primitive.name for e in jaxpr.jaxpr.eqns]


def test_resnet18_on_8x8_inputs_takes_the_patch_product_on_its_2x2_and_1x1_maps(monkeypatch):
  """On 8 x 8 inputs ResNet-18's layer3 runs at 2 x 2 and layer4 at 1 x 1: their three
  3x3 stride-1 convolutions each (6) are products of patches (dot_general; the head is the
  7th), the stem, layer1's four and layer2's three at 8 x 8 and 4 x 4 stay the custom-VJP
  ones (8), and so are the three stride-2 and three 1x1 convolutions (6). conv=xla: all 20
  XLA's."""
  monkeypatch.setattr(conv_ops, "_single_cpu_device", lambda: True)
  monkeypatch.setattr(conv_ops, "_cpu", lambda: True)
  for conv, want in (("auto", (14, 0, 7)), ("xla", (0, 20, 1))):
    names = resnet18_primitives(conv, 8)
    assert (names.count("custom_vjp_call"), names.count("conv_general_dilated"),
            names.count("dot_general")) == want, conv


@pytest.mark.parametrize("h,w", [(2, 2), (1, 1), (1, 3), (4, 1), (6, 6)])
def test_the_patch_product_and_its_gradients_equal_xlas(h, w):
  rng = np.random.default_rng(5)
  x = jnp.asarray(rng.normal(size=(3, h, w, 4)), jnp.float32)
  k = jnp.asarray(rng.normal(size=(3, 3, 4, 5)), jnp.float32)
  g = jnp.asarray(rng.normal(size=(3, h, w, 5)), jnp.float32)
  y, vjp = jax.vjp(conv_ops.conv_patches, x, k)
  y_ref, vjp_ref = jax.vjp(lax_conv, x, k)
  np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
  for got, want in zip(vjp(g), vjp_ref(g)):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(vjp(g)[1], kernel_grad_loops(x, g), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("h,w,cpu,single,path", [
    (2, 2, True, True, "patches"), (2, 2, True, False, "patches"),  # any device count
    (1, 4, True, False, "patches"), (1, 5, True, True, "custom"),  # 4 pixels and 5
    (3, 3, True, False, "custom"), (2, 2, False, False, "xla")])   # 9 pixels; no CPU
def test_the_patch_product_serves_maps_of_at_most_4_pixels_on_the_cpu(h, w, cpu, single, path,
                                                                       monkeypatch):
  monkeypatch.setattr(conv_ops, "_cpu", lambda: cpu)
  monkeypatch.setattr(conv_ops, "_single_cpu_device", lambda: cpu and single)
  x, k = jnp.zeros((2, h, w, 3)), jnp.zeros((3, 3, 3, 4))
  names = [e.primitive.name for e in jax.make_jaxpr(lambda x_, k_: conv_ops.conv_general_dilated(
      x_, k_, (1, 1), ((1, 1), (1, 1)), dimension_numbers=NHWC))(x, k).jaxpr.eqns]
  got = ("patches" if "dot_general" in names else
         "custom" if "custom_vjp_call" in names else "xla")
  assert got == path
  assert conv_ops.SMALL_MAP == 4


_library_fusions = conv_ops.library_fusions  # tested on hand-written lines below


def _conv_then_dot(x, w):
  h = jax.nn.relu(lax_conv(x, w)).reshape(x.shape[0], -1)
  return h @ jnp.ones((h.shape[1], 4))


def test_compiler_options_keep_convolutions_from_ynnpack_but_not_dots():
  """With `compiler_options("auto")` XLA runs the convolution itself and YNNPACK still
  the dot; without options (XLA's defaults, this jaxlib) YNNPACK runs both; the values
  agree to float32 round-off."""
  x = jax.random.normal(jax.random.key(0), (8, 16, 16, 32))
  w = jax.random.normal(jax.random.key(1), (3, 3, 32, 32)) * 0.1
  default = jax.jit(_conv_then_dot).lower(x, w).compile()
  if _library_fusions(default.as_text(), "conv_general_dilated") == 0:
    pytest.skip("this jaxlib runs no convolution through YNNPACK")
  options = conv_ops.compiler_options("auto")
  assert options == {"xla_cpu_experimental_ynn_fusion_type":
                     "LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE"}
  own = jax.jit(_conv_then_dot, compiler_options=options).lower(x, w).compile()
  assert _library_fusions(own.as_text(), "conv_general_dilated") == 0
  assert _library_fusions(own.as_text(), "dot_general") == 1
  assert _library_fusions(default.as_text(), "dot_general") == 1
  np.testing.assert_allclose(own(x, w), default(x, w), rtol=1e-4, atol=1e-4)
  options["xla_cpu_experimental_ynn_fusion_type"] = "changed by the caller"
  assert conv_ops.compiler_options("auto")["xla_cpu_experimental_ynn_fusion_type"] != (
      "changed by the caller")  # a new dict each call


def test_library_fusions_count_by_op_name_not_by_an_operands_name():
  line = ('  %ynn_fusion = f32[8]{0} fusion(%conv_general_dilated.1), kind=kCustom, '
          'metadata={op_name="jit(probe)/reduce_sum"}, '
          'backend_config={"fusion_config":{"kind":"__ynn_fusion"}}')
  conv_line = line.replace("jit(probe)/reduce_sum", "jit(f)/jvp(conv_general_dilated)")
  text = "\n".join([line, conv_line, conv_line.replace('"__ynn_fusion"', '"__xnn_fusion"')])
  assert conv_ops.library_fusions(text, "reduce_sum") == 1
  assert conv_ops.library_fusions(text, "conv_general_dilated") == 1
  assert conv_ops.library_fusions(text, "dot_general") == 0


def test_compiler_options_are_xlas_defaults_for_conv_xla_and_off_the_cpu(monkeypatch):
  assert conv_ops.compiler_options("xla") is None
  monkeypatch.setattr(conv_ops, "_cpu", lambda: False)
  assert conv_ops.compiler_options("auto") is None


@pytest.mark.parametrize("value,why", [
    ("LIBRARY_FUSION_TYPE_NO_SUCH", "a value this jaxlib rejects (or an unknown option)"),
    ("LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT", "also takes the reduction from YNNPACK"),
    ("LIBRARY_FUSION_TYPE_INDIVIDUAL_DOT,LIBRARY_FUSION_TYPE_REDUCE,"
     "LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION", "leaves the convolution to YNNPACK"),
])
def test_compiler_options_fall_back_to_xlas_defaults_unless_only_the_convolution_moves(
    monkeypatch, value, why):
  """Where the fixed list would do anything but move the convolution out of YNNPACK on
  this jaxlib (another jaxlib's defaults), the programs keep XLA's defaults, never fail."""
  default = jax.jit(_conv_then_dot).lower(jnp.ones((8, 16, 16, 32)),
                                          jnp.ones((3, 3, 32, 32))).compile()
  if _library_fusions(default.as_text(), "conv_general_dilated") == 0:
    pytest.skip("this jaxlib runs no convolution through YNNPACK")
  monkeypatch.setattr(conv_ops, "YNN_FUSIONS_WITHOUT_CONV", value)
  conv_ops._own_convolution_options.cache_clear()
  try:
    assert conv_ops.compiler_options("auto") is None, why
  finally:
    conv_ops._own_convolution_options.cache_clear()


@pytest.mark.parametrize("name,has_conv", [("mlp", False), ("small_cnn", True)])
def test_a_model_without_convolutions_gets_xlas_defaults_and_no_probe(name, has_conv,
                                                                      monkeypatch):
  """`models.compiler_options`: a convolution-free model's programs compile the same either
  way, so they take XLA's defaults without the probe; a model with convolutions takes
  `nlx.ops.conv.compiler_options` (checked against its jaxpr: it has a convolution)."""
  from nlx.config_base import base_config
  c = base_config().model
  c.name = name
  m = models.create(c, 10, (8, 8, 3), jax.random.key(0))
  jaxpr = str(jax.make_jaxpr(lambda x: models.apply(m.graphdef, m.params, m.state, x,
                                                    train=False)[0].logits)(jnp.ones((2, 8, 8, 3))))
  assert ("conv_general_dilated" in jaxpr) == has_conv == (name not in models.CONVOLUTION_FREE)
  calls = []
  monkeypatch.setattr(conv_ops, "compiler_options", lambda conv="auto": calls.append(conv) or "X")
  assert models.compiler_options(c) == ("X" if has_conv else None)
  assert calls == (["auto"] if has_conv else [])
