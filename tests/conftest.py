"""Test setup: 8 host CPU devices (for sharding tests) and the shared real data."""

import os
import subprocess
import sys

# Must happen before jax is imported anywhere.
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                           " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

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


def load_config(name: str, variant: str = ""):
  """Loads configs/<name>.py:get_config(variant) the way config_flags does."""
  from nlx.config_base import load_file
  return load_file(name, variant)


@pytest.fixture(scope="session")
def cifar10_dir(tmp_path_factory):
  """The official cifar-10-batches-py layout, written once from ../shared/data."""
  script = shared_path("cifar10", "materialize.py")
  out = tmp_path_factory.mktemp("cifar10")
  subprocess.run([sys.executable, script, str(out)], check=True, capture_output=True)
  return str(out)
