"""One markdown report from finished workdirs: `nlx report WORKDIR... [--out FILE]`
(or `python -m nlx.report ...`).

For every workdir with a `results.json`: a row of the summary table with what tells runs
apart (dataset, method and the config variant it was run with, model, noise type and
rate, seed), whether the test labels are known clean or the user's "as given", the best
and the last test accuracy (best over the per-epoch evaluations of `metrics.jsonl`),
noise-detection AUROC where the method has a trust score, wall time; and its training
curves (`curves.png`, linked relative to the report). Workdirs that have not finished
are listed as such; a path that is no workdir is an error.
"""

import argparse
import os
import sys

from nlx import io
from nlx.errors import ConfigError, NlxError
from nlx.report import diagnostics
from nlx.report.run_files import read_metrics


def _json(path: str) -> dict:
  return io.read_json(path, default={})


def _variant(record: dict) -> str:
  """The `:VARIANT` of the `--config=FILE:VARIANT` the workdir was made with, if any."""
  arg = next((a for a in record.get("argv", []) if a.startswith("--config=")), "")
  return arg.partition("=")[2].partition(":")[2]


def _best_accuracy(workdir: str) -> float | None:
  path = os.path.join(workdir, "metrics.jsonl")
  if not os.path.isfile(path):
    return None
  accs = [r["test_accuracy"] for r in read_metrics(workdir)
          if r.get("kind") == "eval" and "test_accuracy" in r]
  return max(accs) if accs else None


def _row(workdir: str, results: dict, rel: str) -> tuple[str, str]:
  config = _json(os.path.join(workdir, "config.json"))
  t = results["test"]
  if "map" in t:
    score = f"- | mAP {100 * t['map']:.2f}%"
  else:
    best = _best_accuracy(workdir)
    score = (f"{'-' if best is None else f'{100 * best:.2f}%'} | {100 * t['accuracy']:.2f}% "
             f"(macro-F1 {100 * t['macro_f1']:.2f}%)")
  auroc = results.get("noise_detection", {}).get("auroc")
  variant = _variant(_json(os.path.join(workdir, "workdir.json")))
  method = results["method"] + (f" (`{variant}`)" if variant else "")
  noise = config.get("noise", {}).get("type", "?")
  row = (f"| `{workdir}` | {results['dataset']} | {method} | {results['model']} | "
         f"{noise}, {100 * results['noise_rate']:.1f}% | {config.get('seed', '?')} | "
         f"{results.get('test_labels', 'clean')} | {score} | "
         f"{'-' if auroc is None else f'{auroc:.3f}'} | {results.get('wall_time_s', 0):.0f} s |")
  figure = f"### `{workdir}`\n\n![training curves of {workdir}]({rel})\n"
  return row, figure


def make_report(workdirs, out_path: str) -> str:
  rows, figures, pending = [], [], []
  base = os.path.dirname(os.path.abspath(out_path))
  missing = [w for w in workdirs if not os.path.isdir(w)]
  if missing:
    raise ConfigError(f"no workdir {missing[0]}" + (f" (and {len(missing) - 1} more)"
                                                    if len(missing) > 1 else ""))
  for w in workdirs:
    path = os.path.join(w, "results.json")
    if not os.path.isfile(path):
      pending.append(w)
      continue
    results = io.read_json(path)
    curves = os.path.join(w, "curves.png")
    row, figure = _row(w, results, os.path.relpath(os.path.abspath(curves), base))
    rows.append(row)
    if os.path.isfile(curves):
      figures.append(figure)
    figures.append(diagnostics.report_section(w, base))  # collapse line, diagnostics figure
  header = ("| workdir | dataset | method (variant) | model | noise (type, rate) | seed | "
            "test labels | best test acc | last test acc | noise-detection AUROC | wall time |")
  text = ["# nlx report", "", header, "|---" * 11 + "|", *rows, ""]
  if pending:
    text += ["Not finished (no results.json): " + ", ".join(f"`{w}`" for w in pending), ""]
  text += ["## Training curves", "", *figures]
  report = "\n".join(text)
  with open(out_path, "w") as f:
    f.write(report)
  return report


def main(argv=None) -> None:
  p = argparse.ArgumentParser(prog="nlx report", description=__doc__.split("\n\n")[0])
  p.add_argument("workdirs", nargs="+", help="finished (or running) nlx workdirs")
  p.add_argument("--out", default="report.md", help="markdown file to write")
  a = p.parse_args(argv)
  try:
    make_report(a.workdirs, a.out)
  except NlxError as e:  # no workdir (ConfigError), a damaged results.json (DataError), ...
    sys.exit(f"nlx: error: {e}")
  print(a.out)


__all__ = ["main", "make_report", "read_metrics"]

