"""ARNet on UnBiasedEmo (6 emotions, 3,045 images), split 80/20, with label noise (ARNet
paper, Tables 2-7).

Command:  python -m nlx.main --config=configs/arnet_unbiasedemo.py:sym20 \
            --config.data.data_dir=DIR --config.model.pretrained=resnet34-b627a593.pth
          DIR: the UnBiasedEmo release, whose images lie at any depth below
          DIR/images/<emotion>/ (nlx/data/datasets/emotion.py reads them all).
          Weights, variants (noise, method, prototypes, ARNet reading, tiny) and tables:
          nlx.config_presets.sentiment and experiments/sentiment_benchmark.py.
Runtime:  about 2,440 training images, ResNet-34 at 224x224, 50 epochs: a GPU job.
Expected: ARNet above the baselines on average (paper); no UnBiasedEmo here to measure it.
"""

from nlx.config_presets import sentiment


def get_config(variant: str = ""):
  return sentiment("unbiasedemo", "80/20", variant)
