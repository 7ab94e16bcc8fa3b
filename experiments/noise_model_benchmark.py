"""Xiao et al.'s Table-2-style comparison on CIFAR-10N `worst`, CPU protocol, with 10% of
the training labels known clean (D_c) and the rest noisy (D_n); plus the estimated C as
a heatmap (beside the true transition of D_n) and the rank-precision curve of
p(z = confusing | x) (the paper's Fig. 8).

  python experiments/noise_model_benchmark.py [--seeds=0,1,2]

Rows: CE on D_c only, CE on D_c + D_n (noisy labels as truth), Bottom-up (a fixed Q
estimated on D_c), the noise-type model. Writes to --out:
`noise_model_cifar10n_cpu.md` (+ CSV), `noise_model_confusion.png`,
`noise_model_rank_precision.png` (seed 0's cell).
"""

import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noisy_benchmark as nb
import protocols

from nlx import train
from nlx.data import noise
from nlx.methods import noise_model
from nlx.report import plots

FLAGS = flags.FLAGS
SUITE, SETTING = "cifar10n_cpu", "worst_clean10"
ROWS = ("ce_clean_subset", "ce_clean_and_noisy", "bottom_up", "noise_model")


def main(argv):
  del argv
  nb.setup_cache()
  data_dir = nb.data_dir_for(SUITE)
  seeds = [int(s) for s in FLAGS.seeds]
  print(nb.run_suite(SUITE, ROWS, [SETTING], seeds, data_dir=data_dir, out=FLAGS.out,
                     tag="noise_model_cifar10n_cpu", upper_bound=False))
  config = protocols.suite_config(SUITE, "noise_model", SETTING, seeds[0], data_dir=data_dir)
  trainer, state = train.restore(config, os.path.join(FLAGS.workroot, SUITE, "noise_model",
                                                      SETTING, f"seed{seeds[0]}"))
  ds = trainer.dataset
  names = ds.class_names
  estimated = np.asarray(state.method_state["confusion"])  # C[noisy, true]
  d_n = ds.train.extras["known_label"] < 0
  true_t = noise.realized_transition(ds.train.clean_labels[d_n], ds.train.labels[d_n],
                                     ds.num_classes)  # T[true, noisy]
  off_diagonal = true_t * (1 - np.eye(ds.num_classes))
  true_c = (off_diagonal / np.maximum(off_diagonal.sum(1, keepdims=True), 1e-12)).T
  plots.heatmaps([estimated, true_c], ["C estimated from D_c (Eq. 8-14)",
                                       "confusion of D_n's wrong labels (truth)"],
                 os.path.join(FLAGS.out, "noise_model_confusion.png"), tick_labels=names,
                 xlabel="true label", ylabel="noisy label")
  p_conf = noise_model.confusing_probability(trainer, state, ds.train)
  wrong = ds.train.labels != ds.train.clean_labels
  plots.rank_precision({"p(z = confusing | x)": (-p_conf[d_n], wrong[d_n])},
                       os.path.join(FLAGS.out, "noise_model_rank_precision.png"),
                       title="D_n, CIFAR-10N worst")
  k = int(0.1 * d_n.sum())
  top = np.argsort(-p_conf[d_n])[:k]
  print(f"precision of the 10% most 'confusing' D_n examples: {100 * wrong[d_n][top].mean():.1f}% "
        f"(noise rate of D_n {100 * wrong[d_n].mean():.1f}%)")


if __name__ == "__main__":
  app.run(main)
