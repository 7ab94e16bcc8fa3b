"""SINet on the CIFAR-10N CPU protocol: Model-A/B/C, the alpha/beta ablation (the
paper's Tables 4-5), graph and prototype variants (Tables 2-3), and the AUROC of the
noise weights w at finding the mislabelled training examples.

  python experiments/sinet_benchmark.py [--seeds=0,1,2] [--ablation_seeds=0]
  python experiments/sinet_benchmark.py --tables=prototypes --prototype_seeds=0,1,2

Cells are noisy_benchmark.py cells (suite cifar10n_cpu, cached in --workroot; its flags
apply); the rows are nlx.benchmarks.sinet_tables'. Writes to --out (--tables picks
which): `sinet_cifar10n_cpu.md` (A/B/C on worst and aggre, accuracy, macro-F1 and
AUROC), `sinet_ablation.md` (`worst`, --ablation_seeds) and `sinet_prototypes.md` (the
four Eq. 5 prototype readings on --settings, default `worst`, --prototype_seeds).
"""

from absl import app, flags

from nlx.benchmarks import cells, output, sinet_tables

cells.define_suite_flags()
flags.DEFINE_list("ablation_seeds", ["0"], "Seeds of the ablation cells.")
flags.DEFINE_list("prototype_seeds", ["0", "1", "2"], "Seeds of the prototype cells.")
flags.DEFINE_multi_enum("tables", ["models", "ablation", "prototypes"],
                        ["models", "ablation", "prototypes"], "Which tables to write.")
FLAGS = flags.FLAGS


@output.one_line_errors
def main(argv):
  del argv
  cells.setup_cache(FLAGS.workroot)
  texts = sinet_tables.write_tables(
      cells.Cells.from_flags(sinet_tables.SUITE), FLAGS.tables, out=FLAGS.out,
      seeds=[int(s) for s in FLAGS.seeds], settings=FLAGS.settings,
      ablation_seeds=[int(s) for s in FLAGS.ablation_seeds],
      prototype_seeds=[int(s) for s in FLAGS.prototype_seeds], command=output.command_line())
  for text in texts:
    print(text)


if __name__ == "__main__":
  app.run(main)
