"""CAN on a user's web-tagged multi-label images (the paper's WEB set: YFCC images whose
tags were mapped to the 20 VOC classes).

Command:  python -m nlx.main --config=configs/can_web.py \
            --config.data.csv_file=DIR/web.csv --config.model.pretrained=resnet34-b627a593.pth
          web.csv: lines `path,tag1 tag2 ...` (paths relative to DIR, tags VOC class
          names, or the names in DIR/classes.txt); see nlx/data/datasets/multilabel_list.py.
          Variants: a method (can (default), bce, bootstrap_sigmoid, learnq_sigmoid,
          icnm); tiny. The test split is the list's own (noisy) tags; to test on clean
          labels, evaluate the checkpoint on VOC 2007 test (nlx.train.restore).
Runtime:  a GPU job (ResNet-34 at 224x224, 90 epochs); no such list on this machine.
Expected: the paper reports CAN above the baselines on WEB (evaluated on VOC 2007 test).
"""

from nlx.config_presets import can


def get_config(variant: str = ""):
  c, _ = can("multilabel_list", variant)
  c.data.split = "90/10"
  return c
