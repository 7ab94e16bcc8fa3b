"""CAN on PASCAL VOC 2007 classification with Table-VI label shuffling (CAN paper).

Command:  python -m nlx.main --config=configs/can_voc2007.py:shuffle40 \
            --config.data.data_dir=DIR --config.model.pretrained=resnet34-b627a593.pth
          DIR: VOCtrainval_06-Nov-2007.tar and VOCtest_06-Nov-2007.tar (or VOCdevkit/
          extracted); the weights: torchvision's ImageNet resnet34 (its .pth, or .safetensors).
          Variants: clean | shuffle20 | shuffle40 | shuffle60; a method: can (default),
          bce, bootstrap_sigmoid, learnq_sigmoid, icnm; tiny. Reported: mAP and VOC07's
          11-point mAP (results.json: test.map, test.map_voc07, test.per_class_ap).
Runtime:  a GPU job (ResNet-34 at 224x224, 90 epochs on 5,011 images); not run here (no
          VOC on this machine; without the data it stops with the instructions above).
Expected: the paper reports CAN above ResnetN, LearnQ, ICNM and Bootstrap under noise.
"""

from nlx.config_presets import can


def get_config(variant: str = ""):
  c, _ = can("voc2007", variant)
  return c
