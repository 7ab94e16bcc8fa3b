"""Seeded label corruption, applied once before training (label noise is data).

Every function takes clean labels and returns `NoisyLabels(labels, transition, rate)`:
the noisy labels, the realised transition matrix `T[true, noisy]` (row-stochastic; the
library's one orientation: row = true class, column = observed class) and the realised
fraction of changed labels. Conventions:
- `symmetric_noise(rate=eps)` changes exactly `round(eps * N)` labels, each to a class
  drawn uniformly among the *other* classes (the ARNet protocol). With
  `include_true_class=True` a fraction eps of labels is redrawn uniformly over all
  classes, so some keep their class (the convention of the ELR code; realised rate
  about eps * (C - 1) / C).
- `pair_noise` flips exactly `round(rate * N_k)` examples of each class k to `target[k]`
  (default `k + 1 mod C`).
"""

import dataclasses

import numpy as np

from nlx.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class NoisyLabels:
  labels: np.ndarray      # [N] int64
  transition: np.ndarray  # [C, C] realised T[true, noisy]
  rate: float             # fraction of labels that differ from the clean label


def realized_transition(clean: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
  """Row-normalised counts `T[i, j] = #(clean=i, noisy=j) / #(clean=i)`; empty rows = I."""
  counts = np.zeros((num_classes, num_classes), np.float64)
  np.add.at(counts, (clean, noisy), 1)
  rows = counts.sum(1, keepdims=True)
  eye = np.eye(num_classes)
  return np.where(rows > 0, counts / np.maximum(rows, 1), eye)


def _result(clean, noisy, num_classes) -> NoisyLabels:
  noisy = noisy.astype(np.int64)
  return NoisyLabels(noisy, realized_transition(clean, noisy, num_classes),
                     float(np.mean(noisy != clean)) if len(clean) else 0.0)


def _check(labels, num_classes, rate):
  if not 0.0 <= rate <= 1.0:
    raise ConfigError(f"noise rate must be in [0, 1], got {rate}")
  if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
    raise ConfigError(f"labels must be in [0, {num_classes}), got range "
                      f"[{labels.min()}, {labels.max()}]")


def symmetric_noise(labels: np.ndarray, num_classes: int, rate: float, seed: int, *,
                    include_true_class: bool = False) -> NoisyLabels:
  """Symmetric (uniform) noise; see the module docstring for the two conventions."""
  labels = np.asarray(labels, np.int64)
  _check(labels, num_classes, rate)
  rng = np.random.default_rng(seed)
  n = len(labels)
  noisy = labels.copy()
  if include_true_class:
    idx = rng.choice(n, size=round(rate * n), replace=False)
    noisy[idx] = rng.integers(0, num_classes, size=len(idx))
  else:
    idx = rng.choice(n, size=round(rate * n), replace=False)
    # An offset in 1..C-1 added mod C is a uniform draw among the other classes.
    noisy[idx] = (labels[idx] + rng.integers(1, num_classes, size=len(idx))) % num_classes
  return _result(labels, noisy, num_classes)


def pair_noise(labels: np.ndarray, num_classes: int, rate: float, seed: int, *,
               target=None) -> NoisyLabels:
  """Pair (asymmetric) flips: exactly round(rate * N_k) of class k become `target[k]`."""
  labels = np.asarray(labels, np.int64)
  _check(labels, num_classes, rate)
  target = (np.arange(num_classes) + 1) % num_classes if target is None else np.asarray(target)
  if target.shape != (num_classes,) or (target == np.arange(num_classes)).any():
    raise ConfigError("pair_noise target must give, for each class, a different class")
  rng = np.random.default_rng(seed)
  noisy = labels.copy()
  for k in range(num_classes):
    members = np.flatnonzero(labels == k)
    flip = rng.choice(members, size=round(rate * len(members)), replace=False)
    noisy[flip] = target[k]
  return _result(labels, noisy, num_classes)


def transition_noise(labels: np.ndarray, transition: np.ndarray, seed: int) -> NoisyLabels:
  """Draws each noisy label from row `transition[label]` of a row-stochastic `T[true, noisy]`."""
  labels = np.asarray(labels, np.int64)
  t = np.asarray(transition, np.float64)
  c = t.shape[0]
  if t.shape != (c, c) or (t < 0).any() or not np.allclose(t.sum(1), 1.0, atol=1e-6):
    raise ConfigError("transition must be a square row-stochastic matrix T[true, noisy]")
  _check(labels, c, 0.0)
  u = np.random.default_rng(seed).random(len(labels))
  cdf = np.cumsum(t, axis=1)
  noisy = np.minimum((u[:, None] > cdf[labels]).sum(1), c - 1)
  return _result(labels, noisy, c)


def random_transition(num_classes: int, rate: float, seed: int) -> np.ndarray:
  """A random row-stochastic `T[true, noisy]` with diagonal `1 - rate`: each row's
  off-diagonal mass `rate` is split by Dirichlet(1) weights (seeded), so some wrong labels
  are far likelier than others. Xiao et al.'s CIFAR-10 check flips labels by "a random
  matrix with diagonal 0.5"; how its off-diagonal was drawn is not stated."""
  _check(np.zeros(0, np.int64), num_classes, rate)
  rng = np.random.default_rng(seed)
  t = np.zeros((num_classes, num_classes))
  for k in range(num_classes):
    others = [j for j in range(num_classes) if j != k]
    t[k, others] = rate * rng.dirichlet(np.ones(num_classes - 1))
    t[k, k] = 1.0 - rate
  return t


def simple_image_features(images: np.ndarray) -> np.ndarray:
  """Cheap hand-made features `[N, D]` for the virtual agent: a 4x4 grid of mean
  intensities per channel plus an 8-bin intensity histogram per channel."""
  x = np.asarray(images, np.float32) / 255.0
  if x.ndim == 2:  # already feature vectors
    return x
  n, h, w, ch = x.shape
  gh, gw = max(h // 4, 1), max(w // 4, 1)
  grid = x[:, :gh * 4, :gw * 4].reshape(n, 4, gh, 4, gw, ch).mean((2, 4)).reshape(n, -1)
  bins = np.minimum((x * 8).astype(int), 7)
  hist = np.stack([(bins == b).mean((1, 2)) for b in range(8)], axis=-1).reshape(n, -1)
  return np.concatenate([grid, hist], axis=1)


def virtual_agent_noise(images: np.ndarray, labels: np.ndarray, num_classes: int, seed: int, *,
                        clean_fraction: float = 0.1) -> NoisyLabels:
  """"Virtual agent" labels (ARNet's SentiBank+SVM protocol): a linear SVM fitted on a
  seeded clean subset (`clean_fraction` of the examples) of simple image features labels
  every example; its mistakes are the noise, structured like a weak annotator's."""
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler
  from sklearn.svm import LinearSVC

  labels = np.asarray(labels, np.int64)
  _check(labels, num_classes, clean_fraction)
  feats = simple_image_features(images)
  rng = np.random.default_rng(seed)
  fit_idx = rng.choice(len(labels), size=max(round(clean_fraction * len(labels)),
                                             num_classes), replace=False)
  svm = make_pipeline(StandardScaler(), LinearSVC(C=1.0, random_state=seed, max_iter=5000))
  svm.fit(feats[fit_idx], labels[fit_idx])
  return _result(labels, svm.predict(feats).astype(np.int64), num_classes)


def multilabel_shuffle_noise(label_vectors: np.ndarray, prob: float, seed: int) -> np.ndarray:
  """Multi-label corruption (CAN, Table VI): with probability `prob` an example's label
  vector `[C]` is randomly permuted. Returns the noisy `[N, C]` vectors."""
  y = np.asarray(label_vectors)
  _check(np.zeros(0, np.int64), 1, prob)
  rng = np.random.default_rng(seed)
  noisy = y.copy()
  for i in np.flatnonzero(rng.random(len(y)) < prob):
    noisy[i] = y[i, rng.permutation(y.shape[1])]
  return noisy


def apply(config, labels: np.ndarray, images: np.ndarray, num_classes: int) -> NoisyLabels | None:
  """Applies `config` (the `config.noise` ConfigDict) to training labels; None for 'none'."""
  kind = config.type
  if kind == "none":
    return None
  if kind == "symmetric":
    return symmetric_noise(labels, num_classes, config.rate, config.seed)
  if kind == "symmetric_uniform":
    return symmetric_noise(labels, num_classes, config.rate, config.seed, include_true_class=True)
  if kind == "pair":
    return pair_noise(labels, num_classes, config.rate, config.seed)
  if kind == "random_transition":
    t = random_transition(num_classes, config.rate, config.seed)
    return transition_noise(labels, t, config.seed + 1)
  if kind == "virtual_agent":
    return virtual_agent_noise(images, labels, num_classes, config.seed,
                               clean_fraction=config.agent_clean_fraction)
  if kind == "shuffle":
    raise ConfigError("noise.type='shuffle' is for multi-label data (CAN's Table VI)")
  raise ConfigError(f"unknown noise.type {kind!r}; known: none, symmetric, symmetric_uniform, "
                    "pair, virtual_agent, random_transition, shuffle (multi-label)")
