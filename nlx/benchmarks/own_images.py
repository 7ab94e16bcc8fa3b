"""Label issues in "your own images", checked end to end on CIFAR-10N's real noisy labels.

The user's path (`configs/image_folder_features.py`): a `path,label` CSV of image files,
a pretrained backbone file, features extracted once (`nlx.feature_cache`), an MLP head
with the training dynamics, `label_issues.csv`. Here the images are the CPU protocol's
45,000 CIFAR-10 training images written as PNG files with CIFAR-10N's labels of one label
set (`train.csv`), the 10,000 test images with their clean labels (`test.csv`), and the
backbone is the protocol's own small CNN pretrained on the other 5,000 images
(`protocols.backbone_file`), pooled the protocol's way (`data.backbone_grid=2`). So the
run should find what the CPU protocol's CE run finds on `features.npz` (same features,
same head): `check` scores its `label_issues.csv` against the clean labels, compares its
features with the protocol's, and splits its wall time into extraction and the rest.
"""

import csv
import functools
import os
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from nlx import io, label_issues
from nlx.benchmarks import output, protocols
from nlx.data.datasets import cifar10, cifar10n
from nlx.ops.confident_learning import detection_metrics

CONFIG = "configs/image_folder_features.py"


def write_images(images: np.ndarray, labels, class_names, folder: str, csv_path: str) -> list:
  """Writes `images` `[N, H, W, 3]` uint8 as `folder/NNNNN.png` and `csv_path` with a
  `path,label` line per image (path relative to the CSV, label = class name); returns the
  paths. Files already there are kept (the pixels are the same)."""
  os.makedirs(folder, exist_ok=True)
  rel = os.path.relpath(folder, os.path.dirname(csv_path))
  paths = []
  with open(csv_path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["path", "label"])
    for i, (image, label) in enumerate(zip(images, labels)):
      name = f"{i:05d}.png"
      path = os.path.join(folder, name)
      if not os.path.exists(path):
        Image.fromarray(image).save(path)
      paths.append(path)
      w.writerow([os.path.join(rel, name), class_names[int(label)]])
  return paths


def prepare(out: str, cifar10_dir: str, label_file: str, train_index: np.ndarray, *,
            label_set: str = "worst", max_test: int = -1) -> dict:
  """The user's files under `out`: `train/*.png` + `train.csv` (the images at
  `train_index` of CIFAR-10's training set with CIFAR-10N's `label_set` labels),
  `test/*.png` + `test.csv` (the test images, clean labels; `max_test` >= 0: a seeded
  subset of that many).
  Returns the two CSVs' paths and the training images' clean labels by path."""
  x_tr, y_tr, x_te, y_te, names = cifar10.read_official(cifar10_dir)
  human = cifar10n.read_labels(label_file)
  given = human[cifar10n.LABEL_SETS[label_set]][train_index]
  train_csv, test_csv = os.path.join(out, "train.csv"), os.path.join(out, "test.csv")
  paths = write_images(x_tr[train_index], given, names, os.path.join(out, "train"), train_csv)
  test = (np.arange(len(y_te)) if max_test < 0 else  # a seeded subset (the files are by class)
          np.sort(np.random.default_rng(0).permutation(len(y_te))[:max_test]))
  write_images(x_te[test], y_te[test], names, os.path.join(out, "test"), test_csv)
  return {"train_csv": train_csv, "test_csv": test_csv,
          "clean": dict(zip((os.path.abspath(p) for p in paths), y_tr[train_index].tolist())),
          "given": dict(zip((os.path.abspath(p) for p in paths), given.tolist()))}


def command(files: dict, backbone: str, workdir: str, cache: str, *extra: str) -> list:
  """The user's command on these files (the README's, with the protocol's backbone)."""
  return [sys.executable, "-m", "nlx.main", f"--config={CONFIG}", f"--workdir={workdir}",
          f"--config.data.csv_file={files['train_csv']}",
          f"--config.data.test_csv_file={files['test_csv']}",
          "--config.data.backbone=small_cnn", f"--config.data.backbone_weights={backbone}",
          f"--config.data.backbone_grid={protocols.FEATURE_GRID}",
          f"--config.data.features_cache={cache}", *extra]


def score(workdir: str, files: dict) -> dict:
  """The run's `label_issues.csv` against the clean labels: AUROC / AP of the score,
  precision / recall / F1 of the flagged set, estimated and true counts."""
  rows = label_issues.find(workdir)
  paths = [os.path.abspath(r["path"]) for r in rows]
  given = np.array([r["given_label"] for r in rows])
  if any(files["given"][p] != g for p, g in zip(paths, given)):
    raise ValueError(f"{workdir}: label_issues.csv's given labels are not the CSV's")
  clean = np.array([files["clean"][p] for p in paths])
  scores = np.array([r["score"] for r in rows])
  flagged = np.array([r["flagged"] for r in rows])
  return {"examples": len(rows), "estimated_errors": int(flagged.sum()),
          **detection_metrics(scores, flagged, given, clean)}


def run(files: dict, backbone: str, workdir: str, cache: str, *extra: str) -> dict:
  """Runs the user's command; its wall time, the extraction's share (0 when the features
  were cached), the clean-test accuracy and the label-issue scores."""
  start = time.perf_counter()
  subprocess.run(command(files, backbone, workdir, cache, *extra), check=True)
  wall = time.perf_counter() - start
  results = io.read_json(os.path.join(workdir, "results.json"))
  info = results["backbone"]
  return {"wall_s": wall, "extraction_s": info["feature_seconds"],
          "feature_cache_key": info["feature_cache_key"],
          "test_accuracy": results["test"]["accuracy"], "num_test": results["num_test"],
          **score(workdir, files)}


def cached_features(cache: str, key: str) -> np.ndarray:
  """The features a run extracted into `cache` under `key` (its results' backbone key)."""
  return np.load(os.path.join(cache, key, "features.npy"))


def feature_difference(cache: str, key: str, features_dir: str, rows: int) -> float:
  """Largest absolute difference between the run's first `rows` extracted training
  features and the protocol's `features.npz` (same images, same backbone)."""
  with np.load(os.path.join(features_dir, "features.npz")) as f:
    ref = f["train_features"][:rows]
  return float(np.abs(cached_features(cache, key)[:rows] - ref).max())


def _row(title: str, cells: list) -> str:
  col = functools.partial(lambda rows, key, **kw: output.mean_std_text(
      [r[key] for r in rows], std_of_one=False, **kw), cells)
  return (f"| {title} | {col('auroc', digits=1)} | {col('ap', digits=1)} | "
          f"{col('precision', digits=1)} | {col('recall', digits=1)} | {col('f1', digits=1)} | "
          f"{col('estimated_errors', scale=1, digits=0)} | "
          f"{col('true_errors', scale=1, digits=0)} | {col('wall_s', scale=1, digits=0)} |")


def report(ours: list, protocol: list, *, label_set: str, seeds, feature_diff: float,
           command_text: str, user_command: str, load: float) -> str:
  """The markdown table: the user's path against the CPU protocol's CE run, per seed
  mean ± std, and the wall-time split."""
  lines = [f"## Your own images, checked on CIFAR-10N ({label_set})", "",
           f"`{command_text}`", "",
           "The user's command, with the files this benchmark wrote:", "",
           f"`{user_command}`", "",
           f"Seeds {', '.join(map(str, seeds))}; load average at the start {load:.1f}; the "
           "2-core CPU. Largest difference between the features the user's path extracted "
           f"from the PNG files and the CPU protocol's `features.npz`: {feature_diff:.3g}.", "",
           "| run | AUROC | AP | precision | recall | F1 | estimated errors | true errors | "
           "wall time (s) |", "|---|---|---|---|---|---|---|---|---|",
           _row("user's path: PNG files + CSV -> protocol's small CNN (backbone file) -> "
                "MLP head", ours)]
  if protocol:
    lines.append(_row("CPU protocol: CE on `features.npz` (label_issues_benchmark's "
                      "`nlx_ce_aum`)", protocol))
  first = ours[0]
  lines += ["", "Wall time of the user's path, first seed (features extracted):", "",
            "| part | seconds |", "|---|---|",
            f"| extraction ({first['examples'] + first['num_test']} images, "
            f"{(first['examples'] + first['num_test']) / first['extraction_s']:.0f} images/s) "
            f"| {first['extraction_s']:.1f} |",
            f"| the rest (start-up, listing and checking the files, the head's 30 epochs with "
            f"the dynamics, label issues) | {first['wall_s'] - first['extraction_s']:.1f} |",
            f"| whole run | {first['wall_s']:.1f} |", ""]
  if len(ours) > 1:
    later = output.mean_std_text([r["wall_s"] for r in ours[1:]], scale=1, digits=0,
                                 std_of_one=False)
    lines += [f"Later seeds read the cached features: {later} s a run.", ""]
  return "\n".join(lines)
