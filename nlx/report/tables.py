"""Result tables: mean ± std over seeds, markdown and CSV, best value per column in bold
(as the papers print them)."""

import csv
import io
import math
import re

import numpy as np

from nlx.errors import DataError

# the row of CE trained on the clean labels that a benchmark adds (nlx.benchmarks.cells):
# a bound, not a method, so it never competes for a column's best
UPPER_BOUND_ROW = "clean labels (upper bound)"


def mean_std(values) -> tuple[float, float]:
  """Mean and sample standard deviation (ddof=1; 0 for a single value), ignoring NaN."""
  v = np.asarray([x for x in values if x is not None and not math.isnan(x)], np.float64)
  if v.size == 0:
    return float("nan"), float("nan")
  return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def table(cells: dict, rows: list, columns: list, *, scale: float = 100.0, digits: int = 2,
          bold_best: bool = True, exclude_from_best=()) -> tuple[str, str]:
  """Formats `cells[(row, column)] = [value per seed]` as (markdown, csv).

  Each entry is `mean ± std` of `scale * value`; in markdown the largest mean of each
  column is bold (rows in `exclude_from_best`, e.g. an upper bound, do not compete).
  Missing cells print as `-`.
  """
  stats = {k: mean_std(v) for k, v in cells.items()}
  best = {}
  for c in columns:
    means = [stats[(r, c)][0] for r in rows if (r, c) in stats and r not in exclude_from_best]
    means = [m for m in means if not math.isnan(m)]
    best[c] = max(means) if means else None
  md = ["| method | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
  buf = io.StringIO()
  writer = csv.writer(buf)
  writer.writerow(["method"] + [f"{c} {s}" for c in columns for s in ("mean", "std")] + ["seeds"])
  for r in rows:
    entries, flat, n = [], [], 0
    for c in columns:
      if (r, c) not in stats or math.isnan(stats[(r, c)][0]):
        entries.append("-")
        flat += ["", ""]
        continue
      m, s = stats[(r, c)]
      n = max(n, len(cells[(r, c)]))
      text = f"{scale * m:.{digits}f} ± {scale * s:.{digits}f}"
      if bold_best and r not in exclude_from_best and best[c] is not None and m == best[c]:
        text = f"**{text}**"
      entries.append(text)
      flat += [f"{scale * m:.4f}", f"{scale * s:.4f}"]
    md.append(f"| {r} | " + " | ".join(entries) + " |")
    writer.writerow([r] + flat + [n])
  return "\n".join(md) + "\n", buf.getvalue()


def read_csv(path: str) -> dict[tuple[str, str], tuple[float, float, int]]:
  """The CSV `table` writes, read back: `{(row, column): (mean, std, seeds)}` (scaled as
  written, `std` the sample std of `mean_std`, `seeds` the row's); a blank cell is left out.

  Raises:
    DataError: not such a CSV (no `seeds` column), or a row named twice.
  """
  with open(path, newline="") as f:
    rows = list(csv.DictReader(f))
  if not rows or "seeds" not in rows[0]:
    raise DataError(f"{path}: not a benchmark table's CSV (a header ending in 'seeds')")
  name = next(iter(rows[0]))
  columns = [k[:-len(" mean")] for k in rows[0] if k.endswith(" mean")]
  out, seen = {}, set()
  for row in rows:
    if row[name] in seen:
      raise DataError(f"{path}: row {row[name]!r} appears twice")
    seen.add(row[name])
    for col in columns:
      mean, std = row.get(f"{col} mean", ""), row.get(f"{col} std", "")
      if mean and std:
        out[(row[name], col)] = (float(mean), float(std), int(row["seeds"]))
  return out


def read_markdown(path: str, section: str = "") -> dict[tuple[str, str], tuple[float, float, int]]:
  """A markdown table of `mean ± std` cells read back as `read_csv` reads a CSV: the table
  under the heading `## {section}` (or `###`, `####`; the file's first table when
  `section` is ""), bold marks dropped, cells without `±` left out. `seeds`: a row's own
  count where the table has
  a `seeds` column (`0,1,2`: 3; ARNet's ablation, whose screens run on fewer seeds), else the
  count in the section's heading (`sym40 (3 seeds: 0, 1, 2)`, the label-issue tables) or
  the length of its list or, without one there, of the list in the file's first
  line (`... over seeds [0, 1, 2]`, `..., seeds [0]`), as the benchmarks' tables without a
  CSV (SINet's, ...) write it. A row named `**name** (note)` is `name` (the note marks
  it, e.g. "chosen on val", and may differ between two runs of one table).

  Raises:
    DataError: no seeds list in the heading, the first line or a seeds column, no such
      section, no table in it, a row named twice, or a `±` cell that is not two numbers.
  """
  with open(path) as f:
    lines = f.read().splitlines()
  start = 0
  if section:
    headings = [i for i, line in enumerate(lines) if line.lstrip("#") == f" {section}"
                and 2 <= len(line) - len(line.lstrip("#")) <= 4]
    if not headings:
      raise DataError(f"{path}: no section {'## ' + section!r}")
    start = headings[0] + 1
  found = (re.search(r"seeds \[([^\]]*)\]", section)
           or re.search(r"seeds \[([^\]]*)\]", lines[0] if lines else ""))
  seeds = len([s for s in found.group(1).split(",") if s.strip()]) if found else None
  counted = re.search(r"\((\d+) seeds?:", section)  # "### sym40 (3 seeds: 0, 1, 2)"
  if counted:
    seeds = int(counted[1])
  rows = []
  for line in lines[start:]:  # the first run of table lines
    if line.startswith("|"):
      rows.append([c.strip() for c in line.strip().strip("|").split("|")])
    elif rows:
      break
  if len(rows) < 3:
    raise DataError(f"{path}: no table" + (f" in section {section!r}" if section else ""))
  columns, out, seen = [c.replace("**", "") for c in rows[0][1:]], {}, set()
  seeds_at = columns.index("seeds") if "seeds" in columns else None
  if seeds is None and seeds_at is None:
    raise DataError(f"{path}: its first line names no seeds list (e.g. 'seeds [0, 1, 2]') "
                    "and its table has no seeds column")
  for row in rows[2:]:  # after the header and its |---| line
    named = re.fullmatch(r"\*\*(.+?)\*\*\s*\(.*\)", row[0])
    name = named[1] if named else row[0].replace("**", "")
    if name in seen:
      raise DataError(f"{path}: row {name!r} appears twice")
    seen.add(name)
    n = seeds
    if seeds_at is not None:
      cell = row[1 + seeds_at] if len(row) > 1 + seeds_at else ""
      if not all(s.strip().isdigit() for s in cell.split(",")):
        raise DataError(f"{path}: row {name!r}: its seeds cell {cell!r} is not a list of "
                        "seeds (e.g. '0,1,2')")
      n = len(cell.split(","))
    for col, cell in zip(columns, row[1:], strict=False):
      cell = cell.replace("**", "")
      if "±" in cell:
        cell_value = re.fullmatch(r"\s*([-+]?[\d.]+)\s*±\s*([\d.]+)\s*", cell)
        if cell_value is None:
          raise DataError(f"{path}: cell {cell!r} (row {name!r}, column {col!r}) is not "
                          "'mean ± std'")
        out[(name, col)] = (float(cell_value[1]), float(cell_value[2]), n)
  return out
