"""One markdown report from finished workdirs: `nlx report WORKDIR... [--out FILE]`
(or `python -m nlx.report ...`).

For every workdir with a `results.json`: a row of the summary table (dataset, method,
model, noise rate, the clean-test metrics, noise-detection AUROC where the method has
a trust score, wall time) and its training curves (`curves.png`, linked relative to the
report). Workdirs that have not finished are listed as such.
"""

import argparse
import json
import os


def _row(workdir: str, results: dict, rel: str) -> tuple[str, str]:
  t = results["test"]
  if "map" in t:
    score = f"mAP {100 * t['map']:.2f}%"
  else:
    score = f"acc {100 * t['accuracy']:.2f}%, macro-F1 {100 * t['macro_f1']:.2f}%"
  auroc = results.get("noise_detection", {}).get("auroc")
  row = (f"| `{workdir}` | {results['dataset']} | {results['method']} | {results['model']} | "
         f"{100 * results['noise_rate']:.1f}% | {score} | "
         f"{'-' if auroc is None else f'{auroc:.3f}'} | {results.get('wall_time_s', 0):.0f} s |")
  figure = f"### `{workdir}`\n\n![training curves of {workdir}]({rel})\n"
  return row, figure


def make_report(workdirs, out_path: str) -> str:
  rows, figures, pending = [], [], []
  base = os.path.dirname(os.path.abspath(out_path))
  for w in workdirs:
    path = os.path.join(w, "results.json")
    if not os.path.isfile(path):
      pending.append(w)
      continue
    with open(path) as f:
      results = json.load(f)
    curves = os.path.join(w, "curves.png")
    row, figure = _row(w, results, os.path.relpath(os.path.abspath(curves), base))
    rows.append(row)
    if os.path.isfile(curves):
      figures.append(figure)
  header = ("| workdir | dataset | method | model | noise rate | clean test | noise-detection "
            "AUROC | wall time |")
  text = ["# nlx report", "", header, "|---|---|---|---|---|---|---|---|", *rows, ""]
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
  make_report(a.workdirs, a.out)
  print(a.out)


def read_metrics(workdir: str) -> list:
  """The records of `workdir/metrics.jsonl` (train and eval lines), in order."""
  from nlx.train import read_jsonl
  return read_jsonl(os.path.join(workdir, "metrics.jsonl"))
