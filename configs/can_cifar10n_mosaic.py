"""CAN and its baselines on multi-label 2x2 CIFAR-10 mosaics with CIFAR-10N noise (CPU).

Command:  python experiments/protocols.py --out=workdirs/benchmark/cifar10n_cpu_features
          python -m nlx.main --config=configs/can_cifar10n_mosaic.py:worst \
            --config.data.data_dir=workdirs/benchmark/cifar10n_cpu_features
          Variants: worst (default: noisy label = union of the tiles' CIFAR-10N `worst`
          labels, real human noise) | aggre | random1 | clean | shuffle20 | shuffle40 | shuffle60
          (CAN's Table VI on the clean vectors); a method: can (default), bce,
          bootstrap_sigmoid, learnq_sigmoid, icnm; tiny.
          Table over methods x settings x seeds: experiments/noisy_benchmark.py
          --suite=cifar10n_mosaic (it runs this file).
Runtime:  about 1 minute per run on the 2-core CPU (20,000 training mosaics of four
          1,024-d cached tile features, MLP head 4096-256-256-10, 30 epochs); the
          feature cache takes about 10 minutes once.
Expected: clean-test mAP, 3 seeds (experiments/results/cifar10n_mosaic.md): on
          `worst` BCE 64.3, CAN 65.4; shuffle40 BCE 63.8, CAN 66.1; shuffle60 BCE 60.6,
          CAN 61.7; clean labels BCE 71.1, CAN 71.1 (the paper's claim: CAN above the
          baselines under noise, possibly below BCE without noise).
"""

from nlx.config_presets import can_cifar10n_mosaic


def get_config(variant: str = ""):
  return can_cifar10n_mosaic(variant)
