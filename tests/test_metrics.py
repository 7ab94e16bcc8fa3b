import warnings

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


# ---- against scikit-learn 1.9, the reference these numpy functions replace -------------
# (random, tied and degenerate inputs; scikit-learn is imported only here)

def _cases(seed=0):
  """(positive [N] bool, scores [N]) pairs: continuous, integer (many ties), all tied,
  one positive, one negative, perfectly and inversely ranked."""
  rng = np.random.default_rng(seed)
  out = []
  for n in (2, 7, 50, 400):
    pos = rng.random(n) < 0.3
    pos[0], pos[-1] = True, False  # both kinds
    out += [(pos, rng.normal(size=n)), (pos, rng.integers(0, 4, n).astype(float)),
            (pos, np.full(n, 0.5))]
  one = np.zeros(30, bool)
  one[7] = True
  s = np.arange(30.0)
  out += [(one, s), (~one, s), (s >= 20, s), (s < 10, s), (one, np.round(s / 7))]
  for _ in range(100):  # small random draws, few score levels: ties everywhere
    n = int(rng.integers(2, 60))
    pos = rng.random(n) < rng.uniform(0.05, 0.95)
    pos[0], pos[-1] = True, False
    out.append((pos, rng.integers(0, int(rng.integers(1, 8)), n) / 7.0))
  for n in (1000, 3000, 20000):  # long curves: their sums' rounding
    pos = rng.random(n) < 0.4
    out += [(pos, rng.normal(size=n) + pos), (pos, np.round(rng.normal(size=n), 2))]
  return out


def test_roc_auc_and_average_precision_equal_sklearns():
  skm = pytest.importorskip("sklearn.metrics")
  for pos, scores in _cases():  # the same arithmetic: equal to the last bit
    assert metrics.roc_auc(pos, scores) == skm.roc_auc_score(pos, scores)
    assert metrics.binary_average_precision(pos, scores) == skm.average_precision_score(
        pos, scores)
    assert metrics.roc_auc(pos.astype(np.int8), scores.astype(np.float32)) == (
        skm.roc_auc_score(pos, scores.astype(np.float32)))  # 0/1 labels, float32 scores


def test_ranking_metrics_by_hand_and_boundaries():
  # positives {3, 1 (tied with a negative)}, negatives {2, 1, 0}: of the 6 pairs, 3 won
  # by the 3 and 1 + 1/2 (the tie) by the 1
  pos, s = np.array([1, 1, 0, 0, 0], bool), np.array([3., 1, 2, 1, 0])
  assert metrics.roc_auc(pos, s) == pytest.approx(4.5 / 6)
  # thresholds 3 (1 of 1 positive), 2 (1 of 2), 1 (2 of 4): AP = 1/2 * 1 + 1/2 * 2/4
  assert metrics.binary_average_precision(pos, s) == pytest.approx(0.75)
  assert metrics.roc_auc(pos, -s) == pytest.approx(1.5 / 6)  # the tie's half, the -1 > -2
  with warnings.catch_warnings():
    warnings.simplefilter("error")  # undefined, said by NaN without dividing by 0
    assert np.isnan(metrics.roc_auc(np.ones(4, bool), np.arange(4.)))  # one kind only
    assert np.isnan(metrics.roc_auc(np.zeros(4, bool), np.arange(4.)))
    assert np.isnan(metrics.binary_average_precision(np.zeros(4, bool), np.arange(4.)))
  assert metrics.binary_average_precision(np.ones(3, bool), np.zeros(3)) == 1.0
  with pytest.raises(ValueError, match="1 scores are NaN"):
    metrics.roc_auc(pos, np.array([3., np.nan, 2, 1, 0]))
  with pytest.raises(ValueError, match=r"got shapes \(5,\) and \(4,\)"):
    metrics.binary_average_precision(pos, s[:4])
  with pytest.raises(ValueError, match=r"labels must be bool or 0/1; got values \[-1, 1\]"):
    metrics.roc_auc(np.where(pos, 1, -1), s)  # -1/1 labels: not all read as positive
  with pytest.raises(ValueError, match="bool or 0/1"):
    metrics.binary_average_precision(np.array([0.2, 1, 0, 0, 0]), s)  # soft targets
  with pytest.raises(ValueError, match=r"got shapes \(5, 2\)"):
    metrics.roc_auc(np.stack([pos, ~pos], 1), np.stack([s, s], 1))  # not micro-averaged


def test_macro_f1_and_top_k_equal_sklearns():
  skm = pytest.importorskip("sklearn.metrics")
  rng = np.random.default_rng(1)
  for n, c, levels in ((1, 3, 3), (5, 4, 2), (60, 7, 3), (300, 10, 100), (40, 6, 1)):
    labels = rng.integers(0, c - 1, n)  # the last class never labelled
    logits = rng.integers(0, levels, (n, c)).astype(float)  # ties: argmax's first index
    logits[:, 1] -= 10 * (n > 5)  # class 1 labelled, seldom or never predicted
    assert metrics.macro_f1(logits, labels, c) == skm.f1_score(
        labels, logits.argmax(-1), labels=np.arange(c), average="macro", zero_division=0)
    for k in range(1, c):
      if len(np.unique(labels)) > 2:  # (scikit-learn reads two label values as binary)
        assert metrics.top_k_accuracy(logits, labels, k) == skm.top_k_accuracy_score(
            labels, logits, k=k, labels=np.arange(c)), (n, c, k)
    assert metrics.top_k_accuracy(logits, labels, c) == 1.0


def test_top_k_ties_rank_the_higher_class_first():
  logits = np.array([[1., 1, 1, 0], [1., 1, 1, 0]])
  # tied classes 0, 1, 2: ranked 2, 1, 0; k=1 holds class 2 only, k=2 classes 2 and 1
  assert metrics.top_k_accuracy(logits, np.array([2, 1]), 1) == 0.5
  assert metrics.top_k_accuracy(logits, np.array([1, 0]), 2) == 0.5
  assert metrics.top_k_accuracy(logits, np.array([0, 3]), 3) == 0.5


def test_classification_metrics_reject_bad_labels():
  logits = np.zeros((3, 4))
  with pytest.raises(ValueError, match=r"macro_f1: need integer labels \[N\] in \[0, 4\).*"
                                       r"values 0 to 4"):
    metrics.macro_f1(logits, np.array([0, 1, 4]), 4)
  with pytest.raises(ValueError, match="values -1 to 1"):
    metrics.top_k_accuracy(np.zeros((3, 8)), np.array([0, 1, -1]), 5)
  with pytest.raises(ValueError, match="dtype float64"):
    metrics.macro_f1(logits, np.array([0., 1, 2]), 4)
  with pytest.raises(ValueError, match=r"macro_f1: scores of shape \(3, 4\) for 2 labels"):
    metrics.macro_f1(logits, np.array([0, 1]), 4)  # not broadcast
  with pytest.raises(ValueError, match=r"scores of shape \(3, 4\) for 3 labels of 3 classes"):
    metrics.macro_f1(logits, np.array([0, 1, 2]), 3)  # a 4th column: no class 3
  with pytest.raises(ValueError, match=r"for 1 labels"):
    metrics.top_k_accuracy(np.zeros((3, 8)), np.array([0]), 5)
  with pytest.raises(ValueError, match="values -1 to 7"):  # checked before k >= C's 1.0
    metrics.top_k_accuracy(np.zeros((2, 4)), np.array([7, -1]), 4)
  with pytest.raises(ValueError, match="k=0"):
    metrics.top_k_accuracy(np.zeros((2, 4)), np.array([0, 1]), 0)


def test_narrow_label_dtypes_do_not_wrap():
  skm = pytest.importorskip("sklearn.metrics")
  rng = np.random.default_rng(3)
  labels = rng.integers(0, 100, 500).astype(np.uint8)  # label * 100 would wrap in uint8
  logits = rng.normal(size=(500, 100))
  assert metrics.macro_f1(logits, labels, 100) == skm.f1_score(
      labels, logits.argmax(-1), labels=np.arange(100), average="macro", zero_division=0)


def test_voc07_and_average_precision_equal_sklearns_curve():
  skm = pytest.importorskip("sklearn.metrics")
  rng = np.random.default_rng(2)
  targets = rng.random((80, 5)) < 0.25
  targets[:, 4] = False  # a class without a positive
  scores = np.round(rng.normal(size=(80, 5)), 1)  # ties
  want = np.full(5, np.nan)
  for c in range(4):
    precision, recall, _ = skm.precision_recall_curve(targets[:, c], scores[:, c])
    want[c] = np.mean([precision[recall >= t].max() for t in np.linspace(0, 1, 11)])
  np.testing.assert_array_equal(metrics.voc07_average_precision(scores, targets), want)
  np.testing.assert_array_equal(
      metrics.average_precision(scores, targets),
      [skm.average_precision_score(targets[:, c], scores[:, c]) for c in range(4)] + [np.nan])


def test_bfloat16_and_narrow_scores_read_as_their_float32_values():
  """A bf16 model's logits (ml_dtypes' numpy bfloat16) and float32 ones score alike."""
  ml_dtypes = pytest.importorskip("ml_dtypes")
  rng = np.random.default_rng(4)
  logits = rng.normal(size=(60, 7)).astype(ml_dtypes.bfloat16)  # bf16 ties: ~3 digits
  labels = rng.integers(0, 7, 60).astype(np.int32)
  wide = logits.astype(np.float32)
  assert metrics.classification_metrics(logits, labels, 7) == metrics.classification_metrics(
      wide, labels, 7)
  pos = labels > 3
  assert metrics.roc_auc(pos, logits[:, 0]) == metrics.roc_auc(pos, wide[:, 0])
  assert metrics.binary_average_precision(pos, logits[:, 0]) == (
      metrics.binary_average_precision(pos, wide[:, 0]))
