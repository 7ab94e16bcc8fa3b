"""Image features with nlx's own ResNet, for the multimodal models (and any features run).

Row i of the result is the globally pooled last-stage feature of image i (resize the
shorter side, centre crop, ImageNet normalisation), computed by the trainer's own padded
prediction (`train.Trainer.predict_outputs`: batches of `batch_size`, the last one padded,
so one compiled program serves every batch). With torchvision's ImageNet weights
(`pretrained`: the .pth file torchvision downloads, or .safetensors / .npz) these are
ImageNet features; without, a randomly initialised network (for testing only).
"""

import jax
import numpy as np

from nlx import feature_cache, train
from nlx.config_base import base_config
from nlx.data.datasets.image_folder import decode_image
from nlx.data.types import Dataset, Split

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet's


def extractor(paths, *, model_name: str, pretrained: str, size: int, batch_size: int):
  """A function of no arguments giving `extract`'s features of `paths`, its network built
  and compiled once however often it is called."""
  c = base_config()
  c.data.backbone = model_name
  c.data.backbone_weights = pretrained or feature_cache.RANDOM
  c.data.image_size, c.data.eval_batch_size = size, batch_size
  c.train.progress_bar = False
  labels = np.zeros(len(paths), np.int64)  # unused: the 1,000 ImageNet classes' head
  split = Split(np.asarray(paths), labels, labels.copy(), decode=decode_image)
  dataset = Dataset("images", split, split, 1000, [str(i) for i in range(1000)], MEAN, STD)
  trainer = train.backbone_trainer(c, dataset, train.make_mesh(jax.devices()[:1]))
  return lambda: trainer.predict_outputs(trainer.initial_state, split)[1].astype(np.float32)


def extract(paths, *, model_name: str, pretrained: str, size: int, batch_size: int) -> np.ndarray:
  """`[len(paths), D]` float32 features (D = 512 for ResNet-18/34, 2048 for ResNet-50).

  Args:
    paths: image files, in the order of the rows.
    model_name: `resnet18_imagenet`, `resnet34_imagenet` or `resnet50_imagenet`.
    pretrained: torchvision weights ("" for a random network).
    size: the crop size (the shorter side is resized to 256/224 of it first).
    batch_size: images per forward pass.
  """
  return extractor(paths, model_name=model_name, pretrained=pretrained, size=size,
                   batch_size=batch_size)()


def main(argv=None) -> None:
  """`python -m nlx.benchmarks.image_features --out=F.npy [--weights=W.pth] DIR_OR_FILES...`:
  the features of the images (a folder's image files, sorted, or the files named) to
  `F.npy`, timed; prints one JSON line (start-up included: `wall_s`; a second pass over
  the same files, compiled: `again_s`)."""
  import argparse
  import json
  import os
  import time
  start = time.time()
  from nlx.data.datasets.image_folder import EXTENSIONS
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("inputs", nargs="+")
  p.add_argument("--out", required=True)
  p.add_argument("--model", default="resnet50_imagenet")
  p.add_argument("--weights", default="", help="torchvision weights; none: random")
  p.add_argument("--size", type=int, default=224)
  p.add_argument("--batch_size", type=int, default=64)
  p.add_argument("--again", action="store_true", help="time a second pass too")
  a = p.parse_args(argv)
  paths = []
  for x in a.inputs:
    paths += (sorted(os.path.join(x, f) for f in os.listdir(x) if f.lower().endswith(EXTENSIONS))
              if os.path.isdir(x) else [x])
  kw = {"model_name": a.model, "pretrained": a.weights, "size": a.size,
        "batch_size": a.batch_size}
  run = extractor(paths, **kw)
  feats = run()
  np.save(a.out, feats)
  wall = time.time() - start
  again = None
  if a.again:  # the same extractor: compiled already, as torch's second pass
    t0 = time.time()
    run()
    again = time.time() - t0
  print(json.dumps({"side": "nlx", "images": len(paths), "dim": int(feats.shape[1]),
                    "wall_s": wall, "again_s": again}))


if __name__ == "__main__":
  main()
