"""CAN's quality-embedding figures, from a finished CAN cell of the mosaic benchmark.

  python experiments/can_figures.py [--setting=worst] [--seed=0]

Trains the cell if it is missing (experiments/noisy_benchmark.py --suite=cifar10n_mosaic),
then writes to --out:
- `can_quality_tsne_SETTING.png`: t-SNE of the quality embedding mu of q(s | x, y~) for
  training mosaics, coloured trustworthy (the prior p(y|x) thresholded at 1/2 equals
  the noisy label vector) or not, and, beside it, coloured by whether the noisy label
  is in fact wrong (clean labels, which training never sees);
- `can_transitions_SETTING.png`: mu binarised by 2-means; per cluster, the transition
  T[i, j] = P(noisy label j | latent label i) with the latent label q(y|x,y~) > 1/2.
Prints the clusters' sizes, trustworthy fractions and true noise rates.
"""

import os
import sys

import numpy as np
from absl import app, flags
from sklearn.cluster import KMeans

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noisy_benchmark as nb
import protocols

from nlx import train
from nlx.methods import can
from nlx.report import plots

flags.DEFINE_string("setting", "worst", "Noise setting of the cell.")
flags.DEFINE_integer("seed", 0, "Seed of the cell.")
FLAGS = flags.FLAGS
SUITE = "cifar10n_mosaic"


def main(argv):
  del argv
  nb.setup_cache()
  setting, seed = FLAGS.setting, FLAGS.seed
  data_dir = nb.data_dir_for(SUITE)
  nb.run_cell(SUITE, "can", setting, seed, data_dir)
  config = protocols.suite_config(SUITE, "can", setting, seed, data_dir=data_dir)
  trainer, state = train.restore(config, os.path.join(FLAGS.workroot, SUITE, "can", setting,
                                                      f"seed{seed}"))
  split = trainer.dataset.train
  q = can.quality_embedding(trainer, state, split)
  wrong = np.any(split.labels != split.clean_labels, axis=1)
  os.makedirs(FLAGS.out, exist_ok=True)
  tsne_path = os.path.join(FLAGS.out, f"can_quality_tsne_{setting}.png")
  plots.tsne_panels([
      {"title": "mu: trustworthy (prior = noisy label)", "features": q["mu"],
       "labels": (~q["trustworthy"]).astype(int), "names": ["trustworthy", "not"]},
      {"title": "mu: noisy label in fact wrong", "features": q["mu"],
       "labels": wrong.astype(int), "names": ["correct", "wrong"]}], tsne_path)
  clusters = KMeans(2, n_init=10, random_state=0).fit_predict(q["mu"])
  if q["trustworthy"][clusters == 0].mean() < q["trustworthy"][clusters == 1].mean():
    clusters = 1 - clusters  # cluster 0: the more trustworthy one
  latent = q["posterior"] > 0.5
  t = can.conditional_transitions(latent, split.labels > 0.5, clusters, 2)
  titles = []
  for g in range(2):
    m = clusters == g
    line = (f"cluster {g}: {m.sum()} mosaics, trustworthy {100 * q['trustworthy'][m].mean():.1f}%, "
            f"noisy label wrong {100 * wrong[m].mean():.1f}%")
    print(line)
    titles.append(f"cluster {g} (n={m.sum()}, wrong {100 * wrong[m].mean():.0f}%)")
  heat_path = os.path.join(FLAGS.out, f"can_transitions_{setting}.png")
  plots.heatmaps(list(t), titles, heat_path, tick_labels=trainer.dataset.class_names,
                 xlabel="noisy label", ylabel="latent label (q > 1/2)")
  print(tsne_path, heat_path)


if __name__ == "__main__":
  app.run(main)
