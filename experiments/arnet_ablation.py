"""ARNet's readings, temperature x target x lambda, against ELR and CE (issue 19).

  python experiments/arnet_ablation.py                      # the full grid (hours on 2 cores)
  python experiments/arnet_ablation.py --cells=digits:sym40 --seeds=0,1,2 \
      --arnet=paper/current/0.8,paper/running/0.2,swav/current/0.8   (chosen rows)
  python experiments/arnet_ablation.py --baselines=ce,elr,elr+method.lam=1.0

Every cell (suite:setting, row, seed) trains on 90% of the noisy training set and holds
the other 10% out with its noisy labels, which alone choose the reading
(nlx.benchmarks.arnet_ablation). The CIFAR-10N cells read the CPU protocol's features
from --data_dir (default WORKROOT/cifar10n_cpu_features, built from ../shared/data the
first time). A baseline row is a method spec (`elr+method.lam=1.0`, see
nlx.benchmarks.suites).

Writes `--out` (default experiments/results/arnet_ablation.md): per cell, each row's
clean-test accuracy and validation score (mean ± std over seeds) and the last epoch's
diagnostics (nlx.methods.arnet's aux metrics and nlx.collapse's record, mean over
seeds), and which rows collapsed. Cell workdirs go to `--workroot` and are reused only
when made under the same config.
"""

import itertools

from absl import app, flags

from nlx.benchmarks import arnet_ablation, cells, output

flags.DEFINE_list("cells", ["digits:sym40", "fashion_mnist:pair40", "cifar10n_cpu:worst",
                            "cifar10n_cpu:aggre", "cifar10n_cpu:random1"],
                  "suite:setting cells; suite:setting:0+1 runs that cell on those seeds only.")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
flags.DEFINE_list("temperatures", list(arnet_ablation.TEMPERATURES),
                  f"From {list(arnet_ablation.TEMPERATURES)}.")
flags.DEFINE_list("targets", ["current", "running"], "current, running.")
flags.DEFINE_list("lams", ["0", "0.2", "0.8"], "lambda values (Eq. 1's mix of r and v).")
flags.DEFINE_list("arnet", [], "Explicit ARNet rows TEMPERATURE/TARGET/LAMBDA (e.g. "
                  "paper/current/0.8) instead of the product of the three lists above.")
flags.DEFINE_list("baselines", ["ce", "elr"], "Baseline rows (method specs).")
flags.DEFINE_float("val_fraction", 0.1, "Share of the noisy training set held out.")
flags.DEFINE_string("data_dir", "", "The CIFAR-10N suites' features cache (default: "
                    "WORKROOT/cifar10n_cpu_features, built from ../shared when missing); "
                    "the other suites keep their own data folders.")
flags.DEFINE_string("workroot", "workdirs/arnet_ablation", "Where cell workdirs go.")
flags.DEFINE_string("out", "experiments/results/arnet_ablation.md", "The table.")
flags.DEFINE_bool("render_only", False, "Write the table from the cells already run.")
flags.DEFINE_string("note", "", "A line written under the command (e.g. 'partial: ...').")
FLAGS = flags.FLAGS


@output.one_line_errors
def main(argv):
  del argv
  cells.setup_cache(FLAGS.workroot)
  rows = {b: b for b in FLAGS.baselines}
  triples = ([tuple(a.split("/")) for a in FLAGS.arnet] if FLAGS.arnet else
             itertools.product(FLAGS.temperatures, FLAGS.targets, FLAGS.lams))
  rows.update(arnet_ablation.arnet_rows(triples))
  ablation = arnet_ablation.Ablation(FLAGS.workroot, FLAGS.data_dir, FLAGS.val_fraction,
                                     FLAGS.render_only)
  print(ablation.run(FLAGS.cells, rows, [int(s) for s in FLAGS.seeds], out=FLAGS.out,
                     command=output.command_line(), note=FLAGS.note))


if __name__ == "__main__":
  app.run(main)
