"""Transition-matrix estimation. Orientation everywhere: `T[true, noisy]`, row-stochastic."""

import numpy as np

ANCHORS = ("percentile", "below_percentile")


def estimate_from_anchors(noisy_probs: np.ndarray, percentile: float = 97.0,
                          anchor: str = "percentile") -> np.ndarray:
  """Patrini et al. (CVPR 2017) anchor-point estimator.

  A network trained on noisy labels predicts `p(noisy | x) = sum_i p(true=i | x) T[i, :]`;
  on an anchor x of class i (`p(true=i | x) = 1`) this is row i of T. For each class i
  an anchor x_i is picked from the predicted probabilities of i, `T[i] = p(. | x_i)`,
  and the rows are normalised.

  Args:
    noisy_probs: `[N, C]` predicted noisy-label distributions.
    percentile: 100 takes the most confident example of each class.
    anchor: "percentile" (default; the paper's "97th percentile in place of the
      maximum"): the example whose p(i) is the percentile itself (numpy's "higher"
      percentile, an actual value). "below_percentile" (the authors' code,
      giorgiop/loss-correction `models.py` `NoiseEstimator` with `filter_outlier`): the
      example with the largest p(i) strictly below that value; their code zeroes the
      entries at or above it in place, column by column, so a later row of T reads 0
      where an earlier class's filter hit it, and this option does the same.

  Returns:
    `[C, C]` row-stochastic estimate of `T[true, noisy]`.
  """
  if anchor not in ANCHORS:
    raise ValueError(f"anchor must be one of {ANCHORS}, got {anchor!r}")
  p = np.array(noisy_probs, np.float64)  # a copy: "below_percentile" edits it
  t = np.empty((p.shape[1], p.shape[1]))
  for i in range(p.shape[1]):
    threshold = np.percentile(p[:, i], percentile, method="higher")
    if anchor == "percentile":
      at_or_above = np.flatnonzero(p[:, i] >= threshold)
      idx = at_or_above[np.argmin(p[at_or_above, i])]  # the one at the percentile
    else:
      p[p[:, i] >= threshold, i] = 0.0
      idx = np.argmax(p[:, i])
    t[i] = p[idx]
  return t / t.sum(1, keepdims=True)
