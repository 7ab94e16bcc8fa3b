"""Runs methods x noise settings x seeds and writes the ARNet-paper-style tables.

  python experiments/noisy_benchmark.py --suite=digits
  python experiments/noisy_benchmark.py --suite=cifar10n_cpu --settings=aggre,random1,worst
  python experiments/noisy_benchmark.py --suite=cifar10n_full --cifar10_dir=DIR \
      --label_file=FILE        (a GPU job)
  python experiments/noisy_benchmark.py --suite=cifar10n_mosaic   (multi-label, CAN)
  python experiments/noisy_benchmark.py --suite=digits --methods=ce,elr+method.lam=1.0

Every cell (method, setting, seed) is one `train_and_evaluate` in
`--workroot/SUITE/METHOD/SETTING/seedN`; a cell whose results.json exists is not rerun,
and an interrupted cell resumes from its checkpoint. Writes
`--out/SUITE.md` and `--out/SUITE_{acc,f1}.csv`: clean-test accuracy and macro-F1
(multi-label suites: `SUITE_{map,map_voc07}.csv`, mAP and VOC07 11-point mAP), mean ±
std over seeds, one column per setting, best method in bold. The row "clean labels
(upper bound)" is CE trained on the clean labels (multi-label suites have a `clean`
column instead).
Suites are defined in `nlx.benchmarks.suites`: each cell is its suite's file in `configs/`
with the variant `METHOD,SETTING`, plus the seed; a method or setting may add words and
`--config`-style overrides joined by `+` (`elr+method.lam=1.0`, `worst+clean10`).
"""

from absl import app, flags

from nlx.benchmarks import cells, output, suites

cells.define_suite_flags()
FLAGS = flags.FLAGS


@output.one_line_errors
def main(argv):
  del argv
  suite_cells, settings, seeds = cells.start(FLAGS.suite)
  rows = FLAGS.methods or suites.MULTI_LABEL_SUITES.get(FLAGS.suite, suites.DEFAULT_METHODS)
  print(cells.run_suite(suite_cells, rows, settings, seeds, out=FLAGS.out,
                        command=output.command_line(), tag=FLAGS.tag,
                        upper_bound=FLAGS.upper_bound))


if __name__ == "__main__":
  app.run(main)
