"""Xiao et al.'s Table-2-style comparison on CIFAR-10N `worst`, CPU protocol, with 10% of
the training labels known clean (D_c) and the rest noisy (D_n); plus the estimated C as
a heatmap (beside the true transition of D_n) and the rank-precision curve of
p(z = confusing | x) (the paper's Fig. 8).

  python experiments/noise_model_benchmark.py [--seeds=0,1,2]

Rows: CE on D_c only, CE on D_c + D_n (noisy labels as truth), Bottom-up (a fixed Q
estimated on D_c), the noise-type model; the setting `worst+clean10` (the variant words
`worst,clean10` of configs/cifar10n_cpu.py). The flags of noisy_benchmark.py apply.
Writes to --out: `noise_model_cifar10n_cpu.md` (+ CSV), `noise_model_confusion.png`,
`noise_model_rank_precision.png` (the first seed's cell).
"""

from absl import app, flags

from nlx.benchmarks import cells, figures, output

cells.define_suite_flags()
FLAGS = flags.FLAGS
SUITE, SETTING = "cifar10n_cpu", "worst+clean10"
ROWS = ("ce_clean_subset", "ce_clean_and_noisy", "bottom_up", "noise_model")


@output.one_line_errors
def main(argv):
  del argv
  suite_cells, _, seeds = cells.start(SUITE, [SETTING])
  print(cells.run_suite(suite_cells, ROWS, [SETTING], seeds, out=FLAGS.out,
                        command=output.command_line(), tag="noise_model_cifar10n_cpu",
                        upper_bound=False))
  figures.noise_model_figures(suite_cells, SETTING, seeds[0], FLAGS.out)


if __name__ == "__main__":
  app.run(main)
