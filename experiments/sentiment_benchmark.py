"""ARNet paper's visual-sentiment tables: Tables 2-5 (methods x noise) and 6-7 (prototypes).

  python experiments/sentiment_benchmark.py --suite=fi --data_dir=DIR      (a GPU job)
  python experiments/sentiment_benchmark.py --suite=face_sentiment          (2-core CPU)
  python experiments/sentiment_benchmark.py --suite=cifar10n_cpu --settings=worst,aggre

For F&I, Emotion6, ArtPhoto and UnBiasedEmo (suite = fi | emotion6 | artphoto |
unbiasedemo) the settings are the paper's: virtual agent, symmetric 0.2, 0.3, 0.4.
Writes `--out/sentiment_SUITE.md` (CE, Bootstrap, GCE, SL, TCE, Co-teaching+, MixUp,
ELR, ARNet; accuracy and macro-F1, mean ± std over seeds, best in bold, plus the
clean-label upper bound) and, with --prototypes, `--out/sentiment_SUITE_prototypes.md`
(ARNet with L = 16, 32, 64, 128: `arnet+method.num_prototypes=L`). All the flags of
noisy_benchmark.py apply; cells already run (by either script) are reused.
"""

from absl import app, flags

from nlx.benchmarks import cells, output

PAPER_METHODS = ("ce", "bootstrap_soft", "gce", "sce", "tce", "coteaching_plus", "mixup",
                 "elr", "arnet")
PROTOTYPES = {f"arnet L = {n}": f"arnet+method.num_prototypes={n}" for n in (16, 32, 64, 128)}
cells.define_suite_flags()
flags.DEFINE_bool("prototypes", False, "Also run ARNet with L = 16, 32, 64, 128.")
FLAGS = flags.FLAGS


@output.one_line_errors
def main(argv):
  del argv
  suite = FLAGS.suite
  suite_cells, settings, seeds = cells.start(suite)
  methods = FLAGS.methods if FLAGS["methods"].present else PAPER_METHODS
  command = output.command_line()
  print(cells.run_suite(suite_cells, methods, settings, seeds, out=FLAGS.out, command=command,
                        tag=f"sentiment_{suite}", upper_bound=FLAGS.upper_bound))
  if FLAGS.prototypes:
    print(cells.run_suite(suite_cells, PROTOTYPES, settings, seeds, out=FLAGS.out,
                          command=command, tag=f"sentiment_{suite}_prototypes",
                          upper_bound=False))


if __name__ == "__main__":
  app.run(main)
