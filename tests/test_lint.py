"""The tree passes CI's lint, `ruff check --config .ci/ruff.toml .`, so that the README's
test command catches a lint regression too; and that configuration does check what it
is for (the notebooks, not the virtualenv; a long line, an `l`, unsorted imports)."""

import importlib.util
import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import REPO

CONFIG = os.path.join(REPO, ".ci", "ruff.toml")


def ruff(*args, cwd=REPO):
  """`ruff check --config .ci/ruff.toml ARGS` in `cwd` (the config's relative paths are
  resolved against it); no cache written into the checkout."""
  if importlib.util.find_spec("ruff") is not None:
    exe = [sys.executable, "-m", "ruff"]
  elif shutil.which("ruff"):
    exe = [shutil.which("ruff")]
  else:
    pytest.skip("ruff is not installed (pip install -e '.[test]')")
  return subprocess.run([*exe, "check", "--config", CONFIG, "--no-cache",
                         "--output-format=concise", *args], cwd=cwd, capture_output=True,
                        text=True, timeout=120, check=False)


def test_the_tree_passes_ruff():
  r = ruff(".")
  assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_checks_the_notebooks_and_leaves_out_the_virtualenv():
  r = ruff("--show-files", ".")
  assert r.returncode == 0, r.stderr
  files = {os.path.relpath(line.strip(), REPO) for line in r.stdout.splitlines()
           if line.strip()}
  notebooks = {f"colab/{n}" for n in os.listdir(os.path.join(REPO, "colab"))
               if n.endswith(".ipynb")}
  assert notebooks and notebooks <= files
  assert {"tests/conftest.py", "nlx/train.py", "colab/build_notebooks.py"} <= files
  assert not [f for f in files if f.split(os.sep)[0] in (".venv", "workdirs", "build")]


def test_the_configuration_catches_what_it_is_for(tmp_path):
  bad = tmp_path / "bad.py"
  bad.write_text("import sys\nimport os\n\n"
                 f"l = [os.sep, sys.argv]  # {'x' * 100}\n")
  found = ruff(str(bad), cwd=tmp_path).stdout
  assert {"E501", "E741", "I001"} <= set(re.findall(r"\b([A-Z]+[0-9]+)\b", found)), found
