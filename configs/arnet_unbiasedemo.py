"""ARNet on UnBiasedEmo (6 emotions, 3,045 images), split 80/20, with label noise (ARNet paper, Tables 2-7).

Command:  python -m nlx.main --config=configs/arnet_unbiasedemo.py:sym20 \
            --config.data.data_dir=DIR --config.model.pretrained=resnet34.safetensors
          DIR: the official release, DIR/images/<emotion>/**/*.jpg (see nlx/data/datasets/emotion.py);
          the weights: torchvision's ImageNet resnet34 state dict saved as .safetensors.
          Variants: agent | sym20 | sym30 | sym40 | clean; a method name to run a
          baseline instead of ARNet (ce, gce, sce, tce, elr, mixup, coteaching_plus, ...);
          L16 | L32 | L64 | L128 prototypes; an ARNet reading: paper (default, the
          paper as written) | swav | running (see nlx/methods/arnet.py and the README's
          ARNet section); tiny. Tables: experiments/sentiment_benchmark.py.
Runtime:  a GPU job (ResNet-34 at 224x224, 50 epochs); not feasible on the 2-core CPU.
          Without the data it stops with the instructions above. Tiny: seconds.
Expected: the ARNet paper reports ARNet above every baseline on average; not yet
          reproduced here (no data on this machine; see README).
"""

from nlx.config_presets import sentiment


def get_config(variant: str = ""):
  return sentiment("unbiasedemo", "80/20", variant)
