"""Features of image files, extracted once and kept: the cache behind `data.backbone`.

With `data.backbone` set (e.g. `resnet50_imagenet`, weights in `data.backbone_weights`:
the `.pth` file torchvision downloads, `.safetensors` / `.npz`, or a network nlx trained,
`nlx.models.pretrained.save_backbone`), a run on image files
trains its model on the backbone's pooled features of the images instead of the pixels
(as cleanlab's tutorials do to find label issues): `nlx.train.load_dataset` embeds every
split once through the trainer's own prediction path and keeps each example's file in
`Split.paths`. This module keeps those features.

The entry is `data.features_cache/<key>/` (default `~/.cache/nlx/features`). The key
hashes every image's path, size and modification time, in order, the weights file's
bytes (sha256) and whatever else the caller names (the backbone, the transform): change
any of them and the features are extracted afresh, never read stale. Extraction runs in
blocks of `BLOCK` images, each written when complete, so a killed extraction resumes at
its first missing block; a progress bar counts images/s.
"""

import hashlib
import json
import os
from collections.abc import Callable

import numpy as np
import tqdm
from absl import logging

from nlx.errors import DataError
from nlx.io import reading

BLOCK = 512  # images per cached block (the unit of resuming)
RANDOM = "none"  # data.backbone_weights of a randomly initialised backbone (tests only)


def default_dir() -> str:
  return os.path.join(os.path.expanduser("~"), ".cache", "nlx", "features")


def file_digest(path: str) -> str:
  """sha256 of a file's bytes."""
  h = hashlib.sha256()
  with reading(path, "weights file"), open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def cache_key(paths, weights: str, *parts) -> str:
  """The entry's name: a hash of the image list (each path, size and modification time, in
  order), the weights' bytes (RANDOM: none) and `parts` (JSON-able)."""
  if weights != RANDOM and not os.path.isfile(weights):
    raise DataError(f"data.backbone_weights: file not found: {weights or '(unset)'}; give the "
                    "torchvision state dict of data.backbone (e.g. the resnet50-0676ba61.pth "
                    "torchvision downloads to ~/.cache/torch/hub/checkpoints)")
  h = hashlib.sha256()
  h.update(json.dumps([file_digest(weights) if weights != RANDOM else RANDOM,
                       *parts]).encode())
  for p in paths:
    st = os.stat(p)
    h.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
  return h.hexdigest()[:32]


def cached_features(paths, key: str, cache_dir: str,
                    embed: Callable[[np.ndarray], np.ndarray], progress: bool = True
                    ) -> np.ndarray:
  """float32 `[len(paths), D]`: the entry `key`'s features, or `embed(indices)` (the
  features of `paths[indices]`) block by block into it, resuming after the last block
  written."""
  folder = os.path.join(cache_dir, key)
  done = os.path.join(folder, "features.npy")
  fix = "delete the folder to extract them again"
  if os.path.exists(done):
    with reading(done, "cached features", fix):
      feats = np.load(done, allow_pickle=False)
    if feats.shape[0] == len(paths):
      logging.info("features: %d images from the cache %s", len(paths), folder)
      return feats
  os.makedirs(folder, exist_ok=True)
  blocks = [(i, os.path.join(folder, f"block_{i // BLOCK:06d}.npy"))
            for i in range(0, len(paths), BLOCK)]
  todo = [(i, f) for i, f in blocks if not os.path.exists(f)]
  left = sum(min(BLOCK, len(paths) - i) for i, _ in todo)
  with tqdm.tqdm(total=len(paths), initial=len(paths) - left, unit="img", desc="features",
                 disable=not progress) as bar:
    for i, path in todo:
      indices = np.arange(i, min(i + BLOCK, len(paths)))
      feats = np.asarray(embed(indices), np.float32)
      np.save(path + ".tmp.npy", feats)
      os.replace(path + ".tmp.npy", path)  # a block exists only once complete
      bar.update(len(indices))
  with reading(folder, "cached feature blocks", fix):
    feats = np.concatenate([np.load(f, allow_pickle=False) for _, f in blocks])
  np.save(done + ".tmp.npy", feats)
  os.replace(done + ".tmp.npy", done)
  for _, f in blocks:
    os.remove(f)
  return feats
