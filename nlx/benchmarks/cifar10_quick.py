"""Xiao et al.'s own CIFAR-10 check of the noise-type model, reproduced on full images.

`configs/noise_model_cifar10_quick.py`'s three rows run in order for each seed:
clean_only (CE on the 10k clean images), then finetune and noise_model, both starting from
that seed's clean_only model (`train.init_from`). A finished run (results.json) is not
rerun; an interrupted one resumes.
"""

import dataclasses
import json
import os

from nlx import train
from nlx.config_base import load_file
from nlx.report import tables

ROWS = ("clean_only", "finetune", "noise_model")
PAPER = {"clean_only": 62.04, "finetune": 65.81, "noise_model": 68.94}
LABELS = {"clean_only": "CE on the 10k clean images", "finetune":
          "fine-tuned on clean + noisy (noisy labels as truth)", "noise_model": "noise-type model"}


@dataclasses.dataclass
class QuickCheck:
  """The runs of the check.

  Attributes:
    workroot: runs go to `WORKROOT/ROW/seedN`.
    data_dir: a folder with cifar-10-batches-py/.
    epochs_scale_percent: shorter pilot runs: this percent of each row's epochs.
  """
  workroot: str
  data_dir: str
  epochs_scale_percent: int = 100

  def run(self, row: str, seed: int) -> dict:
    """One row's results (results.json's dict), trained when missing."""
    workdir = os.path.join(self.workroot, row, f"seed{seed}")
    done = os.path.join(workdir, "results.json")
    if os.path.exists(done):
      with open(done) as f:
        return json.load(f)
    c = load_file("noise_model_cifar10_quick", row)
    c.seed = c.noise.seed = c.data.split_seed = seed
    c.data.data_dir = self.data_dir
    c.train.progress_bar = False
    c.train.num_epochs = max(1, c.train.num_epochs * self.epochs_scale_percent // 100)
    c.optimizer.step_epochs = (max(1, int(0.8 * c.train.num_epochs)),)
    if row != "clean_only":
      c.train.init_from = os.path.join(self.workroot, "clean_only", f"seed{seed}")
    r = train.train_and_evaluate(c, workdir)
    r.pop("state")
    print(f"{row} seed {seed}: {100 * r['test']['accuracy']:.2f}% ({r['wall_time_s']:.0f} s)",
          flush=True)
    return r

  def table(self, seeds) -> tuple[str, str]:
    """`(markdown, csv)`: clean-test accuracy per row, mean ± std over seeds, the
    authors' logged figure as a last markdown column."""
    cells = {}
    for seed in seeds:
      for row in ROWS:
        cells.setdefault((LABELS[row], "nlx (this machine)"), []).append(
            self.run(row, seed)["test"]["accuracy"])
    md, csv_text = tables.table(cells, [LABELS[r] for r in ROWS], ["nlx (this machine)"],
                                bold_best=False)
    lines = md.splitlines()  # the authors' single figures as a last column
    lines[0] += " authors' logs |"
    lines[1] += "---|"
    lines[2:] = [f"{line} {PAPER[r]:.2f} |" for line, r in zip(lines[2:], ROWS)]
    return "\n".join(lines), csv_text
