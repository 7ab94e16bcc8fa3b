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
from PIL import Image

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


CELL = 64  # the figure's cells: each image shrunk to fit CELL x CELL pixels (never enlarged)


def _display(x: np.ndarray) -> np.ndarray:
  """An image as float RGB `[H, W, 3]` in [0, 1], as `imshow` shows it: a grey image
  stretched from its own minimum to its maximum (the colour map's default), integer
  colour clipped to 0..255 over 255, float colour clipped to 0..1 (alpha dropped)."""
  x = np.asarray(x)
  if x.ndim == 2:
    lo, hi = float(x.min()), float(x.max())
    g = (x.astype(np.float64) - lo) / (hi - lo) if hi > lo else np.zeros(x.shape)
    return np.repeat(g[..., None], 3, axis=-1)
  x = x[..., :3]
  if np.issubdtype(x.dtype, np.integer):  # as imshow: integers are 0..255
    return np.clip(x, 0, 255) / 255.0
  return np.clip(x.astype(np.float64), 0.0, 1.0)


def _fit(x: np.ndarray, cell: int) -> np.ndarray:
  """`x` (float RGB) shrunk to fit `cell x cell` (aspect kept), by Pillow."""
  h, w = x.shape[:2]
  if max(h, w) <= cell:
    return x
  im = Image.fromarray(np.round(x * 255).astype(np.uint8))
  im.thumbnail((cell, cell))
  return np.asarray(im, np.float64) / 255.0


def mosaic(images: list[np.ndarray], cols: int, band: int, gap: int
           ) -> tuple[np.ndarray, int, int]:
  """`(canvas [rows * (band + s + gap), cols * (s + gap), 3], s, rows)`: the images (float
  RGB, each at most `s x s`, s = the largest side among them) on white, in row-major
  order, each centred in an `s x s` square below a white band of `band` pixels (its
  title's place), the squares `gap` pixels apart."""
  s = max(max(x.shape[:2]) for x in images)
  rows = -(-len(images) // cols)
  canvas = np.ones((rows * (band + s + gap), cols * (s + gap), 3))
  for k, x in enumerate(images):
    r, c = divmod(k, cols)
    h, w = x.shape[:2]
    top = r * (band + s + gap) + band + (s - h) // 2
    left = c * (s + gap) + gap // 2 + (s - w) // 2
    canvas[top:top + h, left:left + w] = x
  return canvas, s, rows


def suspects_figure(workdir: str, dataset, issues, top: int = 24, cols: int = 8) -> str | None:
  """Writes `label_issues.png`: the `top` lowest-score training images, titled
  "given -> suggested" (flagged ones in red). Returns its path, or None for non-images.
  One image on one set of axes with the titles as text (`mosaic`): 24 axes took 1.5 s of
  a quickstart run's end, this 0.25 s."""
  order = np.argsort(issues.scores, kind="stable")[:top]
  if not len(order) or _image(dataset.train, int(order[0])) is None:
    return None
  images = [_fit(_display(_image(dataset.train, int(i))), CELL) for i in order]
  s = max(max(x.shape[:2]) for x in images)
  band, gap = max(1, round(0.3 * s)), max(1, round(0.12 * s))  # room for two 7-pt lines
  canvas, s, rows = mosaic(images, cols, band, gap)
  plt = pyplot()
  names = list(dataset.class_names)
  height, width = canvas.shape[:2]
  fig = plt.figure(figsize=(1.7 * cols, 1.7 * cols * height / width + 0.35))
  ax = fig.add_axes((0.0, 0.0, 1.0, 1.0 - 0.35 / fig.get_figheight()))
  ax.imshow(canvas, interpolation="nearest")
  ax.axis("off")
  for k, i in enumerate(order):
    r, c = divmod(k, cols)
    ax.text(c * (s + gap) + gap // 2 + s / 2 - 0.5, r * (band + s + gap) + band - 0.5,
            f"#{i}\n{names[issues.labels[i]]} -> {names[issues.suggested[i]]}",
            ha="center", va="bottom", fontsize=7,
            color="tab:red" if issues.flagged[i] else "black")
  fig.suptitle(f"most suspicious labels (score: {issues.score_name}); given -> suggested",
               fontsize=9, y=1.0, va="top")
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
