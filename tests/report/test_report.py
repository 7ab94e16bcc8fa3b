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


def write_workdir(path, *, results, config, argv, evals):
  """A finished workdir's files, written by hand (no training run)."""
  path.mkdir(parents=True)
  io.write_json(str(path / "results.json"), results)
  io.write_json(str(path / "config.json"), config)
  io.write_json(str(path / "workdir.json"), {"argv": argv})
  records = [{"kind": "train", "step": 1, "epoch": 0.5, "loss": 1.0}]
  records += [{"kind": "eval", "step": 2 * (i + 1), "epoch": i + 1, "test_accuracy": a}
              for i, a in enumerate(evals)]
  io.write_jsonl(str(path / "metrics.jsonl"), records)
  (path / "curves.png").write_bytes(b"\x89PNG\r\n\x1a\n")


def test_report_rows_of_hand_written_workdirs_fast(tmp_path):
  """Fast twin of the two slow report tests: every cell of a row, worked out from the
  files: best = the largest per-epoch eval (not the last), the variant from `--config`,
  noise and seed from config.json, labels "as given", AUROC, wall time; a multi-label row
  shows mAP; an unfinished workdir is listed as such."""
  runs = tmp_path / "runs"
  write_workdir(runs / "elr", argv=["nlx.main", "--config=configs/baselines.py:elr,tiny"],
                results={"dataset": "digits", "method": "elr", "model": "small_cnn",
                         "noise_rate": 0.3456, "test_labels": "as given", "wall_time_s": 12.4,
                         "test": {"accuracy": 0.8125, "macro_f1": 0.79},
                         "noise_detection": {"auroc": 0.91234}},
                config={"noise": {"type": "symmetric"}, "seed": 3}, evals=[0.5, 0.875, 0.8125])
  write_workdir(runs / "can", argv=["nlx.main", "--config=configs/can.py"],
                results={"dataset": "mosaic", "method": "can", "model": "mlp", "noise_rate": 0.5,
                         "test": {"map": 0.6789, "map_voc07": 0.65}},
                config={"noise": {"type": "worst"}, "seed": 0}, evals=[])
  (runs / "empty").mkdir()
  text = report.make_report([str(runs / "elr"), str(runs / "can"), str(runs / "empty")],
                            str(tmp_path / "report.md"))
  assert (f"| `{runs / 'elr'}` | digits | elr (`elr,tiny`) | small_cnn | symmetric, 34.6% | 3 | "
          "as given | 87.50% | 81.25% (macro-F1 79.00%) | 0.912 | 12 s |") in text.splitlines()
  assert (f"| `{runs / 'can'}` | mosaic | can | mlp | worst, 50.0% | 0 | clean | - | mAP 67.89% "
          "| - | 0 s |") in text.splitlines()
  assert f"Not finished (no results.json): `{runs / 'empty'}`" in text
  assert f"![training curves of {runs / 'elr'}](runs/elr/curves.png)" in text
  assert (tmp_path / "report.md").read_text() == text


def test_results_table_for_labels_as_given_and_for_multi_label():
  base = {"dataset": "folder", "method": "ce", "model": "mlp", "noise_rate": 0.0}
  given = run_files.results_table({**base, "test_labels": "as given",
                                   "test": {"accuracy": 0.5, "macro_f1": 0.25}}).splitlines()
  assert given[0] == ("| dataset | method | model | noise rate | test (labels as given) acc | "
                      "macro-F1 |")
  assert given[2] == "| folder | ce | mlp | 0.0% | 50.00% | 25.00% |"
  ml = run_files.results_table({**base, "test": {"map": 0.61234, "map_voc07": 0.6}}).splitlines()
  assert ml[2] == "| folder | ce | mlp | 0.0% | 61.23% | 60.00% |"
