import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from safetensors.numpy import save_file

from nlx import models
from nlx.config_base import base_config
from nlx.errors import DataError


def torchvision_resnet_state_dict(stages, num_classes=1000, seed=0):
  """A state dict with torchvision's resnet key names and shapes (written from the
  torchvision architecture, independently of nlx's mapping), filled with random values."""
  rng = np.random.default_rng(seed)
  sd = {}

  def bn(prefix, c):
    sd[f"{prefix}.weight"] = rng.uniform(0.5, 1.5, c).astype(np.float32)
    sd[f"{prefix}.bias"] = rng.normal(size=c).astype(np.float32)
    sd[f"{prefix}.running_mean"] = rng.normal(size=c).astype(np.float32)
    sd[f"{prefix}.running_var"] = rng.uniform(0.5, 2.0, c).astype(np.float32)
    sd[f"{prefix}.num_batches_tracked"] = np.array(100, np.int64)

  sd["conv1.weight"] = rng.normal(size=(64, 3, 7, 7)).astype(np.float32) * 0.1
  bn("bn1", 64)
  cin = 64
  for i, n in enumerate(stages):
    cout = 64 * 2 ** i
    for j in range(n):
      p = f"layer{i + 1}.{j}"
      sd[f"{p}.conv1.weight"] = rng.normal(
          size=(cout, cin if j == 0 else cout, 3, 3)).astype(np.float32) * 0.05
      bn(f"{p}.bn1", cout)
      sd[f"{p}.conv2.weight"] = rng.normal(size=(cout, cout, 3, 3)).astype(np.float32) * 0.05
      bn(f"{p}.bn2", cout)
      if j == 0 and i > 0:
        sd[f"{p}.downsample.0.weight"] = rng.normal(size=(cout, cin, 1, 1)).astype(np.float32) * 0.1
        bn(f"{p}.downsample.1", cout)
    cin = cout
  sd["fc.weight"] = rng.normal(size=(num_classes, 512)).astype(np.float32) * 0.01
  sd["fc.bias"] = rng.normal(size=num_classes).astype(np.float32)
  return sd


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
  _, d = resnet18_file
  m = create("resnet18_imagenet", str(d / "r18.npz"), num_classes=10)
  assert m.params.to_pure_dict()["fc"]["kernel"].shape == (512, 10)


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
