"""In-memory dataset containers shared by every dataset module."""

import dataclasses
from collections.abc import Callable

import numpy as np

INPUT_KINDS = ("pixels", "features", "encoded")


@dataclasses.dataclass
class Split:
  """One split. `inputs[i]` is one example's input, of one of three kinds (`input_kind`):
  - "pixels": `inputs` is `[N, H, W, C]` uint8 images;
  - "features": `inputs` is `[N, D]` float32 vectors (precomputed features);
  - "encoded": `decode` is set and `decode(inputs[i])` gives the `[H, W, C]` uint8 image
    (`inputs[i]` is a file path, or a record index of a TFDS source).
  `token_ids` `[N, L]` int32 (0 = padding) are the caption tokens that go with the
  features of multimodal posts, None for every other dataset; `model_inputs` packs both
  into the model's single input vector."""
  inputs: np.ndarray
  labels: np.ndarray        # [N] int64 (what training sees) or [N, C] float32 soft labels
                            # (multi-label datasets: [N, C] float32 0/1 vectors)
  clean_labels: np.ndarray  # [N] int64 (multi-label: [N, C]), for evaluation only
  decode: Callable | None = None
  groups: np.ndarray | None = None  # e.g. person id, for group-disjoint splits
  # Extra per-example arrays a method trains on, fed with every batch under their key
  # (e.g. `known_label`: the clean label where the protocol gives it, else -1).
  extras: dict = dataclasses.field(default_factory=dict)
  token_ids: np.ndarray | None = None
  # The files the examples come from, where `inputs` are not the paths themselves
  # (features extracted from images: nlx.data.datasets.image_features), else None.
  paths: np.ndarray | None = None

  def __len__(self):
    return len(self.labels)

  @property
  def input_kind(self) -> str:
    """One of `INPUT_KINDS`, see the class docstring."""
    if self.decode is not None:
      return "encoded"
    return "pixels" if self.inputs.ndim == 4 else "features"

  def subset(self, idx: np.ndarray) -> "Split":
    return Split(self.inputs[idx], self.labels[idx], self.clean_labels[idx], self.decode,
                 None if self.groups is None else self.groups[idx],
                 {k: v[idx] for k, v in self.extras.items()},
                 None if self.token_ids is None else self.token_ids[idx],
                 None if self.paths is None else self.paths[idx])

  def model_inputs(self, idx) -> np.ndarray:
    """The model's input for example(s) `idx` (an int or an index array), decoded:
    `inputs[idx]`, or with `token_ids` the float32 vector `[features | token ids]` that
    `nlx.models.multimodal` unpacks (ids below 2^24 are exact in float32)."""
    if self.decode is not None:
      return self.decode(self.inputs[idx])
    if self.token_ids is None:
      return self.inputs[idx]
    return np.concatenate([self.inputs[idx], self.token_ids[idx].astype(np.float32)], axis=-1)

  def hard_labels(self) -> np.ndarray:
    return self.labels.argmax(-1) if self.labels.ndim == 2 else self.labels


@dataclasses.dataclass
class Dataset:
  name: str
  train: Split
  test: Split
  num_classes: int
  class_names: list
  mean: tuple             # per-channel mean of pixel values in [0, 1] (normalisation)
  std: tuple
  val: Split | None = None
  info: dict = dataclasses.field(default_factory=dict)  # noise rate, transition, etc.
  # Multi-label: labels and clean_labels are `[N, C]` 0/1 vectors; metrics are APs.
  multi_label: bool = False


def seeded_split(n: int, fractions, seed: int) -> list[np.ndarray]:
  """Index arrays for a seeded random split of `range(n)` into `fractions` (sum to 1)."""
  perm = np.random.default_rng(seed).permutation(n)
  bounds = np.round(np.cumsum(fractions)[:-1] * n).astype(int)
  return [np.sort(p) for p in np.split(perm, bounds)]


def parse_split(spec: str) -> tuple[float, ...]:
  parts = tuple(float(p) / 100 for p in spec.split("/"))
  if len(parts) not in (2, 3) or abs(sum(parts) - 1) > 1e-6:
    from nlx.errors import ConfigError
    raise ConfigError(f"data.split must be like '80/20' or '80/5/15', got {spec!r}")
  return parts
