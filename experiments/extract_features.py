"""Image features with nlx's own ResNet, for the multimodal models (and any features run).

  python experiments/extract_features.py --images=LIST.txt --out=features.npy \
      [--model=resnet34_imagenet] [--pretrained=resnet34.safetensors] [--size=224]

LIST.txt holds one image path per line; row i of the output `[N, 512]` float32 array is
the globally pooled last-stage feature of image i (resize to --size, centre crop,
ImageNet normalisation), ready for `posts.csv`'s `features_row` column. With
torchvision's ImageNet weights (--pretrained, a state dict saved as .safetensors) these
are ImageNet features; without, a randomly initialised network (for testing only).
(nlx.benchmarks.image_features, through the trainer's own padded prediction.)
"""

import numpy as np
from absl import app, flags

from nlx.benchmarks import image_features

flags.DEFINE_string("images", None, "Text file of image paths, one per line.")
flags.DEFINE_string("out", "features.npy", "Output .npy.")
flags.DEFINE_enum("model", "resnet34_imagenet", ["resnet18_imagenet", "resnet34_imagenet"],
                  "Backbone.")
flags.DEFINE_string("pretrained", "", "torchvision ResNet weights (.safetensors / .npz).")
flags.DEFINE_integer("size", 224, "Crop size.")
flags.DEFINE_integer("batch_size", 32, "Images per forward pass.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  with open(FLAGS.images) as f:
    paths = [line.strip() for line in f if line.strip()]
  feats = image_features.extract(paths, model_name=FLAGS.model, pretrained=FLAGS.pretrained,
                                 size=FLAGS.size, batch_size=FLAGS.batch_size)
  np.save(FLAGS.out, feats)
  print(f"{FLAGS.out}: {feats.shape}")


if __name__ == "__main__":
  flags.mark_flag_as_required("images")
  app.run(main)
