"""What CAN's latent labels do: per reading (start x temperature schedule), the latent
label q(y | x, y~) > 1/2 against the noisy and the clean label vectors in the last epoch,
and the clean-test mAP (issue 20).

The cells are the cifar10n_mosaic suite's (`cells.Cells`). The latent-label figures are
the training-step metrics of `nlx.methods.can` (logged to metrics.jsonl), averaged over
the last epoch's records: per mosaic, entries added (y~ = 0, latent 1) right (truly
present) or wrong, entries removed (y~ = 1, latent 0) right (truly absent) or wrong,
latent and noisy positives; per batch, latent precision and recall against the clean
vector and the std of mu.
"""

import os

import numpy as np

from nlx import io
from nlx.benchmarks.cells import Cells
from nlx.report import tables

SUITE = "cifar10n_mosaic"
READINGS = {
    "identity start, geometric tau (default)": "can",
    "balanced start, geometric tau": "can+method.init=balanced",
    "identity start, Jang et al. tau": "can+method.tau_schedule=jang",
    "balanced start, Jang et al. tau": "can+method.init=balanced+method.tau_schedule=jang",
}
COLUMNS = ("map", "latent_added_right", "latent_added_wrong", "latent_removed_right",
           "latent_removed_wrong", "latent_positives", "noisy_positives", "latent_precision",
           "latent_recall", "mu_std")
PERCENT = ("map", "latent_precision", "latent_recall")


def last_epoch_metrics(workdir: str) -> dict:
  """The mean of each of `COLUMNS` over the last epoch's train records of a run."""
  records = io.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
  train = [r for r in records if r["kind"] == "train"]
  last = max(r["epoch"] for r in train)
  final = [r for r in train if r["epoch"] > last - 1]
  return {k: float(np.mean([r[k] for r in final])) for k in COLUMNS if k in final[0]}


def latent_tables(cells: Cells, settings, seeds, *, command: str) -> str:
  """Markdown: per setting, one row per reading (`READINGS`), one column per `COLUMNS`
  (mean ± std over seeds; mAP, precision and recall in %)."""
  text = [(f"# CAN's latent labels, {cells.suite}, seeds {seeds}\n\nCommand: `{command}`\n\n"
           "mAP in %; latent figures from the last epoch's training steps (module doc).\n")]
  for setting in settings:
    values = {}
    for title, method in READINGS.items():
      for seed in seeds:
        r = cells.run(method, setting, seed)
        m = last_epoch_metrics(cells.workdir(method, setting, seed))
        m["map"] = r["test"]["map"]
        for k, v in m.items():
          values.setdefault((title, k), []).append(100 * v if k in PERCENT else v)
    md, _ = tables.table(values, list(READINGS), list(COLUMNS), scale=1.0, bold_best=False)
    text.append(f"## {setting}\n\n{md}")
  return "\n".join(text)
