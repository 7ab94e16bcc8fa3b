import numpy as np

from nlx.report import plots


def test_training_curves_plot_the_data_term_when_a_method_logs_one(tmp_path, monkeypatch):
  figures = []
  monkeypatch.setattr(plots.pyplot(), "close", figures.append)  # keep the figure to inspect it
  records = [{"kind": "train", "step": s, "loss": -2.0 * s, "data_loss": 1.0 / s,
              "reg_loss": -2.0 * s - 1.0 / s} for s in (1, 2, 3)]
  records.append({"kind": "eval", "epoch": 1, "test_accuracy": 0.5})
  plots.training_curves(records, str(tmp_path / "with_reg.png"))
  main_axis = figures[-1].axes[0]
  np.testing.assert_allclose(main_axis.lines[0].get_ydata(), [1.0, 0.5, 1 / 3])
  assert "data" in main_axis.get_ylabel()
  total_axis = [ax for ax in figures[-1].axes if ax.get_ylabel().startswith("total")]
  np.testing.assert_allclose(total_axis[0].lines[0].get_ydata(), [-2, -4, -6])
  plain = [{k: v for k, v in r.items() if k not in ("data_loss", "reg_loss")} for r in records]
  plots.training_curves(plain, str(tmp_path / "plain.png"))
  np.testing.assert_allclose(figures[-1].axes[0].lines[0].get_ydata(), [-2, -4, -6])
  assert (tmp_path / "with_reg.png").exists() and (tmp_path / "plain.png").exists()
