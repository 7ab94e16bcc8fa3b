"""Which training labels are wrong: a per-example score, and how many to flag, per run.

Every multi-class run writes, at the end of `train.train_and_evaluate`:
- `WORKDIR/label_issues.csv`: one row per training example, most suspicious first:
  `index` (position in the training split), `path` (the file, for datasets read from
  files, else empty), `given_label`, `given_class`, `score` (high = the given label is
  trusted), `suggested_label`, `suggested_class`, `flagged` (0/1);
- `WORKDIR/label_issues.json`: which score, the estimated number of wrong labels and,
  where the dataset knows its clean labels, the true number and how well the score and
  the flagged set find them (AUROC, AP, precision, recall, F1).
No clean label is used to score or flag. Read it back with `nlx.label_issues.find(workdir)`.

Scores (`SCORES`; which a method uses: `score_name`):
- `aum` (every method's default): the area under the margin of the given label over the
  epochs (`nlx.dynamics`, Pleiss et al. 2020).
- `noise_free_posterior` (the noise model's default): its EM posterior
  q(z = noise-free | y~, x) (Xiao et al. 2015, Eq. 5), 1 or 0 on the known-clean subset.
- `negative_loss`: minus the mean given-label loss over the epochs (`nlx.dynamics`).
- `given_probability`: the final network's softmax at the given label.
- `trust`: the method's own `trust_scores` (ELR, ARNet, SINet, CAN).

How many to flag, per class, without clean labels: confident learning (Northcutt, Jiang
and Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR 2021,
Sec. 3.1-3.2), on the run's epoch-averaged softmax probabilities p (`nlx.dynamics`):
class j's threshold t_j is the mean p_j over the examples labelled j (Eq. 2); the
confident joint C[i][j] counts the examples labelled i whose p_j >= t_j (the most
probable such class j when several pass, Eq. 1); each row is calibrated to the number of
examples labelled i (Eq. 3); the estimated number of wrong labels among the examples
labelled i is the row's off-diagonal sum, and that many examples labelled i with the
lowest score are flagged (the paper's "prune by class", ranked by nlx's score; with p at
the given label as the score, cleanlab's `find_label_issues(filter_by="prune_by_class")`
less the examples it un-flags because their prediction is the given label).
In-sample probabilities memorise the noise: where a run ends up fitting its given labels
(digits, 40% noise, 30 epochs) this count falls to 0 (README "Finding wrong labels").
So the default count, `auto`, takes it only where the run has not memorised its labels:
when the last epoch predicts the given label on at least `MEMORISED` (99%) of the
training set, the epoch-averaged probabilities no longer tell wrong labels apart and
`auto` takes `confident_learning_peak` instead (the run's per-epoch agreement is kept in
`nlx.dynamics`).
Other counts (`COUNTS`, `compute(..., count=...)`): `confident_learning` alone;
`confident_learning_peak`, the same
estimate made per epoch from that epoch's probabilities (`nlx.dynamics`), taken at the
epoch where it is largest (exact on digits at epoch 1; over-counts when the first epochs
underfit); `mixture`, a two-component Gaussian mixture on each class's log mean losses
(the high-loss component = wrong labels; over-flagged 7.5x on CIFAR-10N `aggre`).
"""

import csv
import dataclasses
import json
import os

import jax
import numpy as np
from sklearn import metrics as skm

from nlx.errors import ConfigError
from nlx.io import reading, replacing, write_json

CSV_NAME, JSON_NAME = "label_issues.csv", "label_issues.json"
FIELDS = ("index", "path", "given_label", "given_class", "score", "suggested_label",
          "suggested_class", "flagged")
DEFAULT_SCORE = {"noise_model": "noise_free_posterior"}  # method -> score; others: "aum"
COUNTS = ("auto", "confident_learning", "confident_learning_peak", "mixture")  # how many to flag
DEFAULT_COUNT = "auto"
MEMORISED = 0.99  # `auto`: last-epoch agreement with the given labels that means memorised


# ---- how many to flag: confident learning (Northcutt et al. 2021) ---------------------------

# p_j counts as "at or above t_j" within this margin: t_j is a mean of floats, and an
# example whose p_j equals it (every example of a class alike) must not fall below it by
# rounding (cleanlab uses the same 1e-6, count.compute_confident_joint)
_THRESHOLD_TOLERANCE = 1e-6


def _check_labels_probs(labels, probs) -> tuple[np.ndarray, np.ndarray]:
  labels, probs = np.asarray(labels), np.asarray(probs, np.float64)
  if probs.ndim != 2 or labels.shape != probs.shape[:1]:
    raise ValueError(f"need labels [N] and probabilities [N, C]; got {labels.shape} and "
                     f"{probs.shape}")
  if len(labels) and (labels.min() < 0 or labels.max() >= probs.shape[1]):
    raise ValueError(f"labels must lie in [0, {probs.shape[1]}); got {labels.min()} to "
                     f"{labels.max()}")
  return labels.astype(np.int64), probs


def confident_thresholds(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
  """`[C]` float: t_j = mean of `probs[:, j]` over the examples labelled j (Eq. 2 of
  Northcutt et al. 2021); +inf for a class no example is labelled with (nothing can be
  confidently in it). labels `[N]` int, probs `[N, C]` float."""
  labels, probs = _check_labels_probs(labels, probs)
  num_classes = probs.shape[1]
  counts = np.bincount(labels, minlength=num_classes)
  sums = np.bincount(labels, weights=probs[np.arange(len(labels)), labels], minlength=num_classes)
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.inf)


def confident_joint(labels: np.ndarray, probs: np.ndarray,
                    thresholds: np.ndarray | None = None) -> np.ndarray:
  """`[C, C]` int64, uncalibrated: C[i][j] = how many examples labelled i have
  p_j >= t_j, each counted once, at its most probable class among those at or above
  their threshold (Eq. 1); an example with no class at its threshold is not counted.
  (cleanlab takes the overall argmax when several pass; the paper, and this, the argmax
  among those that pass.)"""
  labels, probs = _check_labels_probs(labels, probs)
  if thresholds is None:
    thresholds = confident_thresholds(labels, probs)
  above = probs >= np.asarray(thresholds) - _THRESHOLD_TOLERANCE
  guess = np.argmax(np.where(above, probs, -np.inf), axis=1)
  counted = above.any(axis=1)
  num_classes = probs.shape[1]
  joint = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(joint, (labels[counted], guess[counted]), 1)
  return joint


def round_preserving_total(row: np.ndarray) -> np.ndarray:
  """`row` rounded to ints with the same (integer) total: floors, then one more to the
  entries with the largest fractional parts (Hamilton's largest-remainder method)."""
  row = np.asarray(row, np.float64)
  out = np.floor(row)
  short = round(row.sum() - out.sum())
  out[np.argsort(-(row - out), kind="stable")[:short]] += 1
  return out.astype(np.int64)


def calibrate_joint(joint: np.ndarray, label_counts: np.ndarray) -> np.ndarray:
  """`[C, C]` int64: row i of the confident joint rescaled to sum to the number of
  examples labelled i (Eq. 3, in counts), rounded keeping each row's total. A row that
  counted nobody (no example labelled i reached any threshold) keeps them all on the
  diagonal: no evidence of a wrong label."""
  joint = np.asarray(joint, np.float64)
  label_counts = np.asarray(label_counts, np.float64)
  rows = joint.sum(axis=1, keepdims=True)
  scaled = np.where(rows > 0, joint / np.maximum(rows, 1) * label_counts[:, None],
                    np.diag(label_counts))
  return np.stack([round_preserving_total(r) for r in scaled])


def confident_learning_counts(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
  """`[C]` int64 estimated wrong labels among the examples labelled i: the off-diagonal
  sum of row i of the calibrated confident joint. labels `[N]`, probs `[N, C]` (rows
  summing to 1: the run's epoch-averaged softmax)."""
  labels, probs = _check_labels_probs(labels, probs)
  calibrated = calibrate_joint(confident_joint(labels, probs),
                               np.bincount(labels, minlength=probs.shape[1]))
  return calibrated.sum(axis=1) - np.diag(calibrated)


# ---- how many to flag, the alternative: per-class mixture thresholds on the losses -------

def mixture_boundary(means, variances, weights) -> float:
  """Where two weighted 1-D Gaussians have equal density, between their means:
  the root of `log w1 N(x; m1, v1) = log w2 N(x; m2, v2)` nearest (m1 + m2) / 2 (a
  quadratic in x; when v1 = v2 = v, x = (m1 + m2) / 2 + v log(w2 / w1) / (m1 - m2))."""
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
  """The per-class threshold: fits 1 and 2 Gaussians (EM, scikit-learn; the two with one
  shared variance) to one class's (log) mean losses `[n]`; when two fit better (lower BIC), the boundary between them, above
  which a loss belongs to the high-loss ("wrong label") component; else +inf (none)."""
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
  """`[C]` estimated wrong labels among the examples labelled j: how many of their mean
  losses lie above class j's threshold, fitted to the log losses (positive values over
  orders of magnitude: nearer two Gaussians in log space; on raw losses the skewed bulk
  of a clean class splits in two and 23 of 300 well-separated points were flagged)."""
  log_loss = np.log(np.maximum(losses, 1e-12))
  return np.array([int(np.sum(log_loss[labels == j] > class_error_threshold(log_loss[labels == j])))
                   for j in range(num_classes)], np.int64)


def flag_by_class(scores: np.ndarray, labels: np.ndarray, num_flagged: np.ndarray) -> np.ndarray:
  """`[N]` bool: per class j, the `num_flagged[j]` examples labelled j with the lowest
  score (ties: the lower index first)."""
  flagged = np.zeros(len(labels), bool)
  for j, k in enumerate(num_flagged):
    members = np.flatnonzero(labels == j)
    flagged[members[np.argsort(scores[members], kind="stable")[:k]]] = True
  return flagged


def suggested_labels(labels: np.ndarray, probs: np.ndarray, flagged: np.ndarray) -> np.ndarray:
  """The most probable class; for a flagged example, the most probable other class."""
  other = np.where(np.eye(probs.shape[1], dtype=bool)[labels], -np.inf, probs)
  return np.where(flagged, np.argmax(other, axis=1), np.argmax(probs, axis=1))


# ---- scores ------------------------------------------------------------------------------

@dataclasses.dataclass
class Run:
  """What a score needs from a run (host arrays and the trained state)."""
  trainer: object
  state: object
  dataset: object
  dynamics: object  # nlx.dynamics.Dynamics

  def labels(self) -> np.ndarray:
    return np.asarray(self.dataset.train.hard_labels(), np.int64)


def _aum(run: Run) -> np.ndarray:
  return run.dynamics.area_under_margin()


def _negative_loss(run: Run) -> np.ndarray:
  return -run.dynamics.mean_loss()


def _given_probability(run: Run) -> np.ndarray:
  logits = run.trainer.predict(run.state, run.dataset.train)
  probs = np.asarray(jax.nn.softmax(logits, axis=-1))
  return probs[np.arange(len(probs)), run.labels()]


def _trust(run: Run) -> np.ndarray:
  method = run.trainer.method
  if method.trust_scores is None:
    raise ConfigError(f"method {run.trainer.config.method.name!r} has no trust score; "
                      "use score aum or given_probability")
  return np.asarray(method.trust_scores(run.state.method_state))


def _noise_free_posterior(run: Run) -> np.ndarray:
  from nlx.methods import noise_model
  if run.trainer.config.method.name != "noise_model":
    raise ConfigError("score noise_free_posterior needs method noise_model")
  return noise_model.noise_free_posterior(run.trainer, run.state, run.dataset.train)


SCORES = {"aum": _aum, "negative_loss": _negative_loss, "given_probability": _given_probability, "trust": _trust,
          "noise_free_posterior": _noise_free_posterior}


def score_name(method: str) -> str:
  return DEFAULT_SCORE.get(method, "aum")


# ---- evaluation against clean labels (when a dataset has them) ---------------------------

def detection_metrics(scores: np.ndarray, flagged: np.ndarray, labels: np.ndarray,
                      clean_labels: np.ndarray) -> dict:
  """AUROC and AP of low score for "label != clean label", and precision, recall, F1 of
  the flagged set; `{}` when no label (or every label) is wrong."""
  wrong = np.asarray(labels) != np.asarray(clean_labels)
  if not 0 < wrong.sum() < len(wrong):
    return {}
  tp = int((flagged & wrong).sum())
  precision = tp / max(int(flagged.sum()), 1)
  recall = tp / int(wrong.sum())
  return {"true_errors": int(wrong.sum()),
          "auroc": float(skm.roc_auc_score(wrong, -scores)),
          "ap": float(skm.average_precision_score(wrong, -scores)),
          "precision": precision, "recall": recall,
          "f1": 2 * precision * recall / (precision + recall) if tp else 0.0}


# ---- a run's label issues ----------------------------------------------------------------

@dataclasses.dataclass
class LabelIssues:
  score_name: str
  scores: np.ndarray      # [N] float, high = given label trusted
  labels: np.ndarray      # [N] given labels
  suggested: np.ndarray   # [N]
  flagged: np.ndarray     # [N] bool
  per_class_errors: np.ndarray  # [C] estimated wrong labels per given class
  count_name: str = DEFAULT_COUNT  # how per_class_errors was estimated (COUNTS)

  def summary(self) -> dict:
    return {"score": self.score_name, "count": self.count_name,
            "estimated_errors": int(self.flagged.sum()),
            "estimated_errors_per_class": self.per_class_errors.tolist()}




def resolve_count(dyn, count: str) -> str:
  """The count `auto` stands for in this run (see the module doc); others unchanged."""
  if count != "auto":
    return count
  memorised = len(dyn.epoch_agreement) > 0 and dyn.epoch_agreement[-1] >= MEMORISED
  return "confident_learning_peak" if memorised else "confident_learning"


def estimated_counts(labels: np.ndarray, dyn, count: str = DEFAULT_COUNT) -> np.ndarray:
  """`[C]` estimated wrong labels per given class from a run's dynamics
  (`nlx.dynamics.Dynamics`): confident learning on its epoch-averaged probabilities;
  `confident_learning_peak`: the per-epoch estimate (each epoch's own probabilities) of
  the epoch where it was largest (fitting the noise only lowers it), that of the
  epoch-averaged probabilities for files without per-epoch estimates; or the per-class
  mixtures on its mean losses; `auto` (the default): `confident_learning`, or the peak
  where the last epoch agrees with the given labels on at least `MEMORISED` of them."""
  count = resolve_count(dyn, count)
  if count == "confident_learning_peak" and len(dyn.epoch_counts):
    return dyn.epoch_counts[np.argmax(dyn.epoch_counts.sum(axis=1))]
  if count in ("confident_learning", "confident_learning_peak"):
    probs = dyn.mean_probs().astype(np.float64)
    return confident_learning_counts(labels, probs / probs.sum(axis=1, keepdims=True))
  if count == "mixture":
    return estimated_errors_per_class(labels, dyn.mean_loss(), dyn.sum_probs.shape[1])
  raise ConfigError(f"unknown label-issue count {count!r}; known: {', '.join(COUNTS)}")


def compute(run: Run, score: str | None = None, count: str = DEFAULT_COUNT) -> LabelIssues:
  """Scores and flags a run's training labels (no clean label used)."""
  score = score or score_name(run.trainer.config.method.name)
  if score not in SCORES:
    raise ConfigError(f"unknown label-issue score {score!r}; known: {', '.join(SCORES)}")
  labels = run.labels()
  probs = run.dynamics.mean_probs()
  scores = np.asarray(SCORES[score](run), np.float64)
  per_class = estimated_counts(labels, run.dynamics, count)
  flagged = flag_by_class(scores, labels, per_class)
  resolved = resolve_count(run.dynamics, count)
  return LabelIssues(score, scores, labels, suggested_labels(labels, probs, flagged), flagged,
                     per_class, resolved if resolved == count else f"{count}: {resolved}")


def write(workdir: str, issues: LabelIssues, dataset) -> None:
  """`label_issues.csv` (most suspicious first) into `workdir`."""
  names = list(dataset.class_names)
  split = dataset.train
  paths = split.inputs if split.decode is not None else None
  path = os.path.join(workdir, CSV_NAME)
  with replacing(path, newline="") as f:
    w = csv.writer(f)
    w.writerow(FIELDS)
    for i in np.argsort(issues.scores, kind="stable"):
      given, suggested = int(issues.labels[i]), int(issues.suggested[i])
      w.writerow([int(i), "" if paths is None else str(paths[i]), given, names[given],
                  f"{issues.scores[i]:.6g}", suggested, names[suggested], int(issues.flagged[i])])


def finish_run(workdir: str, trainer, state, dynamics, *, is_main: bool = True) -> dict:
  """The trainer's end-of-run hook: computes, writes the CSV and JSON and the figure of
  the most suspicious images; returns the summary (also in results.json)."""
  dataset = trainer.dataset
  if dataset.multi_label or dynamics.count == 0:
    return {}
  issues = compute(Run(trainer, state, dataset, dynamics))
  summary = {**issues.summary(), **detection_metrics(
      issues.scores, issues.flagged, issues.labels, dataset.train.clean_labels)}
  if is_main:
    write(workdir, issues, dataset)
    write_json(os.path.join(workdir, JSON_NAME), summary)
    from nlx.report import label_issues_page
    label_issues_page.suspects_figure(workdir, dataset, issues)
  return summary


def remove_files(workdir: str) -> None:
  """Removes the files `finish_run` writes (a run training again has none yet)."""
  from nlx.report import label_issues_page
  for name in (CSV_NAME, JSON_NAME, label_issues_page.FIGURE_NAME):
    if os.path.exists(os.path.join(workdir, name)):
      os.remove(os.path.join(workdir, name))


# ---- reading a run back ------------------------------------------------------------------

def find(workdir: str) -> list[dict]:
  """`nlx.label_issues.find(workdir)`: the rows of a finished run's label_issues.csv,
  most suspicious first, with ints, a float score and a bool `flagged`."""
  path = os.path.join(workdir, CSV_NAME)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no {path}: train a multi-class run there first "
                            "(nlx train or nlx find-label-issues --config=...)")
  with reading(path, "label issues CSV", "train the run again to rewrite it"):
    with open(path, newline="") as f:
      rows = list(csv.DictReader(f))
    for n, r in enumerate(rows, 2):
      if None in r.values() or None in r:
        raise ValueError(f"line {n}: not the {len(r) - (None in r)} columns of the header")
      for k in ("index", "given_label", "suggested_label"):
        r[k] = int(r[k])
      r["score"], r["flagged"] = float(r["score"]), r["flagged"] == "1"
  return rows


def format_suspects(rows: list[dict], top: int = 20) -> str:
  lines = [f"{'index':>7}  {'given':<14} {'suggested':<14} {'score':>9}  flagged  path"]
  for r in rows[:top]:
    lines.append(f"{r['index']:>7}  {r['given_class']:<14} {r['suggested_class']:<14} "
                 f"{r['score']:>9.4g}  {'yes' if r['flagged'] else 'no':<7}  {r['path']}")
  return "\n".join(lines)
