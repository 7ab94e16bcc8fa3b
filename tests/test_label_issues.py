import csv
import json
import os

import jax
import numpy as np
import pytest
from conftest import load_config

from nlx import data as data_lib
from nlx import label_issues, train
from nlx.data.types import Dataset, Split
from nlx.report import label_issues_page


def test_the_public_api_keeps_its_names():
  """`nlx.label_issues` re-exports the maths (`nlx.ops.confident_learning`) and a run's
  scores (`nlx.label_issue_scores`) under the names experiments and notebooks use."""
  from nlx import label_issue_scores
  from nlx.ops import confident_learning
  assert all(hasattr(label_issues, name) for name in label_issues.__all__)
  for name in ("confident_thresholds", "confident_joint", "round_preserving_total",
               "calibrate_joint", "confident_learning_counts", "mixture_boundary",
               "class_error_threshold", "estimated_errors_per_class", "flag_by_class",
               "suggested_labels", "detection_metrics"):
    assert getattr(label_issues, name) is getattr(confident_learning, name)
  for name in ("COUNTS", "SCORES", "TrainedRun", "compute", "estimated_counts",
               "resolve_count", "score_name"):
    assert getattr(label_issues, name) is getattr(label_issue_scores, name)
  assert (label_issues.CSV_NAME, label_issues.JSON_NAME) == ("label_issues.csv",
                                                             "label_issues.json")


def test_an_unknown_count_is_a_config_error():
  from nlx.errors import ConfigError
  with pytest.raises(ConfigError, match="unknown label-issue count 'median'"):
    label_issues.estimated_counts(np.array([0, 0, 1]), None, "median")


PLANTED = np.array([17, 40, 99, 150, 201, 260])


def blobs_dataset():
  """3 well-separated Gaussian blobs in 8-d; 6 of 300 training labels planted wrong."""
  rng = np.random.default_rng(0)
  centers = 6.0 * np.eye(3, 8)

  def split(n):
    y = rng.integers(0, 3, n)
    return (centers[y] + rng.normal(0, 1, (n, 8))).astype(np.float32), y

  x, y = split(300)
  given = y.copy()
  given[PLANTED] = (y[PLANTED] + 1) % 3
  xt, yt = split(90)
  return Dataset("blobs", Split(x, given, y), Split(xt, yt, yt), 3, ["a", "b", "c"],
                 (0.0,), (1.0,), info={"noise_rate": len(PLANTED) / 300})


def test_planted_wrong_labels_are_flagged_first(tmp_path):
  config = load_config("quickstart", "tiny")
  config.model.name = "mlp"
  config.model.hidden = (32,)
  config.train.num_epochs = 8
  ds = blobs_dataset()
  results = train.train_and_evaluate(config, str(tmp_path), dataset=ds)
  rows = label_issues.find(str(tmp_path))
  assert len(rows) == 300 and sorted(r["index"] for r in rows) == list(range(300))
  top = rows[:len(PLANTED)]  # the most suspicious rows are the planted ones
  assert sorted(r["index"] for r in top) == sorted(PLANTED)
  assert all(r["suggested_label"] == ds.train.clean_labels[r["index"]] for r in top)
  assert [r["score"] for r in rows] == sorted(r["score"] for r in rows)
  flagged = {r["index"] for r in rows if r["flagged"]}
  summary = results["label_issues"]
  # confident learning on the epoch-averaged in-sample probabilities: 3 of the 6 (the MLP
  # fits some planted labels from epoch 2: their p at the true class stays under that
  # class's threshold, the mean p of a class fitted to ~.95); the mixture count flagged 4,
  # all planted; the peak per-epoch count 21 (epoch 1 underfits)
  # (auto: the last epoch leaves some planted labels unfitted, under 99% agreement)
  assert summary["count"] == "auto: confident_learning"
  assert 2 <= summary["estimated_errors"] <= len(PLANTED)
  assert len(flagged & set(PLANTED)) >= summary["estimated_errors"] - 1
  assert summary["true_errors"] == len(PLANTED) and summary["estimated_errors"] == len(flagged)
  assert summary["auroc"] == 1.0
  # the report page: its numbers and the top suspect; feature vectors have no picture
  text = label_issues_page.page([str(tmp_path)], str(tmp_path / "page.md"), top=3)
  assert f"estimated wrong labels: {len(flagged)}, true: {len(PLANTED)}" in text
  assert f"| 1 | {top[0]['index']} | {top[0]['given_class']} |" in text
  assert not os.path.exists(tmp_path / "label_issues.png")
  # the review page, written with the run: every flagged example, by index (no files)
  from nlx.report import review_page
  page = review_page.page_data(str(tmp_path))
  assert {r["index"] for r in page["flagged"]} == flagged and page["key"] == "index"
  assert (tmp_path / "label_issues.html").read_text().count('"thumb": ""') == len(flagged)


# A representative subset of the 22 multi-class methods (every kind of method module:
# plain and robust losses, a transition, per-example targets, a memory, MixUp, two
# networks, a clean subset, side information); all of them took too long for one file.
METHODS = ("ce", "sce", "forward", "elr", "mixup", "coteaching_plus", "arnet", "noise_model",
           "ce_clean_subset", "sinet")


@pytest.mark.slow
@pytest.mark.parametrize("name", METHODS)
def test_every_method_writes_label_issues(name, tmp_path):
  config = load_config("baselines", f"{name},tiny")
  config.model.name = "mlp"
  config.model.hidden = (32,)
  results = train.train_and_evaluate(config, str(tmp_path))
  n = results["num_train"]
  with open(tmp_path / "label_issues.csv", newline="") as f:
    rows = list(csv.DictReader(f))
  assert tuple(rows[0]) == label_issues.FIELDS and len(rows) == n
  assert sorted(int(r["index"]) for r in rows) == list(range(n))
  scores = [float(r["score"]) for r in rows]
  assert np.all(np.isfinite(scores)) and scores == sorted(scores)
  with open(tmp_path / "label_issues.json") as f:
    summary = json.load(f)
  assert summary["score"] == label_issues.score_name(name)
  assert summary["estimated_errors"] == sum(r["flagged"] == "1" for r in rows)
  assert summary == results["label_issues"]


@pytest.mark.slow
def test_noise_free_posterior_matches_eq5_by_hand(tmp_path):
  """On noisy rows: sum_y p(y~|y,0) p(y|x) p(0|x) / sum_{y,z} p(y~|y,z) p(y|x) p(z|x)."""
  from nlx.methods import noise_model
  config = load_config("baselines", "noise_model,tiny")
  config.model.name = "mlp"
  config.model.hidden = (32,)
  results = train.train_and_evaluate(config, str(tmp_path))
  trainer = train.Trainer(config, data_lib.load_dataset(config))
  split = trainer.dataset.train
  state = results["state"]
  q = noise_model.noise_free_posterior(trainer, state, split)
  py = np.asarray(jax.nn.softmax(trainer.predict(state, split)), np.float64)
  pz = noise_model.z_probabilities(trainer, state, split).astype(np.float64)
  conf = np.asarray(state.method_state["confusion"], np.float64)
  noisy, known = split.hard_labels(), split.extras["known_label"]
  c = py.shape[1]
  for i in np.flatnonzero(known < 0)[:20]:
    lik = np.stack([np.eye(c)[noisy[i]], (1 - np.eye(c)[noisy[i]]) / (c - 1), conf[noisy[i]]], 1)
    joint = lik * py[i][:, None] * pz[i][None, :]
    assert q[i] == pytest.approx(joint[:, 0].sum() / joint.sum(), rel=1e-4, abs=1e-6)
  np.testing.assert_array_equal(q[known >= 0], (known == noisy)[known >= 0])


def test_format_suspects_by_hand():
  from nlx.cli import format_suspects
  rows = [{"index": 7, "given_class": "cat", "suggested_class": "dog", "score": -1.23456,
           "flagged": True, "path": "images/7.png"},
          {"index": 3, "given_class": "dog", "suggested_class": "dog", "score": 0.5,
           "flagged": False, "path": ""}]
  header = "  index  given          suggested          score  flagged  path"
  assert format_suspects(rows, 1) == (
      header + "\n      7  cat            dog               -1.235  yes      images/7.png")
  assert format_suspects(rows).splitlines()[2] == (
      "      3  dog            dog                  0.5  no       ")
  assert format_suspects([]) == header


@pytest.mark.slow
def test_find_label_issues_command_reads_its_own_run(tmp_path):
  """`nlx find-label-issues --config=...:tiny` trains in workdirs/quickstart/tiny (as `nlx
  train` does) and prints that run's suspects, not those of a decoy run in
  workdirs/quickstart."""
  import subprocess
  import sys

  from conftest import main_env
  decoy = tmp_path / "workdirs" / "quickstart"
  decoy.mkdir(parents=True)
  (decoy / label_issues.JSON_NAME).write_text('{"score": "decoy", "estimated_errors": -1}')
  code = ("import sys; from nlx import cli; sys.argv = ['nlx', 'find-label-issues', "
          "'--config=configs/quickstart.py:tiny', '--top=3']; cli.main()")
  out = subprocess.run([sys.executable, "-c", code], env=main_env(), cwd=tmp_path,
                       capture_output=True, text=True, timeout=600, check=False)
  assert out.returncode == 0, out.stderr[-2000:]
  run = tmp_path / "workdirs" / "quickstart" / "tiny"
  summary = json.loads((run / label_issues.JSON_NAME).read_text())
  assert "decoy" not in out.stdout
  assert f"estimated wrong labels: {summary['estimated_errors']}" in out.stdout
  assert out.stdout.strip().splitlines()[-1] == "all rows: " + os.path.join(
      "workdirs", "quickstart", "tiny", label_issues.CSV_NAME)


def test_auto_count_switches_to_the_peak_once_the_run_memorised_its_labels():
  from nlx import dynamics
  dyn = dynamics.Dynamics.zeros(3, 3)
  labels = np.array([0, 1, 2])
  # epoch 1: examples 0 and 1 predicted as given, 2 not (margins 1, 2, -1): agreement 2/3
  dyn.add(np.array([[1.0, 0, 0], [0, 2.0, 0], [1.0, 0, 0]]), labels, 1)
  np.testing.assert_allclose(dyn.epoch_agreement, [2 / 3])
  assert label_issues.resolve_count(dyn, "auto") == "confident_learning"
  dyn.add(np.array([[1.0, 0, 0], [0, 2.0, 0], [0, 0, 3.0]]), labels, 2)  # all three: 1.0
  np.testing.assert_allclose(dyn.epoch_agreement, [2 / 3, 1.0])
  assert label_issues.resolve_count(dyn, "auto") == "confident_learning_peak"
  assert label_issues.resolve_count(dyn, "mixture") == "mixture"
  # the peak is epoch 1's estimate: example 2 (labelled 2) sits at class 0's threshold
  np.testing.assert_array_equal(label_issues.estimated_counts(labels, dyn, "auto"),
                                dyn.epoch_counts[np.argmax(dyn.epoch_counts.sum(1))])
  # by hand. Epoch 1: p = (e, 1, 1) / (e + 2) = (0.576, 0.212, 0.212) for examples 0 and 2,
  # (1, e^2, 1) / (e^2 + 2) = (0.107, 0.787, 0.107) for example 1; thresholds t = (0.576,
  # 0.787, 0.212): example 2 passes t_0 and t_2 and is counted at class 0 (0.576 > 0.212):
  # one wrong label of class 2. Epoch 2: example 2 has p = (1, 1, e^3) / (e^3 + 2) =
  # (0.045, 0.045, 0.909), t_2 = 0.909, and p_0 < t_0: no wrong label.
  np.testing.assert_array_equal(dyn.epoch_counts, [[0, 0, 1], [0, 0, 0]])
  np.testing.assert_array_equal(label_issues.estimated_counts(labels, dyn, "auto"), [0, 0, 1])
  # the mean over both epochs, example 2: (0.311, 0.129, 0.561), below t_0 = 0.576: none
  np.testing.assert_array_equal(label_issues.estimated_counts(labels, dyn, "confident_learning"),
                                [0, 0, 0])


def _one_epoch(logits, labels):
  from nlx import dynamics
  logits = np.asarray(logits, np.float32)
  dyn = dynamics.Dynamics.zeros(*logits.shape)
  dyn.add(logits, np.asarray(labels), 1)
  return dyn


def test_a_single_memorised_epoch_already_switches_auto_to_the_peak():
  """The boundary of `auto`: one epoch, agreeing with every given label (share 1.0 >= 0.99)."""
  labels = np.array([0, 1, 2])
  dyn = _one_epoch([[3.0, 0, 0], [0, 3.0, 0], [0, 0, 3.0]], labels)
  np.testing.assert_allclose(dyn.epoch_agreement, [1.0])
  assert label_issues.resolve_count(dyn, "auto") == "confident_learning_peak"


def test_counts_use_each_examples_probabilities_and_have_one_entry_per_class():
  """confident_learning counts on the epoch-averaged softmax rows as they are (each sums
  to 1; a per-class rescaling would move example 4's argmax among the classes it passes:
  [2, 2, 0] instead of [1, 2, 0] here), and `mixture` gives one count per class."""
  from nlx.ops.confident_learning import confident_learning_counts, estimated_errors_per_class
  logits = [[2.7, -1.3, 0.7], [1.8, 0.2, -1.5], [-1.8, -0.9, 0.4], [-2.0, -0.4, -0.3],
            [1.1, 0.4, 0.7], [-1.3, -0.3, 1.6]]
  labels = np.array([1, 1, 2, 1, 0, 0])
  dyn = _one_epoch(logits, labels)
  probs = np.asarray(jax.nn.softmax(np.asarray(logits, np.float32), axis=-1), np.float64)
  want = confident_learning_counts(labels, probs)
  np.testing.assert_array_equal(want, [1, 2, 0])
  np.testing.assert_array_equal(label_issues.estimated_counts(labels, dyn, "confident_learning"),
                                want)
  mixture = label_issues.estimated_counts(labels, dyn, "mixture")
  assert mixture.shape == (3,)  # C, not N = 6
  np.testing.assert_array_equal(mixture, estimated_errors_per_class(labels, dyn.mean_loss(), 3))


def test_a_short_row_in_label_issues_csv_is_named_by_its_line_in_the_file(tmp_path):
  """Line 1 is the header, so the third example's row is line 4."""
  from nlx.errors import DataError
  header = ",".join(label_issues.FIELDS)
  good = "0,,1,b,0.5,1,b,0"
  assert len(good.split(",")) == len(label_issues.FIELDS)
  (tmp_path / label_issues.CSV_NAME).write_text(f"{header}\n{good}\n{good}\n0,,1\n{good}\n")
  with pytest.raises(DataError, match=r"line 4: not the \d+ columns of the header"):
    label_issues.find(str(tmp_path))


def test_the_given_probability_score_is_the_softmax_over_classes_at_the_given_label():
  """`given_probability` by hand: softmax of each row of the logits, read at the label."""
  import types

  from nlx import label_issue_scores
  logits = np.array([[2.0, 0.0, -1.0], [0.0, 3.0, 1.0], [1.0, 1.0, 1.0], [-2.0, 0.5, 0.0]],
                    np.float32)
  labels = np.array([0, 2, 1, 0])
  split = types.SimpleNamespace(hard_labels=lambda: labels)
  run = label_issue_scores.TrainedRun(
      trainer=types.SimpleNamespace(predict=lambda state, s: logits), state=None,
      dataset=types.SimpleNamespace(train=split), dynamics=None)
  e = np.exp(logits - logits.max(1, keepdims=True))
  want = (e / e.sum(1, keepdims=True))[np.arange(4), labels]
  np.testing.assert_allclose(label_issue_scores.SCORES["given_probability"](run), want,
                             rtol=1e-6)
  assert want[2] == pytest.approx(1 / 3)


@pytest.mark.slow
def test_find_label_issues_with_folds_prints_the_out_of_fold_list(tmp_path):
  import subprocess
  import sys

  from conftest import main_env

  def command(*flags):
    code = ("import sys; from nlx import cli; sys.argv = ['nlx', 'find-label-issues', "
            f"'--config=configs/quickstart.py:tiny', '--top=3', {', '.join(map(repr, flags))}]; "
            "cli.main()")
    return subprocess.run([sys.executable, "-c", code], env=main_env(), cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, check=False)

  out = command("--config.label_issues.folds=3", "--workdir=folds")
  assert out.returncode == 0, out.stderr[-2000:]
  summary = json.loads((tmp_path / "folds" / label_issues.JSON_NAME).read_text())
  assert summary["score"] == "folds:combined" and summary["folds"] == 3
  assert f"score: folds:combined; estimated wrong labels: {summary['estimated_errors']}" \
      in out.stdout
  assert sorted(p.name for p in (tmp_path / "folds").iterdir() if p.name.startswith("fold_")) \
      == ["fold_0", "fold_1", "fold_2"]
  refused = command("--config.train.replicas=2", "--workdir=seeds")
  assert refused.returncode == 1
  assert refused.stderr.strip().splitlines()[-1].startswith(
      "nlx: error: find-label-issues lists the labels of one training set")
  assert not (tmp_path / "seeds").exists()
