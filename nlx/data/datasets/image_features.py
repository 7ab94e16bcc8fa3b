"""Your own images as pretrained features: `image_folder`'s listing, embedded once.

The images (`root/<class>/*.jpg` or a `path,label` CSV, listed, checked and split exactly
as `nlx.data.datasets.image_folder` does) go once through a pretrained backbone
(`data.backbone`, e.g. `resnet50_imagenet`, with `data.backbone_weights`: the `.pth` file
torchvision downloads, or `.safetensors` / `.npz`); the run then trains a small head on
the pooled features, as cleanlab's tutorials do for label issues, and every split keeps
its files' paths (`Split.paths`, so `label_issues.csv` names them).

The features are cached in `data.features_cache/<key>/` (default
`~/.cache/nlx/features`). The key hashes every image's path, size and modification time,
in the listing's order, the weights file's bytes (sha256), the backbone and the
transform (resize the shorter side to 256/224 of `data.image_size`, centre crop,
ImageNet's mean and std): change any of them and the features are extracted afresh,
never read stale. Extraction runs in blocks of `BLOCK` images, each written when done, so
a killed extraction resumes at its first missing block. Each block's batches (of
`data.eval_batch_size`, the last one padded) run through one jitted forward, sharded
along the batch over the local devices as evaluation is; a progress bar shows images/s.
"""

import concurrent.futures
import hashlib
import json
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from absl import logging
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from nlx import models
from nlx.data import augment
from nlx.data.datasets import image_folder
from nlx.data.types import Dataset, Split
from nlx.errors import ConfigError, DataError
from nlx.io import reading

BLOCK = 512  # images per cached block (the unit of resuming)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's, in [0, 1]
TRANSFORM = "resize_shorter_256/224_center_crop_imagenet_mean_std"  # part of the key
RANDOM = "none"  # data.backbone_weights for a randomly initialised backbone (tests only)


def file_digest(path: str) -> str:
  """sha256 of a file's bytes."""
  h = hashlib.sha256()
  with reading(path, "weights file"), open(path, "rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
      h.update(chunk)
  return h.hexdigest()


def cache_key(paths, backbone: str, weights: str, image_size: int) -> str:
  """The cache entry's name: a hash of the image list (path, size, mtime in order), the
  weights' bytes, the backbone and the transform."""
  h = hashlib.sha256()
  h.update(json.dumps([backbone, file_digest(weights) if weights != RANDOM else RANDOM,
                       int(image_size), TRANSFORM]).encode())
  for p in paths:
    st = os.stat(p)
    h.update(f"{os.path.abspath(p)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
  return h.hexdigest()[:32]


def default_cache() -> str:
  return os.path.join(os.path.expanduser("~"), ".cache", "nlx", "features")


class Extractor:
  """The backbone's pooled features of images, one jitted forward per batch, sharded
  along the batch over the local devices."""

  def __init__(self, backbone: str, weights: str, image_size: int, batch_size: int):
    devices = jax.local_devices()
    if batch_size % len(devices):
      raise ConfigError(f"data.eval_batch_size ({batch_size}) must be a multiple of the "
                        f"{len(devices)} devices")
    model_config = ml_collections.ConfigDict({
        "name": backbone, "dtype": "float32", "conv": "xla",
        "pretrained": "" if weights == RANDOM else weights})
    model = models.create(model_config, 1000, (image_size, image_size, 3), jax.random.key(0))
    self.feature_dim, self.batch_size, self.image_size = model.feature_dim, batch_size, image_size
    self.sharding = NamedSharding(Mesh(np.array(devices), ("data",)), P("data"))
    mean = jnp.asarray(MEAN, jnp.float32) * 255
    std = jnp.asarray(STD, jnp.float32) * 255
    graphdef = model.graphdef

    def forward(params, state, images):
      x = (images.astype(jnp.float32) - mean) / std
      return models.apply(graphdef, params, state, x, train=False)[0].features

    self._forward = jax.jit(forward)
    self._params, self._state = model.params, model.state
    self._transform = augment.eval_transform("resize_crop_flip", image_size)

  def image(self, path: str) -> np.ndarray:
    """One file, decoded and cropped as the features see it: uint8 `[S, S, 3]`."""
    return self._transform(image_folder.decode_image(path))

  def __call__(self, paths, pool=None, progress=None) -> np.ndarray:
    """float32 `[len(paths), D]`; `pool` decodes the next batch while one runs."""
    out = []
    load = (lambda ps: list(pool.map(self.image, ps))) if pool else (
        lambda ps: [self.image(p) for p in ps])
    batches = [paths[i:i + self.batch_size] for i in range(0, len(paths), self.batch_size)]
    pending = pool.submit(load, batches[0]) if pool else None
    for j, batch in enumerate(batches):
      images = pending.result() if pool else load(batch)
      if pool and j + 1 < len(batches):
        pending = pool.submit(load, batches[j + 1])
      n = len(images)
      x = np.stack(images + [images[-1]] * (self.batch_size - n))
      feats = self._forward(self._params, self._state, jax.device_put(x, self.sharding))
      out.append(np.asarray(feats)[:n])
      if progress is not None:
        progress.update(n)
    return np.concatenate(out).astype(np.float32, copy=False)


def extract_cached(paths, *, backbone: str, weights: str, image_size: int, batch_size: int,
                   cache_dir: str, progress: bool = True) -> np.ndarray:
  """float32 `[len(paths), D]` features of `paths`, read from the cache entry of their key
  or extracted into it block by block (resuming after the last block written)."""
  if weights != RANDOM and not os.path.isfile(weights):
    raise DataError(f"data.backbone_weights: file not found: {weights or '(unset)'}; give "
                    "the torchvision state dict of data.backbone (e.g. the resnet50-0676ba61.pth "
                    "torchvision downloads to ~/.cache/torch/hub/checkpoints)")
  folder = os.path.join(cache_dir, cache_key(paths, backbone, weights, image_size))
  done = os.path.join(folder, "features.npy")
  if os.path.exists(done):
    with reading(done, "cached features", "delete the folder to extract them again"):
      feats = np.load(done, allow_pickle=False)
    if feats.shape[0] == len(paths):
      logging.info("features: %d images from the cache %s", len(paths), folder)
      return feats
  os.makedirs(folder, exist_ok=True)
  blocks = [(i, os.path.join(folder, f"block_{i // BLOCK:06d}.npy"))
            for i in range(0, len(paths), BLOCK)]
  todo = [(i, f) for i, f in blocks if not os.path.exists(f)]
  extractor = Extractor(backbone, weights, image_size, batch_size)
  with tqdm.tqdm(total=len(paths), initial=len(paths) - sum(
      min(BLOCK, len(paths) - i) for i, _ in todo), unit="img", desc="features",
                 disable=not progress) as bar, \
      concurrent.futures.ThreadPoolExecutor(max(1, min(4, os.cpu_count() or 1))) as pool:
    for i, path in todo:
      feats = extractor(list(paths[i:i + BLOCK]), pool, bar)
      np.save(path + ".tmp.npy", feats)
      os.replace(path + ".tmp.npy", path)  # a block exists only once complete
  with reading(folder, "cached feature blocks", "delete the folder to extract them again"):
    feats = np.concatenate([np.load(f, allow_pickle=False) for _, f in blocks])
  np.save(done + ".tmp.npy", feats)
  os.replace(done + ".tmp.npy", done)
  for _, f in blocks:
    os.remove(f)
  return feats


def load(config) -> Dataset:
  """`image_folder`'s dataset with every split's images replaced by their features."""
  if not config.backbone:
    raise ConfigError("image_folder_features needs data.backbone (e.g. resnet50_imagenet)")
  images = image_folder.load(config)
  splits = [s for s in (images.train, images.val, images.test) if s is not None]
  paths = np.concatenate([s.inputs for s in splits])
  feats = extract_cached(list(paths), backbone=config.backbone,
                         weights=config.backbone_weights, image_size=config.image_size,
                         batch_size=config.eval_batch_size,
                         cache_dir=config.features_cache or default_cache())
  out, start = [], 0
  for s in splits:
    out.append(Split(feats[start:start + len(s)], s.labels, s.clean_labels, paths=s.inputs))
    start += len(s)
  train, *rest = out
  return Dataset("image_folder_features", train, rest[-1], images.num_classes,
                 images.class_names, mean=(0.0,), std=(1.0,),
                 val=rest[0] if len(rest) == 2 else None,
                 info={**images.info, "backbone": config.backbone,
                       "feature_dim": int(feats.shape[1])})
