"""nlx.ops.confident_learning: confident learning, the mixture count, flagging and the
detection metrics, by hand and against cleanlab."""

import numpy as np
import pytest

from nlx.ops import confident_learning


def test_mixture_boundary_equal_variances_by_hand():
  # log(0.75 N(x; 0, 1)) = log(0.25 N(x; 4, 1))  <=>  -x^2/2 + log 3 = -(x - 4)^2/2
  #   <=>  4x - 8 = log 3  <=>  x = 2 + log(3) / 4 (the lighter high component: right of 2)
  x = confident_learning.mixture_boundary([0.0, 4.0], [1.0, 1.0], [0.75, 0.25])
  assert x == pytest.approx(2 + np.log(3) / 4)
  assert confident_learning.mixture_boundary([4.0, 0.0], [1.0, 1.0],
                                            [0.25, 0.75]) == pytest.approx(x)


def test_mixture_boundary_unequal_variances_by_hand():
  # 0.5 N(x; 0, 1) = 0.5 N(x; 3, 4): -x^2/2 = -(x - 3)^2/8 - log 2
  #   <=>  3x^2 + 6x - 9 - 8 log 2 = 0  ->  x = -1 + sqrt(4 + 8 log(2) / 3) (between 0 and 3)
  x = confident_learning.mixture_boundary([0.0, 3.0], [1.0, 4.0], [0.5, 0.5])
  assert x == pytest.approx(-1 + np.sqrt(4 + 8 * np.log(2) / 3))

  def p(x, m, v):
    return np.exp(-(x - m) ** 2 / (2 * v)) / np.sqrt(v)

  assert p(x, 0, 1) == pytest.approx(p(x, 3, 4))


def test_class_threshold_splits_two_clusters_and_keeps_one():
  rng = np.random.default_rng(0)
  low, high = rng.normal(-3, 0.5, 80), rng.normal(1, 0.3, 20)
  t = confident_learning.class_error_threshold(np.concatenate([low, high]))
  assert low.max() < t < high.min()
  assert confident_learning.class_error_threshold(rng.normal(-3, 0.5, 100)) == np.inf
  labels = np.array([0] * 100 + [1] * 100)
  losses = np.exp(np.concatenate([low, high, rng.normal(-3, 0.5, 100)]))  # log-normal
  np.testing.assert_array_equal(confident_learning.estimated_errors_per_class(labels, losses, 3),
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
  t = confident_learning.confident_thresholds(CL_LABELS, CL_PROBS)
  np.testing.assert_allclose(t, [0.5, 0.6, 0.625])
  # classes at or above their threshold, per example (given -> counted at):
  #   0: p0 .8 >= .5 (0 -> 0); 1: p0 .5 >= .5, p1 .4 < .6 (0 -> 0); 2: p1 .7 >= .6 (0 -> 1)
  #   3: p1 .8 (1 -> 1); 4: .1 < .5, .4 < .6, .5 < .625: not counted
  #   5: p2 .9 (2 -> 2); 6: .3 < .5, .1 < .6, .6 < .625: not counted; 7: p0 .6 >= .5 (2 -> 0)
  #   8: p2 .7 (2 -> 2)
  joint = confident_learning.confident_joint(CL_LABELS, CL_PROBS)
  np.testing.assert_array_equal(joint, [[2, 1, 0], [0, 1, 0], [1, 0, 2]])
  # calibrated to the label counts (3, 2, 4): row 0 * 3/3 = [2, 1, 0]; row 1 * 2/1 = [0, 2, 0];
  # row 2 * 4/3 = [1.33, 0, 2.67] -> floors [1, 0, 2], the missing 1 to the largest
  # remainder (.67) -> [1, 0, 3]
  calibrated = confident_learning.calibrate_joint(joint, [3, 2, 4])
  np.testing.assert_array_equal(calibrated, [[2, 1, 0], [0, 2, 0], [1, 0, 3]])
  counts = confident_learning.confident_learning_counts(CL_LABELS, CL_PROBS)
  np.testing.assert_array_equal(counts, [1, 0, 1])  # off-diagonal row sums
  # flagged: the lowest-scored one labelled 0 and labelled 2 (score: p at the given label)
  flagged = confident_learning.flag_by_class(CL_PROBS[np.arange(9), CL_LABELS], CL_LABELS, counts)
  np.testing.assert_array_equal(np.flatnonzero(flagged), [2, 7])


def test_confident_joint_takes_the_argmax_among_classes_at_their_threshold():
  # p = (.5, .3, .2) with t = (.9, .2, .1): classes 1 and 2 pass, class 0 (the overall
  # argmax) does not; counted at 1 (.3 > .2), the paper's rule
  joint = confident_learning.confident_joint([0], [[.5, .3, .2]], thresholds=[.9, .2, .1])
  np.testing.assert_array_equal(joint, [[0, 1, 0], [0, 0, 0], [0, 0, 0]])


def test_calibration_keeps_rows_without_evidence_and_rounding_keeps_totals():
  # row 1 counted nobody: its 5 examples stay on the diagonal
  np.testing.assert_array_equal(confident_learning.calibrate_joint([[1, 1], [0, 0]], [3, 5]),
                                [[2, 1], [0, 5]])  # row 0: [1.5, 1.5] -> [1, 1] + 1 to the first
  np.testing.assert_array_equal(confident_learning.round_preserving_total([0.4, 0.4, 0.2, 2.0]),
                                [1, 0, 0, 2])


def test_confident_learning_rejects_bad_input():
  with pytest.raises(ValueError, match=r"labels \[N\] and probabilities \[N, C\]"):
    confident_learning.confident_thresholds(np.array([0, 1]), np.ones((3, 2)) / 2)
  with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
    confident_learning.confident_joint(np.array([0, 2]), np.ones((2, 2)) / 2)


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
  t = confident_learning.confident_thresholds(labels, probs)
  np.testing.assert_allclose(t, count.get_confident_thresholds(labels, probs), rtol=1e-12)
  # cleanlab counts an example whose overall argmax misses its threshold, while two other
  # classes pass, at the argmax; the paper (and nlx) at the best class that passes: compare
  # on the other rows
  above = probs >= t - 1e-6
  same = ~((above.sum(1) > 1) & ~above[np.arange(len(labels)), probs.argmax(1)])
  np.testing.assert_array_equal(
      confident_learning.confident_joint(labels[same], probs[same], t),
      count.compute_confident_joint(labels[same], probs[same], thresholds=t, calibrate=False))
  # calibrated: the same row totals; entries equal up to which of two equal remainders
  # gets the rounding's extra 1
  ours = confident_learning.calibrate_joint(confident_learning.confident_joint(labels, probs),
                                            np.bincount(labels, minlength=probs.shape[1]))
  theirs = count.compute_confident_joint(labels, probs)
  np.testing.assert_array_equal(ours.sum(1), theirs.sum(1))
  assert np.abs(ours - theirs).max() <= 1
  counts = confident_learning.confident_learning_counts(labels, probs)
  assert counts.sum() == count.num_label_issues(labels, probs,
                                                estimation_method="off_diagonal_calibrated")
  # flagged by p at the given label: cleanlab's prune_by_class, which then un-flags the
  # examples whose prediction is (nearly) their given label; prune_by_noise_rate flags at
  # most as many per class (overlapping cells of the joint pick the same example)
  flagged = confident_learning.flag_by_class(probs[np.arange(len(labels)), labels], labels, counts)
  by_class = filter.find_label_issues(labels, probs, filter_by="prune_by_class")
  assert not np.any(by_class & ~flagged)
  assert by_class.sum() >= 0.9 * flagged.sum()
  by_rate = filter.find_label_issues(labels, probs, filter_by="prune_by_noise_rate")
  assert np.all(np.bincount(labels[by_rate], minlength=len(counts)) <= counts)


def test_flag_by_class_and_suggested_labels_by_hand():
  labels = np.array([0, 0, 0, 1, 1])
  scores = np.array([0.5, -1.0, 0.2, 0.9, 0.1])
  flagged = confident_learning.flag_by_class(scores, labels, np.array([2, 1]))
  np.testing.assert_array_equal(flagged, [False, True, True, False, True])
  probs = np.array([[.8, .1, .1], [.7, .2, .1], [.2, .5, .3], [.1, .8, .1], [.1, .3, .6]])
  np.testing.assert_array_equal(confident_learning.suggested_labels(labels, probs, flagged),
                                [0, 1, 1, 1, 2])


def test_detection_metrics_by_hand():
  labels, clean = np.array([0, 1, 1, 0]), np.array([0, 0, 1, 1])  # rows 1, 3 wrong
  scores = np.array([0.9, 0.1, 0.8, 0.5])
  m = confident_learning.detection_metrics(scores, np.array([0, 1, 1, 0], bool), labels, clean)
  assert m["auroc"] == 1.0 and m["true_errors"] == 2
  assert (m["precision"], m["recall"], m["f1"]) == (0.5, 0.5, 0.5)
  assert confident_learning.detection_metrics(scores, np.zeros(4, bool), labels, labels) == {}


def test_a_label_out_of_range_is_an_error_with_more_examples_than_classes():
  """Labels index the C = 2 columns: label 2 is out of range though N = 4 > 2."""
  probs = np.full((4, 2), 0.5)
  with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\); got 0 to 2"):
    confident_learning.confident_joint(np.array([0, 1, 2, 0]), probs)
