"""ARNet paper's Fig. 3: t-SNE of test embeddings for CE, ELR and ARNet (prototypes as stars).

  python experiments/arnet_tsne.py --suite=cifar10n_cpu --setting=worst [--seed=0]

Uses the benchmark cells of noisy_benchmark.py / sentiment_benchmark.py (trains the
missing ones) and writes `--out/tsne_SUITE_SETTING.png`.
"""

import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noisy_benchmark as nb
import protocols

from nlx import train
from nlx.report import plots

flags.DEFINE_string("setting", "worst", "Noise setting of the cells.")
flags.DEFINE_integer("seed", 0, "Seed of the cells.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  nb.setup_cache()
  suite, setting, seed = FLAGS.suite, FLAGS.setting, FLAGS.seed
  data_dir = nb.data_dir_for(suite)
  panels = []
  for method, title in (("ce", "CE"), ("elr", "ELR"), ("arnet", "ARNet")):
    r = nb.run_cell(suite, method, setting, seed, data_dir)
    config = protocols.suite_config(suite, method, setting, seed, data_dir=data_dir)
    workdir = os.path.join(FLAGS.workroot, suite, method, setting, f"seed{seed}")
    trainer, state = train.restore(config, workdir)
    _, feats = trainer.predict_outputs(state, trainer.dataset.test)
    protos = (np.asarray(state.params["method"]["prototypes"]) if method == "arnet" else None)
    panels.append({"title": f"{title} ({100 * r['test']['accuracy']:.1f}%)", "features": feats,
                   "labels": trainer.dataset.test.clean_labels, "prototypes": protos})
  os.makedirs(FLAGS.out, exist_ok=True)
  path = os.path.join(FLAGS.out, f"tsne_{suite}_{setting}.png")
  plots.tsne_panels(panels, path)
  print(path)


if __name__ == "__main__":
  app.run(main)
