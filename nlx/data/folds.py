"""Stratified folds of a training set, for out-of-fold label issues (`label_issues.folds`).

`stratified_folds(labels, k, seed)` gives every example a fold in [0, k): the examples are
ordered by given label, within a label by a permutation seeded by `seed`, and dealt out
to folds 0, 1, ..., k-1, 0, 1, ... along that order. So each label's examples are spread
over the folds as evenly as can be (counts differ by at most one) and so are the folds'
sizes (`ceil(N / k)` or `floor(N / k)`). The same labels, k and seed give the same folds in
every process and in every fold's run (`nlx.train.Trainer`, `nlx.replicas`).
"""

import numpy as np

from nlx.errors import ConfigError


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
  """int64 `[N]`: each example's fold in [0, k).

  Args:
    labels: int `[N]` given labels.
    k: the number of folds, at least 2 and at most the smallest label's count.
    seed: seeds the order within each label.

  Raises:
    ConfigError: for k < 2 or more folds than the smallest label has examples (a fold's
      run would then never see that label in some fold).
  """
  labels = np.asarray(labels)
  if k < 2:
    raise ConfigError(f"label_issues.folds must be >= 2 for out-of-fold label issues, got {k}")
  present, counts = np.unique(labels, return_counts=True)
  if counts.min() < k:
    raise ConfigError(
        f"label_issues.folds={k} exceeds the {counts.min()} training examples of label "
        f"{present[np.argmin(counts)]}: every fold must hold each label; use at most "
        f"{counts.min()} folds")
  shuffled = np.random.default_rng(seed).permutation(len(labels))
  order = shuffled[np.argsort(labels[shuffled], kind="stable")]
  fold = np.empty(len(labels), np.int64)
  fold[order] = np.arange(len(labels)) % k
  return fold


def fold_steps_per_epoch(num_examples: int, k: int, batch_size: int) -> int:
  """Steps an epoch of every fold's run: as many full batches as the smallest training
  part (all but the largest fold, `N - ceil(N / k)` examples) fills, so that the K runs
  step in lockstep."""
  return (num_examples - -(-num_examples // k)) // batch_size
