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


def test_the_suspects_mosaic_places_each_image_centred_below_its_title_band():
  """Two rows of two cells (s = 3, the largest side; band 2, gap 2): cell (r, c) spans
  rows r * 7 + 2 .. + 3 and columns c * 5 + 1 .. + 3; a 1 x 3 image sits in its square's
  middle row, a 3 x 1 one in its middle column; everything else stays white."""
  from nlx.report.label_issues_page import mosaic
  a = np.full((3, 3, 3), 0.1)
  b = np.full((1, 3, 3), 0.2)
  c = np.full((3, 1, 3), 0.3)
  canvas, s, rows = mosaic([a, b, c], cols=2, band=2, gap=2)
  assert (s, rows, canvas.shape) == (3, 2, (14, 10, 3))
  want = np.ones((14, 10, 3))
  want[2:5, 1:4] = 0.1      # a: row 0, column 0
  want[3:4, 6:9] = 0.2      # b: row 0, column 1, middle row of rows 2-4
  want[9:12, 2:3] = 0.3     # c: row 1, column 0, middle column of columns 1-3
  np.testing.assert_array_equal(canvas, want)


def test_a_grey_suspect_is_stretched_to_its_own_range_and_colour_kept():
  """As imshow shows them: grey min..max to 0..1 (a flat image black), uint8 colour over
  255, float colour clipped; large images shrink to fit the cell, aspect kept."""
  from nlx.report.label_issues_page import _display, _fit
  grey = _display(np.array([[10, 20], [30, 50]], np.uint8))
  np.testing.assert_allclose(grey[..., 0], [[0.0, 0.25], [0.5, 1.0]])
  assert grey.shape == (2, 2, 3) and np.array_equal(grey[..., 0], grey[..., 2])
  np.testing.assert_array_equal(_display(np.full((2, 2), 7.0)), np.zeros((2, 2, 3)))
  colour = np.zeros((1, 2, 3), np.uint8)
  colour[0, 1] = (255, 51, 0)
  np.testing.assert_allclose(_display(colour)[0, 1], [1.0, 0.2, 0.0])
  np.testing.assert_array_equal(_display(np.array([[[-1.0, 0.5, 2.0]]]))[0, 0], [0, 0.5, 1])
  # other integer colour (e.g. int64 from a list, 16-bit): 0..255 like uint8, clipped
  np.testing.assert_allclose(_display(np.array([[[255, 51, 300]]], np.int64))[0, 0],
                             [1.0, 0.2, 1.0])
  np.testing.assert_allclose(_display(np.array([[[-5, 102, 0, 9]]], np.int16))[0, 0],
                             [0.0, 0.4, 0.0])  # alpha dropped
  assert _fit(np.zeros((200, 100, 3)), 64).shape == (64, 32, 3)
  assert _fit(np.zeros((10, 30, 3)), 64).shape == (10, 30, 3)  # never enlarged


def test_the_suspects_figure_shows_the_lowest_scores_first_with_their_classes(tmp_path,
                                                                           monkeypatch):
  """The figure's text: the `top` lowest scores in order, each "#index" over "given ->
  suggested", flagged ones red."""
  import types

  from nlx.report import label_issues_page as page
  images = np.stack([np.full((4, 4), k, np.uint8) for k in range(6)])
  dataset = types.SimpleNamespace(
      train=types.SimpleNamespace(paths=None, decode=None, inputs=images),
      class_names=["cat", "dog", "owl"])
  issues = types.SimpleNamespace(
      scores=np.array([0.5, -2.0, 0.1, 3.0, -1.0, 0.0]), labels=np.array([0, 1, 2, 0, 1, 2]),
      suggested=np.array([1, 2, 0, 1, 0, 0]), flagged=np.array([0, 1, 0, 0, 1, 0], bool),
      score_name="aum")
  texts = []
  plt = plots.pyplot()
  real_savefig = plt.Figure.savefig

  def keep_texts(fig, *a, **k):
    texts.extend((t.get_text(), t.get_color()) for t in fig.axes[0].texts)
    return real_savefig(fig, *a, **k)
  monkeypatch.setattr(plt.Figure, "savefig", keep_texts)
  path = page.suspects_figure(str(tmp_path), dataset, issues, top=3, cols=2)
  assert path == str(tmp_path / "label_issues.png")
  assert (tmp_path / "label_issues.png").stat().st_size > 0
  assert texts == [("#1\ndog -> owl", "tab:red"), ("#4\ndog -> cat", "tab:red"),
                   ("#5\nowl -> cat", "black")]
