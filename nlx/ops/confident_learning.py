"""How many training labels are wrong, and which: the array maths of label issues.

Pure functions of host arrays (labels `[N]` int in [0, C), probabilities `[N, C]`, scores
`[N]`); `nlx.label_issues` applies them to a trained run, `nlx.dynamics` to each epoch.

How many to flag, per class, without clean labels: confident learning (Northcutt, Jiang
and Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021,
Sec. 3.1-3.2), on softmax probabilities p: class j's threshold t_j is the mean p_j over
the examples labelled j (Eq. 2, `confident_thresholds`); the confident joint C[i][j]
counts the examples labelled i whose p_j >= t_j (the most probable such class j when
several pass, Eq. 1, `confident_joint`); each row is calibrated to the number of examples
labelled i (Eq. 3, `calibrate_joint`); the estimated number of wrong labels among the
examples labelled i is the row's off-diagonal sum (`confident_learning_counts`), and that
many examples labelled i with the lowest score are flagged (`flag_by_class`: the paper's
"prune by class", ranked by any score; with p at the given label as the score, cleanlab's
`find_label_issues(filter_by="prune_by_class")` less the examples it un-flags because
their prediction is the given label).
The alternative count (`estimated_errors_per_class`): a two-component Gaussian mixture on
each class's log mean losses, the high-loss component = wrong labels.
`detection_metrics` scores a ranking and a flagged set against clean labels, where a
dataset knows them.
"""

import numpy as np

from nlx import metrics

# p_j counts as "at or above t_j" within this margin: t_j is a mean of floats, and an
# example whose p_j equals it (every example of a class alike) must not fall below it by
# rounding (cleanlab uses the same 1e-6, count.compute_confident_joint)
THRESHOLD_TOLERANCE = 1e-6


def _check_labels_probs(labels, probs) -> tuple[np.ndarray, np.ndarray]:
  labels, probs = np.asarray(labels), np.asarray(probs, np.float64)
  if probs.ndim != 2 or labels.shape != probs.shape[:1]:
    raise ValueError(f"need labels [N] and probabilities [N, C]; got {labels.shape} and "
                     f"{probs.shape}")
  if len(labels) and (labels.min() < 0 or labels.max() >= probs.shape[1]):
    raise ValueError(f"labels must lie in [0, {probs.shape[1]}); got {labels.min()} to "
                     f"{labels.max()}")
  return labels.astype(np.int64), probs


# ---- how many to flag: confident learning (Northcutt et al. 2021) ---------------------------

def confident_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
  """Per-class confidence thresholds (Eq. 2 of Northcutt et al. 2021).

  Args:
    labels: int `[N]` given labels in [0, C).
    probs: float `[N, C]` predicted class probabilities.

  Returns:
    float64 `[C]`: t_j = the mean of `probs[:, j]` over the examples labelled j; +inf for
    a class no example is labelled with (nothing can be confidently in it).

  Raises:
    ValueError: when the shapes do not match or a label lies outside [0, C).
  """
  labels, probs = _check_labels_probs(labels, probs)
  num_classes = probs.shape[1]
  counts = np.bincount(labels, minlength=num_classes)
  sums = np.bincount(labels, weights=probs[np.arange(len(labels)), labels], minlength=num_classes)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)


def confident_joint(labels: np.ndarray, probs: np.ndarray,
                    thresholds: np.ndarray | None = None) -> np.ndarray:
  """The uncalibrated confident joint (Eq. 1).

  Each example is counted once, at its most probable class among those at or above their
  threshold; an example with no class at its threshold is not counted. (cleanlab takes
  the overall argmax when several pass; the paper, and this, the argmax among those that
  pass.)

  Args:
    labels: int `[N]` given labels in [0, C).
    probs: float `[N, C]` predicted class probabilities.
    thresholds: float `[C]` per-class thresholds; None: `confident_thresholds(labels,
      probs)`.

  Returns:
    int64 `[C, C]`: C[i][j] = how many examples labelled i are counted at class j.

  Raises:
    ValueError: when the shapes do not match or a label lies outside [0, C).
  """
  labels, probs = _check_labels_probs(labels, probs)
  if thresholds is None:
    thresholds = confident_thresholds(labels, probs)
  above = probs >= np.asarray(thresholds) - THRESHOLD_TOLERANCE
  guess = np.argmax(np.where(above, probs, -np.inf), axis=1)
  counted = above.any(axis=1)
  num_classes = probs.shape[1]
  joint = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(joint, (labels[counted], guess[counted]), 1)
  return joint


def round_preserving_total(row: np.ndarray) -> np.ndarray:
  """Rounds to integers keeping the total (Hamilton's largest-remainder method).

  Args:
    row: float `[K]` values whose sum is an integer.

  Returns:
    int64 `[K]`: the floors, plus one for the entries with the largest fractional parts,
    as many as it takes to reach the same total (ties: the first entry first).
  """
  row = np.asarray(row, np.float64)
  out = np.floor(row)
  short = round(row.sum() - out.sum())
  out[np.argsort(-(row - out), kind="stable")[:short]] += 1
  return out.astype(np.int64)


def calibrate_joint(joint: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
  """Calibrates the confident joint to the label counts (Eq. 3, in counts).

  Args:
    joint: int `[C, C]` confident joint (`confident_joint`).
    label_counts: int `[C]` how many examples carry each given label.

  Returns:
    int64 `[C, C]`: row i rescaled to sum to `label_counts[i]`, rounded keeping each row's
    total (`round_preserving_total`). A row that counted nobody (no example labelled i
    reached any threshold) keeps them all on the diagonal: no evidence of a wrong label.
  """
  joint = np.asarray(joint, np.float64)
  label_counts = np.asarray(label_counts, np.float64)
  rows = joint.sum(axis=1, keepdims=True)
  scaled = np.where(rows > 0, joint / np.maximum(rows, 1) * label_counts[:, None],
                    np.diag(label_counts))
  return np.stack([round_preserving_total(r) for r in scaled])


def confident_learning_counts(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
  """Estimated wrong labels per given class by confident learning.

  Args:
    labels: int `[N]` given labels in [0, C).
    probs: float `[N, C]` class probabilities, rows summing to 1 (for a run: its
      epoch-averaged softmax).

  Returns:
    int64 `[C]`: the off-diagonal sum of row i of the calibrated confident joint, the
    estimated number of wrong labels among the examples labelled i.

  Raises:
    ValueError: when the shapes do not match or a label lies outside [0, C).
  """
  labels, probs = _check_labels_probs(labels, probs)
  return counts_from_joint(confident_joint(labels, probs),
                           np.bincount(labels, minlength=probs.shape[1]))


def counts_from_joint(joint: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
  """Estimated wrong labels per given class from a confident joint.

  Args:
    joint: int `[C, C]` uncalibrated confident joint (`confident_joint`).
    label_counts: int `[C]` how many examples carry each given label.

  Returns:
    int64 `[C]`: the off-diagonal sums of the rows of `calibrate_joint(joint,
    label_counts)`.
  """
  calibrated = calibrate_joint(joint, label_counts)
  return calibrated.sum(axis=1) - np.diag(calibrated)


# ---- how many to flag, the alternative: per-class mixture thresholds on the losses -------

def mixture_boundary(means, variances, weights) -> float:
  """Where two weighted 1-D Gaussians have equal density, between their means.

  The root of `log w1 N(x; m1, v1) = log w2 N(x; m2, v2)` nearest (m1 + m2) / 2 (a
  quadratic in x; when v1 = v2 = v, x = (m1 + m2) / 2 + v log(w2 / w1) / (m1 - m2)).

  Args:
    means: float `[2]` the components' means (m1, m2).
    variances: float `[2]` their variances (v1, v2), positive.
    weights: float `[2]` their mixture weights (w1, w2), positive.

  Returns:
    The boundary x; nan when one component dominates everywhere (no real root).
  """
  (m1, m2), (v1, v2), (w1, w2) = means, variances, weights
  a = 1 / (2 * v2) - 1 / (2 * v1)
  b = m1 / v1 - m2 / v2
  c = m2 ** 2 / (2 * v2) - m1 ** 2 / (2 * v1) + np.log(w1 / w2) + 0.5 * np.log(v2 / v1)
  if abs(a) < 1e-12 * max(abs(b), 1e-300):
    return float(-c / b)
  roots = np.roots([a, b, c])
  roots = roots[np.isreal(roots)].real
  if not len(roots):  # one component dominates everywhere: no boundary
    return float("nan")
  return float(roots[np.argmin(np.abs(roots - (m1 + m2) / 2))])


def class_error_threshold(losses: np.ndarray, seed: int = 0) -> float:
  """One class's loss threshold above which a label counts as wrong.

  Fits 1 and 2 Gaussians (EM, scikit-learn; the two with one shared variance) to the
  class's (log) mean losses; when two fit better (lower BIC), the boundary between them
  (`mixture_boundary`), above which a loss belongs to the high-loss ("wrong label")
  component.

  Args:
    losses: float `[n]` the (log) mean losses of the examples labelled with the class.
    seed: scikit-learn's `random_state` for the fits.

  Returns:
    The threshold; +inf (none flagged) when one Gaussian fits as well, when there are
    fewer than 4 losses or when they are all equal.
  """
  from sklearn.mixture import GaussianMixture
  x = np.asarray(losses, np.float64)[:, None]
  if len(x) < 4 or np.ptp(x) == 0:
    return float("inf")
  one = GaussianMixture(1, random_state=seed).fit(x)
  # one variance for both components: with a variance each, the wide component also
  # claimed the clean bulk's tail (8 flagged for 6 planted errors of 300 on a toy set)
  two = GaussianMixture(2, covariance_type="tied", random_state=seed, n_init=2).fit(x)
  if two.bic(x) >= one.bic(x):
    return float("inf")
  variance = float(two.covariances_.reshape(-1)[0])
  boundary = mixture_boundary(two.means_[:, 0], [variance, variance], two.weights_)
  return float("inf") if np.isnan(boundary) else boundary


def estimated_errors_per_class(labels: np.ndarray, losses: np.ndarray,
                               num_classes: int) -> np.ndarray:
  """Estimated wrong labels per given class by per-class mixtures on the losses.

  The thresholds are fitted to the log losses (positive values over orders of magnitude:
  nearer two Gaussians in log space; on raw losses the skewed bulk of a clean class split
  in two and 23 of 300 well-separated points were flagged).

  Args:
    labels: int `[N]` given labels in [0, C).
    losses: float `[N]` per-example mean losses, positive.
    num_classes: C.

  Returns:
    int64 `[C]`: how many of the examples labelled j have a log loss above class j's
    threshold (`class_error_threshold`).
  """
  log_loss = np.log(np.maximum(losses, 1e-12))
  return np.array([int(np.sum(log_loss[labels == j] > class_error_threshold(log_loss[labels == j])))
                   for j in range(num_classes)], np.int64)


# ---- which to flag, and what to suggest -------------------------------------------------------

def flag_by_class(scores: np.ndarray, labels: np.ndarray, num_flagged: np.ndarray) -> np.ndarray:
  """Flags the lowest-scored examples of each given class ("prune by class").

  Args:
    scores: float `[N]` per-example scores, high = the given label is trusted.
    labels: int `[N]` given labels in [0, C).
    num_flagged: int `[C]` how many to flag among the examples labelled j.

  Returns:
    bool `[N]`: per class j, the `num_flagged[j]` examples labelled j with the lowest score
    (ties: the lower index first).
  """
  flagged = np.zeros(len(labels), bool)
  for j, k in enumerate(num_flagged):
    members = np.flatnonzero(labels == j)
    flagged[members[np.argsort(scores[members], kind="stable")[:k]]] = True
  return flagged


def suggested_labels(labels: np.ndarray, probs: np.ndarray, flagged: np.ndarray) -> np.ndarray:
  """The label to suggest for each example.

  Args:
    labels: int `[N]` given labels in [0, C).
    probs: float `[N, C]` class probabilities.
    flagged: bool `[N]` which labels are flagged as wrong.

  Returns:
    int64 `[N]`: the most probable class; for a flagged example, the most probable class
    other than its given one.
  """
  other = np.where(np.eye(probs.shape[1], dtype=bool)[labels], -np.inf, probs)
  return np.where(flagged, np.argmax(other, axis=1), np.argmax(probs, axis=1))


# ---- evaluation against clean labels (when a dataset has them) ---------------------------

def detection_metrics(scores: np.ndarray, flagged: np.ndarray, labels: np.ndarray,
                      clean_labels: np.ndarray) -> dict:
  """How well a score and a flagged set find the wrong labels.

  Args:
    scores: float `[N]` per-example scores, high = the given label is trusted.
    flagged: bool `[N]` the flagged examples.
    labels: int `[N]` given labels.
    clean_labels: int `[N]` true labels.

  Returns:
    `{"true_errors": int, "auroc": float, "ap": float, "precision": float, "recall": float,
    "f1": float}`: AUROC and average precision of a low score for "label != clean label",
    precision, recall and F1 of the flagged set; `{}` when no label (or every label) is
    wrong.
  """
  wrong = np.asarray(labels) != np.asarray(clean_labels)
  if not 0 < wrong.sum() < len(wrong):
    return {}
  tp = int((flagged & wrong).sum())
  precision = tp / max(int(flagged.sum()), 1)
  recall = tp / int(wrong.sum())
  return {"true_errors": int(wrong.sum()),
          "auroc": metrics.roc_auc(wrong, -np.asarray(scores, np.float64)),
          "ap": metrics.binary_average_precision(wrong, -np.asarray(scores, np.float64)),
          "precision": precision, "recall": recall,
          "f1": 2 * precision * recall / (precision + recall) if tp else 0.0}
