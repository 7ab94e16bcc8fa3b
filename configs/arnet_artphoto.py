"""ARNet on ArtPhoto (806 artistic photographs, positive/negative), split 80/20, with label
noise (ARNet paper, Tables 2-7).

Command:  python -m nlx.main --config=configs/arnet_artphoto.py:sym20 \
            --config.data.data_dir=DIR --config.model.pretrained=resnet34-b627a593.pth
          DIR: the ArtPhoto release, DIR/<emotion>_<id>.jpg;
          see nlx/data/datasets/emotion.py.
          Weights, variants (noise, method, prototypes, ARNet reading, tiny) and tables:
          nlx.config_presets.sentiment and experiments/sentiment_benchmark.py.
Runtime:  about 645 training images, ResNet-34 at 224x224, 50 epochs: a GPU job.
Expected: the paper: ARNet above every baseline on average on ArtPhoto;
          not measured here (no data on this machine).
"""

from nlx.config_presets import sentiment


def get_config(variant: str = ""):
  return sentiment("artphoto", "80/20", variant)
