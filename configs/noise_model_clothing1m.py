"""The noise-type model of Xiao et al. (CVPR 2015) on Clothing1M, where it was proposed.

Command:  python -m nlx.main --config=configs/noise_model_clothing1m.py \
            --config.data.data_dir=DIR --config.model.pretrained=resnet34-b627a593.pth
          DIR: the Clothing1M release (see nlx/data/datasets/web_noisy.py); its clean
          training list is the clean subset D_c (`known_label`), from which C is
          estimated in closed form; the rest trains through the EM posterior.
          Variants: tiny.
Runtime:  a GPU job (ResNet-34 instead of the paper's CaffeNet, 224x224, 10 epochs over
          1M images); not run here (no Clothing1M on this machine).
Expected: the paper reports 78.24% test accuracy with its full model (CaffeNet trained
          on noisy + clean data), above the 72.63% of the clean-data-only baseline.
"""

from nlx.config_presets import web_images


def get_config(variant: str = ""):
  c, v = web_images("clothing1m", variant, method="noise_model", lr=0.002, epochs=10,
                    step_epochs=(5,))
  c.method.pretrain_epochs = 1 if v["size"] else 2
  return c
