import configparser
import os
import re

import numpy as np
from conftest import REPO

RESULTS = os.path.join(REPO, "experiments", "results")
# "mean ± std" as the tables print it: 62.09 ± 2.15, 88.9 ± 0.1
MEAN_STD = re.compile(r"(\d+(?:\.\d+)?) ± (\d+(?:\.\d+)?)")


def readme(path: str = "README.md") -> str:
  with open(os.path.join(REPO, path)) as f:
    return f.read()


def results_readme() -> str:
  """Where the README's results moved (issue 30): every table with its command."""
  return readme(os.path.join("experiments", "results", "README.md"))


def result_tables() -> dict:
  """File name -> text of every table a benchmark command wrote into experiments/results."""
  return {f: readme(os.path.join("experiments", "results", f))
          for f in sorted(os.listdir(RESULTS)) if f.endswith(".md") and f != "README.md"}


def test_readme_losses_example_runs_and_gives_the_losses_by_hand():
  section = readme().split("## Use `nlx.losses` in your own JAX code", 1)[1]
  code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
  scope = {}
  exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - our own README
  logits = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 3.0]])
  p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
  p_y = p[[0, 1], [0, 1]]
  # GCE (Zhang & Sabuncu): (1 - p_y^q) / q, averaged; SCE: 0.1 CE + 1.0 RCE with
  # RCE = -A (1 - p_y), A = log 0 := -4; forward: -log (p T)_y with T = 0.8 I + 0.2 / 3.
  np.testing.assert_allclose(float(scope["loss"]), np.mean((1 - p_y ** 0.7) / 0.7), rtol=1e-6)
  np.testing.assert_allclose(scope["sce"], 0.1 * -np.log(p_y) + 4 * (1 - p_y), rtol=1e-6)
  pt = p @ (np.eye(3) * 0.8 + 0.2 / 3)
  np.testing.assert_allclose(scope["fwd"], -np.log(pt[[0, 1], [0, 1]]), rtol=1e-6)


def test_readme_ci_and_setup_cfg_agree_on_the_fast_test_command():
  # README command 2 leaves out the tests marked slow, CI runs exactly that command and
  # then the slow ones (so nothing is guarded only by tests that never run), setup.cfg
  # registers the marker, and the README says how to run the slow ones.
  text = readme()
  commands = text.split("## Two commands for a new user", 1)[1].split("```", 2)[1]
  assert 'pytest -q -m "not slow"' in commands.splitlines()
  assert "pytest -q -m slow" in text
  with open(os.path.join(REPO, ".ci", "run")) as f:
    ci = f.read().splitlines()
  assert 'pytest -q -m "not slow"' in ci
  assert "pytest -q -m slow" in ci
  assert ci.index("pytest -q -m slow") > ci.index('pytest -q -m "not slow"')
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(REPO, "setup.cfg"))
  markers = [m.split(":")[0].strip() for m in cfg["tool:pytest"]["markers"].splitlines() if m]
  assert "slow" in markers


def _decimals(s: str) -> int:
  return len(s.split(".")[1]) if "." in s else 0


def _in_tables(mean: str, std: str, texts) -> bool:
  """Whether some table prints mean ± std, or the same figure at more decimals that rounds
  to it (prose quotes 96.47 ± 0.43 as 96.5 ± 0.4)."""
  d = max(_decimals(mean), _decimals(std))
  for text in texts:
    for m, s in MEAN_STD.findall(text):
      if (m, s) == (mean, std) or (max(_decimals(m), _decimals(s)) > d
                                   and f"{float(m):.{d}f}" == f"{float(mean):.{d}f}"
                                   and f"{float(s):.{d}f}" == f"{float(std):.{d}f}"):
        return True
  return False


def methods_table_rows(text: str) -> list:
  section = text.split("## Methods", 1)[1].split("\n## ", 1)[0]
  rows = [r for r in section.splitlines() if r.startswith("| `")]
  assert len(rows) >= 20, "the methods table lost rows"
  return rows


def test_readme_methods_table_has_one_headline_per_row_from_its_linked_table():
  # The README keeps one figure per method; each must be printed, to the digit, by the
  # table it links to (the file a benchmark command wrote), so the two cannot drift.
  tables = result_tables()
  for row in methods_table_rows(readme()):
    headline = row.rstrip(" |").rsplit(" | ", 1)[1]
    links = re.findall(r"\]\(experiments/results/([^)#]+)\)", headline)
    figures = MEAN_STD.findall(headline)
    assert figures and links, f"no headline figure with its table: {row[:60]}"
    for mean, std in figures:
      assert any(f"{mean} ± {std}" in tables[f] for f in links), (row[:60], mean, std, links)


def test_every_mean_std_figure_in_the_readmes_is_in_a_committed_table():
  # README.md and experiments/results/README.md quote the tables; a figure that is in no
  # table was typed by hand (or the table was regenerated and the prose not).
  tables = result_tables().values()
  for name, text in (("README.md", readme()), ("experiments/results/README.md", results_readme())):
    missing = sorted({f"{m} ± {s}" for m, s in MEAN_STD.findall(text)
                      if not _in_tables(m, s, tables)})
    assert not missing, f"{name}: figures in no table of experiments/results: {missing}"


def test_results_readme_links_every_table_and_figure_of_its_folder():
  text = results_readme()
  linked = set(re.findall(r"\]\(([^)#/]+)\)", text))
  unlinked = sorted(set(os.listdir(RESULTS)) - linked - {"README.md"})
  assert not unlinked, f"experiments/results/README.md links none of {unlinked}"


def _anchor(heading: str) -> str:
  """GitHub's anchor for a markdown heading."""
  return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_the_readmes_links_resolve_to_files_and_headings():
  for name in ("README.md", "experiments/results/README.md"):
    here = os.path.dirname(os.path.join(REPO, name))
    for target in re.findall(r"\]\(([^)\s]+)\)", readme(name)):
      if target.startswith(("http://", "https://")):
        continue
      path, _, anchor = target.partition("#")
      full = os.path.normpath(os.path.join(here, path)) if path else os.path.join(REPO, name)
      assert os.path.exists(full), f"{name}: link to a missing file {target}"
      if anchor:
        with open(full) as f:
          anchors = {_anchor(h) for h in re.findall(r"^#+ (.*)$", f.read(), re.MULTILINE)}
        assert anchor in anchors, f"{name}: link to a missing heading {target}"


def test_the_readme_layer_table_is_nlx_layers():
  # One layer table (issue 30): nlx.LAYERS is the definition, the README's "Code layout"
  # the one description of it, and nlx/__init__.py's docstring points to both.
  import nlx
  section = readme().split("## Code layout", 1)[1].split("\n## ", 1)[0]
  rows = [r.split(" | ") for r in section.splitlines()
          if r.startswith("| ") and not r.startswith(("| layer", "|---"))]
  table = [(r[0][2:], set(re.findall(r"`([\w.]+)`", r[1]))) for r in rows]
  assert table == [(name, {p.removeprefix("nlx.") for p in prefixes})
                   for name, prefixes in nlx.LAYERS]
  assert "foundation:" not in (nlx.__doc__ or ""), "the layers are listed again in nlx/__init__.py"
