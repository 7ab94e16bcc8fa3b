"""Text for the multimodal sentiment models: tokenizer, vocabulary, fixed-length ids,
and GloVe-format word vectors.

- `tokenize`: lower-cased words and single punctuation marks (punctuation is kept,
  whitespace dropped). HTML links become the tokens `href` (the link target) and `rel`
  (its rel attribute), other HTML tags are dropped and bare URLs become `href`, so a
  post's links count as words without flooding the vocabulary.
- `Vocabulary`: ids by descending frequency (ties alphabetical) after `PAD` = 0 and
  `UNK` = 1, keeping at most `max_size` entries and words seen `min_count` times.
- `encode`: ids truncated, or post-padded with `PAD`, to `length` (101 in the study).
"""

import collections
import html
import re

import numpy as np

from nlx.errors import DataError
from nlx.io import reading

PAD, UNK = 0, 1
_ANCHOR = re.compile(r"<a\s[^>]*?>", re.IGNORECASE)
_REL = re.compile(r"\srel\s*=", re.IGNORECASE)
_TAG = re.compile(r"<[^>]+>")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_TOKEN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list:
  def anchor(m):
    return " href rel " if _REL.search(m.group(0)) else " href "
  text = _ANCHOR.sub(anchor, html.unescape(text or ""))
  text = _URL.sub(" href ", _TAG.sub(" ", text))
  return _TOKEN.findall(text.lower())


class Vocabulary:
  def __init__(self, token_lists, *, max_size: int = 20000, min_count: int = 1):
    counts = collections.Counter(t for tokens in token_lists for t in tokens)
    words = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    self.words = ["<pad>", "<unk>"] + words[:max(0, max_size - 2)]
    self.index = {w: i for i, w in enumerate(self.words)}

  def __len__(self):
    return len(self.words)

  def ids(self, tokens) -> list:
    return [self.index.get(t, UNK) for t in tokens]


def encode(token_lists, vocab: Vocabulary, length: int = 101) -> np.ndarray:
  """`[N, length]` int32 ids, truncated or post-padded with PAD."""
  out = np.full((len(token_lists), length), PAD, np.int32)
  for i, tokens in enumerate(token_lists):
    ids = vocab.ids(tokens)[:length]
    out[i, :len(ids)] = ids
  return out


def read_glove(path: str, words) -> np.ndarray:
  """`[len(words), d]` vectors of `words` from a GloVe-format text file (`word v1 v2 ...`
  per line); a word the file lacks is an error naming it."""
  wanted, vectors = set(words), {}
  with reading(path, "GloVe text file"), open(path, encoding="utf-8") as f:
    for n, line in enumerate(f, 1):
      parts = line.rstrip().split(" ")
      if parts[0] in wanted:
        try:
          vectors[parts[0]] = np.asarray(parts[1:], np.float32)
        except ValueError:
          raise DataError(f"{path}:{n}: not a GloVe line (word then numbers)") from None
  missing = [w for w in words if w not in vectors]
  if missing:
    raise DataError(f"{path}: no vector for {missing}")
  dims = {len(v) for v in vectors.values()}
  if len(dims) != 1:
    raise DataError(f"{path}: vectors of different lengths {sorted(dims)}")
  return np.stack([vectors[w] for w in words])
