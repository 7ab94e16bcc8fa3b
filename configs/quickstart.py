"""Quickstart: digits (scikit-learn, embedded), 40% symmetric label noise, small CNN, CE.

Command:  python -m nlx.main                      (this config is the default)
          python -m nlx.main --config=configs/quickstart.py:tiny   (the test variant)
Runtime:  3-5 s on a 2-core AVX-512 CPU, 20-30 s on slower 2-core machines (tiny: a few
          seconds); experiments/results/README.md, Speed.
Expected: noise rate 40.0%; clean-test accuracy 68.25% on the AVX-512 machine (2026-12-06,
          `model.compile=fast`; 68.25-69.36% with other CPUs, convolution kernels and XLA
          emitters, which round differently: experiments/results/README.md, Quickstart),
          CE having memorised much of the noise by the last epoch.
"""

from nlx.config_base import base_config, make_tiny, parse_variant
from nlx.config_presets import small_cnn


def get_config(variant: str = ""):
  c = small_cnn(base_config(), width=32, batch_size=64, epochs=30, learning_rate=3e-3)
  c.data.name = "digits"
  c.noise.type = "symmetric"
  c.noise.rate = 0.4
  # a run of about one second of compute, where compiling was the larger part of a first
  # run's wall time: XLA's faster-compiling emitters (nlx.models.fast_options)
  c.model.compile = "fast"
  if parse_variant(variant)["size"]:
    return make_tiny(c)  # 2 epochs, each checkpointed (the tests' resumes)
  # a checkpoint every 10 epochs, not after each 0.1-second epoch: 30 saves were a quarter
  # of the run's wall time (experiments/bench_run.py), and each of orbax's saves still
  # takes about 75 ms of CPU beside the training; a rerun resumes from at most 10 back
  c.train.checkpoint_every_epochs = 10
  # one log an epoch (1,438 digits in batches of 64: 22 steps), not every 20 steps: a log
  # inside an epoch splits its compiled chunk in two calls (another data.batch_size or
  # data.max_train_examples changes the epoch: only that split comes back; an epoch's
  # end always logs)
  c.train.log_every_steps = 22
  return c
