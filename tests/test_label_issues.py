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


def test_mixture_boundary_equal_variances_by_hand():
  # log(0.75 N(x; 0, 1)) = log(0.25 N(x; 4, 1))  <=>  -x^2/2 + log 3 = -(x - 4)^2/2
  #   <=>  4x - 8 = log 3  <=>  x = 2 + log(3) / 4 (the lighter high component: right of 2)
  x = label_issues.mixture_boundary([0.0, 4.0], [1.0, 1.0], [0.75, 0.25])
  assert x == pytest.approx(2 + np.log(3) / 4)
  assert label_issues.mixture_boundary([4.0, 0.0], [1.0, 1.0], [0.25, 0.75]) == pytest.approx(x)


def test_mixture_boundary_unequal_variances_by_hand():
  # 0.5 N(x; 0, 1) = 0.5 N(x; 3, 4): -x^2/2 = -(x - 3)^2/8 - log 2
  #   <=>  3x^2 + 6x - 9 - 8 log 2 = 0  ->  x = -1 + sqrt(4 + 8 log(2) / 3) (between 0 and 3)
  x = label_issues.mixture_boundary([0.0, 3.0], [1.0, 4.0], [0.5, 0.5])
  assert x == pytest.approx(-1 + np.sqrt(4 + 8 * np.log(2) / 3))
  p = lambda x, m, v: np.exp(-(x - m) ** 2 / (2 * v)) / np.sqrt(v)
  assert p(x, 0, 1) == pytest.approx(p(x, 3, 4))


def test_class_threshold_splits_two_clusters_and_keeps_one():
  rng = np.random.default_rng(0)
  low, high = rng.normal(-3, 0.5, 80), rng.normal(1, 0.3, 20)
  t = label_issues.class_error_threshold(np.concatenate([low, high]))
  assert low.max() < t < high.min()
  assert label_issues.class_error_threshold(rng.normal(-3, 0.5, 100)) == np.inf
  labels = np.array([0] * 100 + [1] * 100)
  losses = np.exp(np.concatenate([low, high, rng.normal(-3, 0.5, 100)]))  # log-normal
  np.testing.assert_array_equal(label_issues.estimated_errors_per_class(labels, losses, 3),
                                [20, 0, 0])


# Nine examples, three classes; example 2 (labelled 0) looks like a 1, example 7 (labelled 2)
# like a 0, example 4 (labelled 1) is unsure.
CL_LABELS = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
CL_PROBS = np.array([[.8, .1, .1], [.5, .4, .1], [.2, .7, .1],
                     [.1, .8, .1], [.1, .4, .5],
                     [.0, .1, .9], [.3, .1, .6], [.6, .1, .3], [.2, .1, .7]])


def test_confident_learning_by_hand():
  # thresholds: t0 = (.8 + .5 + .2) / 3 = .5; t1 = (.8 + .4) / 2 = .6;
  #             t2 = (.9 + .6 + .3 + .7) / 4 = .625
  t = label_issues.confident_thresholds(CL_LABELS, CL_PROBS)
  np.testing.assert_allclose(t, [0.5, 0.6, 0.625])
  # classes at or above their threshold, per example (given -> counted at):
  #   0: p0 .8 >= .5 (0 -> 0); 1: p0 .5 >= .5, p1 .4 < .6 (0 -> 0); 2: p1 .7 >= .6 (0 -> 1)
  #   3: p1 .8 (1 -> 1); 4: .1 < .5, .4 < .6, .5 < .625: not counted
  #   5: p2 .9 (2 -> 2); 6: .3 < .5, .1 < .6, .6 < .625: not counted; 7: p0 .6 >= .5 (2 -> 0)
  #   8: p2 .7 (2 -> 2)
  joint = label_issues.confident_joint(CL_LABELS, CL_PROBS)
  np.testing.assert_array_equal(joint, [[2, 1, 0], [0, 1, 0], [1, 0, 2]])
  # calibrated to the label counts (3, 2, 4): row 0 * 3/3 = [2, 1, 0]; row 1 * 2/1 = [0, 2, 0];
  # row 2 * 4/3 = [1.33, 0, 2.67] -> floors [1, 0, 2], the missing 1 to the largest
  # remainder (.67) -> [1, 0, 3]
  calibrated = label_issues.calibrate_joint(joint, [3, 2, 4])
  np.testing.assert_array_equal(calibrated, [[2, 1, 0], [0, 2, 0], [1, 0, 3]])
  counts = label_issues.confident_learning_counts(CL_LABELS, CL_PROBS)
  np.testing.assert_array_equal(counts, [1, 0, 1])  # off-diagonal row sums
  # flagged: the lowest-scored one labelled 0 and labelled 2 (score: p at the given label)
  flagged = label_issues.flag_by_class(CL_PROBS[np.arange(9), CL_LABELS], CL_LABELS, counts)
  np.testing.assert_array_equal(np.flatnonzero(flagged), [2, 7])


def test_confident_joint_takes_the_argmax_among_classes_at_their_threshold():
  # p = (.5, .3, .2) with t = (.9, .2, .1): classes 1 and 2 pass, class 0 (the overall
  # argmax) does not; counted at 1 (.3 > .2), the paper's rule
  joint = label_issues.confident_joint([0], [[.5, .3, .2]], thresholds=[.9, .2, .1])
  np.testing.assert_array_equal(joint, [[0, 1, 0], [0, 0, 0], [0, 0, 0]])


def test_calibration_keeps_rows_without_evidence_and_rounding_keeps_totals():
  # row 1 counted nobody: its 5 examples stay on the diagonal
  np.testing.assert_array_equal(label_issues.calibrate_joint([[1, 1], [0, 0]], [3, 5]),
                                [[2, 1], [0, 5]])  # row 0: [1.5, 1.5] -> [1, 1] + 1 to the first
  np.testing.assert_array_equal(label_issues.round_preserving_total([0.4, 0.4, 0.2, 2.0]),
                                [1, 0, 0, 2])


def test_confident_learning_rejects_bad_input():
  with pytest.raises(ValueError, match=r"labels \[N\] and probabilities \[N, C\]"):
    label_issues.confident_thresholds(np.array([0, 1]), np.ones((3, 2)) / 2)
  with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
    label_issues.confident_joint(np.array([0, 2]), np.ones((2, 2)) / 2)
  from nlx.errors import ConfigError
  with pytest.raises(ConfigError, match="unknown label-issue count 'median'"):
    label_issues.estimated_counts(CL_LABELS, None, "median")


def _random_probs(seed, n=500):
  rng = np.random.default_rng(seed)
  c = int(rng.integers(3, 7))
  labels = rng.integers(0, c, n)
  logits = rng.normal(0, 2, (n, c))
  logits[np.arange(n), labels] += 2
  probs = np.exp(logits)
  return labels, probs / probs.sum(1, keepdims=True)


@pytest.mark.parametrize("seed", range(5))
def test_confident_learning_matches_cleanlab_on_random_inputs(seed):
  pytest.importorskip("cleanlab")  # a reference only, never an nlx dependency
  from cleanlab import count, filter
  labels, probs = _random_probs(seed)
  t = label_issues.confident_thresholds(labels, probs)
  np.testing.assert_allclose(t, count.get_confident_thresholds(labels, probs), rtol=1e-12)
  # cleanlab counts an example whose overall argmax misses its threshold, while two other
  # classes pass, at the argmax; the paper (and nlx) at the best class that passes: compare
  # on the other rows
  above = probs >= t - 1e-6
  same = ~((above.sum(1) > 1) & ~above[np.arange(len(labels)), probs.argmax(1)])
  np.testing.assert_array_equal(
      label_issues.confident_joint(labels[same], probs[same], t),
      count.compute_confident_joint(labels[same], probs[same], thresholds=t, calibrate=False))
  # calibrated: the same row totals; entries equal up to which of two equal remainders
  # gets the rounding's extra 1
  ours = label_issues.calibrate_joint(label_issues.confident_joint(labels, probs),
                                      np.bincount(labels, minlength=probs.shape[1]))
  theirs = count.compute_confident_joint(labels, probs)
  np.testing.assert_array_equal(ours.sum(1), theirs.sum(1))
  assert np.abs(ours - theirs).max() <= 1
  counts = label_issues.confident_learning_counts(labels, probs)
  assert counts.sum() == count.num_label_issues(labels, probs,
                                                estimation_method="off_diagonal_calibrated")
  # flagged by p at the given label: cleanlab's prune_by_class, which then un-flags the
  # examples whose prediction is (nearly) their given label; prune_by_noise_rate flags at
  # most as many per class (overlapping cells of the joint pick the same example)
  flagged = label_issues.flag_by_class(probs[np.arange(len(labels)), labels], labels, counts)
  by_class = filter.find_label_issues(labels, probs, filter_by="prune_by_class")
  assert not np.any(by_class & ~flagged)
  assert by_class.sum() >= 0.9 * flagged.sum()
  by_rate = filter.find_label_issues(labels, probs, filter_by="prune_by_noise_rate")
  assert np.all(np.bincount(labels[by_rate], minlength=len(counts)) <= counts)


def test_flag_by_class_and_suggested_labels_by_hand():
  labels = np.array([0, 0, 0, 1, 1])
  scores = np.array([0.5, -1.0, 0.2, 0.9, 0.1])
  flagged = label_issues.flag_by_class(scores, labels, np.array([2, 1]))
  np.testing.assert_array_equal(flagged, [False, True, True, False, True])
  probs = np.array([[.8, .1, .1], [.7, .2, .1], [.2, .5, .3], [.1, .8, .1], [.1, .3, .6]])
  np.testing.assert_array_equal(label_issues.suggested_labels(labels, probs, flagged),
                                [0, 1, 1, 1, 2])


def test_detection_metrics_by_hand():
  labels, clean = np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1])  # rows 1, 3 wrong
  scores = np.array([0.9, 0.1, 0.8, 0.5])
  m = label_issues.detection_metrics(scores, np.array([0, 1, 1, 0], bool), labels, clean)
  assert m["auroc"] == 1.0 and m["true_errors"] == 2
  assert (m["precision"], m["recall"], m["f1"]) == (0.5, 0.5, 0.5)
  assert label_issues.detection_metrics(scores, np.zeros(4, bool), labels, labels) == {}


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
