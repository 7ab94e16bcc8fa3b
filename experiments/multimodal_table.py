"""The multimodal study's Table 8/9 layout: test accuracy of every fusion (image only,
text only, concatenation, the study's GL1 / GL2 / mixed gates, nlx's convex gate), with a
class output and with a label-embedding output, under each label-noise setting.

  python experiments/multimodal_table.py --seeds=0,1,2 --noise=clean,sym40
  python experiments/multimodal_table.py --dataset=anp --data_dir=DIR [--loss=hinge]

Each cell is `configs/multimodal.py` trained in
--workroot/multimodal_DATASET/NOISE/VARIANT/seedN (reused when finished). As in the
study, the label-embedding model of a fusion starts from that fusion's class-output run
of the same seed and noise (`train.init_from`, its output layer left at its own start,
`train.init_from_exclude=head,label_embeddings`) and trains with SGD 0.01. Writes
--out/multimodal_DATASET.md: accuracy (%) mean ± std over --seeds per noise setting and,
for the gated fusions, the mean gate activation of each branch on the test posts.
"""

import json
import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noisy_benchmark as nb

from nlx import train
from nlx.config_base import load_file
from nlx.models.multimodal import mean_gates
from nlx.report import tables

flags.DEFINE_enum("dataset", "synthetic", ["synthetic", "anp"], "Dataset of the table.")
flags.DEFINE_enum("loss", "cosine", ["cosine", "mse", "hinge"], "Label-embedding loss.")
flags.DEFINE_list("noise", ["clean"], "Label-noise settings: clean, sym20, sym40.")
flags.DEFINE_list("fusions", ["image", "text", "concat", "gl1", "gl2", "mixed", "convex"],
                  "Rows (model.fusion values).")
flags.DEFINE_list("outputs", ["class", "embed"], "Columns: class output, label embedding.")
FLAGS = flags.FLAGS
GATED = ("gl1", "gl2", "mixed", "convex")


def workdir_of(noise: str, variant: str, seed: int) -> str:
  return os.path.join(FLAGS.workroot, f"multimodal_{FLAGS.dataset}", noise,
                      variant.replace(",", "_"), f"seed{seed}")


def run(fusion: str, embed: bool, noise: str, seed: int) -> dict:
  variant = fusion + (f",embed,{FLAGS.loss}" if embed else "")
  workdir = workdir_of(noise, variant, seed)
  path = os.path.join(workdir, "summary.json")
  if os.path.exists(path):
    with open(path) as f:
      return json.load(f)
  config = load_file("multimodal", ",".join(
      [FLAGS.dataset, variant] + ([noise] if noise != "clean" else [])))
  config.seed = seed
  config.train.progress_bar = False
  if FLAGS.data_dir:
    config.data.data_dir = FLAGS.data_dir
  if embed:  # the study: start from the class-output model of the same fusion
    run(fusion, False, noise, seed)
    config.train.init_from = workdir_of(noise, fusion, seed)
    config.train.init_from_exclude = "head,label_embeddings"
  result = train.train_and_evaluate(config, workdir)
  summary = {"accuracy": result["test"]["accuracy"], "noise_rate": result["noise_rate"]}
  if fusion in GATED:
    trainer, state = train.restore(config, workdir)
    x = trainer.dataset.test.model_inputs(np.arange(len(trainer.dataset.test)))
    summary["gates"] = mean_gates(trainer.graphdef, state.params["model"], state.model_state, x)
  with open(path, "w") as f:
    json.dump(summary, f)
  print(f"{noise:6s} {variant:24s} seed {seed}: accuracy {100 * summary['accuracy']:.2f}"
        + (f" gates {summary['gates']}" if "gates" in summary else ""), flush=True)
  return summary


def main(argv):
  del argv
  nb.setup_cache()
  seeds = [int(s) for s in FLAGS.seeds]
  fusions = list(FLAGS.fusions)
  columns = [c for c, o in (("class output", "class"), (f"label embedding ({FLAGS.loss})", "embed"))
             if o in FLAGS.outputs]
  cmd = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
  header = (f"# Multimodal sentiment ({FLAGS.dataset}): test accuracy (%), mean ± std over "
            f"seeds {seeds}\n\nCommand: `{cmd}`\n")
  text = [header]
  for noise in FLAGS.noise:
    acc, gates = {}, {}
    for fusion in fusions:
      for col in columns:
        embed = col != "class output"
        for seed in seeds:
          s = run(fusion, embed, noise, seed)
          acc.setdefault((fusion, col), []).append(s["accuracy"])
          for branch, g in s.get("gates", {}).items():
            gates.setdefault((fusion, f"{col}: {branch}"), []).append(g)
    md, _ = tables.table(acc, fusions, columns)
    gate_cols = [f"{c}: {b}" for c in columns for b in ("image", "text")]
    gate_md, _ = tables.table(gates, [f for f in fusions if f in GATED], gate_cols, scale=1.0,
                              digits=3, bold_best=False)
    text.append(f"## Labels: {noise}\n\n{md}\n### Mean gate activation of each branch "
                f"(test posts)\n\n{gate_md}")
  os.makedirs(FLAGS.out, exist_ok=True)
  with open(os.path.join(FLAGS.out, f"multimodal_{FLAGS.dataset}.md"), "w") as f:
    f.write("\n".join(text))
  print("\n".join(text))


if __name__ == "__main__":
  app.run(main)
