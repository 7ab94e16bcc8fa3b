"""The multimodal study's Table 8/9 layout: validation accuracy of every variant (image
only, text only, concatenation, GL1, GL2), with a class output and with a label-
embedding output, on any dataset in the multimodal format.

  python experiments/multimodal_table.py                     (generated posts)
  python experiments/multimodal_table.py --dataset=anp --data_dir=DIR [--loss=hinge]

Each cell is `configs/multimodal.py` trained in --workroot/multimodal_DATASET/VARIANT/seedN
(reused when finished). Writes --out/multimodal_DATASET.md with accuracy (%) mean ± std
over --seeds and, for GL1/GL2, the mean gate on the image branch (text gets 1 - gate).
"""

import importlib.util
import json
import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noisy_benchmark as nb

from nlx import train
from nlx.models.multimodal import gate_of
from nlx.report import tables

flags.DEFINE_enum("dataset", "synthetic", ["synthetic", "anp"], "Dataset of the table.")
flags.DEFINE_enum("loss", "cosine", ["cosine", "mse", "hinge"], "Label-embedding loss.")
FLAGS = flags.FLAGS
CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs", "multimodal.py")
VARIANTS = ("image", "text", "concat", "gl1", "gl2")


def load_config(variant: str):
  spec = importlib.util.spec_from_file_location("multimodal_config", CONFIG)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)


def run(variant: str, seed: int) -> dict:
  workdir = os.path.join(FLAGS.workroot, f"multimodal_{FLAGS.dataset}", variant.replace(",", "_"),
                         f"seed{seed}")
  path = os.path.join(workdir, "summary.json")
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  config = load_config(f"{FLAGS.dataset},{variant}")
  config.seed = seed
  config.train.progress_bar = False
  if FLAGS.data_dir:
    config.data.data_dir = FLAGS.data_dir
  result = train.train_and_evaluate(config, workdir)
  summary = {"accuracy": result["test"]["accuracy"], "gate": None}
  if "gl" in variant:
    trainer, state = train.restore(config, workdir)
    gate = gate_of(trainer.graphdef, state.params["model"], state.model_state)
    summary["gate"] = float(np.mean(np.asarray(gate)))
  with open(path, "w") as f:
    json.dump(summary, f)
  print(f"{variant:24s} seed {seed}: accuracy {100 * summary['accuracy']:.2f}"
        + (f" gate(image) {summary['gate']:.3f}" if summary["gate"] is not None else ""),
        flush=True)
  return summary


def main(argv):
  del argv
  nb.setup_cache()
  seeds = [int(s) for s in FLAGS.seeds]
  columns = ["class output", f"label embedding ({FLAGS.loss})"]
  acc, gates = {}, {}
  for v in VARIANTS:
    for col, suffix in zip(columns, ("", f",embed,{FLAGS.loss}")):
      for seed in seeds:
        s = run(v + suffix, seed)
        acc.setdefault((v, col), []).append(s["accuracy"])
        if s["gate"] is not None:
          gates.setdefault((v, col), []).append(s["gate"])
  md, _ = tables.table(acc, list(VARIANTS), columns)
  gate_md, _ = tables.table(gates, ["gl1", "gl2"], columns, scale=1.0, digits=3, bold_best=False)
  cmd = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
  text = (f"# Multimodal sentiment ({FLAGS.dataset}): validation accuracy (%), mean ± std over "
          f"seeds {seeds}\n\nCommand: `{cmd}`\n\n{md}\n## Mean fusion gate on the image "
          f"branch (the text branch gets 1 - gate)\n\n{gate_md}")
  os.makedirs(FLAGS.out, exist_ok=True)
  with open(os.path.join(FLAGS.out, f"multimodal_{FLAGS.dataset}.md"), "w") as f:
    f.write(text)
  print(text)


if __name__ == "__main__":
  app.run(main)
