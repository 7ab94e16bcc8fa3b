"""CAN's quality-embedding figures, from a finished CAN cell of the mosaic benchmark.

  python experiments/can_figures.py [--setting=worst] [--seed=0]

Trains the cell if it is missing (experiments/noisy_benchmark.py --suite=cifar10n_mosaic,
whose flags apply), then writes to --out:
- `can_quality_tsne_SETTING.png`: t-SNE of the quality embedding mu of q(s | x, y~) for
  training mosaics, coloured trustworthy (the prior p(y|x) thresholded at 1/2 equals
  the noisy label vector) or not, and, beside it, coloured by whether the noisy label
  is in fact wrong (clean labels, which training never sees);
- `can_transitions_SETTING.png`: mu binarised by 2-means; per cluster, the transition
  T[i, j] = P(noisy label j | latent label i) with the latent label q(y|x,y~) > 1/2.
Prints the clusters' sizes, trustworthy fractions and true noise rates.
"""

from absl import app, flags

from nlx.benchmarks import cells, figures, output

cells.define_suite_flags()
flags.DEFINE_string("setting", "worst", "Noise setting of the cell.")
flags.DEFINE_integer("seed", 0, "Seed of the cell.")
FLAGS = flags.FLAGS
SUITE = "cifar10n_mosaic"


@output.one_line_errors
def main(argv):
  del argv
  cells.setup_cache(FLAGS.workroot)
  print(*figures.can_quality(cells.Cells.from_flags(SUITE), FLAGS.setting, FLAGS.seed,
                             FLAGS.out))


if __name__ == "__main__":
  app.run(main)
