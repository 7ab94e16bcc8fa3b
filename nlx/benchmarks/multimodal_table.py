"""The multimodal study's Table 8/9 layout: test accuracy of every fusion (image only,
text only, concatenation, the study's GL1 / GL2 / mixed gates, nlx's convex gate), with a
class output and with a label-embedding output, under each label-noise setting.

Each cell is `configs/multimodal.py` trained in
WORKROOT/multimodal_DATASET/NOISE/VARIANT/seedN (reused when finished). As in the study,
the label-embedding model of a fusion starts from that fusion's class-output run of the
same seed and noise (`train.init_from`, its output layer left at its own start,
`train.init_from_exclude=head,label_embeddings`) and trains with SGD 0.01.
"""

import dataclasses
import json
import os

import numpy as np

from nlx import train
from nlx.config_base import load_file
from nlx.models.multimodal import mean_gates
from nlx.report import tables

GATED = ("gl1", "gl2", "mixed", "convex")


@dataclasses.dataclass
class MultimodalCells:
  """The cells of one dataset.

  Attributes:
    workroot: where the cells' workdirs go.
    dataset: synthetic | anp (the config's variant word).
    loss: the label-embedding loss: cosine | mse | hinge.
    data_dir: the dataset's folder ("": the config's).
  """
  workroot: str
  dataset: str = "synthetic"
  loss: str = "cosine"
  data_dir: str = ""

  def workdir(self, noise: str, variant: str, seed: int) -> str:
    return os.path.join(self.workroot, f"multimodal_{self.dataset}", noise,
                        variant.replace(",", "_"), f"seed{seed}")

  def run(self, fusion: str, embed: bool, noise: str, seed: int) -> dict:
    """`{"accuracy", "noise_rate"[, "gates"]}` of one cell (its summary.json), trained when
    missing; a label-embedding cell first runs its fusion's class-output cell."""
    variant = fusion + (f",embed,{self.loss}" if embed else "")
    workdir = self.workdir(noise, variant, seed)
    path = os.path.join(workdir, "summary.json")
    if os.path.exists(path):
      with open(path) as f:
        return json.load(f)
    config = load_file("multimodal", ",".join(
        [self.dataset, variant] + ([noise] if noise != "clean" else [])))
    config.seed = seed
    config.train.progress_bar = False
    if self.data_dir:
      config.data.data_dir = self.data_dir
    if embed:  # the study: start from the class-output model of the same fusion
      self.run(fusion, False, noise, seed)
      config.train.init_from = self.workdir(noise, fusion, seed)
      config.train.init_from_exclude = "head,label_embeddings"
    result = train.train_and_evaluate(config, workdir)
    summary = {"accuracy": result["test"]["accuracy"], "noise_rate": result["noise_rate"]}
    if fusion in GATED:
      trainer, state = train.restore(config, workdir)
      x = trainer.dataset.test.model_inputs(np.arange(len(trainer.dataset.test)))
      summary["gates"] = mean_gates(trainer.graphdef, state.params["model"], state.model_state,
                                    x)
    with open(path, "w") as f:
      json.dump(summary, f)
    print(f"{noise:6s} {variant:24s} seed {seed}: accuracy {100 * summary['accuracy']:.2f}"
          + (f" gates {summary['gates']}" if "gates" in summary else ""), flush=True)
    return summary

  def tables(self, fusions, outputs, noises, seeds, *, command: str) -> str:
    """Markdown: per noise setting, accuracy (%) of each fusion (rows) and output (class
    and/or embed: columns), mean ± std over seeds, and the gated fusions' mean gate
    activation of each branch on the test posts."""
    columns = [c for c, o in (("class output", "class"),
                              (f"label embedding ({self.loss})", "embed")) if o in outputs]
    text = [(f"# Multimodal sentiment ({self.dataset}): test accuracy (%), mean ± std over "
             f"seeds {seeds}\n\nCommand: `{command}`\n")]
    for noise in noises:
      acc, gates = {}, {}
      for fusion in fusions:
        for col in columns:
          for seed in seeds:
            s = self.run(fusion, col != "class output", noise, seed)
            acc.setdefault((fusion, col), []).append(s["accuracy"])
            for branch, g in s.get("gates", {}).items():
              gates.setdefault((fusion, f"{col}: {branch}"), []).append(g)
      md, _ = tables.table(acc, list(fusions), columns)
      gate_cols = [f"{c}: {b}" for c in columns for b in ("image", "text")]
      gate_md, _ = tables.table(gates, [f for f in fusions if f in GATED], gate_cols,
                                scale=1.0, digits=3, bold_best=False)
      text.append(f"## Labels: {noise}\n\n{md}\n### Mean gate activation of each branch "
                  f"(test posts)\n\n{gate_md}")
    return "\n".join(text)
