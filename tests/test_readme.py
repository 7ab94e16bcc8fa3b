import os
import re

import numpy as np
from conftest import REPO


def test_readme_losses_example_runs():
  with open(os.path.join(REPO, "README.md")) as f:
    text = f.read()
  section = text.split("## Use `nlx.losses` in your own JAX code", 1)[1]
  code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
  scope = {}
  exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
  assert np.isfinite(float(scope["loss"]))
  assert scope["sce"].shape == (2,) and scope["fwd"].shape == (2,)
