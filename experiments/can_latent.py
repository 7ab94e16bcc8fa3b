"""What CAN's latent labels do: per reading (start x temperature schedule), the latent
label q(y | x, y~) > 1/2 against the noisy and the clean label vectors in the last epoch,
and the clean-test mAP (issue 20).

  python experiments/can_latent.py --seeds=0,1,2 --settings=worst

Cells are `experiments/noisy_benchmark.py`'s (suite cifar10n_mosaic, CPU protocol, the
same flags, workroot and reuse); the figures are described in nlx.benchmarks.can_latent.
Writes --out/can_latent.md.
"""

import os

from absl import app, flags

from nlx.benchmarks import can_latent, cells, output

cells.define_suite_flags()
FLAGS = flags.FLAGS


@output.one_line_errors
def main(argv):
  del argv
  text = can_latent.latent_tables(*cells.start(can_latent.SUITE, ["worst"]),
                                  command=output.command_line())
  output.write_text(os.path.join(FLAGS.out, "can_latent.md"), text)
  print(text)


if __name__ == "__main__":
  app.run(main)
