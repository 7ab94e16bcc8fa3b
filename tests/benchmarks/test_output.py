"""nlx.benchmarks.output, and the scripts in experiments/ as thin callers of nlx.benchmarks."""

import ast
import os
import sys

import pytest
from conftest import REPO

from nlx.benchmarks import output
from nlx.errors import ConfigError

STANDALONE = ("mutation_test.py",)  # a tool of its own (copies the tree it mutates)


def test_command_line_names_the_script_relative_to_the_working_folder():
  argv = [os.path.join(os.getcwd(), "experiments", "x.py"), "--a=1", "--b"]
  assert output.command_line(argv) == f"python {os.path.join('experiments', 'x.py')} --a=1 --b"


def test_mean_std_text_is_population_std_and_may_drop_the_spread_of_one():
  assert output.mean_std_text([0.5, 0.7]) == "60.00 ± 10.00"
  assert output.mean_std_text([0.5]) == "50.00 ± 0.00"
  assert output.mean_std_text([12.3], scale=1, digits=0, std_of_one=False) == "12"
  assert output.mean_std_text([0.5, 0.7], digits=1, std_of_one=False) == "60.0 ± 10.0"


def test_write_text_makes_the_folder(tmp_path):
  path = output.write_text(str(tmp_path / "a" / "b.md"), "x")
  with open(path) as f:
    assert f.read() == "x"


def test_a_users_error_is_one_line_naming_the_script(monkeypatch):
  monkeypatch.setattr(sys, "argv", ["experiments/noisy_benchmark.py"])

  @output.one_line_errors
  def main(argv):
    raise ConfigError("--suite=fi needs --data_dir")
  with pytest.raises(SystemExit, match="^noisy_benchmark: --suite=fi needs --data_dir$"):
    main([])


def _python_files(folder):
  for d, _, files in os.walk(os.path.join(REPO, folder)):
    yield from (os.path.join(d, f) for f in files if f.endswith(".py"))


def test_no_script_or_test_edits_the_import_path_or_imports_another_script():
  """Library code lives in nlx.benchmarks; scripts and tests import it like any user."""
  scripts = {os.path.basename(p)[:-3] for p in _python_files("experiments")}
  for path in [*_python_files("experiments"), *_python_files("tests")]:
    if os.path.basename(path) in STANDALONE:
      continue
    with open(path) as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(
          node.value, "id", None) == "sys":
        raise AssertionError(f"{os.path.relpath(path, REPO)}:{node.lineno} edits the module "
                             "search path: import nlx.benchmarks instead")
      if isinstance(node, ast.Import | ast.ImportFrom) and path.startswith(
          os.path.join(REPO, "experiments")):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
        assert not set(names) & scripts, f"{path} imports another script: {names}"
