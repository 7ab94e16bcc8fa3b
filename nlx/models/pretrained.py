"""Pretrained weights from local files: torchvision ResNets, and networks nlx trained.

nlx networks (`save_backbone` / `load_backbone`): a `.npz` of every parameter and
BatchNorm statistic under its dotted module path (`convs.0.kernel`, `norms.0.mean`), with
a JSON record (`BACKBONE_RECORD`) of what using it as `data.backbone` needs: the model keys
it was built with, the normalisation and the input size it was trained at.

ImageNet weights for ResNet-18/34/50 from a local torchvision-layout state dict:
The file is a torchvision `resnet18`/`resnet34`/`resnet50` state dict: the `.pth` file
torchvision downloads (a `torch.save` zip, read without torch and without running any
code: `nlx.data.safe_pickle.load_torch_state_dict`), or the same saved as `.safetensors`
or `.npz` (nlx never downloads weights). Keys map one to one onto `nlx.models.resnet`:
`layer1.0.conv1.weight` -> `layer1/0/conv1/kernel`. Conversions: conv OIHW -> HWIO,
linear [out, in] -> [in, out], BatchNorm weight/running_mean/running_var ->
scale/mean/var; `num_batches_tracked` is ignored. If the classifier's class count
differs from the file's (`fc.*`), the head keeps its random initialisation.
"""

import json
import os

import numpy as np
from flax import nnx

from nlx.errors import DataError
from nlx.io import reading

_BN_NAMES = {"weight": "scale", "bias": "bias", "running_mean": "mean", "running_var": "var"}
REWRITE = ("save the torchvision state dict again (.pth, .safetensors or .npz) for "
           "model.pretrained")
TORCH_SUFFIXES = (".pth", ".pt")


def read_state_dict(path: str) -> dict[str, np.ndarray]:
  if not os.path.isfile(path):
    raise DataError(f"pretrained weights file not found: {path} (expected a torchvision "
                    "ResNet state dict: the .pth file torchvision downloads, or .safetensors "
                    "or .npz)")
  if path.endswith(TORCH_SUFFIXES):
    from nlx.data.safe_pickle import load_torch_state_dict
    return load_torch_state_dict(path)
  if path.endswith(".safetensors"):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file
    with reading(path, "safetensors file", REWRITE, also=(SafetensorError,)):
      return dict(load_file(path))
  if path.endswith(".npz"):
    with reading(path, "NumPy .npz archive", REWRITE), np.load(path, allow_pickle=False) as f:
      return {k: f[k] for k in f.files}
  raise DataError(f"pretrained weights must be .pth, .safetensors or .npz, got {path}")


def _key(path) -> str:
  return ".".join(str(p) for p in path)


def _flatten(tree, prefix=()):
  for k, v in tree.items():
    if isinstance(v, dict):
      yield from _flatten(v, prefix + (k,))
    else:
      yield prefix + (k,), v


def torchvision_to_nlx(name: str, value: np.ndarray) -> tuple[str, np.ndarray]:
  """One torchvision key/array -> the nlx (dotted path, array) it becomes."""
  *mod, leaf = name.split(".")
  if value.ndim == 4:        # conv weight, OIHW -> HWIO
    return _key(mod + ["kernel"]), np.transpose(value, (2, 3, 1, 0))
  if value.ndim == 2:        # linear weight, [out, in] -> [in, out]
    return _key(mod + ["kernel"]), value.T
  if mod and mod[-1] == "fc":
    return _key(mod + [leaf]), value
  return _key(mod + [_BN_NAMES.get(leaf, leaf)]), value


def load_torchvision_resnet(params: nnx.State, state: nnx.State, path: str) -> dict:
  """Returns `{"params": ..., "state": ...}` with the file's weights loaded.

  Raises DataError naming missing keys, unexpected keys, or shape mismatches.
  """
  tv = {k: v for k, v in read_state_dict(path).items() if not k.endswith("num_batches_tracked")}
  ours = _flat(params, state)
  converted = dict(torchvision_to_nlx(k, np.asarray(v)) for k, v in tv.items())
  head_differs = ("fc.kernel" in converted and
                  converted["fc.kernel"].shape != ours.get("fc.kernel", np.empty(0)).shape)
  if head_differs:
    converted = {k: v for k, v in converted.items() if not k.startswith("fc.")}
  expected = {k for k in ours if not (head_differs and k.startswith("fc."))}
  missing = sorted(expected - converted.keys())
  unexpected = sorted(converted.keys() - ours.keys())
  if missing or unexpected:
    raise DataError(f"{path}: not a matching torchvision ResNet state dict; missing keys: "
                    f"{missing[:8]}{'...' if len(missing) > 8 else ''}; unexpected keys: "
                    f"{unexpected[:8]}{'...' if len(unexpected) > 8 else ''}")
  for k, v in converted.items():
    if v.shape != ours[k].shape:
      raise DataError(f"{path}: shape of {k} is {v.shape} in the file, the model needs "
                      f"{tuple(ours[k].shape)} (wrong depth or stem?)")

  return fill(params, state, converted)


def _flat(params: nnx.State, state: nnx.State) -> dict:
  """Every leaf of the model's parameters and statistics by dotted path."""
  return {_key(k): v for tree in (params, state) for k, v in _flatten(tree.to_pure_dict())}


def fill(params: nnx.State, state: nnx.State, values: dict) -> dict:
  """`{"params": ..., "state": ...}` with the leaves named in `values` (dotted paths, checked
  by the caller) set from it, cast to each leaf's dtype; the other leaves as they were."""
  def replace(pure, prefix=()):
    out = {}
    for k, v in pure.items():
      key = _key(prefix + (k,))
      out[k] = (replace(v, prefix + (k,)) if isinstance(v, dict) else
                values[key].astype(v.dtype) if key in values else v)
    return out

  nnx.replace_by_pure_dict(params, replace(params.to_pure_dict()))
  nnx.replace_by_pure_dict(state, replace(state.to_pure_dict()))
  return {"params": params, "state": state}


BACKBONE_RECORD = "__nlx_backbone__"  # the .npz entry holding the JSON record
BACKBONE_MODEL_KEYS = ("name", "width", "hidden", "dropout")  # what rebuilds the network


def save_backbone(path: str, model_config, params: nnx.State, state: nnx.State, *,
                  mean, std, image_size: int) -> None:
  """Writes a network nlx trained (`model_config`: its `config.model`) as a backbone file:
  its weights, plus the record of the model keys, the input normalisation `mean`/`std`
  (per channel, on 0..1 pixels) and the `image_size` it expects."""
  record = {"model": {k: model_config[k] for k in BACKBONE_MODEL_KEYS if k in model_config},
            "mean": [float(m) for m in mean], "std": [float(s) for s in std],
            "image_size": int(image_size)}
  arrays = {k: np.asarray(v) for k, v in _flat(params, state).items()}
  if not path.endswith(".npz"):
    raise DataError(f"a backbone file is a .npz, got {path}")
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  np.savez(path + ".tmp.npz", **arrays, **{BACKBONE_RECORD: np.array(json.dumps(record))})
  os.replace(path + ".tmp.npz", path)


def backbone_record(path: str) -> dict | None:
  """The record of an nlx backbone file (`save_backbone`), or None for any other file."""
  if not path.endswith(".npz") or not os.path.isfile(path):
    return None
  with reading(path, "NumPy .npz archive", REWRITE), np.load(path, allow_pickle=False) as f:
    if BACKBONE_RECORD not in f.files:
      return None
    return json.loads(str(f[BACKBONE_RECORD]))


def load_backbone(params: nnx.State, state: nnx.State, path: str) -> dict:
  """`{"params": ..., "state": ...}` with an nlx backbone file's weights loaded (every
  weight of the model from the file, same shapes); a DataError names the first keys that
  do not fit."""
  with reading(path, "NumPy .npz archive", REWRITE), np.load(path, allow_pickle=False) as f:
    saved = {k: f[k] for k in f.files if k != BACKBONE_RECORD}
  ours = _flat(params, state)
  missing, unexpected = sorted(ours.keys() - saved.keys()), sorted(saved.keys() - ours.keys())
  wrong = [f"{k} {saved[k].shape} (model: {tuple(ours[k].shape)})" for k in sorted(ours)
           if k in saved and saved[k].shape != tuple(ours[k].shape)]
  if missing or unexpected or wrong:
    raise DataError(f"{path}: the weights do not fit the model; missing keys: {missing[:4]}; "
                    f"unexpected keys: {unexpected[:4]}; other shapes: {wrong[:4]}")
  return fill(params, state, saved)
