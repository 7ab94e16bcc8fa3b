"""Per-epoch diagnostics of a run, plotted for `nlx report`: is the method doing anything?

A method's `aux["metrics"]` (ARNet: each loss term, the read's entropy and peak, the
Sinkhorn Q's entropy, G's sharpness, the accuracy of argmax v and argmax t against the
clean labels) are logged with the train records; `nlx.collapse` adds, at each
evaluation, the share of the training set's most predicted class and the share of wrong
labels the method's refined labels correct. `diagnostic_curves` draws every such key
found in metrics.jsonl, loss terms on one panel; `report_section` writes the figure next
to the run and returns its markdown, with a line when the run collapsed.
"""

import math
import os

from nlx import io
from nlx.report.plots import pyplot

NOT_DIAGNOSTICS = {"kind", "step", "epoch", "loss", "learning_rate"}
EVAL_DIAGNOSTICS = ("label_precision", "corrected_share", "train_top_class_share")


def diagnostic_series(records: list[dict]) -> dict:
  """`{name: (xs, ys)}`: train keys per step (x = epoch), eval diagnostics per epoch."""
  series = {}
  for r in records:
    keys = ([k for k in r if k not in NOT_DIAGNOSTICS] if r.get("kind") == "train"
            else [k for k in EVAL_DIAGNOSTICS if k in r] if r.get("kind") == "eval" else [])
    for k in keys:
      if isinstance(r[k], (int, float)) and math.isfinite(r[k]):
        xs, ys = series.setdefault(k, ([], []))
        xs.append(r["epoch"])
        ys.append(r[k])
  return series


def diagnostic_curves(records: list[dict], path: str) -> bool:
  """Writes the panels to `path` (png); False (and no file) when there is nothing beyond
  the noisy accuracy to draw."""
  plt = pyplot()
  series = diagnostic_series(records)
  losses = {k: v for k, v in series.items() if k.startswith("loss_")}
  others = {k: v for k, v in series.items() if not k.startswith("loss_")}
  if not losses and set(others) <= {"noisy_accuracy"}:
    return False
  panels = [losses] * bool(losses) + [{k: v} for k, v in others.items()]
  cols = min(4, len(panels))
  rows = -(-len(panels) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
  for ax, panel in zip(axes.flat, panels):
    for k, (xs, ys) in panel.items():
      ax.plot(xs, ys, label=k, marker="o" if k in EVAL_DIAGNOSTICS else None, ms=3)
    ax.set(xlabel="epoch", title="loss terms" if panel is losses else next(iter(panel)))
    if panel is losses:
      ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
  for ax in list(axes.flat)[len(panels):]:
    ax.axis("off")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return True


def collapse_note(results: dict) -> str:
  """One line when the run's predictions collapsed (results.json's `collapse`), else ''."""
  c = results.get("collapse")
  if not c:
    return ""
  last = c.get("last_share", c["share"])
  return (f"**Collapsed** at epoch {c['epoch']}: class {c['class']} predicted for "
          f"{100 * c['share']:.1f}% of the training set (top class at the last check: "
          f"{100 * last:.1f}%).\n")


def report_section(workdir: str, report_dir: str) -> str:
  """Markdown for `nlx report`: the collapse line and `workdir/diagnostics.png` (written
  here from metrics.jsonl), linked relative to `report_dir`; '' when neither applies."""
  text = ""
  results_path = os.path.join(workdir, "results.json")
  if os.path.isfile(results_path):
    text += collapse_note(io.read_json(results_path))
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  if os.path.isfile(metrics_path):
    records = io.read_jsonl(metrics_path)
    png = os.path.join(workdir, "diagnostics.png")
    if diagnostic_curves(records, png):
      rel = os.path.relpath(os.path.abspath(png), os.path.abspath(report_dir))
      text += f"\n![diagnostics of {workdir}]({rel})\n"
  return text
