import configparser
import os
import re

import numpy as np
from conftest import REPO


def readme():
  with open(os.path.join(REPO, "README.md")) as f:
    return f.read()


def test_readme_losses_example_runs_and_gives_the_losses_by_hand():
  section = readme().split("## Use `nlx.losses` in your own JAX code", 1)[1]
  code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
  scope = {}
  exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
  logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
  p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  p_y = p[[0, 1], [0, 1]]
  # GCE (Zhang & Sabuncu): (1 - p_y^q) / q, averaged; SCE: 0.1 CE + 1.0 RCE with
  # RCE = -A (1 - p_y), A = log 0 := -4; forward: -log (p T)_y with T = 0.8 I + 0.2 / 3.
  np.testing.assert_allclose(float(scope["loss"]), np.mean((1 - p_y ** 0.7) / 0.7), rtol=1e-6)
  np.testing.assert_allclose(scope["sce"], 0.1 * -np.log(p_y) + 4 * (1 - p_y), rtol=1e-6)
  pt = p @ (np.eye(3) * 0.8 + 0.2 / 3)
  np.testing.assert_allclose(scope["fwd"], -np.log(pt[[0, 1], [0, 1]]), rtol=1e-6)


def test_readme_ci_and_setup_cfg_agree_on_the_fast_test_command():
  # README command 2 leaves out the tests marked slow, CI runs exactly that command and
  # then the slow ones (so nothing is guarded only by tests that never run), setup.cfg
  # registers the marker, and the README says how to run the slow ones.
  text = readme()
  commands = text.split("## Two commands for a new user", 1)[1].split("```", 2)[1]
  assert 'pytest -q -m "not slow"' in commands.splitlines()
  assert "pytest -q -m slow" in text
  with open(os.path.join(REPO, ".ci", "run")) as f:
    ci = f.read().splitlines()
  assert 'pytest -q -m "not slow"' in ci
  assert "pytest -q -m slow" in ci
  assert ci.index("pytest -q -m slow") > ci.index('pytest -q -m "not slow"')
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(REPO, "setup.cfg"))
  markers = [m.split(":")[0].strip() for m in cfg["tool:pytest"]["markers"].splitlines() if m]
  assert "slow" in markers
