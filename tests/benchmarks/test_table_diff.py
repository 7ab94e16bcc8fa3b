"""nlx.benchmarks.table_diff: a regenerated table against the committed one, by hand."""

import math

import pytest

from nlx.benchmarks import table_diff
from nlx.errors import DataError
from nlx.report import tables

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


def read(tmp_path, name, text):
  (tmp_path / name).write_text(text)
  return tables.read_csv(str(tmp_path / name))


def test_the_csv_reads_back_what_the_table_wrote(tmp_path):
  """`tables.read_csv` of `tables.table`'s CSV: the scaled mean and the sample std (ddof=1:
  values 0.8, 0.9, 1.0 -> 90 ± 10), the row's seeds; a missing cell is left out."""
  _, text = tables.table({("ce", "a"): [0.8, 0.9, 1.0], ("ce", "b"): [0.5, 0.5, 0.5],
                          ("elr", "a"): [0.7]}, ["ce", "elr"], ["a", "b"])
  got = read(tmp_path, "t.csv", text)
  assert set(got) == {("ce", "a"), ("ce", "b"), ("elr", "a")}
  assert got[("ce", "a")] == (pytest.approx(90.0), pytest.approx(10.0), 3)
  assert got[("elr", "a")] == (pytest.approx(70.0), 0.0, 1)
  with pytest.raises(DataError, match="row 'ce' appears twice"):
    read(tmp_path, "d.csv", "method,a mean,a std,seeds\nce,1,0,3\nce,2,0,3\n")
  with pytest.raises(DataError, match="not a benchmark table's CSV"):
    read(tmp_path, "x.csv", "a,b\n1,2\n")


def test_each_shared_cell_by_hand(tmp_path):
  old, new = read(tmp_path, "old.csv", OLD), read(tmp_path, "new.csv", NEW)
  assert old[("ce", "agent")] == (80.0, 2.0, 3) and ("elr", "sym40") not in old  # blank
  cells = {(c["row"], c["column"]): c for c in table_diff.compare(old, new)}
  assert set(cells) - {(tables.UPPER_BOUND_ROW, "agent"), (tables.UPPER_BOUND_ROW, "sym40")} \
      == {("ce", "agent"), ("ce", "sym40"), ("elr", "agent")}  # no mixup
  # ce/agent: sample std 2 and 1 over 3 seeds: 4/3 + 1/3 = 5/3, se 1.29, z 2.32: beyond 2
  c = cells[("ce", "agent")]
  assert c["delta"] == 3.0 and c["se"] == pytest.approx(math.sqrt(5 / 3))
  assert c["z"] == pytest.approx(3 / math.sqrt(5 / 3))
  # ce/sym40: 0 + 0.25/3 -> se 0.289, z 3.46: beyond
  assert cells[("ce", "sym40")]["z"] == pytest.approx(1 / math.sqrt(0.25 / 3))
  # elr/agent: 1/3 + 1/3 -> se 0.816, z 1.22: within
  assert cells[("elr", "agent")]["z"] == pytest.approx(1 / math.sqrt(2 / 3))


def test_the_report_names_the_cells_beyond_two_errors_and_the_best_rows(tmp_path):
  old, new = read(tmp_path, "old.csv", OLD), read(tmp_path, "new.csv", NEW)
  text = table_diff.render(old, new, "digits")
  assert "5 cells in both; mean |difference| 1.00, largest 3.00; 2 beyond 2 standard " \
         "errors (by chance alone about 0.2)." in text
  assert "| ce | agent | 80.00 | 83.00 | +3.00 | +2.3 |" in text
  assert "| ce | sym40 | 50.00 | 51.00 | +1.00 | +3.5 |" in text
  assert "| elr | agent |" not in text
  # the best method among the rows both tables have (not the upper bound): agent elr (81)
  # -> ce (83); sym40 ce -> elr
  assert "- agent: best row elr -> ce (changed)" in text
  assert "- sym40: best row ce -> elr (changed)" in text


def test_one_seed_has_no_error_and_is_counted_and_no_shared_cell_is_one_line(tmp_path):
  one, exact = (50.0, 0.0, 1), (50.0, 0.0, 3)
  assert table_diff.compare({("ce", "a"): exact}, {("ce", "a"): (50.5, 0.0, 3)})[0]["z"] \
      == math.inf  # no spread on either side: any difference is beyond
  assert table_diff.compare({("ce", "a"): exact}, {("ce", "a"): exact})[0]["z"] == 0.0
  assert math.isnan(table_diff.standard_error(one, (51.0, 1.0, 3)))
  text = table_diff.render({("ce", "a"): one, ("elr", "a"): exact},
                           {("ce", "a"): (60.0, 0.0, 1), ("elr", "a"): exact})
  assert "0 beyond 2 standard errors (by chance alone about 0.1); 1 of one seed, without " \
         "an error to compare." in text
  with pytest.raises(SystemExit, match="table_diff: .*share no"):
    (tmp_path / "o.csv").write_text("method,a mean,a std,seeds\nce,1,0,3\n")
    (tmp_path / "n.csv").write_text("method,b mean,b std,seeds\nce,1,0,3\n")
    table_diff.main([str(tmp_path / "o.csv"), str(tmp_path / "n.csv")])


MD = """# SINet, some protocol: accuracy (%), mean ± std over seeds [0, 1, 2]

Command: `python experiments/x.py`

## Accuracy

| method | worst | aggre |
|---|---|---|
| Model-A (CE) | 62.09 ± 2.15 | 68.17 ± 0.68 |
| Model-C (weighted CE) | **64.72 ± 0.37** | — |

## AUROC of w

| method | worst |
|---|---|
| Model-A (CE) | 80.08 ± 1.41 |
"""


def test_a_markdown_table_reads_its_section_bold_dropped_and_the_title_seeds(tmp_path):
  (tmp_path / "t.md").write_text(MD)
  path = str(tmp_path / "t.md")
  acc = {("Model-A (CE)", "worst"): (62.09, 2.15, 3), ("Model-A (CE)", "aggre"): (68.17, 0.68, 3),
         ("Model-C (weighted CE)", "worst"): (64.72, 0.37, 3)}
  assert tables.read_markdown(path) == acc  # the first table; the dash cell left out
  assert tables.read_markdown(path, "Accuracy") == acc
  assert tables.read_markdown(path, "AUROC of w") == {("Model-A (CE)", "worst"): (80.08, 1.41, 3)}
  (tmp_path / "one.md").write_text(MD.replace("seeds [0, 1, 2]", "seeds [0]"))
  assert tables.read_markdown(str(tmp_path / "one.md"))[("Model-A (CE)", "worst")][2] == 1
  with pytest.raises(DataError, match="no section '## Macro-F1'"):
    tables.read_markdown(path, "Macro-F1")
  (tmp_path / "bare.md").write_text(MD.replace("mean ± std over seeds [0, 1, 2]", "means"))
  with pytest.raises(DataError, match="seeds list"):
    tables.read_markdown(str(tmp_path / "bare.md"))
  (tmp_path / "twice.md").write_text(MD.replace("Model-C (weighted CE)", "Model-A (CE)"))
  with pytest.raises(DataError, match="'Model-A \\(CE\\)' appears twice"):
    tables.read_markdown(str(tmp_path / "twice.md"))
  (tmp_path / "odd.md").write_text(MD.replace("68.17 ± 0.68", "68.17 ± 0.68 (2 seeds)"))
  with pytest.raises(DataError, match="column 'aggre'.* is not 'mean ± std'"):
    tables.read_markdown(str(tmp_path / "odd.md"))
  (tmp_path / "neg.md").write_text(MD.replace("62.09 ± 2.15", "-0.50 ± 2.15"))
  assert tables.read_markdown(str(tmp_path / "neg.md"))[("Model-A (CE)", "worst")][0] == -0.5


def test_the_command_compares_markdown_sections(tmp_path, capsys):
  (tmp_path / "old.md").write_text(MD)
  (tmp_path / "new.md").write_text(MD.replace("80.08 ± 1.41", "85.08 ± 1.41"))
  table_diff.main([str(tmp_path / "old.md"), str(tmp_path / "new.md"), "--section=AUROC of w"])
  out = capsys.readouterr().out
  # 5.00 / sqrt(2 * 1.41^2 / 3) = 4.34 standard errors
  assert "1 cells in both; mean |difference| 5.00" in out and "| +5.00 | +4.3 |" in out


def test_a_section_given_for_a_csv_is_a_one_line_error_not_ignored(tmp_path):
  (tmp_path / "old.csv").write_text(OLD)
  (tmp_path / "new.csv").write_text(NEW)
  with pytest.raises(SystemExit,
                     match="--section=Accuracy is for markdown tables; .*old.csv is a CSV"):
    table_diff.main([str(tmp_path / "old.csv"), str(tmp_path / "new.csv"),
                     "--section=Accuracy"])


ABLATION_MD = """# ARNet readings: temperature x target x lambda, with ELR and CE

## digits:sym40, seeds [0, 1, 2]

| row | seeds | test acc | val acc (noisy labels) | collapsed seeds | read_max |
|---|---|---|---|---|---|
| ce | 0,1,2 | 72.24 ± 3.77 | 41.72 ± 3.67 | 0/3 | nan |
| **arnet swav running lam=0** (chosen on val) | 0,1,2 | 96.56 ± 0.73 | 55.24 ± 2.97 | 0/3 | 0.438 |

## fashion_mnist:pair40, seeds [0, 1, 2]

| row | seeds | test acc | val acc (noisy labels) | collapsed seeds | read_max |
|---|---|---|---|---|---|
| ce | 0,1,2 | 79.93 ± 0.63 | 52.66 ± 0.44 | 0/3 | nan |
| arnet paper current lam=0 | 0 | 29.49 ± 0.00 | 25.70 ± 0.00 | 0/1 | 0.033 |
"""


def test_a_table_with_a_seeds_column_counts_each_rows_seeds_and_drops_the_rows_note(tmp_path):
  """ARNet's ablation: the seeds list is in each section's heading, not the first line;
  each row's own seeds column counts its seeds (a screen on one seed); the chosen row's
  `**name** (chosen on val)` is `name`, so a choice that moves keeps the row comparable."""
  (tmp_path / "a.md").write_text(ABLATION_MD)
  path = str(tmp_path / "a.md")
  digits = tables.read_markdown(path, "digits:sym40, seeds [0, 1, 2]")
  assert digits == {("ce", "test acc"): (72.24, 3.77, 3),
                    ("ce", "val acc (noisy labels)"): (41.72, 3.67, 3),
                    ("arnet swav running lam=0", "test acc"): (96.56, 0.73, 3),
                    ("arnet swav running lam=0", "val acc (noisy labels)"): (55.24, 2.97, 3)}
  fmnist = tables.read_markdown(path, "fashion_mnist:pair40, seeds [0, 1, 2]")
  assert fmnist[("ce", "test acc")][2] == 3
  assert fmnist[("arnet paper current lam=0", "test acc")] == (29.49, 0.0, 1)
  # a heading's list wins over the first line's: here the first line has none at all
  (tmp_path / "h.md").write_text(ABLATION_MD.replace("| seeds |", "| runs |"))
  assert tables.read_markdown(str(tmp_path / "h.md"), "fashion_mnist:pair40, seeds [0, 1, 2]")[
      ("arnet paper current lam=0", "test acc")][2] == 3
  (tmp_path / "none.md").write_text(ABLATION_MD.replace("| seeds |", "| runs |")
                                    .replace(", seeds [0, 1, 2]", ""))
  with pytest.raises(DataError, match="no seeds list .* and its table has no seeds column"):
    tables.read_markdown(str(tmp_path / "none.md"), "digits:sym40")


@pytest.mark.parametrize("cell", ["", "—", "0,,2", "0,a"])
def test_a_seeds_cell_that_is_not_a_list_of_seeds_is_named(tmp_path, cell):
  (tmp_path / "a.md").write_text(ABLATION_MD.replace("| ce | 0,1,2 | 79.93",
                                                    f"| ce | {cell} | 79.93"))
  with pytest.raises(DataError, match="row 'ce': its seeds cell .* is not a list of seeds"):
    tables.read_markdown(str(tmp_path / "a.md"), "fashion_mnist:pair40, seeds [0, 1, 2]")


def test_a_bold_column_name_is_read_without_its_marks(tmp_path):
  (tmp_path / "b.md").write_text(MD.replace("| method | worst | aggre |",
                                            "| method | **worst** | aggre |"))
  assert ("Model-A (CE)", "worst") in tables.read_markdown(str(tmp_path / "b.md"))


LABEL_ISSUES_MD = """## Label issues, fashion_mnist

`python experiments/label_issues_benchmark.py --suite=fashion_mnist`

### sym40 (3 seeds: 0, 1, 2)

| scorer | AUROC | AP | estimated errors | wall time (s) |
|---|---|---|---|---|
| nlx: CE's area under the margin (one run) | 99.1 ± 0.0 | 98.5 ± 0.1 | 25884 ± 45 | 63 ± 4 |

### pair40 (2 seeds: 0, 1)

| scorer | AUROC | AP | estimated errors | wall time (s) |
|---|---|---|---|---|
| nlx: CE's area under the margin (one run) | 90.9 ± 0.8 | 76.0 ± 0.9 | 23514 ± 159 | 61 ± 3 |
"""


def test_a_third_level_section_counts_the_seeds_its_heading_names(tmp_path):
  """The label-issue tables: `### SETTING (N seeds: ...)` sections, no list in the title."""
  (tmp_path / "l.md").write_text(LABEL_ISSUES_MD)
  path = str(tmp_path / "l.md")
  sym = tables.read_markdown(path, "sym40 (3 seeds: 0, 1, 2)")
  assert sym[("nlx: CE's area under the margin (one run)", "AP")] == (98.5, 0.1, 3)
  assert sym[("nlx: CE's area under the margin (one run)", "estimated errors")] == (25884, 45, 3)
  pair = tables.read_markdown(path, "pair40 (2 seeds: 0, 1)")
  assert pair[("nlx: CE's area under the margin (one run)", "AUROC")] == (90.9, 0.8, 2)
  with pytest.raises(DataError, match="no section '## pair40'"):
    tables.read_markdown(path, "pair40")  # a heading is matched whole
  (tmp_path / "deep.md").write_text(LABEL_ISSUES_MD.replace("### sym40", "##### sym40"))
  with pytest.raises(DataError, match="no section"):
    tables.read_markdown(str(tmp_path / "deep.md"), "sym40 (3 seeds: 0, 1, 2)")
