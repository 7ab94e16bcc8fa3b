"""Image + caption sentiment data for `nlx.models.multimodal`: each example's `inputs`
are its image features `[D]` float32 and its `token_ids` `[L]` int32 the caption
(`Split.model_inputs` packs both into the model's input, see that module). The vocabulary
is built on the training split only (`data.vocab_size` entries, `data.text_len` tokens per
post); `info` carries `text_len`, `vocab_size` and the vocabulary.

`multimodal_anp` (the study's MVSO/Flickr format, from `data.data_dir`):
  `posts.csv` with a header and the columns `features_row` (row of `features.npy`),
  `title`, `description`, `anp` (adjective-noun pair) and `anp_score` (its sentiment
  score), and `features.npy` `[M, D]` (e.g. 4,096-d AlexNet fc7 or 2,048-d ResNet pooled
  features; `python experiments/extract_features.py` writes them from images with nlx's
  ResNet). Labels come from the ANP score and `data.anp_thresholds`: one cut t gives
  2 classes (negative <= t < positive), two cuts t1 < t2 give 3 (negative <= t1 <
  neutral <= t2 < positive); with `data.anp_drop_between` two cuts give 2 classes and
  the posts between them are dropped (the study: -0.035 / +0.035). These labels are
  noisy by construction (the ANP describes
  the image, not the post); no clean labels exist, so `clean_labels` equal them.
`multimodal_synthetic` (generated, answer known; no download): posts whose caption
  holds a sentiment word of their class in 60% of the posts and only neutral filler
  words in the others (text alone: at best 60% + 40% / 3 = 73%), and
  64-d image features whose class means differ little (a weak signal: a logistic
  regression on them alone reaches 58% on the test posts); together they allow about
  60% + 40% * 58% = 83%. Seeded by
  `data.split_seed`; 3 classes, 3,000 train / 1,000 test posts.
"""

import csv
import os

import numpy as np

from nlx.data import text
from nlx.data.types import Dataset, Split, parse_split, seeded_split
from nlx.errors import ConfigError, DataError
from nlx.io import reading

SENTIMENT = ("negative", "neutral", "positive")


def pack(features: np.ndarray, token_lists, labels, train_idx, test_idx, config, name,
         class_names, val_idx=None) -> Dataset:
  """Builds the vocabulary on `train_idx` and returns the Dataset (features as `inputs`,
  caption ids as `token_ids`)."""
  vocab = text.Vocabulary([token_lists[i] for i in train_idx], max_size=config.vocab_size)
  ids = text.encode(token_lists, vocab, config.text_len)
  x = np.asarray(features, np.float32).reshape(len(ids), -1)
  labels = np.asarray(labels, np.int64)

  def split(idx):
    return Split(x[idx], labels[idx], labels[idx].copy(), token_ids=ids[idx])

  return Dataset(name, split(train_idx), split(test_idx), len(class_names), list(class_names),
                 mean=(0.0,), std=(1.0,), val=None if val_idx is None else split(val_idx),
                 info={"text_len": config.text_len, "vocab_size": config.vocab_size,
                       "vocabulary_size_used": len(vocab), "image_dim": int(x.shape[1])})


def anp_labels(scores: np.ndarray, thresholds, drop_between: bool = False
               ) -> tuple[np.ndarray, tuple]:
  """Class per ANP score (see the module doc); -1 marks a post between two cuts that
  `drop_between` drops."""
  cuts = sorted(float(t) for t in thresholds)
  if len(cuts) not in (1, 2) or (drop_between and len(cuts) != 2):
    raise ConfigError(f"data.anp_thresholds needs 1 (2 classes) or 2 (3 classes, or 2 with "
                      f"data.anp_drop_between) cuts, got {cuts}")
  labels = np.searchsorted(np.asarray(cuts), np.asarray(scores, float), side="left")
  if drop_between:
    labels = np.select([labels == 0, labels == 2], [0, 1], -1)
    return labels.astype(np.int64), ("negative", "positive")
  names = ("negative", "positive") if len(cuts) == 1 else SENTIMENT
  return labels.astype(np.int64), names


def load_anp(config) -> Dataset:
  d = config.data_dir
  posts, feats = os.path.join(d, "posts.csv"), os.path.join(d, "features.npy")
  missing = [p for p in (posts, feats) if not os.path.isfile(p)]
  if not d or missing:
    raise DataError(f"multimodal_anp: {', '.join(missing) or 'data.data_dir unset'} not found; "
                    "put posts.csv (features_row,title,description,anp,anp_score) and "
                    "features.npy in data.data_dir (see nlx/data/datasets/multimodal.py)")
  with reading(feats, "NumPy .npy array"):
    features = np.load(feats, allow_pickle=False)
  with reading(posts, "CSV file"), open(posts, newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  need = {"features_row", "title", "description", "anp", "anp_score"}
  if not rows or not need <= set(rows[0]):
    raise DataError(f"{posts}: needs the columns {sorted(need)}")
  short = next((n for n, r in enumerate(rows, 2) if None in r.values()), None)
  if short is not None:  # a line cut short
    raise DataError(f"{posts}: line {short} has "
                    f"{sum(v is not None for v in rows[short - 2].values())} "
                    f"of the {len(rows[0])} columns")
  try:
    index = np.array([int(r["features_row"]) for r in rows])
    scores = np.array([float(r["anp_score"]) for r in rows])
  except ValueError as e:
    raise DataError(f"{posts}: features_row must be integers and anp_score numbers ({e})") from None
  if index.min() < 0 or index.max() >= len(features):
    raise DataError(f"{posts}: features_row out of range for {len(features)} feature rows")
  labels, names = anp_labels(scores, config.anp_thresholds, config.anp_drop_between)
  keep = labels >= 0
  if not keep.any():
    raise DataError(f"{posts}: every anp_score lies between the cuts {config.anp_thresholds}")
  rows, index, labels = [r for r, k in zip(rows, keep) if k], index[keep], labels[keep]
  tokens = [text.tokenize(f"{r['title']} {r['description']}") for r in rows]
  parts = seeded_split(len(rows), parse_split(config.split), config.split_seed)
  return pack(features[index], tokens, labels, parts[0], parts[-1], config, "multimodal_anp",
              names, val_idx=parts[1] if len(parts) == 3 else None)


FILLER = ("the", "a", "photo", "of", "my", "today", "with", "and", "at", "in", "this", "is",
          "from", "our", "trip", "city", "street", "light", "old", "new", "morning", "view")
WORDS = {0: ("sad", "awful", "broken", "gloomy", "lonely"),
         1: ("plain", "ordinary", "usual", "average", "regular"),
         2: ("happy", "beautiful", "lovely", "sunny", "amazing")}


def make_synthetic(n: int, seed: int, *, text_signal: float = 0.6, image_shift: float = 0.12,
                   dim: int = 64):
  """`(features [n, dim], captions [n], labels [n])` as described in the module doc."""
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 3, n)
  means = rng.standard_normal((3, dim)) * image_shift
  features = means[labels] + rng.standard_normal((n, dim))
  captions = []
  for y in labels:
    words = list(rng.choice(FILLER, rng.integers(4, 12)))
    if rng.random() < text_signal:  # else the caption says nothing about the sentiment
      words.insert(rng.integers(0, len(words) + 1), rng.choice(WORDS[int(y)]))
    captions.append(" ".join(words) + rng.choice([".", "!", " :)", ""]))
  return features.astype(np.float32), captions, labels


def load_synthetic(config) -> Dataset:
  features, captions, labels = make_synthetic(4000, config.split_seed)
  tokens = [text.tokenize(c) for c in captions]
  return pack(features, tokens, labels, np.arange(3000), np.arange(3000, 4000), config,
              "multimodal_synthetic", SENTIMENT)
