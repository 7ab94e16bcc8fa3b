import glob
import os

import pytest
from conftest import CONFIGS, load_config

NAMES = sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(f"{CONFIGS}/*.py"))


@pytest.mark.parametrize("name", NAMES)
def test_config_docstring_default_and_tiny(name):
  with open(os.path.join(CONFIGS, f"{name}.py")) as f:
    source = f.read()
  doc = source.split('"""')[1]
  for field in ("Command:", "Runtime:", "Expected:"):
    assert field in doc, f"{name}: docstring lacks {field}"
  assert "python -m nlx.main" in doc
  full, small = load_config(name), load_config(name, "tiny")
  assert small.train.num_epochs <= 2 and not small.train.progress_bar
  assert full.train.num_epochs > small.train.num_epochs
  with pytest.raises(AttributeError):
    full.train.num_epoch = 3  # locked: a typo is an error, not a new key
  with pytest.raises(ValueError, match="unknown config variant"):
    load_config(name, "tyni")
