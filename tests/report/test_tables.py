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


@pytest.mark.slow
def test_tsne_figure_is_written(tmp_path):
  import numpy as np

  from nlx.report import plots
  rng = np.random.default_rng(0)
  feats = np.concatenate([rng.normal(size=(40, 8)) + 4 * np.eye(8)[k] for k in range(3)])
  labels = np.repeat(np.arange(3), 40)
  plots.tsne_panels([{"title": "a", "features": feats, "labels": labels, "prototypes": None},
                     {"title": "b", "features": feats, "labels": labels,
                      "prototypes": 4 * np.eye(8)[:3]}], str(tmp_path / "t.png"))
  from PIL import Image
  with Image.open(tmp_path / "t.png") as im:
    assert im.size[0] > im.size[1] > 100
