import subprocess
import sys

import numpy as np
import pytest
from conftest import load_config, write_image_folder

from nlx import io, train
from nlx.errors import ConfigError
from nlx.report import plots, report, run_files


@pytest.mark.slow
def test_report_of_finished_and_unfinished_workdirs(tmp_path, monkeypatch):
  config = load_config("baselines", "elr,tiny")
  done = tmp_path / "runs" / "elr"
  monkeypatch.setattr(sys, "argv", ["nlx.main", "--config=configs/baselines.py:elr,tiny"])
  result = train.train_and_evaluate(config, str(done))
  (tmp_path / "runs" / "empty").mkdir()
  out = tmp_path / "report.md"
  text = report.make_report([str(done), str(tmp_path / "runs" / "empty")], str(out))
  acc = f"{100 * result['test']['accuracy']:.2f}%"
  evals = [r["test_accuracy"] for r in io.read_jsonl(str(done / "metrics.jsonl"))
           if r["kind"] == "eval"]
  best = f"{100 * max(evals):.2f}%"
  # what tells runs apart: method and variant, noise type and rate, seed, best and last
  assert (f"| digits | elr (`elr,tiny`) | small_cnn | symmetric, "
          f"{100 * result['noise_rate']:.1f}% | 0 | clean | {best} | {acc} (macro-F1 ") in text
  assert f"{result['noise_detection']['auroc']:.3f}" in text  # ELR has a trust score
  assert "![training curves" in text and "runs/elr/curves.png" in text
  assert "Not finished" in text and "empty" in text
  assert len(report.read_metrics(str(done))) > 2
  # the command line entry point writes the same report
  cli = subprocess.run([sys.executable, "-m", "nlx.report", str(done), "--out",
                        str(tmp_path / "cli.md")], capture_output=True, text=True, check=True)
  assert "cli.md" in cli.stdout and acc in (tmp_path / "cli.md").read_text()


def test_rank_precision_plot_writes_a_file(tmp_path):
  rng = np.random.default_rng(0)
  wrong = rng.random(200) < 0.3
  trust = np.where(wrong, rng.random(200) - 0.5, rng.random(200))
  plots.rank_precision({"score": (trust, wrong)}, str(tmp_path / "rp.png"))
  assert (tmp_path / "rp.png").stat().st_size > 1000


def test_a_path_that_is_no_workdir_is_an_error_not_unfinished(tmp_path):
  with pytest.raises(ConfigError, match=f"no workdir {tmp_path}/typo"):
    report.make_report([str(tmp_path / "typo")], str(tmp_path / "r.md"))
  cli = subprocess.run([sys.executable, "-m", "nlx.report", str(tmp_path / "typo"), "--out",
                        str(tmp_path / "r.md")], capture_output=True, text=True, check=False)
  assert cli.returncode == 1 and cli.stderr.strip() == f"nlx: error: no workdir {tmp_path}/typo"


@pytest.mark.slow
def test_user_data_test_labels_are_as_given_not_clean(tmp_path):
  write_image_folder(tmp_path / "data", 12)
  config = load_config("ce_image_folder", "tiny")
  config.data.data_dir = str(tmp_path / "data")
  result = train.train_and_evaluate(config, str(tmp_path / "run"))
  assert result["test_labels"] == "as given"
  assert "| test (labels as given) acc |" in run_files.results_table(result)
  assert "clean-test" not in run_files.results_table(result)
  text = report.make_report([str(tmp_path / "run")], str(tmp_path / "r.md"))
  assert "| none, 0.0% | 0 | as given |" in text
