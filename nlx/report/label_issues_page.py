"""The report page of a run's most suspicious labels.

`suspects_figure` (called at the end of training) draws the training images with the
lowest label-issue score, each titled with its given and suggested class, into
`WORKDIR/label_issues.png` (datasets of feature vectors have no picture: none is drawn).
`page` / `python -m nlx.report.label_issues_page WORKDIR... [--out FILE] [--top K]`
writes the markdown page: per run the estimated (and, where known, true) number of
wrong labels, the figure, and the table of the top suspects from `label_issues.csv`.
"""

import argparse
import csv
import os
import sys

import numpy as np

from nlx import io
from nlx.errors import NlxError
from nlx.report.plots import pyplot

FIGURE_NAME = "label_issues.png"
# what nlx.label_issues writes (read here as files: the report sits below it, see `nlx`)
CSV_NAME, JSON_NAME = "label_issues.csv", "label_issues.json"


def _image(split, i: int):
  if split.paths is not None:  # features of image files: show the file
    from nlx.data.datasets.image_folder import decode_image
    x = decode_image(str(split.paths[i]))
  else:
    x = split.inputs[i] if split.decode is None else split.decode(split.inputs[i])
  x = np.asarray(x)
  if x.ndim == 3 and x.shape[-1] == 1:
    x = x[..., 0]
  return x if x.ndim in (2, 3) else None


def suspects_figure(workdir: str, dataset, issues, top: int = 24, cols: int = 8) -> str | None:
  """Writes `label_issues.png`: the `top` lowest-score training images, titled
  "given -> suggested" (flagged ones in red). Returns its path, or None for non-images."""
  order = np.argsort(issues.scores, kind="stable")[:top]
  if not len(order) or _image(dataset.train, int(order[0])) is None:
    return None
  plt = pyplot()
  names = list(dataset.class_names)
  rows = -(-len(order) // cols)
  fig, axes = plt.subplots(rows, cols, figsize=(1.7 * cols, 1.9 * rows), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for ax, i in zip(axes.ravel(), order):
    ax.imshow(_image(dataset.train, int(i)), cmap="gray")
    ax.set_title(f"#{i}\n{names[issues.labels[i]]} -> {names[issues.suggested[i]]}",
                 fontsize=7, color="tab:red" if issues.flagged[i] else "black")
  fig.suptitle(f"most suspicious labels (score: {issues.score_name}); given -> suggested",
               fontsize=9)
  fig.tight_layout()
  path = os.path.join(workdir, FIGURE_NAME)
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return path


def read_rows(path: str) -> list[dict]:
  """The rows of a `label_issues.csv` (most suspicious first), typed: ints `index`,
  `given_label`, `suggested_label`, a float `score`, a bool `flagged`, strings `path`,
  `given_class`, `suggested_class`; a damaged file is a DataError saying what to do."""
  with io.reading(path, "label issues CSV", "train the run again to rewrite it"):
    with open(path, newline="") as f:
      rows = list(csv.DictReader(f))
    for n, r in enumerate(rows, 2):
      if None in r.values() or None in r:  # a row cut short, or with more fields
        raise ValueError(f"line {n}: not the {len(r) - (None in r)} columns of the header")
      for k in ("index", "given_label", "suggested_label"):
        r[k] = int(r[k])
      r["score"], r["flagged"] = float(r["score"]), r["flagged"] == "1"
  return rows


def section(workdir: str, base: str, top: int = 20) -> str:
  """The markdown of one run (links relative to `base`, the page's folder)."""
  path = os.path.join(workdir, JSON_NAME)
  if not os.path.isfile(path):
    return f"### `{workdir}`\n\nno {JSON_NAME} (not finished, or multi-label)\n"
  s = io.read_json(path)
  true = f", true: {s['true_errors']}" if "true_errors" in s else ""
  quality = (f" AUROC {100 * s['auroc']:.1f}, AP {100 * s['ap']:.1f}, flagged-set F1 "
             f"{100 * s['f1']:.1f}." if "auroc" in s else "")
  text = [f"### `{workdir}`", "",
          f"Score `{s['score']}`; estimated wrong labels: {s['estimated_errors']}{true}.{quality}",
          ""]
  figure = os.path.join(workdir, FIGURE_NAME)
  if os.path.isfile(figure):
    text += [f"![most suspicious labels of {workdir}]({os.path.relpath(figure, base)})", ""]
  text += ["| rank | index | given | suggested | score | flagged | path |",
           "|---|---|---|---|---|---|---|"]
  for rank, r in enumerate(read_rows(os.path.join(workdir, CSV_NAME))[:top], 1):
    text.append(f"| {rank} | {r['index']} | {r['given_class']} | {r['suggested_class']} | "
                f"{r['score']:.4g} | {'yes' if r['flagged'] else 'no'} | {r['path']} |")
  return "\n".join(text) + "\n"


def page(workdirs, out_path: str, top: int = 20) -> str:
  base = os.path.dirname(os.path.abspath(out_path))
  text = "# Suspicious labels\n\n" + "\n".join(
      section(w, base, top) for w in workdirs)
  with open(out_path, "w") as f:
    f.write(text)
  return text


def main(argv=None) -> None:
  p = argparse.ArgumentParser(prog="python -m nlx.report.label_issues_page",
                              description=__doc__.split("\n\n")[0])
  p.add_argument("workdirs", nargs="+")
  p.add_argument("--out", default="label_issues.md")
  p.add_argument("--top", type=int, default=20)
  a = p.parse_args(argv)
  try:
    page(a.workdirs, a.out, a.top)
  except NlxError as e:
    sys.exit(f"nlx: error: {e}")
  print(f"wrote {a.out}")


if __name__ == "__main__":
  main()
