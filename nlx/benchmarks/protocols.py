"""The CIFAR-10N protocols shared by every method's benchmark.

CPU protocol (`cifar10n_cpu`): a small CNN (nlx `small_cnn`, width 64, batch norm) is
trained once on 5,000 CIFAR-10 training images with their clean labels (crop + flip,
Adam 1e-3 cosine, 20 epochs, batch 128): the stand-in for ImageNet pretraining. Those
5,000 images are then left out. Its last conv block's 4x4x256 map, average-pooled to
2x2 and flattened (1,024-d), is computed once for the other 45,000 training images and
the 10,000 test images and cached in `features.npz` with every CIFAR-10N label set.
(The 256-d globally pooled features were too weak a representation for the head to
memorise the noise within the budget, leaving the methods nothing to correct.) Each
method then trains an MLP head (two hidden layers of 256, Adam 1e-3, batch 128) on the
45,000 with CIFAR-10N labels and is evaluated on the clean test labels; the head's hidden
layer is the method's feature h.

Full protocol (`cifar10n_full`): ResNet-34 on the images with the CIFAR-N paper's
schedule (SGD 0.1, momentum 0.9, weight decay 5e-4, cosine, 100 epochs, batch 128,
crop + flip), on a GPU; comparable with the published CIFAR-N numbers.

`experiments/protocols.py` writes the CPU protocol's cache (about 5 minutes on 2 cores).
"""

import functools
import os
import subprocess
import sys
import tempfile

import jax
import numpy as np
from flax import nnx

from nlx import config_presets, train
from nlx.config_base import base_config
from nlx.data.datasets import cifar10, cifar10n
from nlx.data.types import Dataset, Split
from nlx.errors import DataError
from nlx.models import pretrained
from nlx.models.outputs import grid_pool

# the checkout's root; the real data shared between checkouts lie beside it
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared", "data"))
PRETRAIN_EXAMPLES = 5000
FEATURE_GRID = 2  # the last 4x4 map pooled to 2x2 cells
BACKBONE_FILE = "backbone.npz"  # the pretrained small CNN as a data.backbone file
LABEL_SETS = ("clean", "aggre", "random1", "random2", "random3", "worst")


def materialized_cifar10(out: str, pack_dir: str = os.path.join(SHARED, "cifar10")) -> str:
  """`out`, holding CIFAR-10's official python layout (`cifar-10-batches-py/`), written
  there when missing from the JPEG pack in `pack_dir` by the pack's own `materialize.py`
  (about 20 s)."""
  script = os.path.join(pack_dir, "materialize.py")
  if not os.path.exists(script):
    raise DataError(f"{script} not found; pass --cifar10_dir (a folder with "
                    "cifar-10-batches-py/)")
  if not os.path.isdir(os.path.join(out, "cifar-10-batches-py")):
    subprocess.run([sys.executable, script, out], check=True, capture_output=True)
  return out


def shared_cifar10(tmp_root: str) -> tuple[str, str]:
  """`(cifar10_dir, label_file)` from ../shared/data, the official layout written under
  `tmp_root/cifar10`."""
  label_file = os.path.join(SHARED, "cifar10n", "CIFAR-10_human.pt")
  if not os.path.exists(label_file):
    raise DataError(f"{label_file} not found; pass --cifar10_dir and --label_file")
  return materialized_cifar10(os.path.join(tmp_root, "cifar10")), label_file


def pretrain_config(seed: int = 0):
  """The backbone's config: the small CNN on clean CIFAR-10 (crop + flip, 20 epochs)."""
  c = config_presets.small_cnn(base_config(), width=64, batch_size=128, epochs=20)
  c.seed = seed
  c.data.name = "cifar10"
  c.data.augment = "crop_flip"
  c.train.progress_bar = False
  return c


def conv_features(graphdef, state, images, *, mean, std):
  """`[B, 32, 32, 3]` uint8 -> `[B, 1024]` float32: the small CNN's last 4x4 map, 2x2-pooled."""
  module = nnx.merge(graphdef, state.params["model"], state.model_state)
  return grid_pool(module.feature_map(train.normalize(images, mean, std), train=False),
                   FEATURE_GRID)


def embedder(trainer: train.Trainer, *, mean, std):
  """`conv_features` of `trainer`'s network, jitted with the trainer's compile options (on
  a CPU, XLA's own convolutions: `nlx.ops.conv.compiler_options`), called `(state, images)`."""
  return jax.jit(functools.partial(conv_features, trainer.graphdef, mean=mean, std=std),
                 compiler_options=trainer.compiler_options)


def build_cpu_features(cifar10_dir: str, label_file: str, out_dir: str, *, seed: int = 0,
                       pretrain_epochs: int = 20) -> str:
  """Writes `out_dir/features.npz` for the CPU protocol (skipped if it exists); returns
  its path. It holds `train_features` `[45000, 1024]`, `test_features` `[10000, 1024]`,
  the test labels, `train_labels_SET` for every CIFAR-10N label set and the indices."""
  path = os.path.join(out_dir, "features.npz")
  if os.path.exists(path):
    return path
  x_tr, y_tr, x_te, y_te, names = cifar10.read_official(cifar10_dir)
  human = cifar10n.read_labels(label_file)
  perm = np.random.default_rng(seed).permutation(len(y_tr))
  pre, rest = np.sort(perm[:PRETRAIN_EXAMPLES]), np.sort(perm[PRETRAIN_EXAMPLES:])
  mean, std = cifar10.MEAN, cifar10.STD
  pre_ds = Dataset("cifar10_pretrain", Split(x_tr[pre], y_tr[pre], y_tr[pre]),
                   Split(x_te, y_te, y_te.copy()), 10, names, mean, std,
                   info={"noise_rate": 0.0})
  config = pretrain_config(seed)
  config.train.num_epochs = pretrain_epochs
  result = train.train_and_evaluate(config, os.path.join(out_dir, "pretrain"), dataset=pre_ds)
  print(f"pretrained backbone: clean-test accuracy {100 * result['test']['accuracy']:.2f}%")
  trainer = train.Trainer(config, pre_ds)
  embed = embedder(trainer, mean=mean, std=std)
  state = result["state"]
  save_backbone(os.path.join(out_dir, BACKBONE_FILE), config, state)
  feats_rest = np.concatenate([np.asarray(embed(state, x_tr[rest][i:i + 1000]))
                               for i in range(0, len(rest), 1000)])
  feats_test = np.concatenate([np.asarray(embed(state, x_te[i:i + 1000]))
                               for i in range(0, len(x_te), 1000)])
  arrays = {"train_features": feats_rest, "train_clean_labels": human["clean_label"][rest],
            "test_features": feats_test, "test_labels": y_te, "class_names": np.array(names),
            "train_index": rest, "pretrain_index": pre}
  for name in LABEL_SETS:
    arrays[f"train_labels_{name}"] = human[cifar10n.LABEL_SETS[name]][rest]
  os.makedirs(out_dir, exist_ok=True)
  np.savez(path, **arrays)
  return path


def save_backbone(path: str, config, state) -> None:
  """The pretrained small CNN as a `data.backbone` file (`nlx.models.pretrained`): its
  weights, CIFAR-10's normalisation, 32x32 inputs."""
  pretrained.save_backbone(path, config.model, state.params["model"], state.model_state,
                           mean=cifar10.MEAN, std=cifar10.STD, image_size=32)


def backbone_file(features_dir: str, seed: int = 0) -> str:
  """`features_dir/backbone.npz`, the CPU protocol's pretrained small CNN as a
  `data.backbone` file, written from the pretraining run's last checkpoint when missing."""
  path = os.path.join(features_dir, BACKBONE_FILE)
  if not os.path.exists(path):
    n = pretrain_config().data.batch_size  # the Trainer needs the inputs' shape only
    shape_only = Split(np.zeros((n, 32, 32, 3), np.uint8), np.zeros(n, np.int64),
                       np.zeros(n, np.int64))
    ds = Dataset("cifar10_pretrain", shape_only, shape_only, 10, [str(i) for i in range(10)],
                 cifar10.MEAN, cifar10.STD)
    config = pretrain_config(seed)
    _, state = train.restore(config, os.path.join(features_dir, "pretrain"), ds)
    save_backbone(path, config, state)
  return path


def cpu_features_dir(cache: str, cifar10_dir: str = "", label_file: str = "") -> str:
  """`cache`, holding the CPU protocol's `features.npz`: built there when missing, from the
  official CIFAR-10 folder and CIFAR-10N label file given, else from ../shared/data."""
  if not os.path.exists(os.path.join(cache, "features.npz")):
    if not cifar10_dir:
      cifar10_dir, label_file = shared_cifar10(tempfile.mkdtemp())
    build_cpu_features(cifar10_dir, label_file, cache)
  return cache
