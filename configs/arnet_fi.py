"""ARNet on F&I (8 emotions, 23,308 images), split 80/5/15, with label noise (ARNet paper,
Tables 2-7).

Command:  python -m nlx.main --config=configs/arnet_fi.py:sym20 \
            --config.data.data_dir=DIR --config.model.pretrained=resnet34-b627a593.pth
          DIR: the F&I release, DIR/<emotion>/*.jpg;
          see nlx/data/datasets/emotion.py.
          Weights, variants (noise, method, prototypes, ARNet reading, tiny) and tables:
          nlx.config_presets.sentiment and experiments/sentiment_benchmark.py.
Runtime:  18,650 training images (the largest of the four), ResNet-34 at 224x224,
          50 epochs: a GPU job.
Expected: the paper: ARNet above every baseline on average on F&I;
          not measured here (no data on this machine).
"""

from nlx.config_presets import sentiment


def get_config(variant: str = ""):
  return sentiment("fi", "80/5/15", variant)
