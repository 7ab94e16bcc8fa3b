"""Executes every Colab notebook with its TINY switch on (as it ships), so that a notebook
that breaks fails the build."""

import glob
import os

import nbformat
import pytest
from conftest import REPO
from nbclient import NotebookClient

NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "colab", "*.ipynb")))


def test_every_method_has_a_notebook():
  names = {os.path.basename(p) for p in NOTEBOOKS}
  assert {"quickstart.ipynb", "reproduce_arnet.ipynb", "reproduce_can.ipynb",
          "reproduce_sinet.ipynb", "reproduce_noise_model.ipynb",
          "reproduce_multimodal.ipynb"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_tiny(path, tmp_path):
  nb = nbformat.read(path, as_version=4)
  assert "TINY = True" in nb.cells[1].source
  NotebookClient(nb, timeout=900, kernel_name="python3",
                 resources={"metadata": {"path": str(tmp_path)}}).execute()
  errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.get("output_type") == "error"]
  assert not errors
