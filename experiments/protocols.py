"""The CIFAR-10N protocols shared by every method issue, and the benchmark suites.

CPU protocol (`cifar10n_cpu`): a small CNN (nlx `small_cnn`, width 64, batch norm) is
trained once on 5,000 CIFAR-10 training images with their clean labels (crop + flip,
Adam 1e-3 cosine, 20 epochs, batch 128): the stand-in for ImageNet pretraining. Those
5,000 images are then left out. Its last conv block's 4x4x256 map, average-pooled to
2x2 and flattened (1,024-d), is computed once for the other 45,000 training images and
the 10,000 test images and cached in `features.npz` with every CIFAR-10N label set.
(The 256-d globally pooled features were too weak a representation for the head to
memorise the noise within the budget, leaving the methods nothing to correct.) Each method then trains an MLP head (two
hidden layers of 256, Adam 1e-3, batch 128) on the 45,000 with CIFAR-10N labels and is
evaluated on the clean test labels; the head's hidden layer is the method's feature h.

Full protocol (`cifar10n_full`): ResNet-34 on the images with the CIFAR-N paper's
schedule (SGD 0.1, momentum 0.9, weight decay 5e-4, cosine, 100 epochs, batch 128,
crop + flip), on a GPU; comparable with the published CIFAR-N numbers.

    python experiments/protocols.py --cifar10_dir=DIR --label_file=FILE --out=CACHE_DIR

writes CACHE_DIR/features.npz (about 5 minutes on the 2-core CPU).
"""

import functools
import os
import subprocess
import sys
import tempfile

import jax
import numpy as np
from flax import nnx

from nlx import config_presets, io, train
from nlx import workdir as workdir_lib
from nlx.config_base import base_config, load_file
from nlx.data.datasets import cifar10, cifar10n
from nlx.data.types import Dataset, Split
from nlx.errors import ConfigError

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.normpath(os.path.join(HERE, "..", "..", "shared", "data"))
PRETRAIN_EXAMPLES = 5000
LABEL_SETS = ("clean", "aggre", "random1", "random2", "random3", "worst")


def shared_cifar10(tmp_root: str) -> tuple[str, str]:
  """(cifar10_dir, label_file) from ../shared/data, materialising the official layout."""
  script = os.path.join(SHARED, "cifar10", "materialize.py")
  label_file = os.path.join(SHARED, "cifar10n", "CIFAR-10_human.pt")
  for p in (script, label_file):
    if not os.path.exists(p):
      sys.exit(f"protocols: {p} not found; pass --cifar10_dir and --label_file")
  out = os.path.join(tmp_root, "cifar10")
  if not os.path.isdir(os.path.join(out, "cifar-10-batches-py")):
    subprocess.run([sys.executable, script, out], check=True, capture_output=True)
  return out, label_file


def pretrain_config(seed: int = 0):
  c = config_presets.small_cnn(base_config(), width=64, batch_size=128, epochs=20)
  c.seed = seed
  c.data.name = "cifar10"
  c.data.augment = "crop_flip"
  c.train.progress_bar = False
  return c


def conv_features(graphdef, state, images, *, mean, std):
  """`[B, 32, 32, 3]` uint8 -> `[B, 1024]`: the small CNN's last 4x4 map, 2x2-pooled."""
  module = nnx.merge(graphdef, state.params["model"], state.model_state)
  fmap = module.feature_map(train.normalize(images, mean, std), train=False)
  b, h, w, c = fmap.shape
  return fmap.reshape(b, 2, h // 2, 2, w // 2, c).mean((2, 4)).reshape(b, -1)


def build_cpu_features(cifar10_dir: str, label_file: str, out_dir: str, *, seed: int = 0,
                       pretrain_epochs: int = 20) -> str:
  """Writes `out_dir/features.npz` for the CPU protocol (skipped if it exists)."""
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
  embed = jax.jit(functools.partial(conv_features, trainer.graphdef, mean=mean, std=std))
  state = result["state"]
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


FEATURE_SUITES = ("cifar10n_cpu", "cifar10n_mosaic")  # cells read the CPU protocol's features


def cpu_features_dir(cache: str, cifar10_dir: str = "", label_file: str = "") -> str:
  """`cache`, holding the CPU protocol's `features.npz`: built there when missing, from the
  official CIFAR-10 folder and CIFAR-10N label file given, else from ../shared/data."""
  if not os.path.exists(os.path.join(cache, "features.npz")):
    if not cifar10_dir:
      cifar10_dir, label_file = shared_cifar10(tempfile.mkdtemp())
    build_cpu_features(cifar10_dir, label_file, cache)
  return cache


SENTIMENT = {"fi": "80/5/15", "emotion6": "80/20", "artphoto": "80/20", "unbiasedemo": "80/20"}
# suite -> (config file in configs/, variant words every cell adds)
SUITES = {"digits": ("baselines", ""), "fashion_mnist": ("ce_fashion_mnist", "mlp"),
          "face_sentiment": ("ce_face_sentiment", ""), "cifar10n_cpu": ("cifar10n_cpu", ""),
          "cifar10n_full": ("ce_cifar10n", ""), "cifar10n_mosaic": ("can_cifar10n_mosaic", ""),
          **{suite: (f"arnet_{suite}", "") for suite in SENTIMENT}}
EVALUATE_AT_END = ("digits", "fashion_mnist", "face_sentiment")  # once, after the last epoch
SPLIT_PER_SEED = ("face_sentiment", "cifar10n_mosaic")  # the others: one split for all seeds
DEFAULT_DATA_DIR = {"face_sentiment": os.path.join(SHARED, "face_sentiment")}


def suite_config(suite: str, method: str, setting: str, seed: int, *, data_dir: str = "",
                 epochs: int | None = None):
  """The config of one benchmark cell: the suite's file in configs/ (SUITES) loaded with
  the variant `method,setting`, then the cell's seed (labels, noise, split), data_dir and
  epochs. Settings: digits / fashion_mnist take clean, sym20, sym30, sym40, pair40, agent;
  cifar10n_* take clean or a CIFAR-10N label set; face_sentiment takes sample, majority,
  soft or truth (cifar10n_cpu also `<set>_clean10`: 10% of the labels known clean, for
  Xiao et al.'s methods); cifar10n_mosaic (multi-label, CAN) takes worst, aggre, random1,
  clean, shuffle20/40/60; the ARNet sentiment sets take clean, agent, sym20, sym30, sym40.
  A method `arnet_L16` is ARNet with 16 prototypes; `NAME@key=value` overrides a
  hyperparameter (e.g. `arnet@read_temperature=0.1`)."""
  if suite not in SUITES:
    raise ValueError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
  method, _, overrides = method.partition("@")
  method, _, protos = method.partition("_L")
  name, extra = SUITES[suite]
  setting = setting.replace("_clean10", ",clean10")
  c = load_file(name, ",".join(filter(None, (method, setting, extra))))
  c.seed = c.noise.seed = seed
  if suite in SPLIT_PER_SEED:
    c.data.split_seed = seed
  c.data.data_dir = data_dir or DEFAULT_DATA_DIR.get(suite, c.data.data_dir)
  c.train.progress_bar = False
  if suite in EVALUATE_AT_END:
    c.train.eval_every_epochs = c.train.checkpoint_every_epochs = c.train.num_epochs
  if protos:
    c.method.num_prototypes = int(protos)
  override_method(c.method, overrides)
  if epochs:
    c.train.num_epochs = epochs
    c.train.eval_every_epochs = min(c.train.eval_every_epochs, epochs)
    c.train.checkpoint_every_epochs = min(c.train.checkpoint_every_epochs, epochs)
  return c


def finished_results(workdir: str, config) -> dict | None:
  """The results.json of a finished run in `workdir`, or None when there is none. A run made
  under another config (another data_dir, epochs, code default, ...) is a ConfigError
  naming the difference, never reused silently as this cell's."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    return None
  if workdir_lib.check_resume(workdir, config, has_checkpoint=True) is not None:
    # train.allow_more_epochs accepts a longer schedule for *resuming*; a finished run of
    # fewer epochs is still not this cell's result
    raise ConfigError(f"workdir {workdir} holds a finished run of fewer epochs than this "
                      "cell's; use another --workroot, or delete it to run the cell")
  return io.read_json(path)


def override_method(method_config, overrides: str) -> None:
  """Applies `key=value,...` to a method's ConfigDict, each value in the key's type."""
  for item in filter(None, overrides.split(",")):
    key, _, value = item.partition("=")
    kind = type(method_config[key])
    if kind is bool:
      if value not in ("True", "False", "true", "false", "1", "0"):
        raise ValueError(f"{key} takes True or False, got {value!r}")
      method_config[key] = value in ("True", "true", "1")
    else:
      method_config[key] = kind(value)


def main():
  import argparse
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--cifar10_dir", default="")
  p.add_argument("--label_file", default="")
  p.add_argument("--out", default="workdirs/cifar10n_cpu_features")
  a = p.parse_args()
  tmp = tempfile.mkdtemp()
  d, f = (a.cifar10_dir, a.label_file) if a.cifar10_dir else shared_cifar10(tmp)
  print(build_cpu_features(d, f, a.out))


if __name__ == "__main__":
  main()
