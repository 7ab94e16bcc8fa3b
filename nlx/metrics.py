"""Evaluation metrics on host numpy arrays (scikit-learn where it has them).

Classification: accuracy, macro-F1, top-k. Multi-label: per-class AP and mAP.
Noise detection, for any per-example trust score (high = the training label is
trusted): AUROC of flagging mislabelled examples (training label != clean label) by
low trust, and precision/recall when the `k` least-trusted examples are flagged.
"""

import numpy as np


def _skm():
  """`sklearn.metrics`, imported on first use (about 2 s with scipy: not at start-up)."""
  from sklearn import metrics
  return metrics


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
  return float(np.mean(np.argmax(logits, -1) == labels))


def macro_f1(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> float:
  return float(_skm().f1_score(labels, np.argmax(logits, -1), labels=np.arange(num_classes),
                               average="macro", zero_division=0))


def top_k_accuracy(logits: np.ndarray, labels: np.ndarray, k: int = 5) -> float:
  c = logits.shape[-1]
  if k >= c:
    return 1.0
  return float(_skm().top_k_accuracy_score(labels, logits, k=k, labels=np.arange(c)))


def classification_metrics(logits: np.ndarray, labels: np.ndarray, num_classes: int) -> dict:
  return {"accuracy": accuracy(logits, labels),
          "macro_f1": macro_f1(logits, labels, num_classes),
          "top5": top_k_accuracy(logits, labels, 5)}


def average_precision(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """Per-class AP `[C]` for multi-label `scores, targets [N, C]`; NaN for classes
  without a positive example."""
  out = np.full(targets.shape[1], np.nan)
  for c in range(targets.shape[1]):
    if targets[:, c].any():
      out[c] = _skm().average_precision_score(targets[:, c], scores[:, c])
  return out


def mean_average_precision(scores: np.ndarray, targets: np.ndarray) -> float:
  return float(np.nanmean(average_precision(scores, targets)))


def voc07_average_precision(scores: np.ndarray, targets: np.ndarray) -> np.ndarray:
  """Per-class 11-point interpolated AP `[C]` (PASCAL VOC 2007's devkit): the mean over
  recall levels t in {0, 0.1, ..., 1} of the highest precision at recall >= t."""
  out = np.full(targets.shape[1], np.nan)
  for c in range(targets.shape[1]):
    if targets[:, c].any():
      precision, recall, _ = _skm().precision_recall_curve(targets[:, c], scores[:, c])
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
  auroc = (float(_skm().roc_auc_score(noisy, -np.asarray(trust)))
           if 0 < n_noisy < len(noisy) else float("nan"))
  flagged = np.zeros(len(noisy), bool)
  flagged[np.argsort(trust, kind="stable")[:k]] = True
  tp = int((flagged & noisy).sum())
  dropped = np.asarray(trust) <= 0
  return {"auroc": auroc, "precision": tp / k if k else float("nan"),
          "recall": tp / n_noisy if n_noisy else float("nan"),
          "kept_share": float(1 - dropped.mean()),
          "dropped_precision": float(noisy[dropped].mean()) if dropped.any() else float("nan")}
