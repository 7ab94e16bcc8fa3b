import math

import pytest

from nlx.report import tables


def test_mean_std_by_hand():
  assert tables.mean_std([0.5, 0.7]) == (pytest.approx(0.6), pytest.approx(math.sqrt(0.02)))
  assert tables.mean_std([0.5]) == (0.5, 0.0)
  assert math.isnan(tables.mean_std([])[0])


def test_table_bolds_best_mean_per_column_except_upper_bound():
  cells = {("ce", "a"): [0.5, 0.7], ("gce", "a"): [0.8, 0.8], ("clean", "a"): [0.9],
           ("ce", "b"): [0.4], ("gce", "b"): [0.3]}
  md, csv = tables.table(cells, ["ce", "gce", "clean"], ["a", "b"], exclude_from_best={"clean"})
  lines = md.splitlines()
  assert lines[0] == "| method | a | b |"
  assert lines[2] == "| ce | 60.00 ± 14.14 | **40.00 ± 0.00** |"
  assert lines[3] == "| gce | **80.00 ± 0.00** | 30.00 ± 0.00 |"
  assert lines[4] == "| clean | 90.00 ± 0.00 | - |"
  assert csv.splitlines()[1] == "ce,60.0000,14.1421,40.0000,0.0000,2"
