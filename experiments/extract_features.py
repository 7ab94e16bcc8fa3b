"""Image features with nlx's own ResNet, for the multimodal models (and any features run).

  python experiments/extract_features.py --images=LIST.txt --out=features.npy \
      [--model=resnet34_imagenet] [--pretrained=resnet34.safetensors] [--size=224]

LIST.txt holds one image path per line; row i of the output `[N, 512]` float32 array is
the globally pooled last-stage feature of image i (resize to --size, centre crop,
ImageNet normalisation), ready for `posts.csv`'s `features_row` column. With
torchvision's ImageNet weights (--pretrained, a state dict saved as .safetensors) these
are ImageNet features; without, a randomly initialised network (for testing only).
"""

import jax
import numpy as np
from absl import app, flags

from nlx import models
from nlx.config_base import base_config
from nlx.data import augment
from nlx.data.datasets.image_folder import decode_image
from nlx.train import normalize

flags.DEFINE_string("images", None, "Text file of image paths, one per line.")
flags.DEFINE_string("out", "features.npy", "Output .npy.")
flags.DEFINE_enum("model", "resnet34_imagenet", ["resnet18_imagenet", "resnet34_imagenet"],
                  "Backbone.")
flags.DEFINE_string("pretrained", "", "torchvision ResNet weights (.safetensors / .npz).")
flags.DEFINE_integer("size", 224, "Crop size.")
flags.DEFINE_integer("batch_size", 32, "Images per forward pass.")
FLAGS = flags.FLAGS
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def extract(paths, *, model_name: str, pretrained: str, size: int, batch_size: int) -> np.ndarray:
  config = base_config().model
  config.name, config.pretrained = model_name, pretrained
  model = models.create(config, 1000, (size, size, 3), jax.random.PRNGKey(0))
  transform = augment.eval_transform("resize_crop_flip", size)

  @jax.jit
  def embed(images):
    out, _ = models.apply(model.graphdef, model.params, model.state,
                          normalize(images, MEAN, STD), train=False)
    return out.features

  feats = []
  for i in range(0, len(paths), batch_size):
    batch = np.stack([transform(decode_image(p)) for p in paths[i:i + batch_size]])
    n = len(batch)
    if n < batch_size:  # one compiled shape: pad the last batch
      batch = np.concatenate([batch, np.repeat(batch[-1:], batch_size - n, axis=0)])
    feats.append(np.asarray(embed(batch))[:n])
  return np.concatenate(feats).astype(np.float32)


def main(argv):
  del argv
  with open(FLAGS.images) as f:
    paths = [line.strip() for line in f if line.strip()]
  feats = extract(paths, model_name=FLAGS.model, pretrained=FLAGS.pretrained, size=FLAGS.size,
                  batch_size=FLAGS.batch_size)
  np.save(FLAGS.out, feats)
  print(f"{FLAGS.out}: {feats.shape}")


if __name__ == "__main__":
  flags.mark_flag_as_required("images")
  app.run(main)
