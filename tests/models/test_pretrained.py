import os

import jax
import jax.numpy as jnp
import ml_dtypes
import numpy as np
import pytest
from conftest import torchvision_resnet_state_dict
from flax import nnx
from safetensors.numpy import save_file

from nlx import models
from nlx.config_base import base_config
from nlx.errors import DataError

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")


def create(name, path, num_classes=1000):
  c = base_config().model
  c.name, c.pretrained = name, path
  return models.create(c, num_classes, (64, 64, 3), jax.random.key(0))


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
  d = tmp_path_factory.mktemp("weights")
  sd = torchvision_resnet_state_dict((2, 2, 2, 2))
  save_file({k: v for k, v in sd.items()}, str(d / "r18.safetensors"))
  np.savez(d / "r18.npz", **sd)
  return sd, d


@pytest.mark.parametrize("ext", ["safetensors", "npz"])
def test_loaded_stem_computes_torch_conv_bn(resnet18_file, ext):
  sd, d = resnet18_file
  m = create("resnet18_imagenet", str(d / f"r18.{ext}"))
  module = nnx.merge(m.graphdef, m.params, m.state)
  x = np.random.default_rng(1).normal(size=(2, 64, 64, 3)).astype(np.float32)
  ours = module.bn1(module.conv1(jnp.asarray(x)), use_running_average=True)
  # Reference in torch's layout: NCHW input, OIHW weight, padding 3, stride 2; eval-mode BN.
  ref = jax.lax.conv_general_dilated(jnp.asarray(x.transpose(0, 3, 1, 2)), sd["conv1.weight"],
                                     (2, 2), ((3, 3), (3, 3)),
                                     dimension_numbers=("NCHW", "OIHW", "NCHW"))
  ref = np.asarray(ref).transpose(0, 2, 3, 1)
  ref = ((ref - sd["bn1.running_mean"]) / np.sqrt(sd["bn1.running_var"] + 1e-5) * sd["bn1.weight"]
         + sd["bn1.bias"])
  np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4)
  p = m.params.to_pure_dict()
  np.testing.assert_array_equal(p["fc"]["kernel"], sd["fc.weight"].T)
  np.testing.assert_array_equal(p["layer2"][0]["downsample"][0]["kernel"],
                                sd["layer2.0.downsample.0.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(m.state.to_pure_dict()["layer4"][1]["bn2"]["var"],
                                sd["layer4.1.bn2.running_var"])


def test_other_class_count_keeps_random_head(resnet18_file):
  sd, d = resnet18_file
  m = create("resnet18_imagenet", str(d / "r18.npz"), num_classes=10)
  fresh = create("resnet18_imagenet", "", num_classes=10)  # the same key, no file
  p, f = m.params.to_pure_dict(), fresh.params.to_pure_dict()
  # the head: the random values a run without the file starts from (not zeros, not
  # another key's); the body: the file's
  np.testing.assert_array_equal(p["fc"]["kernel"], f["fc"]["kernel"])
  np.testing.assert_array_equal(p["fc"]["bias"], f["fc"]["bias"])
  assert p["fc"]["kernel"].shape == (512, 10) and np.abs(p["fc"]["kernel"]).max() > 0
  np.testing.assert_array_equal(p["layer1"][0]["conv1"]["kernel"],
                                sd["layer1.0.conv1.weight"].transpose(2, 3, 1, 0))
  np.testing.assert_array_equal(m.state.to_pure_dict()["bn1"]["mean"], sd["bn1.running_mean"])
  leaves = jax.tree.leaves((m.params.to_pure_dict(), m.state.to_pure_dict()))
  assert not any(isinstance(x, jax.ShapeDtypeStruct) for x in leaves)


def test_missing_unexpected_and_mismatched_keys_are_named(resnet18_file, tmp_path):
  sd, d = resnet18_file
  broken = {k: v for k, v in sd.items() if k != "layer1.0.conv1.weight"}
  broken["extra.weight"] = np.zeros((3, 3), np.float32)
  np.savez(tmp_path / "bad.npz", **broken)
  with pytest.raises(DataError, match=r"missing keys: \['layer1.0.conv1.kernel'\].*extra.kernel"):
    create("resnet18_imagenet", str(tmp_path / "bad.npz"))
  with pytest.raises(DataError, match="conv1.kernel"):  # 7x7 weights into the 3x3 CIFAR stem
    create("resnet18", str(d / "r18.npz"))
  with pytest.raises(DataError, match="not found"):
    create("resnet18_imagenet", str(tmp_path / "nope.npz"))


def torch_conv_bn(x, sd, conv, bn, stride=1):
  """Reference in torch's layout (NCHW input, OIHW weight, padding k // 2), then eval-mode
  BatchNorm from the state dict: `x [B, H, W, C]` -> `[B, H', W', O]`."""
  w = sd[f"{conv}.weight"]
  pad = w.shape[-1] // 2
  y = jax.lax.conv_general_dilated(jnp.asarray(x.transpose(0, 3, 1, 2)), w, (stride, stride),
                                   ((pad, pad), (pad, pad)),
                                   dimension_numbers=("NCHW", "OIHW", "NCHW"),
                                   precision="highest")
  y = np.asarray(y).transpose(0, 2, 3, 1)
  return ((y - sd[f"{bn}.running_mean"]) / np.sqrt(sd[f"{bn}.running_var"] + 1e-5)
          * sd[f"{bn}.weight"] + sd[f"{bn}.bias"])


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory):
  sd = torchvision_resnet_state_dict((3, 4, 6, 3), bottleneck=True)
  path = tmp_path_factory.mktemp("weights50") / "r50.npz"
  np.savez(path, **sd)
  return sd, path


def test_resnet50_bottleneck_computes_torchvisions_block(resnet50_file):
  sd, path = resnet50_file
  m = create("resnet50_imagenet", str(path))
  assert m.feature_dim == 2048 and m.params.to_pure_dict()["fc"]["kernel"].shape == (2048, 1000)
  module = nnx.merge(m.graphdef, m.params, m.state)
  relu = lambda v: np.maximum(v, 0)  # noqa: E731
  for layer, stride, cin in (("layer1", 1, 64), ("layer2", 2, 256)):
    block = getattr(module, layer)[0]
    x = np.random.default_rng(2).normal(size=(2, 8, 8, cin)).astype(np.float32)
    p = f"{layer}.0"
    h = relu(torch_conv_bn(x, sd, f"{p}.conv1", f"{p}.bn1"))
    h = relu(torch_conv_bn(h, sd, f"{p}.conv2", f"{p}.bn2", stride))  # v1.5: the 3x3 strides
    h = torch_conv_bn(h, sd, f"{p}.conv3", f"{p}.bn3")
    want = relu(h + torch_conv_bn(x, sd, f"{p}.downsample.0", f"{p}.downsample.1", stride))
    got = block(jnp.asarray(x), train=False)
    assert got.shape == (2, 8 // stride, 8 // stride, 256 if layer == "layer1" else 512)
    np.testing.assert_allclose(np.asarray(got), want, rtol=2e-4, atol=2e-4, err_msg=layer)


def test_a_resnet50_file_into_resnet34_names_the_first_keys_that_do_not_fit(resnet50_file):
  with pytest.raises(DataError, match=r"unexpected keys: \['layer1.0.bn3.bias'") as e:
    create("resnet34_imagenet", str(resnet50_file[1]))
  assert "\n" not in str(e.value)


def test_a_torch_pth_file_is_read_without_torch():
  """The fixture was written by torch.save (tests/models/fixtures/make_torch_state_dict.py):
  every tensor equals its closed form, views of one storage included."""
  from nlx.data.safe_pickle import load_torch_state_dict
  path = os.path.join(FIXTURES, "torch_state_dict.pth")
  got = load_torch_state_dict(path)
  big = np.arange(24, dtype=np.float32).reshape(4, 6)
  want = {"conv1.weight": np.arange(54, dtype=np.float32).reshape(2, 3, 3, 3) / 10,
          "rows.1.to.2": big[1:3], "transposed": big.T, "every.other.column": big[:, ::2],
          "bn1.num_batches_tracked": np.array(7), "half": np.array([1.5, -2.0], np.float16),
          "bfloat16": np.array([0.5, 3.0], ml_dtypes.bfloat16),
          "double": np.array([[1e-300, 2.0]]), "flags": np.array([True, False, True]),
          "empty": np.zeros((0, 3), np.float32)}
  assert list(got) == list(want)  # the file's order
  for k, v in want.items():
    assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
    np.testing.assert_array_equal(got[k], v, err_msg=k)
  # model.pretrained reads .pth (and .pt) through the same reader
  from nlx.models.pretrained import read_state_dict
  assert read_state_dict(path).keys() == want.keys()
