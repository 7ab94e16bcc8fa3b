"""nlx.benchmarks.label_issue_finding: stored cells are reused only under their config."""

import os

import pytest

from nlx import io
from nlx import workdir as workdir_lib
from nlx.benchmarks import label_issue_finding as lib
from nlx.errors import ConfigError


def test_label_issue_cells_are_reused_only_under_their_own_config(tmp_path):
  """A cleanlab cell's stored scores are reused only when scored on the same data and noise;
  one scored under another config is an error naming the key."""
  finding = lib.Finding(str(tmp_path), "", reuse_only=True)
  path = os.path.join(str(tmp_path), "label_issues", "digits", "sym40", "seed0",
                      "cleanlab_logreg.json")
  os.makedirs(os.path.dirname(path))
  keys = workdir_lib.fingerprint_keys(lib.cell_config("digits", "sym40", 0, ""))
  io.write_json(path, {"auroc": 0.9, "config_keys": keys})
  assert finding.run_cell("digits", "sym40", 0, "cleanlab_logreg")["auroc"] == 0.9
  io.write_json(path, {"auroc": 0.9, "config_keys": {**keys, "noise.rate": 0.2}})
  with pytest.raises(ConfigError, match=r"noise.rate: 0.2 -> 0.4"):
    finding.run_cell("digits", "sym40", 0, "cleanlab_logreg")
  # scored by an older nlx, before a key existed: reused while the key holds its default
  older = {k: v for k, v in keys.items() if k != "model.lstm_hidden"}
  io.write_json(path, {"auroc": 0.8, "config_keys": older})
  assert finding.run_cell("digits", "sym40", 0, "cleanlab_logreg")["auroc"] == 0.8
  io.write_json(path, {"auroc": 0.8, "config_keys": {**older, "model.width": 7}})
  with pytest.raises(ConfigError, match=r"model.width: 7 -> 32"):
    finding.run_cell("digits", "sym40", 0, "cleanlab_logreg")


def test_the_table_shows_one_seed_without_a_spread():
  cells = {("sym40", 0, "nlx_ce_aum"): {"auroc": 0.9, "ap": 0.8, "precision": 0.7,
                                        "recall": 0.6, "f1": 0.65, "estimated_errors": 700,
                                        "true_errors": 720, "wall_s": 12.3}}
  text = lib.table(cells, ["sym40"], {"sym40": [0]})
  assert "| nlx: CE's area under the margin (one run) | 90.0 | 80.0 | 70.0 | 60.0 | 65.0 | 700 |" \
         " 720 | 12 |" in text
