"""nlx.benchmarks.image_features (experiments/extract_features.py): features through the
trainer's own padded prediction, one row per listed image, in order."""

import numpy as np
from conftest import write_images

from nlx.benchmarks import image_features


def test_extract_features_rows_follow_the_list(tmp_path):
  names = [f"{i}.png" for i in range(3)]
  write_images(tmp_path, names, size=(36, 40))
  paths = [str(tmp_path / n) for n in names]
  kw = {"model_name": "resnet18_imagenet", "pretrained": "", "size": 32, "batch_size": 2}
  feats = image_features.extract(paths, **kw)
  assert feats.shape == (3, 512) and np.all(np.isfinite(feats))
  np.testing.assert_allclose(image_features.extract(paths[2:], **kw)[0], feats[2], rtol=1e-4,
                             atol=1e-5)
  assert not np.allclose(feats[0], feats[2])
