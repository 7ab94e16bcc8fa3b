"""nlx.report.diagnostics: the per-epoch diagnostics figure and collapse line of a run."""

import json

from nlx.report import diagnostics

RECORDS = [
    {"kind": "train", "step": 4, "epoch": 0.5, "loss": 2.0, "loss_ce": 1.5, "loss_proto": 0.5,
     "read_entropy": 0.99, "learning_rate": 1e-3},
    {"kind": "train", "step": 8, "epoch": 1.0, "loss": 1.8, "loss_ce": 1.4, "loss_proto": 0.4,
     "read_entropy": 0.98, "learning_rate": 1e-3},
    {"kind": "eval", "step": 8, "epoch": 1, "test_accuracy": 0.5, "corrected_share": 0.25,
     "train_top_class_share": float("nan")},
]


def test_series_take_method_metrics_and_eval_diagnostics_only():
  s = diagnostics.diagnostic_series(RECORDS)
  assert set(s) == {"loss_ce", "loss_proto", "read_entropy", "corrected_share"}
  assert s["read_entropy"] == ([0.5, 1.0], [0.99, 0.98])
  assert s["corrected_share"] == ([1], [0.25])


def test_report_section_writes_the_figure_and_the_collapse_line(tmp_path):
  run = tmp_path / "run"
  run.mkdir()
  with open(run / "metrics.jsonl", "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in RECORDS)
  with open(run / "results.json", "w") as f:
    json.dump({"collapse": {"epoch": 3, "step": 30, "class": 2, "share": 0.97}}, f)
  text = diagnostics.report_section(str(run), str(tmp_path))
  assert "**Collapsed** at epoch 3: class 2 predicted for 97.0%" in text
  assert "(run/diagnostics.png)" in text and (run / "diagnostics.png").stat().st_size > 0


def test_nothing_to_draw_for_a_plain_run(tmp_path):
  plain = [{"kind": "train", "step": 1, "epoch": 1.0, "loss": 1.0, "noisy_accuracy": 0.5}]
  assert not diagnostics.diagnostic_curves(plain, str(tmp_path / "d.png"))
  assert not (tmp_path / "d.png").exists()
  assert diagnostics.collapse_note({"collapse": None}) == ""
