"""Test setup: 8 host CPU devices (for sharding tests), the shared real data, and the
helpers several test files need: configs with overrides, small image files, `nlx.main` in
a subprocess."""

import gzip
import os
import subprocess
import sys

# Must happen before jax is imported anywhere.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# JAX's persistent compilation cache, outside the repo and keyed by JAX on the compiled
# program (and jax's version and flags): a second run of the suite loads what the first
# compiled instead of compiling it again. Set in the environment, so the `nlx.main`
# subprocesses the tests start share it. NLX_TEST_JAX_CACHE="" turns it off.
_CACHE = os.environ.get("NLX_TEST_JAX_CACHE",
                        os.path.join(os.path.expanduser("~"), ".cache", "nlx-tests", "jax"))
if _CACHE:
  os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", _CACHE)
  # Cache every program, not only those that took a second or more to compile: the suite
  # is thousands of small programs.
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
  os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.path.join(os.path.dirname(REPO), "shared", "data")
CONFIGS = os.path.join(REPO, "configs")


def shared_path(*parts):
  """Path under ../shared/data, or skip the test cleanly when it is absent."""
  p = os.path.join(SHARED_DATA, *parts)
  if not os.path.exists(p):
    pytest.skip(f"needs {p} (the shared real data)")
  return p


def override(config, **values):
  """`config` with `values` set in place; a key may be a dotted path (`**{"train.seed": 1}`)."""
  for key, value in values.items():
    *path, leaf = key.split(".")
    node = config
    for name in path:
      node = node[name]
    setattr(node, leaf, value)
  return config


def load_config(name: str, variant: str = "", **overrides):
  """Loads configs/<name>.py:get_config(variant) the way config_flags does, then sets
  `overrides` (dotted keys, as `override`)."""
  from nlx.config_base import load_file
  return override(load_file(name, variant), **overrides)


def pipeline_config(**values):
  """The default `config.data` with batches of 8 (the input pipeline tests' setting)."""
  from nlx.config_base import base_config
  return override(base_config().data, **{"batch_size": 8, **values})


def write_images(root, names, size=(8, 8), seed=0):
  """Distinct random RGB images of `size` (height, width) at `root/name` for each name, in
  that order from one seeded generator; folders are made as needed. Returns the pixels
  `[len(names), height, width, 3]` uint8."""
  from PIL import Image
  rng = np.random.default_rng(seed)
  pixels = rng.integers(0, 256, (len(names), *size, 3), dtype=np.uint8)
  for name, image in zip(names, pixels):
    path = os.path.join(root, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(image).save(path)
  return pixels


def write_idx(path, array):
  """`array` as an IDX file (the MNIST / Fashion-MNIST format: uint8, big-endian sizes),
  gzipped when `path` ends with .gz."""
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big")
                                                      for n in array.shape)
  opener = gzip.open if path.endswith(".gz") else open
  with opener(path, "wb") as f:
    f.write(header + array.astype(np.uint8).tobytes())


def write_image_folder(root, per_class, classes=("cat", "dog"), size=(16, 16)):
  """`root/<class>/<i>.png`, `per_class` random images of each class (`write_images`)."""
  return write_images(root, [f"{c}/{i}.png" for c in classes for i in range(per_class)], size)


def count_train_steps(monkeypatch) -> list:
  """The steps the trainer runs from here on: one per host batch it shards, `n` per
  compiled call of n steps (data on the device)."""
  from nlx import train
  calls, shard, shard_chunk = [], train.Trainer.shard, train.Trainer.shard_chunk
  monkeypatch.setattr(train.Trainer, "shard", lambda self, b: calls.append(1) or shard(self, b))
  monkeypatch.setattr(train.Trainer, "shard_chunk",
                      lambda self, rows: calls.extend([1] * len(rows)) or shard_chunk(self, rows))
  return calls


def torchvision_resnet_state_dict(stages, num_classes=1000, seed=0, bottleneck=False):
  """A state dict with torchvision's resnet key names and shapes (written from the
  torchvision architecture, independently of nlx's mapping), filled with random values.
  bottleneck: torchvision's `Bottleneck` blocks (resnet50): 1x1, 3x3, 1x1 (4x wider)."""
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
    width = 64 * 2 ** i
    cout = 4 * width if bottleneck else width
    for j in range(n):
      p = f"layer{i + 1}.{j}"
      block_in = cin if j == 0 else cout
      if bottleneck:
        convs = [(width, block_in, 1), (width, width, 3), (cout, width, 1)]
      else:
        convs = [(cout, block_in, 3), (cout, cout, 3)]
      for k, (o, c, size) in enumerate(convs, 1):
        sd[f"{p}.conv{k}.weight"] = rng.normal(size=(o, c, size, size)).astype(np.float32) * 0.05
        bn(f"{p}.bn{k}", o)
      if j == 0 and (i > 0 or cin != cout):
        sd[f"{p}.downsample.0.weight"] = rng.normal(size=(cout, cin, 1, 1)).astype(np.float32) * 0.1
        bn(f"{p}.downsample.1", cout)
    cin = cout
  sd["fc.weight"] = rng.normal(size=(num_classes, cin)).astype(np.float32) * 0.01
  sd["fc.bias"] = rng.normal(size=num_classes).astype(np.float32)
  return sd


def main_env(devices=None):
  """The environment of an `nlx.main` subprocess: this checkout, the CPU, `devices` host
  devices (None: jax's default, one)."""
  flags = f"--xla_force_host_platform_device_count={devices}" if devices else ""
  return {**os.environ, "PYTHONPATH": REPO, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": flags}


def start_main(*args, devices=None, cwd=None):
  """`python -m nlx.main *args`, started: a Popen with text stdout and stderr pipes."""
  return subprocess.Popen([sys.executable, "-m", "nlx.main", *args], env=main_env(devices),
                          cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_main(*args, cwd=None, timeout=300):
  """`python -m nlx.main *args` to its end: a CompletedProcess with text stdout and stderr."""
  return subprocess.run([sys.executable, "-m", "nlx.main", *args], env=main_env(), cwd=cwd,
                        capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="session")
def cifar10_dir(tmp_path_factory):
  """The official cifar-10-batches-py layout, written once from ../shared/data."""
  script = shared_path("cifar10", "materialize.py")
  out = tmp_path_factory.mktemp("cifar10")
  subprocess.run([sys.executable, script, str(out)], check=True, capture_output=True)
  return str(out)
