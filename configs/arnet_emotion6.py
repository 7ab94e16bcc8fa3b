"""ARNet on Emotion6 (6 emotions, 1,980 images), split 80/20, with label noise (ARNet
paper, Tables 2-7).

Command:  python -m nlx.main --config=configs/arnet_emotion6.py:sym20 \
            --config.data.data_dir=DIR --config.model.pretrained=resnet34-b627a593.pth
          DIR: the Emotion6 release, DIR/images/<emotion>/*.jpg;
          see nlx/data/datasets/emotion.py.
          Weights, variants (noise, method, prototypes, ARNet reading, tiny) and tables:
          nlx.config_presets.sentiment and experiments/sentiment_benchmark.py.
Runtime:  about 1,580 training images, ResNet-34 at 224x224, 50 epochs: a GPU job.
Expected: the paper: ARNet above every baseline on average on Emotion6;
          not measured here (no data on this machine).
"""

from nlx.config_presets import sentiment


def get_config(variant: str = ""):
  return sentiment("emotion6", "80/20", variant)
