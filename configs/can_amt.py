"""CAN in feature mode on AMT/SD4-style data: 5,376-d precomputed features, multi-label.

Command:  python -m nlx.main --config=configs/can_amt.py --config.data.data_dir=DIR
          DIR/features.npz: train_features [N, 5376], train_labels [N, C] (the noisy 0/1
          vectors), train_clean_labels [N, C] (= train_labels if unknown), test_features,
          test_labels [M, C] (see nlx/data/datasets/features.py).
          Variants: a method (can (default), bce, bootstrap_sigmoid, learnq_sigmoid,
          icnm); clean | shuffle20 | shuffle40 | shuffle60 when the labels are clean; tiny.
          Model: the paper's MLP 5376-1024-30-C.
Runtime:  minutes on the 2-core CPU for some 10,000 examples; no AMT/SD4 data here.
Expected: the paper reports CAN above the baselines in mAP.
"""

from nlx.config_presets import can


def get_config(variant: str = ""):
  c, _ = can("features", variant, features_hidden=(1024, 30))
  c.data.eval_batch_size = 500
  return c
