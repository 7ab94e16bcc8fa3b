"""Side information files for SINet: class hierarchies and label descriptions.

Bundled for CIFAR-10 (`nlx/class_texts/`): `cifar10_hierarchy.txt` (WordNet-style
`child parent` lines) and `cifar10_descriptions.txt` (`class: description` lines).
`embed_texts` turns descriptions (or class names) into the embedding matrix of S_l:
- `tfidf` (default; scikit-learn, no model needed): TF-IDF vectors of the words;
- a path to a sentence-transformers model already on disk (used only if the
  `sentence-transformers` package is installed; nlx never downloads a model).
The result can be saved as `.npy` and given to SINet as `method.embeddings`.
"""

import os

import numpy as np

from nlx.errors import ConfigError, DataError
from nlx.io import reading

BUNDLED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "class_texts")


def bundled(name: str) -> str:
  path = os.path.join(BUNDLED, name)
  if not os.path.isfile(path):
    raise DataError(f"no bundled side information {name!r}; have {sorted(os.listdir(BUNDLED))}")
  return path


def read_descriptions(path: str, classes) -> list:
  """Descriptions in the order of `classes`, from `class: description` lines."""
  found = {}
  with reading(path, "text file of 'class: description' lines"), open(path) as f:
    for n, line in enumerate(f, 1):
      line = line.split("#", 1)[0].strip()
      if line:
        name, sep, text = line.partition(":")
        if not sep or not text.strip():
          raise DataError(f"{path}:{n}: expected 'class: description'")
        found[name.strip()] = text.strip()
  missing = [c for c in classes if c not in found]
  if missing:
    raise DataError(f"{path}: no description for classes {missing}")
  return [found[c] for c in classes]


def embed_texts(texts, encoder: str = "tfidf") -> np.ndarray:
  """`[len(texts), D]` float32 embeddings (see the module docstring)."""
  if encoder == "tfidf":
    from sklearn.feature_extraction.text import TfidfVectorizer
    return TfidfVectorizer(stop_words="english").fit_transform(texts).toarray().astype(np.float32)
  if not os.path.isdir(encoder):
    raise ConfigError(f"text encoder {encoder!r}: give 'tfidf' or the path of a "
                      "sentence-transformers model on disk (nlx never downloads one)")
  try:
    from sentence_transformers import SentenceTransformer
  except ImportError:
    raise ConfigError("a sentence-transformers model path needs the sentence-transformers "
                      "package (pip install sentence-transformers)") from None
  model = SentenceTransformer(encoder, local_files_only=True)
  return np.asarray(model.encode(list(texts)), np.float32)
