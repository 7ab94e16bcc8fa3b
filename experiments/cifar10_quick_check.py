"""Xiao et al.'s own CIFAR-10 check of the noise-type model, reproduced on full images.

  python experiments/cifar10_quick_check.py [--seeds=0] [--cifar10_dir=DIR]

Runs `configs/noise_model_cifar10_quick.py`'s three rows in order for each seed: clean_only
(CE on the 10k clean images), then finetune and noise_model, both starting from that
seed's clean_only model (`train.init_from`). A finished run (results.json) is not rerun;
an interrupted one resumes. Writes `--out/noise_model_cifar10_quick.md` (+ CSV): clean-test
accuracy, mean ± std over seeds, beside the figures of the authors' logs. Without
--cifar10_dir, the official layout is materialised from ../shared/data.
"""

import json
import os
import sys
import tempfile

from absl import app, flags, logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocols

from nlx import train
from nlx.config_base import load_file
from nlx.report import tables

FLAGS = flags.FLAGS
flags.DEFINE_list("seeds", ["0"], "Seeds (noise, split and init).")
flags.DEFINE_string("cifar10_dir", "", "Folder with cifar-10-batches-py/ (default: ../shared).")
flags.DEFINE_string("workroot", "workdirs/benchmark/cifar10_quick", "Runs go here.")
flags.DEFINE_string("out", "experiments/results", "Tables go here.")
flags.DEFINE_integer("epochs_scale_percent", 100, "Shorter pilot runs: percent of the epochs.")

ROWS = ("clean_only", "finetune", "noise_model")
PAPER = {"clean_only": 62.04, "finetune": 65.81, "noise_model": 68.94}
LABELS = {"clean_only": "CE on the 10k clean images", "finetune":
          "fine-tuned on clean + noisy (noisy labels as truth)", "noise_model": "noise-type model"}


def run(row: str, seed: int, data_dir: str) -> dict:
  workdir = os.path.join(FLAGS.workroot, row, f"seed{seed}")
  done = os.path.join(workdir, "results.json")
  if os.path.exists(done):
    with open(done) as f:
      return json.load(f)
  c = load_file("noise_model_cifar10_quick", row)
  c.seed = c.noise.seed = c.data.split_seed = seed
  c.data.data_dir = data_dir
  c.train.progress_bar = False
  c.train.num_epochs = max(1, c.train.num_epochs * FLAGS.epochs_scale_percent // 100)
  c.optimizer.step_epochs = (max(1, int(0.8 * c.train.num_epochs)),)
  if row != "clean_only":
    c.train.init_from = os.path.join(FLAGS.workroot, "clean_only", f"seed{seed}")
  r = train.train_and_evaluate(c, workdir)
  r.pop("state")
  print(f"{row} seed {seed}: {100 * r['test']['accuracy']:.2f}% ({r['wall_time_s']:.0f} s)",
        flush=True)
  return r


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint file at INFO
  data_dir = FLAGS.cifar10_dir or protocols.shared_cifar10(
      os.path.join(tempfile.gettempdir(), "nlx_cifar10"))[0]
  seeds = [int(s) for s in FLAGS.seeds]
  cells = {}
  for seed in seeds:
    for row in ROWS:
      cells.setdefault((LABELS[row], "nlx (this machine)"), []).append(
          run(row, seed, data_dir)["test"]["accuracy"])
  md, csv_text = tables.table(cells, [LABELS[r] for r in ROWS], ["nlx (this machine)"],
                              bold_best=False)
  lines = md.splitlines()  # the authors' single figures as a last column
  lines[0] += " authors' logs |"
  lines[1] += "---|"
  lines[2:] = [f"{line} {PAPER[r]:.2f} |" for line, r in zip(lines[2:], ROWS)]
  md = "\n".join(lines)
  os.makedirs(FLAGS.out, exist_ok=True)
  with open(os.path.join(FLAGS.out, "noise_model_cifar10_quick.md"), "w") as f:
    f.write(f"Clean-test accuracy (%), seeds {','.join(map(str, seeds))}.\n\n{md}\n")
  with open(os.path.join(FLAGS.out, "noise_model_cifar10_quick.csv"), "w") as f:
    f.write(csv_text)
  print(md)


if __name__ == "__main__":
  app.run(main)
