"""Clean + noisy training mixtures (Xiao et al. 2015's protocol).

A seeded fraction of the training examples forms D_c: their clean labels are given to
the method as `known_label` (the rest get -1), and D_c is upsampled (repeated, seeded)
until it is `clean_ratio` times the size of D_n (0.5 in the paper, 1.0 in the authors'
code), so every shuffled batch mixes both. `label` stays the noisy label everywhere.
`keep_noisy=False` returns D_c alone (once each) with its clean labels as `label`: the
"clean data only" baseline without spending steps on examples it ignores.
"""

import numpy as np

from nlx.data.types import Split
from nlx.errors import ConfigError


def clean_noisy_mixture(split: Split, clean_fraction: float, clean_ratio: float,
                        seed: int, keep_noisy: bool = True) -> Split:
  if not 0.0 < clean_fraction < 1.0:
    raise ConfigError(f"data.clean_fraction must be in (0, 1), got {clean_fraction}")
  n = len(split)
  rng = np.random.default_rng(seed)
  perm = rng.permutation(n)
  n_clean = max(1, round(clean_fraction * n))
  clean_idx, noisy_idx = np.sort(perm[:n_clean]), np.sort(perm[n_clean:])
  known = np.full(n, -1, np.int64)
  known[clean_idx] = split.clean_labels[clean_idx]
  if not keep_noisy:
    out = split.subset(clean_idx)
    out.labels = out.clean_labels.copy()
    out.extras = {**out.extras, "known_label": known[clean_idx]}
    return out
  target = max(n_clean, round(clean_ratio * len(noisy_idx)))
  repeats = np.concatenate([np.tile(clean_idx, target // n_clean),
                            rng.choice(clean_idx, target % n_clean, replace=False)])
  rows = np.concatenate([noisy_idx, np.sort(repeats)])
  out = split.subset(rows)
  out.extras = {**out.extras, "known_label": known[rows]}
  return out
