"""What CAN's latent labels do: per reading (start x temperature schedule), the latent
label q(y | x, y~) > 1/2 against the noisy and the clean label vectors in the last epoch,
and the clean-test mAP (issue 20).

  python experiments/can_latent.py --seeds=0,1,2 --settings=worst

Cells are `experiments/noisy_benchmark.py`'s (suite cifar10n_mosaic, CPU protocol, the
same workroot and reuse). The latent-label figures are the training-step metrics of
`nlx.methods.can` (logged to metrics.jsonl), averaged over the last epoch's records:
per mosaic, entries added (y~ = 0, latent 1) right (truly present) or wrong, entries
removed (y~ = 1, latent 0) right (truly absent) or wrong, latent and noisy positives;
per batch, latent precision and recall against the clean vector and the std of mu.
Writes --out/can_latent.md.
"""

import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noisy_benchmark as nb

from nlx import io
from nlx.report import tables

SUITE = "cifar10n_mosaic"
READINGS = {
    "identity start, geometric tau (default)": "can",
    "balanced start, geometric tau": "can@init=balanced",
    "identity start, Jang et al. tau": "can@tau_schedule=jang",
    "balanced start, Jang et al. tau": "can@init=balanced,tau_schedule=jang",
}
COLUMNS = ("map", "latent_added_right", "latent_added_wrong", "latent_removed_right",
           "latent_removed_wrong", "latent_positives", "noisy_positives", "latent_precision",
           "latent_recall", "mu_std")
PERCENT = ("map", "latent_precision", "latent_recall")


def last_epoch_metrics(workdir: str) -> dict:
  records = io.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  train = [r for r in records if r["kind"] == "train"]
  last = max(r["epoch"] for r in train)
  final = [r for r in train if r["epoch"] > last - 1]
  return {k: float(np.mean([r[k] for r in final])) for k in COLUMNS if k in final[0]}


def main(argv):
  del argv
  nb.setup_cache()
  data_dir = nb.data_dir_for(SUITE)
  seeds = [int(s) for s in flags.FLAGS.seeds]
  settings = flags.FLAGS.settings or ["worst"]
  cmd = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
  header = (f"# CAN's latent labels, {SUITE}, seeds {seeds}\n\nCommand: `{cmd}`\n\n"
            "mAP in %; latent figures from the last epoch's training steps (module doc).\n")
  text = [header]
  for setting in settings:
    cells = {}
    for title, method in READINGS.items():
      for seed in seeds:
        r = nb.run_cell(SUITE, method, setting, seed, data_dir)
        m = last_epoch_metrics(os.path.join(flags.FLAGS.workroot, SUITE, method, setting,
                                            f"seed{seed}"))
        m["map"] = r["test"]["map"]
        for k, v in m.items():
          cells.setdefault((title, k), []).append(100 * v if k in PERCENT else v)
    md, _ = tables.table(cells, list(READINGS), list(COLUMNS), scale=1.0, bold_best=False)
    text.append(f"## {setting}\n\n{md}")
  os.makedirs(flags.FLAGS.out, exist_ok=True)
  with open(os.path.join(flags.FLAGS.out, "can_latent.md"), "w") as f:
    f.write("\n".join(text))
  print("\n".join(text))


if __name__ == "__main__":
  app.run(main)
