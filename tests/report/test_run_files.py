"""nlx.io and nlx.report.run_files: a run's JSON files, written and read back."""

import pathlib

import pytest

from nlx import io
from nlx.report import run_files


def test_jsonl_round_trip_and_text_by_hand(tmp_path):
  path = str(tmp_path / "m.jsonl")
  io.write_jsonl(path, [{"step": 1, "loss": 0.5}])
  io.append_jsonl(path, {"step": 2, "kind": "eval"})
  assert pathlib.Path(path).read_text() == '{"step": 1, "loss": 0.5}\n{"step": 2, "kind": "eval"}\n'
  with open(path, "a") as f:
    f.write("\n")  # a blank line (an editor's) is skipped
  assert io.read_jsonl(path) == [{"step": 1, "loss": 0.5}, {"step": 2, "kind": "eval"}]


def test_json_default_only_when_missing(tmp_path):
  path = str(tmp_path / "r.json")
  assert io.read_json(path, default={}) == {}
  with pytest.raises(FileNotFoundError):
    io.read_json(path)
  io.write_json(path, {"a": [1, 2]})
  assert pathlib.Path(path).read_text() == '{\n  "a": [\n    1,\n    2\n  ]\n}'
  assert io.read_json(path, default={}) == {"a": [1, 2]}


def test_metrics_log_resumed_drops_the_records_after_the_checkpoint(tmp_path):
  log = run_files.MetricsLog(str(tmp_path), 0)
  for step in (5, 10, 15):
    log.log({"kind": "train", "step": step})
  resumed = run_files.MetricsLog(str(tmp_path), 10)  # the checkpoint was at step 10
  assert [r["step"] for r in resumed.records] == [5, 10]
  assert [r["step"] for r in run_files.read_metrics(str(tmp_path))] == [5, 10]
  quiet = run_files.MetricsLog(str(tmp_path), 5, write=False)  # another process: no writes
  quiet.log({"kind": "train", "step": 20})
  assert [r["step"] for r in run_files.read_metrics(str(tmp_path))] == [5, 10]


def test_write_results_and_the_table(tmp_path):
  results = {"dataset": "digits", "method": "ce", "model": "mlp", "noise_rate": 0.4,
             "test": {"accuracy": 0.91234, "macro_f1": 0.9}}
  records = [{"kind": "train", "step": s, "epoch": s / 2, "loss": 1 / s} for s in (1, 2)]
  records.append({"kind": "eval", "step": 2, "epoch": 1, "test_accuracy": 0.91234})
  run_files.write_results(str(tmp_path), results, records)
  assert io.read_json(str(tmp_path / "results.json")) == results
  png = (tmp_path / "curves.png").read_bytes()
  assert png[:8] == b"\x89PNG\r\n\x1a\n"
  assert run_files.results_table(results).splitlines()[2] == (
      "| digits | ce | mlp | 40.0% | 91.23% | 90.00% |")
