"""A review page for people who fix labels: one self-contained HTML file per run.

`nlx report label-issues WORKDIR [--out FILE]` (or `write(workdir)`; a finished run
writes it too, as `WORKDIR/label_issues.html`) lists every flagged training example of
the run's `label_issues.csv`, most suspicious first: its thumbnail (the image file, or the
image of an in-memory image dataset; datasets of feature vectors: its index alone), the
given and the suggested class and the score. The page filters by class, sorts by score
or by class, shows `PAGE_SIZE` rows at a time, and has a control per row to accept the
suggestion or keep the label; its button downloads the corrected CSV of the whole
training set, `path,label` (`index,label` without files), each accepted suggestion in
place of the given class. Everything (the
thumbnails as data URIs, the rows as JSON, the script) is inside the file: no server, no
network, it works opened from disk.
"""

import argparse
import base64
import html
import io as bytes_io
import json
import os
import sys

import numpy as np
from PIL import Image

from nlx import io
from nlx.errors import DataError, NlxError
from nlx.report.label_issues_page import read_rows

PAGE_NAME = "label_issues.html"
CSV_NAME = "label_issues.csv"  # what nlx.label_issues writes (read here as a file)
THUMB = 64  # thumbnails fit in THUMB x THUMB pixels (never enlarged)
PAGE_SIZE = 100  # rows on screen at once (a run can flag tens of thousands)


def thumbnail_uri(image: np.ndarray) -> str:
  """A uint8 image `[H, W]`, `[H, W, 1]` or `[H, W, 3]` as a PNG data URI, shrunk to fit
  THUMB x THUMB."""
  x = np.asarray(image)
  if x.ndim == 3 and x.shape[-1] == 1:
    x = x[..., 0]
  if x.dtype != np.uint8:
    raise DataError(f"a thumbnail needs uint8 pixels, got {x.dtype}")
  im = Image.fromarray(x)
  im.thumbnail((THUMB, THUMB))
  buf = bytes_io.BytesIO()
  im.save(buf, format="PNG")
  return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _read_rows(workdir: str) -> list[dict]:
  path = os.path.join(workdir, CSV_NAME)
  if not os.path.isfile(path):
    raise DataError(f"no {path}: train a multi-class run there first "
                    "(nlx find-label-issues --config=...)")
  return read_rows(path)


def _thumbnail(row: dict, images) -> str:
  """The row's thumbnail: its file, else `images[index]` (an in-memory image set), else ''."""
  if row["path"]:
    from nlx.data.datasets.image_folder import decode_image
    try:
      return thumbnail_uri(decode_image(row["path"]))
    except DataError:  # moved or damaged since the run: the row stays, without a picture
      return ""
  if images is not None:
    x = np.asarray(images[row["index"]])
    if x.ndim in (2, 3) and x.dtype == np.uint8:
      return thumbnail_uri(x)
  return ""


def page_data(workdir: str, images=None, page_size: int = PAGE_SIZE) -> dict:
  """What the page shows, as JSON: `flagged` rows (most suspicious first: `index`, `path`,
  `given`, `suggested`, `score`, `thumb`), `all`: `[key, given class]` of every training
  example by index (the corrected CSV's rows), `key`: "path" or "index", and the run's
  summary (`label_issues.json`); `page_size` rows are on screen at once."""
  rows = _read_rows(workdir)
  has_paths = bool(rows) and all(r["path"] for r in rows)
  by_index = sorted(rows, key=lambda r: r["index"])
  # 18,259 flagged image files: 13-15 s (threads gained nothing on 2 cores)
  flagged = [{"index": r["index"], "path": r["path"], "given": r["given_class"],
              "suggested": r["suggested_class"], "score": r["score"],
              "thumb": _thumbnail(r, images)} for r in rows if r["flagged"]]
  summary = io.read_json(os.path.join(workdir, "label_issues.json"), default={})
  return {"workdir": workdir, "key": "path" if has_paths else "index",
          "all": [[r["path"] if has_paths else r["index"], r["given_class"]] for r in by_index],
          "flagged": flagged, "classes": sorted({r["given_class"] for r in rows}),
          "summary": summary, "page_size": page_size}


def render(data: dict) -> str:
  """The page's HTML for `page_data`'s dict."""
  s = data["summary"]
  true = f"; true: {s['true_errors']}" if "true_errors" in s else ""
  head = (f"{len(data['flagged'])} flagged of {len(data['all'])} training examples "
          f"(score {s.get('score', '?')}; estimated wrong labels "
          f"{s.get('estimated_errors', len(data['flagged']))}{true})")
  payload = json.dumps(data).replace("</", "<\\/")  # no "</script>" inside the script
  return _TEMPLATE.replace("%TITLE%", html.escape(f"Label issues: {data['workdir']}")) \
      .replace("%HEAD%", html.escape(head)).replace("%DATA%", payload)


def write(workdir: str, out: str | None = None, images=None, page_size: int = PAGE_SIZE) -> str:
  """Writes the review page of `workdir` (default `WORKDIR/label_issues.html`); `images`:
  the training images by index, for runs on in-memory image sets. Returns its path."""
  out = out or os.path.join(workdir, PAGE_NAME)
  text = render(page_data(workdir, images, page_size))
  with io.replacing(out) as f:
    f.write(text)
  return out


def main(argv=None) -> None:
  p = argparse.ArgumentParser(prog="nlx report label-issues",
                              description=__doc__.split("\n\n")[0])
  p.add_argument("workdir")
  p.add_argument("--out", default="", help=f"default: WORKDIR/{PAGE_NAME}")
  a = p.parse_args(argv)
  try:
    print(write(a.workdir, a.out or None))
  except NlxError as e:
    sys.exit(f"nlx: error: {e}")


_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>%TITLE%</title>
<style>
body { font-family: sans-serif; margin: 1em; }
table { border-collapse: collapse; }
td, th { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: left; }
td.thumb img { image-rendering: pixelated; width: 64px; }
tr.accepted { background: #e8f5e9; }
#controls > * { margin-right: 1em; }
</style></head>
<body>
<h1>%TITLE%</h1>
<p id="summary">%HEAD%</p>
<div id="controls">
<label>class <select id="class"><option value="">all</option></select></label>
<label>sort <select id="sort"><option value="score">most suspicious first</option>
<option value="class">by given class</option></select></label>
<button id="accept-shown">accept all in the filter</button>
<button id="keep-shown">keep all in the filter</button>
<button id="download">download corrected CSV</button>
<span id="counts"></span>
</div>
<table id="issues"><thead><tr><th>rank</th><th>image</th><th>index</th><th>given</th>
<th>suggested</th><th>score</th><th>decision</th></tr></thead><tbody></tbody></table>
<div id="pages"><button id="prev">previous</button> <span id="page"></span>
<button id="next">next</button></div>
<script id="data" type="application/json">%DATA%</script>
<script>
const data = JSON.parse(document.getElementById("data").textContent);
const accepted = new Set();  // indices whose suggestion is accepted
const classSel = document.getElementById("class"), sortSel = document.getElementById("sort");
let page = 0;
for (const c of data.classes) {
  const o = document.createElement("option"); o.value = c; o.textContent = c;
  classSel.appendChild(o);
}
function shown() {
  let rows = data.flagged.map((r, rank) => ({...r, rank: rank + 1}));
  if (classSel.value) rows = rows.filter(r => r.given === classSel.value);
  if (sortSel.value === "class")
    rows.sort((a, b) => a.given.localeCompare(b.given) || a.rank - b.rank);
  return rows;
}
function render() {
  const body = document.querySelector("#issues tbody");
  body.replaceChildren();
  const rows = shown(), pages = Math.max(1, Math.ceil(rows.length / data.page_size));
  page = Math.min(page, pages - 1);
  document.getElementById("page").textContent = "page " + (page + 1) + " of " + pages +
      " (" + rows.length + " rows)";
  for (const r of rows.slice(page * data.page_size, (page + 1) * data.page_size)) {
    const tr = document.createElement("tr");
    tr.dataset.index = r.index;
    if (accepted.has(r.index)) tr.className = "accepted";
    const cell = (text) => { const td = document.createElement("td"); td.textContent = text;
                             tr.appendChild(td); return td; };
    cell(r.rank);
    const td = cell("");
    td.className = "thumb";
    if (r.thumb) { const img = document.createElement("img"); img.src = r.thumb;
                   img.alt = r.path || ("#" + r.index); img.title = r.path; td.appendChild(img); }
    cell(r.index); cell(r.given); cell(r.suggested); cell(r.score.toPrecision(4));
    const d = cell("");
    for (const [value, label] of [["accept", "accept " + r.suggested],
                                  ["keep", "keep " + r.given]]) {
      const l = document.createElement("label"), i = document.createElement("input");
      i.type = "radio"; i.name = "d" + r.index; i.value = value;
      i.checked = (value === "accept") === accepted.has(r.index);
      i.addEventListener("change", () => { value === "accept" ? accepted.add(r.index)
                                                                : accepted.delete(r.index);
                                           render(); });
      l.append(i, " " + label + " "); d.appendChild(l);
    }
    body.appendChild(tr);
  }
  document.getElementById("counts").textContent =
      accepted.size + " suggestions accepted of " + data.flagged.length + " flagged";
}
function csvField(x) {
  x = String(x);
  return /[",\\n\\r]/.test(x) ? '"' + x.replace(/"/g, '""') + '"' : x;
}
function correctedCsv() {
  const suggested = new Map(data.flagged.map(r => [r.index, r.suggested]));
  const lines = [data.key + ",label"];
  data.all.forEach(([key, given], index) => {
    const label = accepted.has(index) ? suggested.get(index) : given;
    lines.push(csvField(key) + "," + csvField(label));
  });
  return lines.join("\\n") + "\\n";
}
document.getElementById("download").addEventListener("click", () => {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob([correctedCsv()], {type: "text/csv"}));
  a.download = "corrected_labels.csv";
  document.body.appendChild(a); a.click(); a.remove();
});
for (const [id, accept] of [["accept-shown", true], ["keep-shown", false]])
  document.getElementById(id).addEventListener("click", () => {
    for (const r of shown()) accept ? accepted.add(r.index) : accepted.delete(r.index);
    render();
  });
classSel.addEventListener("change", () => { page = 0; render(); });
sortSel.addEventListener("change", () => { page = 0; render(); });
document.getElementById("prev").addEventListener("click", () => { page = Math.max(0, page - 1);
                                                                   render(); });
document.getElementById("next").addEventListener("click", () => { page += 1; render(); });
render();
</script>
</body></html>
"""
