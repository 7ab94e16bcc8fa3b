"""Evaluation metrics on host numpy arrays.

Classification: accuracy, macro-F1, top-k. Multi-label: per-class AP and mAP.
Noise detection, for any per-example trust score (high = the training label is
trusted): AUROC of flagging mislabelled examples (training label != clean label) by
low trust, and precision/recall when the `k` least-trusted examples are flagged.

Written here in numpy rather than called from scikit-learn: importing `sklearn.metrics`
(scipy, and pandas where installed) took about 1 s of CPU, and its argument checks 2-3 ms
a call, of a 5-second default run (`python -m nlx.main`, configs/quickstart.py) on the
2-core CPU; a run now imports neither. Each function gives scikit-learn 1.9's values
(`f1_score(average="macro", zero_division=0)`, `top_k_accuracy_score` and its order among
tied scores, `roc_auc_score`, `average_precision_score`, `precision_recall_curve`), ties
and classes without examples included: tests/test_metrics.py compares them on random,
tied and degenerate inputs.
"""

import numpy as np


def _labels_in_range(labels, num_classes: int, what: str) -> np.ndarray:
  """`labels` as intp `[N]` integers in [0, num_classes), else a ValueError naming them."""
  labels = np.asarray(labels)
  if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or (
      labels.size and (labels.min() < 0 or labels.max() >= num_classes)):
    raise ValueError(f"{what}: need integer labels [N] in [0, {num_classes}); got shape "
                     f"{labels.shape}, dtype {labels.dtype}"
                     + (f", values {labels.min()} to {labels.max()}" if labels.size else ""))
  return labels.astype(np.intp)  # (a narrow dtype's label * C would wrap)


def _scores_for(logits, labels: np.ndarray, num_classes: int, what: str) -> np.ndarray:
  """`logits` as `[N, num_classes]` for `labels [N]`, else a ValueError naming the shapes."""
  logits = np.asarray(logits)
  if logits.shape != (len(labels), num_classes):
    raise ValueError(f"{what}: scores of shape {logits.shape} for {len(labels)} labels of "
                     f"{num_classes} classes (need [{len(labels)}, {num_classes}])")
  return logits


def _finite_scores(scores, what: str) -> np.ndarray:
  scores = np.asarray(scores, np.float64)
  if not np.isfinite(scores).all():
    raise ValueError(f"{what}: {int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
  return scores


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
  return float(np.mean(np.argmax(logits, -1) == labels))


def macro_f1(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
  """The mean over all `num_classes` classes of 2 TP / (2 TP + FP + FN) of the argmax
  predictions; 0 for a class neither labelled nor predicted."""
  labels = _labels_in_range(labels, num_classes, "macro_f1")
  predicted = np.argmax(_scores_for(logits, labels, num_classes, "macro_f1"), -1)
  confusion = np.bincount(labels * num_classes + predicted,
                          minlength=num_classes * num_classes).reshape(num_classes, num_classes)
  denominator = confusion.sum(0) + confusion.sum(1)  # (TP + FP) + (TP + FN); 0: TP 0 too
  return float(np.mean(2 * np.diag(confusion) / np.maximum(denominator, 1)))


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
  """The share of examples whose label is among the `k` highest scores; among tied scores
  the higher class index ranks first (scikit-learn's reversed stable sort)."""
  logits = np.asarray(logits)
  if logits.ndim != 2 or k < 1:
    raise ValueError(f"top_k_accuracy: need scores [N, C] and k >= 1; got shape "
                     f"{logits.shape}, k={k}")
  c = logits.shape[-1]
  labels = _labels_in_range(labels, c, "top_k_accuracy")
  logits = _finite_scores(_scores_for(logits, labels, c, "top_k_accuracy"), "top_k_accuracy")
  if k >= c:
    return 1.0
  own = np.take_along_axis(logits, labels[:, None], axis=-1)
  above = (logits > own) | ((logits == own) & (np.arange(c) > labels[:, None]))
  return float(np.mean(above.sum(-1) < k))


def classification_metrics(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
  return {"accuracy": accuracy(logits, labels),
          "macro_f1": macro_f1(logits, labels, num_classes),
          "top5": top_k_accuracy(logits, labels, 5)}


def _counts_at_thresholds(positive: np.ndarray, scores: np.ndarray):
  """`(tp, fp)`: the positives and negatives scored at or above each distinct score, the
  scores taken from the highest down (scikit-learn's `confusion_matrix_at_thresholds`)."""
  order = np.argsort(-scores, kind="stable")
  ranked = scores[order]
  last = np.r_[np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1]  # of each score
  tp = np.cumsum(positive[order], dtype=np.float64)[last]
  return tp, (last + 1) - tp


def _binary(positive, scores, what: str):
  """`(positive [N] bool, scores [N] float64)`, else a ValueError: one value per example,
  the labels bool or 0/1 (not -1/1, not soft), the scores finite."""
  positive, scores = np.asarray(positive), _finite_scores(scores, what)
  if positive.ndim != 1 or scores.shape != positive.shape:
    raise ValueError(f"{what}: need labels [N] and scores [N]; got shapes {positive.shape} "
                     f"and {scores.shape}")
  if positive.dtype != bool and not np.isin(positive, (0, 1)).all():
    raise ValueError(f"{what}: labels must be bool or 0/1; got values "
                     f"{np.unique(positive)[:5].tolist()}")
  return positive.astype(bool), scores


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
  """Area under the ROC curve of `scores [N]` (high = positive) for `positive [N]` (bool
  or 0/1; a tie counts one half), in scikit-learn's arithmetic (its curve without the
  collinear points, the trapezoid rule); NaN unless both kinds are there."""
  positive, scores = _binary(positive, scores, "roc_auc")
  if not 0 < int(positive.sum()) < len(positive):
    return float("nan")
  tp, fp = _counts_at_thresholds(positive, scores)
  if len(tp) > 2:
    keep = np.r_[True, np.logical_or(np.diff(fp, 2), np.diff(tp, 2)), True]
    tp, fp = tp[keep], fp[keep]
  tpr, fpr = np.r_[0.0, tp] / tp[-1], np.r_[0.0, fp] / fp[-1]
  return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def _precision_recall(positive, scores, what: str):
  """Precision and recall at each distinct score, from the lowest threshold's (all
  examples) down to the highest's, then scikit-learn's closing point (1, 0)."""
  positive, scores = _binary(positive, scores, what)
  tp, fp = _counts_at_thresholds(positive, scores)
  return np.r_[(tp / (tp + fp))[::-1], 1.0], np.r_[(tp / tp[-1])[::-1], 0.0]


def binary_average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
  """Average precision of `scores [N]` for `positive [N]` (bool or 0/1): the sum over the
  distinct scores, from the highest, of the recall gained times the precision there
  (scikit-learn's step integral); NaN without a positive."""
  if not np.asarray(positive).any():
    return float("nan")
  precision, recall = _precision_recall(positive, scores, "average_precision")
  return float(max(0.0, -np.sum(np.diff(recall) * precision[:-1])))  # (-0.0 read as 0)


def average_precision(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """Per-class AP `[C]` for multi-label `scores, targets [N, C]`; NaN for classes
  without a positive example."""
  return np.array([binary_average_precision(targets[:, c], scores[:, c])
                   for c in range(targets.shape[1])])


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
  return float(np.nanmean(average_precision(scores, targets)))


def voc07_average_precision(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """Per-class 11-point interpolated AP `[C]` (PASCAL VOC 2007's devkit): the mean over
  recall levels t in {0, 0.1, ..., 1} of the highest precision at recall >= t (the curve
  starting at recall 0, precision 1, as scikit-learn's)."""
  out = np.full(targets.shape[1], np.nan)
  for c in range(targets.shape[1]):
    if targets[:, c].any():
      precision, recall = _precision_recall(targets[:, c], scores[:, c], "voc07")
      out[c] = np.mean([precision[recall >= t].max() for t in np.linspace(0, 1, 11)])
  return out


def multilabel_metrics(scores: np.ndarray, targets: np.ndarray) -> dict:
  """`map` (mean AP over classes with a positive), `map_voc07` (11-point), and the
  per-class APs, for multi-label `scores` (logits or probabilities) and 0/1 `targets`."""
  targets = np.asarray(targets) > 0.5
  ap = average_precision(scores, targets)
  return {"map": float(np.nanmean(ap)),
          "map_voc07": float(np.nanmean(voc07_average_precision(scores, targets))),
          "per_class_ap": [None if np.isnan(a) else float(a) for a in ap]}


def noise_detection(trust: np.ndarray, labels: np.ndarray, clean_labels: np.ndarray,
                    k: int | None = None) -> dict:
  """Scores a trust score at finding mislabelled examples.

  Args:
    trust: `[N]`, higher = more likely correctly labelled.
    labels, clean_labels: `[N]` training and clean labels.
    k: how many least-trusted examples to flag (default: the true number of noisy ones).

  Returns:
    `auroc` (NaN if all or none are noisy), `precision` and `recall` of the flag;
    `kept_share`, the share of examples with trust > 0, and `dropped_precision`, the
    share of mislabelled ones among those with trust <= 0 (NaN if none: SINet's w = 0
    drops an example).
  """
  noisy = np.asarray(labels) != np.asarray(clean_labels)
  if noisy.ndim == 2:  # multi-label: an example is mislabelled if any entry differs
    noisy = noisy.any(-1)
  n_noisy = int(noisy.sum())
  k = n_noisy if k is None else k
  auroc = roc_auc(noisy, -np.asarray(trust, np.float64))
  flagged = np.zeros(len(noisy), bool)
  flagged[np.argsort(trust, kind="stable")[:k]] = True
  tp = int((flagged & noisy).sum())
  dropped = np.asarray(trust) <= 0
  return {"auroc": auroc, "precision": tp / k if k else float("nan"),
          "recall": tp / n_noisy if n_noisy else float("nan"),
          "kept_share": float(1 - dropped.mean()),
          "dropped_precision": float(noisy[dropped].mean()) if dropped.any() else float("nan")}
