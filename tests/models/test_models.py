import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import override
from flax import nnx

from nlx import models
from nlx.config_base import base_config


def model_config(name, **kw):
  return override(base_config().model, name=name, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("name,count", [("resnet18_imagenet", 11_689_512),
                                        ("resnet34_imagenet", 21_797_672),
                                        ("resnet50_imagenet", 25_557_032)])
def test_resnet_parameter_counts_match_torchvision(name, count):
  # torchvision.models.resnet18/34/50(num_classes=1000) have exactly these many parameters.
  m = models.create(model_config(name), 1000, (224, 224, 3), jax.random.key(0))
  assert models.count_params(m.params) == count


@pytest.mark.slow
def test_cifar_stem_differs_only_in_first_conv():
  # 3x3 instead of 7x7 first conv: (49 - 9) * 3 * 64 fewer weights.
  m = models.create(model_config("resnet18"), 1000, (32, 32, 3), jax.random.key(0))
  assert models.count_params(m.params) == 11_689_512 - 40 * 3 * 64


@pytest.mark.parametrize("name,shape,dim", [("mlp", (8, 8, 1), 256), ("small_cnn", (8, 8, 1), 128),
                                            ("small_cnn", (32, 32, 3), 128),
                                            ("resnet18", (32, 32, 3), 512),
                                            ("resnet34_imagenet", (64, 64, 3), 512)])
def test_outputs_logits_and_features(name, shape, dim):
  m = models.create(model_config(name), 7, shape, jax.random.key(0))
  x = jnp.ones((2, *shape))
  out, _ = models.apply(m.graphdef, m.params, m.state, x, train=False)
  assert out.logits.shape == (2, 7) and out.features.shape == (2, dim)
  assert m.feature_dim == dim


def test_mlp_matches_numpy_forward():
  m = models.create(model_config("mlp", hidden=(5,)), 3, (4,), jax.random.key(1))
  p = m.params.to_pure_dict()
  x = np.random.default_rng(0).normal(size=(6, 4)).astype(np.float32)
  h = np.maximum(x @ np.asarray(p["layers"][0]["kernel"]) + np.asarray(p["layers"][0]["bias"]), 0)
  want = h @ np.asarray(p["head"]["kernel"]) + np.asarray(p["head"]["bias"])
  out, _ = models.apply(m.graphdef, m.params, m.state, jnp.asarray(x), train=False)
  np.testing.assert_allclose(out.logits, want, rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(out.features, h, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_batchnorm_statistics_update_in_train_mode_only():
  m = models.create(model_config("small_cnn", width=4), 3, (8, 8, 1), jax.random.key(0))
  x = jax.random.normal(jax.random.key(1), (16, 8, 8, 1)) * 3 + 2
  _, eval_state = models.apply(m.graphdef, m.params, m.state, x, train=False)
  _, train_state = models.apply(m.graphdef, m.params, m.state, x, train=True)
  before = m.state.to_pure_dict()["norms"][0]["mean"]
  np.testing.assert_array_equal(eval_state.to_pure_dict()["norms"][0]["mean"], before)
  # momentum 0.9: new running mean = 0.9 * 0 + 0.1 * batch mean of the first conv's output.
  module = nnx.merge(m.graphdef, m.params, m.state, copy=True)
  conv_out = module.convs[0](x)
  np.testing.assert_allclose(train_state.to_pure_dict()["norms"][0]["mean"],
                             0.1 * np.asarray(conv_out).mean((0, 1, 2)), rtol=1e-4, atol=1e-6)


def test_dropout_uses_the_given_rng_and_only_in_training():
  m = models.create(model_config("mlp", dropout=0.5), 3, (4,), jax.random.key(0))
  x = jnp.ones((8, 4))
  a, _ = models.apply(m.graphdef, m.params, m.state, x, train=True, rng=jax.random.key(1))
  b, _ = models.apply(m.graphdef, m.params, m.state, x, train=True, rng=jax.random.key(1))
  c, _ = models.apply(m.graphdef, m.params, m.state, x, train=True, rng=jax.random.key(2))
  e, _ = models.apply(m.graphdef, m.params, m.state, x, train=False)
  np.testing.assert_array_equal(a.logits, b.logits)
  assert not np.allclose(a.logits, c.logits)
  assert not np.allclose(a.logits, e.logits)


@pytest.mark.slow
def test_bfloat16_compute_keeps_float32_params_and_outputs():
  m = models.create(model_config("small_cnn", width=4, dtype="bfloat16"), 3, (8, 8, 1),
                    jax.random.key(0))
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(m.params))
  x = jax.random.normal(jax.random.key(1), (2, 8, 8, 1))
  out, _ = models.apply(m.graphdef, m.params, m.state, x, train=True)
  # the same parameters computed in float32 give the same logits up to bf16 rounding
  m32 = models.create(model_config("small_cnn", width=4), 3, (8, 8, 1), jax.random.key(0))
  jax.tree.map(np.testing.assert_array_equal, m.params, m32.params)
  want, _ = models.apply(m32.graphdef, m32.params, m32.state, x, train=True)
  assert out.logits.dtype == jnp.float32 and out.logits.shape == (2, 3)
  np.testing.assert_allclose(out.logits, want.logits, rtol=5e-2, atol=5e-2)


def test_cifar10_quick_matches_caffes_layer_sizes():
  # Caffe's cifar10_quick: conv 5x5 3->32, 32->32, 32->64 (with biases), pooled 32->16->8->4,
  # ip1 4*4*64 -> 64, ip2 64 -> 10: 2432 + 25632 + 51264 + 65600 + 650 parameters.
  m = models.create(model_config("cifar10_quick"), 10, (32, 32, 3), jax.random.key(0))
  assert models.count_params(m.params) == 2432 + 25632 + 51264 + 65600 + 650
  out, _ = models.apply(m.graphdef, m.params, m.state, jnp.ones((2, 32, 32, 3)), train=True)
  assert out.logits.shape == (2, 10) and out.features.shape == (2, 64) and m.feature_dim == 64


def abstract_module(config, num_classes, input_shape):
  """The module with `ShapeDtypeStruct` leaves: shapes, dtypes and structure, no compute."""
  return nnx.eval_shape(lambda: models.build_module(config, num_classes, input_shape,
                                                    jax.random.key(0)))


def test_resnet18_cifar_stem_parameter_count_fast():
  # Fast twin of the two slow counting tests, on abstract parameters: torchvision's
  # resnet18(num_classes=1000) has 11_689_512; the CIFAR stem's 3x3 first conv has
  # (49 - 9) * 3 * 64 fewer weights than the 7x7 one, and nothing else differs.
  for name, want in (("resnet18_imagenet", 11_689_512), ("resnet18", 11_689_512 - 40 * 3 * 64)):
    params = nnx.state(abstract_module(model_config(name), 1000, (32, 32, 3)), nnx.Param)
    assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params)) == want, name
  m = abstract_module(model_config("resnet18"), 1000, (32, 32, 3))
  assert m.conv1.kernel.value.shape == (3, 3, 3, 64) and m.conv1.strides == 1


def numpy_conv3x3(x, w):
  """'Same' 3x3 convolution, zero padding 1, `[N, H, W, C] x [3, 3, C, D]`, by loops."""
  n, h, wd, _ = x.shape
  xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  out = np.zeros((n, h, wd, w.shape[-1]))
  for i in range(3):
    for j in range(3):
      out += np.einsum("nhwc,cd->nhwd", xp[:, i:i + h, j:j + wd], w[i, j])
  return out


def test_batchnorm_statistics_update_in_train_mode_only_fast():
  m = models.create(model_config("small_cnn", width=2, conv="xla"), 3, (4, 4, 1),
                    jax.random.key(0))
  x = np.asarray(jax.random.normal(jax.random.key(1), (4, 4, 4, 1)) * 3 + 2, np.float64)
  apply = jax.jit(models.apply, static_argnums=0, static_argnames="train")
  _, eval_state = apply(m.graphdef, m.params, m.state, jnp.asarray(x, jnp.float32), train=False)
  _, train_state = apply(m.graphdef, m.params, m.state, jnp.asarray(x, jnp.float32), train=True)
  before = m.state.to_pure_dict()["norms"][0]
  np.testing.assert_array_equal(before["mean"], 0)
  np.testing.assert_array_equal(before["var"], 1)
  for key in ("mean", "var"):  # eval mode leaves the running statistics alone
    np.testing.assert_array_equal(eval_state.to_pure_dict()["norms"][0][key], before[key])
  # momentum 0.9: running = 0.9 * (0 or 1) + 0.1 * batch statistic of the first conv's output
  conv = numpy_conv3x3(x, np.asarray(m.params.to_pure_dict()["convs"][0]["kernel"], np.float64))
  after = train_state.to_pure_dict()["norms"][0]
  np.testing.assert_allclose(after["mean"], 0.1 * conv.mean((0, 1, 2)), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(after["var"], 0.9 + 0.1 * conv.var((0, 1, 2)), rtol=1e-4)


def test_bfloat16_compute_keeps_float32_params_and_outputs_fast():
  kw = {"width": 2, "conv": "xla"}
  m = models.create(model_config("small_cnn", dtype="bfloat16", **kw), 3, (4, 4, 1),
                    jax.random.key(0))
  m32 = models.create(model_config("small_cnn", **kw), 3, (4, 4, 1), jax.random.key(0))
  assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(m.params))
  jax.tree.map(np.testing.assert_array_equal, m.params, m32.params)
  x = jax.random.normal(jax.random.key(1), (2, 4, 4, 1))
  apply = jax.jit(models.apply, static_argnums=0, static_argnames="train")
  out, new_state = apply(m.graphdef, m.params, m.state, x, train=True)
  want, _ = apply(m32.graphdef, m32.params, m32.state, x, train=True)
  assert out.logits.dtype == jnp.float32 and out.features.dtype == jnp.float32
  assert all(v.dtype == jnp.float32 for v in jax.tree.leaves(new_state))  # BN statistics
  np.testing.assert_allclose(out.logits, want.logits, rtol=5e-2, atol=5e-2)
  # and the compute really is bfloat16: the logits differ from float32's
  assert not np.array_equal(out.logits, want.logits)


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("name,shape", [("mlp", (12,)), ("small_cnn", (8, 8, 1))])
def test_create_builds_in_one_program_the_values_of_building_op_by_op(name, shape, mode):
  # models.create builds the module under nnx.jit (one compiled program); the values must
  # be those of the module built eagerly from the same key, BatchNorm statistics included,
  # with either model.compile (its fast emitters give the same bits at init)
  config = model_config(name, hidden=(16,), width=4, compile=mode)
  rng = jax.random.PRNGKey(7)
  made = models.create(config, 5, shape, rng)
  eager = models.build_module(config, 5, shape, rng)
  graphdef, params, state = nnx.split(eager, nnx.Param, ...)
  assert made.graphdef == graphdef
  for got, want in ((made.params, params), (made.state, state)):
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
      np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert jax.tree.leaves(params)  # not vacuous
  other = models.create(config, 5, shape, jax.random.PRNGKey(8))  # the key is used
  assert any(not np.array_equal(np.asarray(a), np.asarray(b))
             for a, b in zip(jax.tree.leaves(other.params), jax.tree.leaves(made.params)))


def test_imagenet_stem_max_pools_3x3_stride_2_with_one_pixel_of_padding():
  """torchvision's MaxPool2d(3, 2, padding=1) after conv1-bn-relu, by a numpy loop: a
  10x10 map (a 20x20 input through the stride-2 conv) pools to 5x5, each output the max
  of its 3x3 window over the map padded with -inf. One stage of one block behind the stem
  (the stem is ResNet18's; built op by op, the whole ResNet18 took 16-60 s)."""
  from nlx.models import resnet
  net = resnet.ResNet((1,), 3, 10, stem="imagenet", rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(1), (2, 20, 20, 3))
  before = np.asarray(nnx.relu(net.bn1(net.conv1(x), use_running_average=True)))
  assert before.shape == (2, 10, 10, 64)
  padded = np.pad(before, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
  want = np.stack([np.stack([padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2))
                             for j in range(5)], axis=1) for i in range(5)], axis=1)
  got = np.asarray(net.stem_features(x, train=False))
  np.testing.assert_allclose(got, want, rtol=1e-6)
  cifar = resnet.ResNet((1,), 3, 10, stem="cifar", rngs=nnx.Rngs(0))
  assert cifar.stem_features(x, train=False).shape == (2, 20, 20, 64)  # no pool, stride 1


def test_the_mlp_and_small_cnn_default_to_no_dropout_and_the_documented_width():
  """Without a dropout rate a training-mode forward pass (given an rng) is the eval-mode
  one; the small CNN's default width is 32 (features 4 * 32 = 128)."""
  from nlx.models.cnn import SmallCNN
  from nlx.models.mlp import MLP
  mlp = MLP(6, (5,), 3, rngs=nnx.Rngs(0))
  x = jax.random.normal(jax.random.key(2), (4, 6))
  train_out = mlp(x, train=True, rngs=nnx.Rngs(dropout=3))
  np.testing.assert_array_equal(train_out.logits, mlp(x, train=False).logits)
  cnn = SmallCNN(3, 10, rngs=nnx.Rngs(0))
  assert [c.kernel.value.shape[-1] for c in cnn.convs] == [32, 64, 128] and cnn.feature_dim == 128


def test_resnet_batchnorm_keeps_torchvisions_momentum():
  """torchvision's BatchNorm: running = 0.9 * running + 0.1 * the batch's statistic (the
  stem's bn1 after one train-mode forward)."""
  m = models.create(model_config("resnet18", conv="xla"), 3, (8, 8, 3), jax.random.key(0))
  x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3)) * 2 + 1
  conv = np.asarray(nnx.merge(m.graphdef, m.params, m.state).conv1(x), np.float64)
  _, state = jax.jit(models.apply, static_argnums=0, static_argnames="train")(
      m.graphdef, m.params, m.state, x, train=True)
  after = state.to_pure_dict()["bn1"]
  np.testing.assert_allclose(after["mean"], 0.1 * conv.mean((0, 1, 2)), rtol=1e-4, atol=1e-6)
  np.testing.assert_allclose(after["var"], 0.9 + 0.1 * conv.var((0, 1, 2)), rtol=1e-4)


def test_mlp_layers_follow_the_hidden_sizes_in_order():
  """hidden (12, 5): 7 -> 12 -> 5 -> classes; the features are the last hidden layer's."""
  m = models.create(model_config("mlp", hidden=(12, 5)), 3, (7,), jax.random.key(0))
  p = m.params.to_pure_dict()
  assert [p["layers"][i]["kernel"].shape for i in range(2)] == [(7, 12), (12, 5)]
  assert p["head"]["kernel"].shape == (5, 3) and m.feature_dim == 5
  out, _ = models.apply(m.graphdef, m.params, m.state, jnp.ones((2, 7)), train=False)
  assert out.logits.shape == (2, 3) and out.features.shape == (2, 5)


@pytest.mark.parametrize("name,blocks,count", [
    ("resnet18_imagenet", [2, 2, 2, 2], 11_689_512),
    ("resnet34_imagenet", [3, 4, 6, 3], 21_797_672),
    ("resnet50_imagenet", [3, 4, 6, 3], 25_557_032)])
def test_resnet_depths_and_sizes_are_torchvisions_fast(name, blocks, count):
  """Blocks per stage and parameters of torchvision's resnet18/34/50 (num_classes=1000),
  from the module's abstract shapes (nothing computed)."""
  module = nnx.eval_shape(lambda: models.build_module(model_config(name), 1000, (224, 224, 3),
                                                      jax.random.key(0)))
  assert [len(getattr(module, f"layer{i}")) for i in range(1, 5)] == blocks
  params = nnx.state(module, nnx.Param)
  assert sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params)) == count


def test_model_compile_options_and_a_bad_value(monkeypatch):
  """`model.compile`: full -> the convolutions' options only (None for the MLP); fast ->
  also `FAST_OPTIONS`, in the run-once options too (beside level 1); another value is a
  one-line ConfigError naming the key; a jaxlib that refuses the options keeps XLA's
  defaults."""
  from nlx.errors import ConfigError
  from nlx.ops import conv as conv_ops
  conv, fast = conv_ops.compiler_options("auto"), {"xla_cpu_use_fusion_emitters": False}
  assert models.FAST_OPTIONS == fast
  assert models.compiler_options(model_config("small_cnn")) == conv
  both = {**(conv or {}), **fast}
  assert models.compiler_options(model_config("small_cnn", compile="fast")) == both
  assert models.compiler_options(model_config("mlp")) is None
  assert models.compiler_options(model_config("mlp", compile="fast")) == fast
  level1 = {"xla_backend_optimization_level": 1}
  assert models.run_once_options() == models.run_once_options(model_config("mlp")) == level1
  assert models.run_once_options(model_config("mlp", compile="fast")) == {**level1, **fast}
  with pytest.raises(ConfigError, match=r"^model.compile must be full or fast, got 'quick'$"):
    models.compiler_options(model_config("mlp", compile="quick"))
  assert models._fast_accepted()
  monkeypatch.setattr(models, "_fast_accepted", lambda: False)
  assert models.compiler_options(model_config("mlp", compile="fast")) is None
  assert models.run_once_options(model_config("mlp", compile="fast")) == level1


def test_fast_options_a_jaxlib_refuses_are_not_used(monkeypatch):
  monkeypatch.setattr(models, "FAST_OPTIONS", {"xla_no_such_option_of_nlx": 1})
  models._fast_accepted.cache_clear()
  try:
    assert models._fast_accepted() is False
  finally:
    models._fast_accepted.cache_clear()
