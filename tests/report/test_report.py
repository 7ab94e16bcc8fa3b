import subprocess
import sys

import numpy as np
from conftest import load_config

from nlx import train
from nlx.report import plots, report


def test_report_of_finished_and_unfinished_workdirs(tmp_path):
  config = load_config("baselines", "elr,tiny")
  done = tmp_path / "runs" / "elr"
  result = train.train_and_evaluate(config, str(done))
  (tmp_path / "runs" / "empty").mkdir()
  out = tmp_path / "report.md"
  text = report.make_report([str(done), str(tmp_path / "runs" / "empty")], str(out))
  acc = f"acc {100 * result['test']['accuracy']:.2f}%"
  assert acc in text and "| digits | elr |" in text
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
