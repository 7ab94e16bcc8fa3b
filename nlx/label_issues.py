"""Which training labels are wrong: the files a run writes about them, and the public API.

Every multi-class run writes, at the end of `train.train_and_evaluate` (`finish_run`):
- `WORKDIR/label_issues.csv`: one row per training example, most suspicious first:
  `index` (position in the training split), `path` (the file, for datasets read from
  files, else empty), `given_label`, `given_class`, `score` (high = the given label is
  trusted), `suggested_label`, `suggested_class`, `flagged` (0/1);
- `WORKDIR/label_issues.json`: which score, the estimated number of wrong labels and,
  where the dataset knows its clean labels, the true number and how well the score and
  the flagged set find them (AUROC, AP, precision, recall, F1).
- `WORKDIR/label_issues.html`: the review page (`nlx.report.review_page`): every flagged
  example with its thumbnail, a control to accept each suggestion, and the corrected CSV
  to download.
No clean label is used to score or flag. Read it back with `nlx.label_issues.find(workdir)`.

The parts, each importable on its own:
- `nlx.ops.confident_learning`: the maths, from arrays (thresholds, confident joint,
  counts, mixture boundary, flagging, suggested labels, detection metrics);
- `nlx.label_issue_scores`: a trained run's scores and counts (`SCORES`, `COUNTS`,
  `TrainedRun`, `compute`);
- this module: the files; it also re-exports the names of both, so that
  `nlx.label_issues.confident_joint` or `nlx.label_issues.compute` work as before.
"""

import csv
import os

import numpy as np

from nlx.io import replacing, write_json
from nlx.label_issue_scores import (
    COUNTS,
    DEFAULT_COUNT,
    MEMORISED,
    SCORES,
    LabelIssues,
    TrainedRun,
    compute,
    estimated_counts,
    resolve_count,
    score_name,
)
from nlx.ops.confident_learning import (
    calibrate_joint,
    class_error_threshold,
    confident_joint,
    confident_learning_counts,
    confident_thresholds,
    detection_metrics,
    estimated_errors_per_class,
    flag_by_class,
    mixture_boundary,
    round_preserving_total,
    suggested_labels,
)

# the public API: the files, and the maths and the run's scores under nlx.label_issues as before
__all__ = [
    "CSV_NAME", "JSON_NAME", "FIELDS", "write", "write_files", "finish_run", "remove_files",
    "find",
    "COUNTS", "DEFAULT_COUNT", "MEMORISED", "SCORES", "LabelIssues",
    "TrainedRun", "compute", "estimated_counts", "resolve_count", "score_name",
    "calibrate_joint", "class_error_threshold", "confident_joint", "confident_learning_counts",
    "confident_thresholds", "detection_metrics", "estimated_errors_per_class", "flag_by_class",
    "mixture_boundary", "round_preserving_total", "suggested_labels",
]

CSV_NAME, JSON_NAME = "label_issues.csv", "label_issues.json"
FIELDS = ("index", "path", "given_label", "given_class", "score", "suggested_label",
          "suggested_class", "flagged")


def write(workdir: str, issues: LabelIssues, dataset) -> None:
  """Writes `label_issues.csv` (most suspicious first) into `workdir`.

  Args:
    workdir: the run's folder.
    issues: the run's `LabelIssues`.
    dataset: its `nlx.data.types.Dataset` (class names; file paths where read from files).
  """
  names = list(dataset.class_names)
  split = dataset.train
  paths = split.paths if split.paths is not None else (
      split.inputs if split.decode is not None else None)
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
  the most suspicious images.

  Args:
    workdir: the run's folder.
    trainer: the run's `nlx.train.Trainer`.
    state: its final train state.
    dynamics: its `nlx.dynamics.Dynamics`.
    is_main: whether this process writes the files.

  Returns:
    The summary (also in results.json): `LabelIssues.summary()` and, where the dataset
    knows its clean labels, `detection_metrics`; `{}` for a multi-label dataset or a run
    without dynamics.
  """
  dataset = trainer.dataset
  if dataset.multi_label or dynamics.count == 0:
    return {}
  issues = compute(TrainedRun(trainer, state, dataset, dynamics))
  summary = {**issues.summary(), **detection_metrics(
      issues.scores, issues.flagged, issues.labels, dataset.train.clean_labels)}
  if is_main:
    write_files(workdir, issues, dataset, summary)
  return summary


def write_files(workdir: str, issues: LabelIssues, dataset, summary: dict) -> None:
  """Writes label_issues.csv, label_issues.json (`summary`), the figure of the most
  suspicious examples and the review page into `workdir`.

  Args:
    workdir: the run's folder (or, for `label_issues.folds`, the folds' parent folder).
    issues: the `LabelIssues`.
    dataset: the `nlx.data.types.Dataset` they are about.
    summary: the JSON summary to write.
  """
  # this module's `write`, looked up at call time (tests/test_faults.py replaces it)
  write(workdir, issues, dataset)
  write_json(os.path.join(workdir, JSON_NAME), summary)
  from nlx.report import label_issues_page, review_page
  label_issues_page.suspects_figure(workdir, dataset, issues)
  review_page.write(workdir, images=_images(dataset.train))


def _images(split):
  """An in-memory split's uint8 images (for the review page's thumbnails), else None."""
  x = split.inputs
  if split.decode is None and split.paths is None and isinstance(x, np.ndarray) \
      and x.dtype == np.uint8 and x.ndim in (3, 4):
    return x
  return None


def remove_files(workdir: str) -> None:
  """Removes the files `finish_run` writes (a run training again has none yet).

  Args:
    workdir: the run's folder.
  """
  from nlx.report import label_issues_page, review_page
  for name in (CSV_NAME, JSON_NAME, label_issues_page.FIGURE_NAME, review_page.PAGE_NAME):
    if os.path.exists(os.path.join(workdir, name)):
      os.remove(os.path.join(workdir, name))


# ---- reading a run back ------------------------------------------------------------------

def find(workdir: str) -> list[dict]:
  """Reads back a finished run's label_issues.csv.

  Args:
    workdir: the run's folder.

  Returns:
    Its rows, most suspicious first, one dict per training example with the keys `FIELDS`:
    ints `index`, `given_label`, `suggested_label`, a float `score`, a bool `flagged`, and
    strings `path`, `given_class`, `suggested_class`.

  Raises:
    FileNotFoundError: when the run has no label_issues.csv.
    nlx.errors.DataError: when the file is damaged (says which file and what to do).
  """
  path = os.path.join(workdir, CSV_NAME)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no {path}: train a multi-class run there first "
                            "(nlx train or nlx find-label-issues --config=...)")
  from nlx.report.label_issues_page import read_rows
  return read_rows(path)
