"""Label issues in your own images on a CPU: pretrained features once, then a small head.

Command:  python -m nlx.main --config=configs/image_folder_features.py \
              --config.data.data_dir=DIR [--config.data.csv_file=labels.csv] \
              --config.data.backbone_weights=resnet50-0676ba61.pth
          (DIR/<class>/*.jpg or a path,label CSV, and optionally the test set as a
          second CSV, --config.data.test_csv_file, so that every image of the first is
          trained on and scored; the weights: the .pth file torchvision downloads to
          ~/.cache/torch/hub/checkpoints, or the same as .safetensors/.npz;
          --config.data.backbone=resnet18_imagenet|resnet34_imagenet for those files; or
          a network nlx trained, saved by nlx.models.pretrained.save_backbone, which
          fixes its own input size and normalisation, e.g. the CIFAR-10N CPU protocol's
          small CNN: --config.data.backbone=small_cnn --config.data.backbone_grid=2)
Runtime:  the extraction, once per image list, weights and transform (cached in
          ~/.cache/nlx/features, resumed when killed: nlx.feature_cache), then seconds
          for the head.
Writes:   label_issues.csv (with each image's path), label_issues.png, results.json.
Expected: no reference figure (user data). On CIFAR-10N worst as PNG files with the CPU
          protocol's backbone (experiments/own_images_cifar10n.py): AUROC / AP / F1
          88.9 / 84.8 / 76.7, the protocol's own figures.
"""

from nlx.config_base import base_config, make_tiny, parse_variant


def get_config(variant: str = ""):
  v = parse_variant(variant)
  c = base_config()
  c.data.name = "image_folder"
  c.data.backbone = "resnet50_imagenet"
  c.data.image_size = 224
  c.data.split = "80/20"
  c.data.eval_batch_size = 64
  # the head: the CPU protocol's (MLP 256-256, Adam 1e-3, batch 128, 30 epochs), with the
  # training dynamics that find the label issues
  c.model.name = "mlp"
  c.model.hidden = (256, 256)
  c.data.batch_size = 128
  c.train.num_epochs = 30
  c.train.eval_every_epochs = 5
  c.train.checkpoint_every_epochs = 10
  if v["size"]:  # tiny: a random ResNet-18 at 32x32 (tests only)
    make_tiny(c, train=-1, test=-1, epochs=2)
    c.data.backbone, c.data.backbone_weights = "resnet18_imagenet", "none"
    c.data.image_size, c.data.eval_batch_size, c.data.batch_size = 32, 8, 8
    c.model.hidden = (16,)
  return c
