"""The Colab notebooks: what colab/build_notebooks.py writes (stable cell ids), code that
compiles and passes ruff, the first cell's install logic, and (slow) every notebook
executed with its TINY switch on (as it ships), so that a notebook that breaks fails the
build."""

import glob
import importlib.util
import os
import re
import shutil
import subprocess

import nbformat
import pytest
from conftest import REPO
from nbclient import NotebookClient

NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "colab", "*.ipynb")))
# pyflakes (F), pycodestyle errors and warnings, import order (I), bugbear (B). E402: the
# first cell sets TINY and installs nlx before its imports, as a notebook must.
LINT = ["--select", "F,E,W,I,B", "--ignore", "E402,E501"]


def builder():
  """colab/build_notebooks.py as a fresh module (it is a script, not a package)."""
  spec = importlib.util.spec_from_file_location(
      "build_notebooks", os.path.join(REPO, "colab", "build_notebooks.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def test_every_method_has_a_notebook():
  names = {os.path.basename(p) for p in NOTEBOOKS}
  assert {"quickstart.ipynb", "reproduce_arnet.ipynb", "reproduce_can.ipynb",
          "reproduce_sinet.ipynb", "reproduce_noise_model.ipynb",
          "reproduce_multimodal.ipynb"} <= names


def test_the_shipped_notebooks_are_what_the_builder_writes_byte_for_byte():
  # Two fresh builds: the same text, equal to the files in colab/ (a rebuild that changes
  # nothing leaves no diff), and every cell id is `<notebook>-<index>`.
  first, second = builder().NOTEBOOKS, builder().NOTEBOOKS
  assert sorted(f"{name}.ipynb" for name in first) == [os.path.basename(p) for p in NOTEBOOKS]
  for name, nb in first.items():
    text = nbformat.writes(nb)
    assert text == nbformat.writes(second[name])
    with open(os.path.join(REPO, "colab", f"{name}.ipynb")) as f:
      assert f.read() == text + "\n", f"colab/{name}.ipynb: rerun colab/build_notebooks.py"
    assert [c.id for c in nb.cells] == [f"{name}-{i}" for i in range(len(nb.cells))]
    nbformat.validate(nb)


def test_every_code_cell_compiles():
  for path in NOTEBOOKS:
    for i, cell in enumerate(nbformat.read(path, as_version=4).cells):
      if cell.cell_type == "code":
        compile(cell.source, f"{os.path.basename(path)} cell {i}", "exec")


def ruff(*args):
  exe = shutil.which("ruff")
  if exe is None:
    pytest.skip("ruff is not installed (pip install -e '.[dev]')")
  return subprocess.run([exe, "check", "--isolated", "--no-cache", "--output-format=concise",
                         *LINT, *args], capture_output=True, text=True, check=False)


def test_notebook_code_passes_ruff(tmp_path):
  r = ruff(*NOTEBOOKS)
  assert r.returncode == 0, r.stdout
  # The same rules do catch what they are for in a notebook: a name used before any cell
  # defines it, an unused import, a bare except.
  nb = nbformat.read(NOTEBOOKS[0], as_version=4)
  nb.cells.append(nbformat.v4.new_code_cell(
      "import json\ntry:\n    print(undefined_name)\nexcept:\n    pass"))
  nbformat.write(nb, tmp_path / "bad.ipynb")
  found = ruff(str(tmp_path / "bad.ipynb")).stdout
  assert {"F401", "F821", "E722"} <= set(re.findall(r"\b([A-Z]+[0-9]+)\b", found)), found


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_tiny(path, tmp_path):
  nb = nbformat.read(path, as_version=4)
  assert "TINY = True" in nb.cells[1].source
  NotebookClient(nb, timeout=900, kernel_name="python3",
                 resources={"metadata": {"path": str(tmp_path)}}).execute()
  errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]
  assert not errors


# The first cell's install logic (colab/build_notebooks.py INSTALL), executed here.

def first_cell_namespace(min_versions=None):
  """The install functions of the first cell, as a notebook defines them."""
  nb = nbformat.read(NOTEBOOKS[0], as_version=4)
  source = nb.cells[1].source
  code = source[:source.index('\nif "google.colab" in sys.modules:')]
  ns = {}
  exec(compile(code, "first cell", "exec"), ns)  # noqa: S102 (the notebook's own cell)
  if min_versions:
    ns["MIN_VERSIONS"] = min_versions
  return ns


def setup_cfg_minimum(name):
  """`name>=X` from setup.cfg's install_requires, read as plain lines."""
  with open(os.path.join(REPO, "setup.cfg")) as f:
    lines = [line.strip() for line in f]
  return next(line.split(">=")[1] for line in lines if line.startswith(f"{name}>="))


def test_every_first_cell_installs_without_editing_and_declares_setup_cfg_minimums():
  for path in NOTEBOOKS:
    source = nbformat.read(path, as_version=4).cells[1].source
    assert "REPO_URL" not in source and "install_nlx(find_source(" in source
    mins = first_cell_namespace()["MIN_VERSIONS"]
    assert mins == {"jax": setup_cfg_minimum("jax"), "flax": setup_cfg_minimum("flax")}


def test_the_runtime_jax_is_pinned_and_an_older_jax_is_refused():
  import jax
  import jaxlib
  ns = first_cell_namespace()
  pins = ns["jax_pins"]()
  assert f"jax=={jax.__version__}" in pins and f"jaxlib=={jaxlib.__version__}" in pins
  assert all(p.startswith("jax") for p in pins)
  with pytest.raises(SystemExit, match=r"nlx needs jax >= 99\.0"):
    first_cell_namespace({"jax": "99.0", "flax": "0"})["jax_pins"]()
  assert ns["version_tuple"]("0.7.10") > ns["version_tuple"]("0.7.9")


def test_source_is_the_drive_checkout_else_the_url_given_once(tmp_path):
  find = first_cell_namespace()["find_source"]
  with pytest.raises(SystemExit, match="NLX_URL"):
    find(str(tmp_path))
  assert find(str(tmp_path), url="https://example.org/nlx.git") == "https://example.org/nlx.git"
  (tmp_path / "nlx").mkdir()
  (tmp_path / "nlx" / "setup.cfg").write_text("[metadata]\nname = nlx\n")
  assert find(str(tmp_path), url="https://example.org/nlx.git") == str(tmp_path / "nlx")


def test_a_checkout_folder_named_nlx_is_not_taken_for_the_package(tmp_path, monkeypatch):
  importable = first_cell_namespace()["nlx_importable"]
  assert importable()  # the tests import this checkout's nlx
  name = "nlx_probe_checkout"
  (tmp_path / name).mkdir()  # like /content/nlx, a clone: no __init__.py at its top
  monkeypatch.syspath_prepend(str(tmp_path))
  assert importlib.util.find_spec(name) is not None and not importable(name)
  (tmp_path / name / "__init__.py").write_text("")  # a real package
  importlib.invalidate_caches()
  assert importable(name)


def test_workdirs_go_to_drive_when_it_is_mounted(tmp_path):
  root = first_cell_namespace()["workdir_root"]
  assert root(False, str(tmp_path)) == str(tmp_path / "nlx_workdirs")
  assert root(False, str(tmp_path / "not_mounted")) == "workdirs"
  assert os.path.isdir(root(True, str(tmp_path))) and root(True, str(tmp_path)) != root(
      True, str(tmp_path))  # TINY: a fresh temporary folder each time


def test_installing_this_checkout_keeps_the_installed_jax(tmp_path, monkeypatch):
  # pip's own resolver, offline, on the command the cell runs: it would add nlx and
  # change nothing else, under a constraint file that pins every installed jax package.
  import json
  ns = first_cell_namespace()
  report = tmp_path / "report.json"
  monkeypatch.setattr(ns["tempfile"], "tempdir", str(tmp_path))
  ns["install_nlx"](REPO, drive=str(tmp_path), pip_options=(
      "--dry-run", "--no-index", "--no-build-isolation", "--report", str(report)))
  installs = [i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]]
  assert installs == ["nlx"]
  assert (tmp_path / "nlx_constraints.txt").read_text().splitlines() == ns["jax_pins"]()
