"""ARNet paper's Fig. 3: t-SNE of test embeddings for CE, ELR and ARNet (prototypes as stars).

  python experiments/arnet_tsne.py --suite=cifar10n_cpu --setting=worst [--seed=0]

Uses the benchmark cells of noisy_benchmark.py / sentiment_benchmark.py (trains the
missing ones; their flags apply) and writes `--out/tsne_SUITE_SETTING.png`.
"""

from absl import app, flags

from nlx.benchmarks import cells, figures, output

cells.define_suite_flags()
flags.DEFINE_string("setting", "worst", "Noise setting of the cells.")
flags.DEFINE_integer("seed", 0, "Seed of the cells.")
FLAGS = flags.FLAGS


@output.one_line_errors
def main(argv):
  del argv
  cells.setup_cache(FLAGS.workroot)
  print(figures.arnet_tsne(cells.Cells.from_flags(FLAGS.suite), FLAGS.setting, FLAGS.seed,
                           FLAGS.out))


if __name__ == "__main__":
  app.run(main)
