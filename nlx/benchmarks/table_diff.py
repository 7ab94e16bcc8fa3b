"""A regenerated benchmark table against the committed one, cell by cell.

  python -m nlx.benchmarks.table_diff OLD.csv NEW.csv [--title=TEXT]
  python -m nlx.benchmarks.table_diff OLD.md NEW.md [--section=Accuracy]

Both files are tables as `nlx.report.tables.table` writes them (`method,COL mean,COL std,
...,seeds`, the sample std over the seeds; read by `tables.read_csv`), or markdown tables
of `mean ± std` cells for the benchmarks that write no CSV (`tables.read_markdown`: the
table under `## SECTION` or `### SECTION`; the seeds from a seeds column, else the
heading's count or list, else the title's list). For every (row, column) in both: the
two means, their difference and that difference over its standard error,
`sqrt(s_old^2 / n_old + s_new^2 / n_new)`; the column's best method in each (the
clean-label upper bound left out). Prints markdown: the cells whose difference exceeds 2
standard errors (about 5% of cells would by chance alone), then a line per column.
"""

import argparse
import math
import sys

from nlx.errors import DataError
from nlx.report.tables import UPPER_BOUND_ROW, read_csv, read_markdown

Cell = tuple[float, float, int]  # mean, sample std, seeds


def standard_error(old: Cell, new: Cell) -> float:
  """Standard error of `new`'s mean minus `old`'s, `sqrt(s_old^2 / n_old + s_new^2 /
  n_new)` with `s` the seeds' sample std as the tables print it; nan with one seed."""
  def var_of_mean(cell):
    _, std, n = cell
    return std ** 2 / n if n > 1 else math.nan
  return math.sqrt(var_of_mean(old) + var_of_mean(new))


def compare(old: dict, new: dict) -> list[dict]:
  """A dict per cell in both tables, in `new`'s order: row, column, the means, `delta`
  (new - old), `se` and `z` (delta / se)."""
  out = []
  for key in new:
    if key in old:
      se = standard_error(old[key], new[key])
      delta = new[key][0] - old[key][0]
      out.append({"row": key[0], "column": key[1], "old": old[key][0], "new": new[key][0],
                  "delta": delta, "se": se, "z": _ratio(delta, se)})
  return out


def _ratio(delta: float, se: float) -> float:
  """delta / se; with no spread on either side any difference is infinitely many errors."""
  if se > 0 or math.isnan(se):
    return delta / se
  return 0.0 if delta == 0 else math.copysign(math.inf, delta)


def best_rows(table: dict, rows=None) -> dict[str, str]:
  """Each column's highest-mean row (among `rows` when given)."""
  best = {}
  for (row, col), (mean, _, _) in table.items():
    if (rows is None or row in rows) and (col not in best or mean > table[(best[col], col)][0]):
      best[col] = row
  return best


def render(old: dict, new: dict, title: str = "") -> str:
  cells = compare(old, new)
  if not cells:
    raise DataError("the two tables share no (row, column) cell")
  beyond = [c for c in cells if abs(c["z"]) > 2]
  shared_rows = {c["row"] for c in cells} - {UPPER_BOUND_ROW}
  no_error = sum(math.isnan(c["z"]) for c in cells)
  old_best, new_best = best_rows(old, shared_rows), best_rows(new, shared_rows)
  lines = [f"### {title}" if title else "", "",
           f"{len(cells)} cells in both; mean |difference| "
           f"{sum(abs(c['delta']) for c in cells) / len(cells):.2f}, largest "
           f"{max(abs(c['delta']) for c in cells):.2f}; {len(beyond)} beyond 2 standard errors "
           f"(by chance alone about {0.05 * len(cells):.1f})"
           + (f"; {no_error} of one seed, without an error to compare" if no_error else "")
           + ".", ""]
  if beyond:
    lines += ["| row | column | committed | regenerated | difference | / standard error |",
              "|---|---|---|---|---|---|"]
    lines += [f"| {c['row']} | {c['column']} | {c['old']:.2f} | {c['new']:.2f} | "
              f"{c['delta']:+.2f} | {c['z']:+.1f} |" for c in beyond]
    lines.append("")
  for col in dict.fromkeys(c["column"] for c in cells):
    same = "same" if old_best.get(col) == new_best.get(col) else "changed"
    lines.append(f"- {col}: best row {old_best.get(col)} -> {new_best.get(col)} ({same})")
  return "\n".join(lines).lstrip("\n") + "\n"


def main(argv=None) -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("old")
  p.add_argument("new")
  p.add_argument("--title", default="")
  p.add_argument("--section", default="", help="markdown files: the table under '## SECTION'")
  a = p.parse_args(argv)

  def read(path):
    if path.endswith(".md"):
      return read_markdown(path, a.section)
    if a.section:
      raise DataError(f"--section={a.section} is for markdown tables; {path} is a CSV, "
                      "which holds one table")
    return read_csv(path)
  try:
    print(render(read(a.old), read(a.new), a.title), end="")
  except (DataError, OSError) as e:
    sys.exit(f"table_diff: {e}")


if __name__ == "__main__":
  main()
