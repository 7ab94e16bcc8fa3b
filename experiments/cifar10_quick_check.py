"""Xiao et al.'s own CIFAR-10 check of the noise-type model, reproduced on full images.

  python experiments/cifar10_quick_check.py [--seeds=0] [--cifar10_dir=DIR]

Runs `configs/noise_model_cifar10_quick.py`'s three rows in order for each seed: clean_only
(CE on the 10k clean images), then finetune and noise_model, both starting from that
seed's clean_only model (`train.init_from`). A finished run (results.json) is not rerun;
an interrupted one resumes. Writes `--out/noise_model_cifar10_quick.md` (+ CSV): clean-test
accuracy, mean ± std over seeds, beside the figures of the authors' logs. Without
--cifar10_dir, the official layout is materialised from ../shared/data.
"""

import os
import tempfile

from absl import app, flags, logging

from nlx.benchmarks import cifar10_quick, output, protocols

FLAGS = flags.FLAGS
flags.DEFINE_list("seeds", ["0"], "Seeds (noise, split and init).")
flags.DEFINE_string("cifar10_dir", "", "Folder with cifar-10-batches-py/ (default: ../shared).")
flags.DEFINE_string("workroot", "workdirs/benchmark/cifar10_quick", "Runs go here.")
flags.DEFINE_string("out", "experiments/results", "Tables go here.")
flags.DEFINE_integer("epochs_scale_percent", 100, "Shorter pilot runs: percent of the epochs.")


@output.one_line_errors
def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint file at INFO
  data_dir = FLAGS.cifar10_dir or protocols.shared_cifar10(
      os.path.join(tempfile.gettempdir(), "nlx_cifar10"))[0]
  seeds = [int(s) for s in FLAGS.seeds]
  check = cifar10_quick.QuickCheck(FLAGS.workroot, data_dir, FLAGS.epochs_scale_percent)
  md, csv_text = check.table(seeds)
  output.write_text(os.path.join(FLAGS.out, "noise_model_cifar10_quick.md"),
                    f"Clean-test accuracy (%), seeds {','.join(map(str, seeds))}.\n\n{md}\n")
  output.write_text(os.path.join(FLAGS.out, "noise_model_cifar10_quick.csv"), csv_text)
  print(md)


if __name__ == "__main__":
  app.run(main)
