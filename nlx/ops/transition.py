"""Transition-matrix estimation. Orientation everywhere: `T[true, noisy]`, row-stochastic."""

import numpy as np


def estimate_from_anchors(noisy_probs: np.ndarray, percentile: float = 97.0) -> np.ndarray:
  """Patrini et al. (CVPR 2017) anchor-point estimator.

  A network trained on noisy labels predicts `p(noisy | x) = sum_i p(true=i | x) T[i, :]`;
  on an anchor x of class i (`p(true=i | x) = 1`) this is row i of T. For each class i
  the anchor is the example whose predicted probability of i sits at the given
  percentile (97: the paper's robust stand-in for the maximum), and `T[i] = p(. | x_i)`.

  Args:
    noisy_probs: `[N, C]` predicted noisy-label distributions.
    percentile: 100 takes the most confident example of each class.

  Returns:
    `[C, C]` row-stochastic estimate of `T[true, noisy]`.
  """
  p = np.asarray(noisy_probs, np.float64)
  t = np.empty((p.shape[1], p.shape[1]))
  for i in range(p.shape[1]):
    threshold = np.percentile(p[:, i], percentile, method="higher")
    anchor = np.flatnonzero(p[:, i] >= threshold)
    anchor = anchor[np.argmin(p[anchor, i])]  # the one at the percentile
    t[i] = p[anchor]
  return t / t.sum(1, keepdims=True)
