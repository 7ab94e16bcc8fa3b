"""Any TFDS dataset prepared locally, read through `tfds.data_source` (random access to
its array_record files; no TensorFlow at run time): `data.name=tfds:NAME`, where NAME
may carry a config and version (`NAME/CONFIG:1.0.0`).

`data.data_dir` is the TFDS data dir (empty: TFDS's default, `$TFDS_DATA_DIR` or
`~/tensorflow_datasets`). nlx never downloads: a dataset that is not prepared there in
the array_record format is an error saying how to prepare it (the example below).
Fields (all features of the record, named by config):
- `data.tfds_input_field` (`image`): an `Image` feature (pixels), or a float `Tensor`
  `[D]` (features). Images of one fixed shape are decoded into memory at load; images
  whose shape varies are decoded per example by the input pipeline (`inputs` then
  holds record indices).
- `data.tfds_label_field` (`label`): the `ClassLabel` that training sees, e.g. a human
  label of the catalogue's `cifar10_n` (`worse_label`, `aggre_label`,
  `random_label1..3`) or `cifar100_n` (`noise_label`);
- `data.tfds_clean_label_field` (`label`): the clean label, for evaluation only. The
  evaluation splits carry it as their labels too (`cifar10_n`'s test split has no
  human labels).
`data.tfds_splits`: (train, test) or (train, val, test) split names, e.g. TFDS slices
such as `("train[:90%]", "train[90%:]", "test")`.

CIFAR-10N, prepared once where CIFAR-10's site is reachable, then copied to `~/tfds/`
(DIR: `side_info_cifar10N.csv`, `image_order_c10.npy` and
`CIFAR-10_human_annotations.csv` from https://github.com/UCSC-REAL/cifar-10-100n, as the
builder's instructions say):

  pip install tensorflow   # only for preparing
  tfds build cifar10_n --file_format=array_record --data_dir=~/tfds --manual_dir=DIR
  python -m nlx.main --config=configs/ce_cifar10n.py:worst --config.data.name=tfds:cifar10_n \
    --config.data.data_dir=~/tfds --config.data.tfds_label_field=worse_label
"""

import os

import numpy as np

from nlx.data.types import Dataset, Split
from nlx.errors import ConfigError, DataError
from nlx.io import reading


def _hint(name: str, data_dir: str) -> str:
  where = data_dir or "~/tensorflow_datasets"
  return (f"prepare it offline in the array_record format, into {where}: `tfds build {name} "
          f"--file_format=array_record --data_dir={where}` (add --manual_dir=DIR with the "
          "release files where the dataset needs a manual download; the tfds command needs "
          "TensorFlow, nlx does not), or in Python tfds.builder(...).download_and_prepare("
          "file_format='array_record'); see nlx/data/datasets/tfds_source.py")


def open_builder(name: str, data_dir: str):
  """The prepared `tfds` builder of `name` in `data_dir`, or a DataError saying how to
  prepare it."""
  import tensorflow_datasets as tfds
  with reading(data_dir or "~/tensorflow_datasets", f"prepared tfds:{name}",
               _hint(name, data_dir)):
    try:
      builder = tfds.builder(name, data_dir=data_dir or None)
    except tfds.core.registered.DatasetNotFoundError:  # a ValueError: before `reading`'s
      raise DataError(f"tfds:{name}: no such dataset in the TFDS catalogue or in "
                      f"{data_dir or 'the default data dir'}; {_hint(name, data_dir)}") from None
  if not builder.is_prepared():
    raise DataError(f"tfds:{name}: not prepared in {builder.data_dir}; {_hint(name, data_dir)}")
  if builder.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
    raise DataError(f"tfds:{name}: prepared as {builder.info.file_format.value} in "
                    f"{builder.data_dir}; random access needs array_record: "
                    f"{_hint(name, data_dir)}")
  return builder


def _feature(features, field: str, what: str, name: str):
  if field not in features:
    raise ConfigError(f"tfds:{name}: data.tfds_{what}={field!r} is not a feature; it has "
                      f"{', '.join(sorted(features.keys()))}")
  return features[field]


def _class_label(features, field: str, what: str, name: str):
  import tensorflow_datasets as tfds
  feature = _feature(features, field, what, name)
  if not isinstance(feature, tfds.features.ClassLabel):
    raise ConfigError(f"tfds:{name}: data.tfds_{what}={field!r} is a "
                      f"{type(feature).__name__}, not a ClassLabel")
  return feature


class RecordImage:
  """`decode` for images of varying shape: record index -> `[H, W, C]` uint8."""

  def __init__(self, source, field: str):
    self._source, self._field = source, field

  def __call__(self, index) -> np.ndarray:
    return np.asarray(self._source[int(index)][self._field])


def read_split(builder, split: str, config, *, train: bool) -> Split:
  """One split: inputs of `data.tfds_input_field`; training labels from
  `data.tfds_label_field` on the training split, else the clean ones."""
  import tensorflow_datasets as tfds
  features, field = builder.info.features, config.tfds_input_field
  image = isinstance(features[field], tfds.features.Image)
  # labels first, without decoding the images (one pass over the records)
  # array_record reports a damaged records file as a RuntimeError (a chunk hash mismatch)
  with reading(builder.data_dir, f"prepared split {split!r}", "prepare the dataset again",
               also=(RuntimeError,)):
    source = builder.as_data_source(
        split=split, decoders={field: tfds.decode.SkipDecoding()} if image else None)
    records = source.__getitems__(list(range(len(source))))
    # a records file cut short reads without an error, as records whose fields are None
    fields = (config.tfds_clean_label_field, config.tfds_label_field, field)
    lost = sum(r is None or any(r.get(k) is None for k in fields) for r in records)
    if lost:
      raise ValueError(f"{lost} of its {len(records)} records could not be read")
  clean = np.array([r[config.tfds_clean_label_field] for r in records], np.int64)
  labels = (np.array([r[config.tfds_label_field] for r in records], np.int64) if train
            else clean.copy())
  if not image:
    return Split(np.stack([np.asarray(r[field], np.float32) for r in records]), labels, clean)
  if None not in features[field].shape:  # one shape: decode all once, into memory
    decode = features[field].decode_example_np
    return Split(np.stack([decode(r[field]) for r in records]), labels, clean)
  return Split(np.arange(len(records)), labels, clean,
               decode=RecordImage(builder.as_data_source(split=split), field))


def pixel_statistics(images: np.ndarray, chunk: int = 4096) -> tuple[tuple, tuple]:
  """Per-channel mean and std of `[N, H, W, C]` uint8 pixels scaled to [0, 1], summed in
  chunks (no float copy of the whole set)."""
  total = np.zeros(images.shape[-1])
  squares = np.zeros(images.shape[-1])
  for start in range(0, len(images), chunk):
    x = images[start:start + chunk].astype(np.float64) / 255.0
    total += x.sum((0, 1, 2))
    squares += (x * x).sum((0, 1, 2))
  n = images[..., 0].size
  mean = total / n
  std = np.sqrt(np.maximum(squares / n - mean * mean, 0.0))
  return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def load(config, name: str) -> Dataset:
  import tensorflow_datasets as tfds
  builder = open_builder(name, os.path.expanduser(config.data_dir))
  features = builder.info.features
  inputs = _feature(features, config.tfds_input_field, "input_field", name)
  if (isinstance(inputs, tfds.features.ClassLabel)
      or not isinstance(inputs, tfds.features.Image | tfds.features.Tensor)):
    raise ConfigError(f"tfds:{name}: data.tfds_input_field={config.tfds_input_field!r} is a "
                      f"{type(inputs).__name__}; nlx reads an Image or a float Tensor")
  label = _class_label(features, config.tfds_label_field, "label_field", name)
  clean = _class_label(features, config.tfds_clean_label_field, "clean_label_field", name)
  if label.num_classes != clean.num_classes:
    raise ConfigError(f"tfds:{name}: {config.tfds_label_field} has {label.num_classes} "
                      f"classes, {config.tfds_clean_label_field} {clean.num_classes}")
  splits = tuple(config.tfds_splits)
  if len(splits) not in (2, 3):
    raise ConfigError(f"data.tfds_splits must be (train, test) or (train, val, test), got {splits}")
  train, *rest = [read_split(builder, s, config, train=i == 0) for i, s in enumerate(splits)]
  num_classes = clean.num_classes
  if train.input_kind == "pixels":
    mean, std = pixel_statistics(train.inputs)
  else:  # features, or images of varying shape: ImageNet statistics
    mean, std = (((0.0,), (1.0,)) if train.input_kind == "features"
                 else ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))
  return Dataset(f"tfds:{name}", train, rest[-1], num_classes, list(clean.names), mean, std,
                 val=rest[0] if len(rest) == 2 else None,
                 info={"tfds_label_field": config.tfds_label_field})
