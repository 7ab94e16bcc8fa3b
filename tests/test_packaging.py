"""`pip install .` works from any folder: the wheel carries the config files as nlx/configs."""

import configparser
import glob
import os
import shutil
import site
import subprocess
import sys
import zipfile

import pytest
from conftest import REPO


def setup_cfg() -> configparser.ConfigParser:
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(REPO, "setup.cfg"))
  return cfg


def test_setup_cfg_lists_every_package_and_maps_configs():
  """setup.cfg lists the packages (find: cannot add nlx.configs); a new subpackage missing
  from that list would be left out of the wheel."""
  cfg = setup_cfg()
  listed = cfg["options"]["packages"].split()
  found = sorted(os.path.relpath(os.path.dirname(p), REPO).replace(os.sep, ".")
                 for p in glob.glob(os.path.join(REPO, "nlx", "**", "__init__.py"), recursive=True))
  assert sorted(listed) == sorted([*found, "nlx.configs"])
  assert cfg["options"]["package_dir"].split() == ["nlx.configs", "=", "configs"]
  assert "slow" in cfg["tool:pytest"]["markers"]


def run(*args, **kw):
  r = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False, **kw)
  assert r.returncode == 0, (args, r.stdout[-2000:], r.stderr[-3000:])
  return r


@pytest.mark.slow
def test_wheel_installs_and_runs_the_quickstart_outside_the_checkout(tmp_path):
  src = tmp_path / "src"  # a copy, so that the build leaves no build/ in the checkout
  shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
      ".git", "build", "*.egg-info", "__pycache__", "workdirs", "tests", "colab", "experiments"))
  run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
      str(src), "-w", str(tmp_path / "dist"))
  [wheel] = glob.glob(str(tmp_path / "dist" / "nlx-*.whl"))
  with zipfile.ZipFile(wheel) as z:
    shipped = sorted(n for n in z.namelist() if n.startswith("nlx/configs/"))
  assert shipped == sorted(f"nlx/configs/{os.path.basename(p)}"
                           for p in glob.glob(os.path.join(REPO, "configs", "*.py")))
  venv = tmp_path / "venv"
  run(sys.executable, "-m", "venv", "--system-site-packages", str(venv))
  python = str(venv / "bin" / "python")
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # no checkout on the path
  env["XLA_FLAGS"] = ""
  purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])",
                env=env)
  # jax, flax, ... from this interpreter's environment, after the venv's own packages
  with open(os.path.join(purelib.stdout.strip(), "test_deps.pth"), "w") as f:
    f.write("\n".join(site.getsitepackages()) + "\n")
  # --ignore-installed: an nlx installed in this environment is neither reused nor removed
  run(python, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", wheel, env=env)
  elsewhere = tmp_path / "elsewhere"
  elsewhere.mkdir()
  where = run(python, "-c", "import nlx.config_base as b; print(b.CONFIGS_DIR)", cwd=elsewhere,
              env=env)
  assert where.stdout.strip() == os.path.join(purelib.stdout.strip(), "nlx", "configs")
  r = run(python, "-m", "nlx.main", "--config=configs/quickstart.py:tiny", "--workdir=wd",
          cwd=elsewhere, env=env)
  assert "| digits | ce | small_cnn | 39.8% |" in r.stdout
  assert (elsewhere / "wd" / "results.json").is_file()
  r = run(str(venv / "bin" / "nlx"), "train", "--config=configs/baselines.py:gce,tiny",
          "--config.train.num_epochs=1", "--workdir=wd2", cwd=elsewhere, env=env)
  assert "| digits | gce | small_cnn |" in r.stdout
