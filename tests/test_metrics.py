import numpy as np
import pytest

from nlx import metrics


def test_accuracy_macro_f1_top5_by_hand():
  logits = np.array([[3., 1, 0], [0, 2, 1], [0, 1, 2], [2, 0, 1]])
  labels = np.array([0, 1, 1, 2])  # predictions 0, 1, 2, 0
  assert metrics.accuracy(logits, labels) == 0.5
  # class 0: P=1/2 R=1 F=2/3; class 1: P=1 R=1/2 F=2/3; class 2: P=0 R=0 F=0
  assert metrics.macro_f1(logits, labels, 3) == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
  assert metrics.top_k_accuracy(logits, labels, 5) == 1.0  # k >= C
  logits6 = np.array([[6., 5, 4, 3, 2, 1], [1, 2, 3, 4, 5, 6]])
  assert metrics.top_k_accuracy(logits6, np.array([5, 5]), 5) == 0.5


def test_average_precision_by_hand():
  scores = np.array([[0.9], [0.8], [0.3], [0.1]])
  targets = np.array([[1], [0], [1], [0]])
  # Positives ranked 1st and 3rd: AP = (1/1 + 2/3) / 2.
  assert metrics.average_precision(scores, targets)[0] == pytest.approx((1 + 2 / 3) / 2)
  two = np.concatenate([scores, scores[::-1]], 1)
  t2 = np.concatenate([targets, np.zeros_like(targets)], 1)
  ap = metrics.average_precision(two, t2)
  assert np.isnan(ap[1])  # no positive: undefined, excluded from the mean
  assert metrics.mean_average_precision(two, t2) == pytest.approx((1 + 2 / 3) / 2)


def test_noise_detection_by_hand():
  labels, clean = np.array([0, 1, 0, 1]), np.array([0, 0, 0, 0])  # examples 1, 3 noisy
  perfect = metrics.noise_detection(np.array([0.9, 0.1, 0.8, 0.2]), labels, clean)
  assert {k: perfect[k] for k in ("auroc", "precision", "recall", "kept_share")} == {
      "auroc": 1.0, "precision": 1.0, "recall": 1.0, "kept_share": 1.0}  # no trust <= 0
  # Noisy trusts {0.1, 0.8}, clean {0.9, 0.2}: 3 of 4 (noisy, clean) pairs ordered right.
  r = metrics.noise_detection(np.array([0.9, 0.1, 0.2, 0.8]), labels, clean)
  assert r["auroc"] == pytest.approx(0.75)
  assert r["precision"] == 0.5 and r["recall"] == 0.5  # flags 0.1 (noisy) and 0.2 (clean)
