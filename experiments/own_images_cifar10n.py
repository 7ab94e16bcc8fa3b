"""Label issues in your own images, end to end on CIFAR-10N (nlx.benchmarks.own_images).

  python experiments/own_images_cifar10n.py --seeds=0,1,2

Writes the CPU protocol's 45,000 training images as PNG files with a `path,label` CSV of
CIFAR-10N's worst labels (and the test images with a second CSV), exports the protocol's
pretrained small CNN as a backbone file, runs the user's command
(`configs/image_folder_features.py`) on them per seed, and beside it the CPU protocol's CE
run on `features.npz` (same seed); scores both against the clean labels and writes
`--out/own_images_cifar10n.md`. `--max_train=N` (e.g. 2000) is a quick slice without the
protocol run.
"""

import argparse
import os
import sys
import tempfile

import numpy as np

from nlx.benchmarks import label_issue_finding, output, own_images, protocols
from nlx.errors import NlxError


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--seeds", default="0")
  p.add_argument("--label_set", default="worst")
  p.add_argument("--features_dir", default="workdirs/benchmark/cifar10n_cpu_features")
  p.add_argument("--cifar10_dir", default="", help="default: ../shared/data's pack")
  p.add_argument("--label_file", default="")
  p.add_argument("--workroot", default="workdirs/own_images")
  p.add_argument("--max_train", type=int, default=-1)
  p.add_argument("--out", default="experiments/results")
  a = p.parse_args()
  seeds = [int(s) for s in a.seeds.split(",")]
  load = os.getloadavg()[0]
  try:
    features_dir = protocols.cpu_features_dir(a.features_dir, a.cifar10_dir, a.label_file)
    backbone = protocols.backbone_file(features_dir)
    cifar10_dir, label_file = ((a.cifar10_dir, a.label_file) if a.cifar10_dir else
                               protocols.shared_cifar10(tempfile.mkdtemp()))
    with np.load(os.path.join(features_dir, "features.npz")) as f:
      index = f["train_index"] if a.max_train < 0 else f["train_index"][:a.max_train]
    files = own_images.prepare(os.path.join(a.workroot, "files"), cifar10_dir, label_file,
                               index, label_set=a.label_set,
                               max_test=-1 if a.max_train < 0 else len(index) // 4)
    cache = os.path.join(a.workroot, "features_cache")
    ours, protocol = [], []
    for seed in seeds:
      ours.append(own_images.run(files, backbone, os.path.join(a.workroot, f"seed{seed}"),
                                 cache, f"--config.seed={seed}",
                                 "--config.train.progress_bar=False"))
      print("user's path", seed, ours[-1], flush=True)
      if a.max_train < 0:
        finding = label_issue_finding.Finding(a.workroot, features_dir)
        protocol.append(finding.run_cell("cifar10n_cpu", a.label_set, seed, "nlx_ce_aum"))
    diff = own_images.feature_difference(cache, ours[0]["feature_cache_key"], features_dir,
                                         len(index))
  except NlxError as e:
    sys.exit(f"own_images_cifar10n: {e}")
  user = " ".join(own_images.command(files, os.path.relpath(backbone),
                                     os.path.join(a.workroot, "seedS"), cache)[1:])
  text = own_images.report(ours, protocol, label_set=a.label_set, seeds=seeds,
                           feature_diff=diff, command_text=output.command_line(),
                           user_command="python " + user, load=load)
  if a.max_train < 0:
    output.write_text(os.path.join(a.out, "own_images_cifar10n.md"), text)
  print(text)


if __name__ == "__main__":
  main()
