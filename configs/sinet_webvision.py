"""SINet on WebVision 1.0, or mini-WebVision (first 50 classes, Google images), with
ImageNet val of those classes as a second test set (Cheng et al., ECCV 2020).

Command:  python -m nlx.main --config=configs/sinet_webvision.py:mini \
            --config.data.data_dir=DIR --config.data.imagenet_val_dir=VAL \
            --config.method.hierarchy=wordnet_hierarchy.txt \
            --config.model.pretrained=resnet34-b627a593.pth
          DIR: the WebVision 1.0 resized release (info/*.txt, google/, flickr/,
          val_images_256/); VAL: ILSVRC 2012 val as <wnid>/*.JPEG folders. The class
          names are WordNet ids: give the hierarchy as `wnid parent_wnid` lines (e.g.
          written from WordNet's hypernyms with nltk) and/or label descriptions
          (--config.method.descriptions=FILE, `wnid: gloss` lines).
          Variants: mini | full; C (default) | B | A; tiny.
Runtime:  a GPU job (ResNet-34 at 224x224; mini: 120 epochs over some 66,000 images);
          not run here (no WebVision on this machine).
Expected: the paper reports Model-C above the baselines on WebVision and ImageNet val.
"""

from nlx.config_presets import web_images


def get_config(variant: str = ""):
  c, v = web_images("webvision", variant, method="sinet", lr=0.02, epochs=120,
                    step_epochs=(40, 80), release=("mini", "full"))
  if v["release"] != "full":
    c.data.name = "mini_webvision"
  return c
