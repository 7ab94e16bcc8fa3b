"""A run's output files, written as training goes: metrics.jsonl, results.json, curves.png.

The trainer hands records and results here; `nlx report` reads them back. Nothing here
knows how a run trains (the layer order is in `nlx`'s docstring).
"""

import os

from nlx import io
from nlx.report import plots

METRICS, RESULTS, CURVES = "metrics.jsonl", "results.json", "curves.png"


class MetricsLog:
  """`WORKDIR/metrics.jsonl`, one JSON record a line (`kind` "train" or "eval", `step`).

  A resumed run keeps the records up to its checkpoint's step (`resume_step`) and drops
  those an interrupted attempt logged after it, so no step is logged twice."""

  def __init__(self, workdir: str, resume_step: int, *, write: bool = True):
    self.path = os.path.join(workdir, METRICS)
    self.write = write  # only one process of a multi-host run writes
    self.records = ([r for r in io.read_jsonl(self.path) if r["step"] <= resume_step]
                    if os.path.exists(self.path) else [])
    if write:
      io.write_jsonl(self.path, self.records)

  def log(self, record: dict) -> None:
    self.records.append(record)
    if self.write:
      io.append_jsonl(self.path, record)


def read_metrics(workdir: str) -> list[dict]:
  """The records of `workdir/metrics.jsonl` (train and eval lines), in order."""
  return io.read_jsonl(os.path.join(workdir, METRICS))


def remove_results(workdir: str) -> None:
  """Removes an earlier finish's `results.json` and `curves.png` (a run training again)."""
  for name in (RESULTS, CURVES):
    if os.path.exists(os.path.join(workdir, name)):
      os.remove(os.path.join(workdir, name))


def write_results(workdir: str, results: dict, records: list[dict]) -> None:
  """`results.json` and the training curves `curves.png` of a finished run."""
  io.write_json(os.path.join(workdir, RESULTS), results)
  with io.naming(os.path.join(workdir, CURVES)):
    plots.training_curves(records, os.path.join(workdir, CURVES))


def results_table(results: dict) -> str:
  """A finished run's results as a one-row markdown table (what `nlx train` prints)."""
  t = results["test"]
  if "map" in t:
    return ("| dataset | method | model | noise rate | clean-test mAP | mAP (VOC07 11-point) |\n"
            "|---|---|---|---|---|---|\n"
            f"| {results['dataset']} | {results['method']} | {results['model']} | "
            f"{100 * results['noise_rate']:.1f}% | {100 * t['map']:.2f}% | "
            f"{100 * t['map_voc07']:.2f}% |")
  test = ("clean-test" if results.get("test_labels", "clean") == "clean"
          else "test (labels as given)")
  return (f"| dataset | method | model | noise rate | {test} acc | macro-F1 |\n"
          "|---|---|---|---|---|---|\n"
          f"| {results['dataset']} | {results['method']} | {results['model']} | "
          f"{100 * results['noise_rate']:.1f}% | {100 * t['accuracy']:.2f}% | "
          f"{100 * t['macro_f1']:.2f}% |")
