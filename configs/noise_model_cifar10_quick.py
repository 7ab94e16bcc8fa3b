"""Xiao et al. (CVPR 2015)'s own CIFAR-10 check of the noise-type model, full images.

CIFAR-10 with 10k training images clean (D_c) and the other 40k noisy, their labels
flipped by a random transition with diagonal 0.5 (`noise.type=random_transition`); the
"CIFAR10-quick" network (conv 32-32-64, fc 64); SGD momentum 0.9, weight decay 0.004,
batch 100 and x0.1 for the last fifth, as in Caffe's cifar10_quick solver, but lr 0.01,
not its 0.001: Caffe feeds mean-subtracted 0-255 pixels, nlx standardised ones (a pilot,
6 epochs on D_c: 45.8% at 0.001, 55.8% at 0.01). Shorter than the authors' runs, to fit
a 2-core CPU: 30 epochs on D_c, then 4 epochs of the mixture.
Variants (the rows of the check; the paper's logs: 62.04 / 65.81 / 68.94%):
  clean_only  CE on D_c alone: 30 epochs of 10k images (3,000 steps).
  finetune    CE on D_c + D_n, noisy labels taken as truth, from clean_only's model.
  noise_model the noise-type model on D_c + D_n, p(y|x) from clean_only's model; the
              first epoch trains on D_c only (p(z|x)'s pretraining).
Command:  python experiments/cifar10_quick_check.py --cifar10_dir=DIR  (the three in order)
          or one row: python -m nlx.main --config=configs/noise_model_cifar10_quick.py:finetune
          --config.data.data_dir=DIR --config.train.init_from=workdirs/<clean_only run>
          (DIR = a folder with cifar-10-batches-py/)
Runtime:  2-core CPU (shared with other work): 12 min (clean_only), 8 min (finetune),
          11 min (noise_model).
Expected: clean-test accuracy over seeds 0-2: 68.62 ± 0.44 (clean_only), 69.54 ± 0.42
          (finetune), 71.67 ± 0.46% (noise_model); the authors' logs 62.04 / 65.81 / 68.94.
"""

from nlx.config_base import base_config, make_tiny, parse_variant
from nlx.config_presets import set_method

ROWS = {"clean_only": "ce", "finetune": "ce_clean_and_noisy", "noise_model": "noise_model"}
VARIANTS = {"row": tuple(ROWS)}


def get_config(variant: str = "noise_model"):
  v = parse_variant(variant, **VARIANTS)
  row = v["row"] or "noise_model"
  c = base_config()
  c.data.name = "cifar10"
  c.noise.type, c.noise.rate = "random_transition", 0.5
  c.data.clean_fraction = 0.2        # 10k of the 50k training images
  c.data.clean_ratio = 0.5           # D_c upsampled to half of |D_n| (the paper)
  c.data.use_noisy = row != "clean_only"
  c.data.batch_size = 100
  c.data.eval_batch_size = 500
  c.model.name = "cifar10_quick"
  set_method(c, ROWS[row])
  if "pretrain_epochs" in c.method:  # the noise model: one epoch of D_c only
    c.method.pretrain_epochs = 1
  c.optimizer.name = "sgd"
  c.optimizer.learning_rate = 1e-2
  c.optimizer.momentum = 0.9
  c.optimizer.weight_decay = 0.004
  c.optimizer.schedule = "step"
  epochs = 30 if row == "clean_only" else 4
  c.optimizer.step_epochs = (int(0.8 * epochs),)
  c.train.num_epochs = epochs
  c.train.eval_every_epochs = 5 if row == "clean_only" else 1
  c.train.log_every_steps = 100
  if v["size"]:
    make_tiny(c, train=400, test=100, epochs=2)
    c.optimizer.step_epochs = (1,)
    c.data.batch_size = c.data.eval_batch_size = 40
  return c
