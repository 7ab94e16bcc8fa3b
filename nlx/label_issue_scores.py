"""A trained run's label issues: a per-example score, and how many labels to flag per class.

`compute(TrainedRun(trainer, state, dataset, dynamics))` scores every training label and
flags the likely wrong ones, using no clean label; `nlx.label_issues` writes the result.

Scores (`SCORES`; which a method uses: `score_name`):
- `aum` (every method's default): the area under the margin of the given label over the
  epochs (`nlx.dynamics`, Pleiss et al. 2020).
- `noise_free_posterior` (the noise model's default): its EM posterior
  q(z = noise-free | y~, x) (Xiao et al. 2015, Eq. 5), 1 or 0 on the known-clean subset.
- `negative_loss`: minus the mean given-label loss over the epochs (`nlx.dynamics`).
- `given_probability`: the final network's softmax at the given label.
- `trust`: the method's own `trust_scores` (ELR, ARNet, SINet, CAN).

How many to flag, per class: confident learning (`nlx.ops.confident_learning`) on the
run's epoch-averaged softmax probabilities (`nlx.dynamics`), the examples of each class
with the lowest score flagged.
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

import dataclasses

import jax
import numpy as np

from nlx import methods
from nlx.errors import ConfigError
from nlx.ops.confident_learning import (
    confident_learning_counts,
    estimated_errors_per_class,
    flag_by_class,
    suggested_labels,
)

COUNTS = ("auto", "confident_learning", "confident_learning_peak", "mixture")  # how many to flag
DEFAULT_COUNT = "auto"
MEMORISED = 0.99  # `auto`: last-epoch agreement with the given labels that means memorised


# ---- scores ------------------------------------------------------------------------------

@dataclasses.dataclass
class TrainedRun:
  """What a score needs from a trained run (host arrays and the trained state)."""
  trainer: object  # nlx.train.Trainer
  state: object    # its final TrainState
  dataset: object  # nlx.data.types.Dataset
  dynamics: object  # nlx.dynamics.Dynamics

  def labels(self) -> np.ndarray:
    """int64 `[N]`: the given labels of the training split."""
    return np.asarray(self.dataset.train.hard_labels(), np.int64)


def _aum(run: TrainedRun) -> np.ndarray:
  return run.dynamics.area_under_margin()


def _negative_loss(run: TrainedRun) -> np.ndarray:
  return -run.dynamics.mean_loss()


def _given_probability(run: TrainedRun) -> np.ndarray:
  logits = run.trainer.predict(run.state, run.dataset.train)
  probs = np.asarray(jax.nn.softmax(logits, axis=-1))
  return probs[np.arange(len(probs)), run.labels()]


def _trust(run: TrainedRun) -> np.ndarray:
  method = run.trainer.method
  if method.trust_scores is None:
    raise ConfigError(f"method {run.trainer.config.method.name!r} has no trust score; "
                      "use score aum or given_probability")
  return np.asarray(method.trust_scores(run.state.method_state))


def _method_score(run: TrainedRun) -> np.ndarray:
  return run.trainer.method.score_labels(run.trainer, run.state, run.dataset.train)


# scores of any run; a method with its own (`Method.score_labels`, e.g. the noise model's
# `noise_free_posterior`) adds it under its LABEL_ISSUE_SCORE name (`scores_for`)
SCORES = {"aum": _aum, "negative_loss": _negative_loss, "given_probability": _given_probability,
          "trust": _trust}


def scores_for(method) -> dict:
  """The scores a run of `method` can give.

  Args:
    method: an `nlx.methods.Method`.

  Returns:
    {name: function of a `TrainedRun` -> float [N]}: `SCORES`, plus the method's own score
    (its `score_labels` hook) under its `label_issue_score` name when it has one.
  """
  if method.score_labels is None:
    return SCORES
  return {**SCORES, method.label_issue_score: _method_score}


def score_name(method: str) -> str:
  """The score a method's runs use by default.

  Args:
    method: the method's name (`config.method.name`).

  Returns:
    The method's LABEL_ISSUE_SCORE (`nlx.methods.Method.label_issue_score`): "aum" unless
    the method says otherwise (the noise model: "noise_free_posterior").
  """
  return methods.get(method).label_issue_score


# ---- a run's label issues ----------------------------------------------------------------

@dataclasses.dataclass
class LabelIssues:
  """A run's scored and flagged training labels (`compute`)."""
  score_name: str
  scores: np.ndarray      # [N] float, high = given label trusted
  labels: np.ndarray      # [N] given labels
  suggested: np.ndarray   # [N]
  flagged: np.ndarray     # [N] bool
  per_class_errors: np.ndarray  # [C] estimated wrong labels per given class
  count_name: str = DEFAULT_COUNT  # how per_class_errors was estimated (COUNTS)

  def summary(self) -> dict:
    """The JSON summary: which score and count, the estimated wrong labels (in all and
    per class)."""
    return {"score": self.score_name, "count": self.count_name,
            "estimated_errors": int(self.flagged.sum()),
            "estimated_errors_per_class": self.per_class_errors.tolist()}


def resolve_count(dyn, count: str) -> str:
  """The count `auto` stands for in a run (see the module doc); others unchanged.

  Args:
    dyn: the run's `nlx.dynamics.Dynamics` (its `epoch_agreement`: float `[E]`, the share
      of training labels each epoch predicted).
    count: a name of `COUNTS`.

  Returns:
    `count`, or for `auto`: `confident_learning_peak` where the last epoch agrees with the
    given labels on at least `MEMORISED` of them, else `confident_learning`.
  """
  if count != "auto":
    return count
  memorised = len(dyn.epoch_agreement) > 0 and dyn.epoch_agreement[-1] >= MEMORISED
  return "confident_learning_peak" if memorised else "confident_learning"


def estimated_counts(labels: np.ndarray, dyn, count: str = DEFAULT_COUNT) -> np.ndarray:
  """Estimated wrong labels per given class from a run's dynamics.

  `confident_learning`: confident learning on the epoch-averaged probabilities;
  `confident_learning_peak`: the per-epoch estimate (each epoch's own probabilities) of
  the epoch where it was largest (fitting the noise only lowers it), that of the
  epoch-averaged probabilities for files without per-epoch estimates; `mixture`: the
  per-class mixtures on the mean losses; `auto` (the default): `resolve_count`.

  Args:
    labels: int `[N]` given labels in [0, C).
    dyn: the run's `nlx.dynamics.Dynamics`.
    count: a name of `COUNTS`.

  Returns:
    int64 `[C]`: the estimated number of wrong labels among the examples labelled j.

  Raises:
    ConfigError: for a count not in `COUNTS`.
  """
  count = resolve_count(dyn, count)
  if count == "confident_learning_peak" and len(dyn.epoch_counts):
    return dyn.epoch_counts[np.argmax(dyn.epoch_counts.sum(axis=1))]
  if count in ("confident_learning", "confident_learning_peak"):
    probs = dyn.mean_probs().astype(np.float64)
    return confident_learning_counts(labels, probs / probs.sum(axis=1, keepdims=True))
  if count == "mixture":
    return estimated_errors_per_class(labels, dyn.mean_loss(), dyn.sum_probs.shape[1])
  raise ConfigError(f"unknown label-issue count {count!r}; known: {', '.join(COUNTS)}")


def compute(run: TrainedRun, score: str | None = None, count: str = DEFAULT_COUNT) -> LabelIssues:
  """Scores and flags a run's training labels (no clean label used).

  Args:
    run: the trained run.
    score: a name of `scores_for(run.trainer.method)`; None: the method's default
      (its `label_issue_score`).
    count: how many to flag per class, a name of `COUNTS`.

  Returns:
    The run's `LabelIssues` (arrays `[N]` over the training split, `[C]` per class); its
    `count_name` is `count`, or `"auto: <the count it stood for>"`.

  Raises:
    ConfigError: for an unknown score or count, or a score the method cannot give.
  """
  score = score or run.trainer.method.label_issue_score
  known = scores_for(run.trainer.method)
  if score not in known:
    raise ConfigError(f"unknown label-issue score {score!r} for method "
                      f"{run.trainer.config.method.name!r}; known: {', '.join(known)}")
  labels = run.labels()
  probs = run.dynamics.mean_probs()
  scores = np.asarray(known[score](run), np.float64)
  per_class = estimated_counts(labels, run.dynamics, count)
  flagged = flag_by_class(scores, labels, per_class)
  resolved = resolve_count(run.dynamics, count)
  return LabelIssues(score, scores, labels, suggested_labels(labels, probs, flagged), flagged,
                     per_class, resolved if resolved == count else f"{count}: {resolved}")


# ---- out-of-fold label issues (label_issues.folds, nlx.replicas) --------------------------

# scores of the folds' runs (`out_of_fold`), high = given label trusted
OOF_SCORES = ("combined", "oof_aum", "oof_margin", "oof_confidence", "in_sample_aum")
# where the per-class counts come from (`out_of_fold`)
OOF_COUNTS = ("auto", "oof_final", "oof_mean", "in_sample")
# chosen on the validation protocol (generated noise on digits and on the CIFAR-10 CPU
# protocol's features, before any CIFAR-10N label set was scored this way): the highest
# mean F1 over its four sets (experiments/results/label_issues_folds_candidates_*.md)
OOF_DEFAULT_SCORE, OOF_DEFAULT_COUNT = "combined", "auto"


def _margins(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """`z[y] - max_{k != y} z[k]` per row of logits `[N, C]`."""
  rows = np.arange(len(labels))
  given = logits[rows, labels]
  others = logits.copy()
  others[rows, labels] = -np.inf
  return given - others.max(axis=1)


def _ranks(x: np.ndarray) -> np.ndarray:
  """Each value's rank in [0, 1] (ties: their mean rank), for combining scores of
  different scales."""
  order = np.argsort(x, kind="stable")
  ranks = np.empty(len(x), np.float64)
  ranks[order] = np.arange(len(x))
  _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
  sums = np.bincount(inverse, weights=ranks)
  return (sums / counts)[inverse] / max(len(x) - 1, 1)


def out_of_fold(labels: np.ndarray, fold_of: np.ndarray, logits: list, dynamics: list,
                score: str = OOF_DEFAULT_SCORE, count: str = OOF_DEFAULT_COUNT) -> LabelIssues:
  """Label issues from K runs, run k never trained on fold k (`label_issues.folds`).

  Example i (in fold f = `fold_of[i]`) is judged by run f:
  - `oof_aum`: run f's given-label margin on i averaged over its epochs (the area under
    the margin of a network that never saw i's label);
  - `oof_margin` / `oof_confidence`: run f's final margin / softmax at the given label
    (cleanlab's self-confidence);
  - `in_sample_aum`: the area under the margin averaged over the K - 1 runs that trained
    on i (Pleiss et al.'s in-sample score);
  - `combined` (the default): the mean of `oof_aum`'s and `in_sample_aum`'s ranks.
  Counts per class: confident learning (`nlx.ops.confident_learning`) on `oof_final`: run
  f's final softmax (cleanlab's setting); `oof_mean`: run f's softmax averaged over its
  epochs; `in_sample`: the epoch-averaged softmax of the K - 1 runs that trained on i;
  `auto` (the default): `in_sample`, unless the runs memorised their training folds (their
  final predictions agree with the given labels on at least `MEMORISED` of them, on
  average), where in-sample probabilities no longer tell wrong labels apart: then
  `oof_mean`. That many lowest scores per given class are flagged; the suggestion is the
  most probable other class of the probabilities counted on.

  Args:
    labels: int `[N]` given labels.
    fold_of: int `[N]` each example's fold in [0, K).
    logits: K float `[N, C]`: run k's final logits on the whole training set.
    dynamics: K `nlx.dynamics.Dynamics`: run k's sums over its epochs (whole set).
    score: a name of `OOF_SCORES`.
    count: a name of `OOF_COUNTS`.

  Returns:
    `LabelIssues` named `folds:<score>` / `folds:<count>` (`folds:auto: <count>`).
  """
  if score not in OOF_SCORES:
    raise ConfigError(f"unknown out-of-fold score {score!r}; known: {', '.join(OOF_SCORES)}")
  if count not in OOF_COUNTS:
    raise ConfigError(f"unknown out-of-fold count {count!r}; known: {', '.join(OOF_COUNTS)}")
  labels, fold_of = np.asarray(labels, np.int64), np.asarray(fold_of)
  k = len(logits)
  if len(dynamics) != k or fold_of.min() < 0 or fold_of.max() >= k:
    raise ValueError(f"{k} runs' logits, {len(dynamics)} dynamics, folds in "
                     f"[{fold_of.min()}, {fold_of.max()}]")
  rows = np.arange(len(labels))
  final = np.stack([np.asarray(z, np.float64) for z in logits])[fold_of, rows]  # [N, C]
  aum = np.stack([d.area_under_margin() for d in dynamics])  # [K, N]
  oof_aum = aum[fold_of, rows]
  in_sample = (aum.sum(axis=0) - oof_aum) / (k - 1)
  probs = np.exp(final - final.max(axis=1, keepdims=True))
  probs /= probs.sum(axis=1, keepdims=True)
  all_mean = np.stack([d.mean_probs() for d in dynamics]).astype(np.float64)  # [K, N, C]
  mean_probs = all_mean[fold_of, rows]
  mean_probs /= mean_probs.sum(axis=1, keepdims=True)
  in_probs = (all_mean.sum(axis=0) - all_mean[fold_of, rows]) / (k - 1)
  in_probs /= in_probs.sum(axis=1, keepdims=True)
  scores = {"oof_aum": lambda: oof_aum, "oof_margin": lambda: _margins(final, labels),
            "oof_confidence": lambda: probs[rows, labels], "in_sample_aum": lambda: in_sample,
            "combined": lambda: (_ranks(oof_aum) + _ranks(in_sample)) / 2}[score]()
  count_name = f"folds:{count}"
  if count == "auto":
    agreement = np.mean([np.mean(np.argmax(z[fold_of != r], axis=1) == labels[fold_of != r])
                         for r, z in enumerate(logits)])
    count = "oof_mean" if agreement >= MEMORISED else "in_sample"
    count_name = f"folds:auto: {count}"
  count_probs = {"oof_final": probs, "oof_mean": mean_probs, "in_sample": in_probs}[count]
  per_class = confident_learning_counts(labels, count_probs)
  flagged = flag_by_class(scores, labels, per_class)
  return LabelIssues(f"folds:{score}", np.asarray(scores, np.float64), labels,
                     suggested_labels(labels, count_probs, flagged), flagged, per_class,
                     count_name)
