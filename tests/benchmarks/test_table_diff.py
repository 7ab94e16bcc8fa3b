"""nlx.benchmarks.table_diff: a regenerated table against the committed one, by hand."""

import math

import pytest

from nlx.benchmarks import table_diff
from nlx.errors import DataError

OLD = """method,agent mean,agent std,sym40 mean,sym40 std,seeds
ce,80.0,2.0,50.0,0.0,3
elr,81.0,1.0,,,3
clean labels (upper bound),99.5,0.1,99.5,0.1,3
"""
NEW = """method,agent mean,agent std,sym40 mean,sym40 std,seeds
ce,83.0,1.0,51.0,0.5,3
elr,82.0,1.0,60.0,1.0,3
mixup,99.0,0.0,99.0,0.0,3
clean labels (upper bound),99.5,0.1,99.5,0.1,3
"""


def tables(tmp_path):
  (tmp_path / "old.csv").write_text(OLD)
  (tmp_path / "new.csv").write_text(NEW)
  return (table_diff.read_table(str(tmp_path / "old.csv")),
          table_diff.read_table(str(tmp_path / "new.csv")))


def test_each_shared_cell_by_hand(tmp_path):
  old, new = tables(tmp_path)
  assert old[("ce", "agent")] == (80.0, 2.0, 3) and ("elr", "sym40") not in old  # blank
  cells = {(c["row"], c["column"]): c for c in table_diff.compare(old, new)}
  assert set(cells) - {(table_diff.UPPER_BOUND, "agent"), (table_diff.UPPER_BOUND, "sym40")} \
      == {("ce", "agent"), ("ce", "sym40"), ("elr", "agent")}  # no mixup
  # ce/agent: sample variances 4 * 3/2 = 6 and 1.5; of the means 2 and 0.5; se sqrt(2.5)
  c = cells[("ce", "agent")]
  assert c["delta"] == 3.0 and c["se"] == pytest.approx(math.sqrt(2.5))
  assert c["z"] == pytest.approx(3 / math.sqrt(2.5))  # 1.90: within 2
  # ce/sym40: 0 and 0.25 * 3/2 / 3 = 0.125 -> se 0.354, z 2.83: beyond 2
  assert cells[("ce", "sym40")]["z"] == pytest.approx(1 / math.sqrt(0.125))
  # elr/agent: (1 + 1) / 2 each... 0.5 + 0.5 -> se 1, z 1
  assert cells[("elr", "agent")]["z"] == pytest.approx(1.0)


def test_the_report_names_the_cells_beyond_two_errors_and_the_best_rows(tmp_path):
  old, new = tables(tmp_path)
  text = table_diff.render(old, new, "digits")
  assert "5 cells in both; mean |difference| 1.00, largest 3.00; 1 beyond 2 standard" in text
  assert "| ce | sym40 | 50.00 | 51.00 | +1.00 | +2.8 |" in text
  assert "| ce | agent |" not in text
  # the best method among the rows both tables have (not the upper bound): agent elr (81)
  # -> ce (83); sym40 ce
  assert "- agent: best row elr -> ce (changed)" in text
  assert "- sym40: best row ce -> elr (changed)" in text


def test_one_seed_has_no_error_and_a_foreign_file_is_one_line(tmp_path):
  one = (50.0, 0.0, 1)
  exact = (50.0, 0.0, 3)
  assert table_diff.compare({("ce", "a"): exact}, {("ce", "a"): (50.5, 0.0, 3)})[0]["z"] \
      == math.inf  # no spread on either side: any difference is beyond
  assert table_diff.compare({("ce", "a"): exact}, {("ce", "a"): exact})[0]["z"] == 0.0
  assert math.isnan(table_diff.standard_error(one, (51.0, 1.0, 3)))
  (tmp_path / "x.csv").write_text("a,b\n1,2\n")
  with pytest.raises(DataError, match="not a benchmark table's CSV"):
    table_diff.read_table(str(tmp_path / "x.csv"))
  with pytest.raises(SystemExit, match="table_diff: .*share no"):
    (tmp_path / "o.csv").write_text("method,a mean,a std,seeds\nce,1,0,3\n")
    (tmp_path / "n.csv").write_text("method,b mean,b std,seeds\nce,1,0,3\n")
    table_diff.main([str(tmp_path / "o.csv"), str(tmp_path / "n.csv")])
