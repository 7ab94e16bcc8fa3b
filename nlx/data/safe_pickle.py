"""Restricted unpicklers for label, batch and weights files, without torch.

Pickle runs code named in the file. CIFAR-10's batches and CIFAR-N's `.pt` label files
only need dicts, lists, bytes and numpy arrays, so any other global is refused with an
error naming it, instead of being imported and called. A torch state dict (the `.pth`
files torchvision downloads) names, besides an OrderedDict, only torch's tensor rebuild
function and storage classes; `load_torch_state_dict` gives those names numpy stand-ins
and reads the tensors' bytes from the zip, so no torch code runs (or is needed).
"""

import collections
import io
import pickle
import zipfile

import ml_dtypes
import numpy as np

from nlx.errors import DataError
from nlx.io import damage_cause, reading

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
}
_ZIP_MAGIC = b"PK\x03\x04"  # how a zip file (torch.save's format since 1.6) begins


class _RestrictedUnpickler(pickle.Unpickler):
  def __init__(self, file, source: str, **kwargs):
    super().__init__(file, **kwargs)
    self._source = source

  def find_class(self, module, name):
    if (module, name) in _ALLOWED:
      return super().find_class(module, name)
    raise DataError(f"{self._source}: refusing to unpickle {module}.{name}: label files may "
                    "hold only dicts, lists and numpy arrays (anything else could run code)")

  def persistent_load(self, pid):
    raise DataError(f"{self._source}: holds torch tensors; nlx reads only files whose pickle "
                    "holds numpy arrays (re-save the labels with numpy)")


def loads(data: bytes, *, source: str = "<bytes>", encoding: str = "ASCII"):
  try:
    return _RestrictedUnpickler(io.BytesIO(data), source, encoding=encoding).load()
  except DataError:
    raise
  except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
          IndexError, KeyError) as e:  # truncated or not a pickle at all
    raise DataError(f"{source}: not a readable pickle, cut short or damaged "
                    f"({damage_cause(e)})") from None


def load_file(path: str, *, encoding: str = "ASCII"):
  """Unpickles a plain pickle file (e.g. a CIFAR-10 batch)."""
  with reading(path, "pickle"), open(path, "rb") as f:
    data = f.read()
  return loads(data, source=path, encoding=encoding)


def load_torch_zip(path: str):
  """Reads a `torch.save` zip file whose pickle holds only numpy arrays, without torch."""
  with reading(path, "pickle"), open(path, "rb") as f:
    data = f.read()
  if not data.startswith(_ZIP_MAGIC):
    return loads(data, source=path)  # legacy (non-zip) torch files are plain pickles
  with reading(path, "torch.save zip file"), zipfile.ZipFile(io.BytesIO(data)) as z:
    members = [n for n in z.namelist() if n.endswith("data.pkl")]
    if not members:
      raise DataError(f"{path}: no data.pkl inside; not a torch.save file")
    data = z.read(members[0])
  return loads(data, source=path)


# torch's storage classes, as a state dict's pickle names them -> the numpy dtype of their
# bytes (torch.save writes little-endian; its `byteorder` entry says so)
TORCH_STORAGES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "BFloat16Storage": ml_dtypes.bfloat16, "LongStorage": np.int64, "IntStorage": np.int32,
    "ShortStorage": np.int16, "CharStorage": np.int8, "ByteStorage": np.uint8,
    "BoolStorage": np.bool_}


class _StorageType:
  """Stands in for `torch.FloatStorage` etc. in the pickle: only its dtype is used."""

  def __init__(self, name: str):
    self.name, self.dtype = name, np.dtype(TORCH_STORAGES[name])


def _tensor_from(source: str):
  def rebuild_tensor(storage, offset, size, stride, *unused) -> np.ndarray:
    """`torch._utils._rebuild_tensor_v2` in numpy: the `size` view of a flat storage at
    element `offset` with element `stride`s, copied (every element checked to lie inside
    the storage first)."""
    size, stride = tuple(int(n) for n in size), tuple(int(n) for n in stride)
    if len(size) != len(stride) or offset < 0 or min(stride, default=0) < 0:
      raise DataError(f"{source}: a tensor with size {size}, stride {stride} and offset "
                      f"{offset}: not a torch.save state dict nlx can read")
    if 0 in size:
      return np.zeros(size, storage.dtype)
    last = offset + sum((n - 1) * s for n, s in zip(size, stride))
    if last >= len(storage):
      raise DataError(f"{source}: a tensor of size {size} reaches element {last} of a "
                      f"storage of {len(storage)}: the file is damaged")
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], size, tuple(s * storage.itemsize for s in stride), writeable=False)
    return np.array(view)
  return rebuild_tensor


class _TorchStateDictUnpickler(pickle.Unpickler):
  """The pickle of a `torch.save(model.state_dict())` zip, with numpy in torch's place."""

  def __init__(self, data: bytes, zf: zipfile.ZipFile, prefix: str, source: str):
    super().__init__(io.BytesIO(data))
    self._zf, self._prefix, self._source = zf, prefix, source
    self._storages = {}  # key -> flat array (views of one storage share it)

  def find_class(self, module, name):
    if (module, name) == ("collections", "OrderedDict"):
      return collections.OrderedDict
    if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
      return _tensor_from(self._source)
    if module == "torch" and name in TORCH_STORAGES:
      return _StorageType(name)
    raise DataError(f"{self._source}: refusing to unpickle {module}.{name}: nlx reads state "
                    "dicts of tensors only (a whole pickled model, or anything else, could "
                    "run code); save `model.state_dict()` instead")

  def persistent_load(self, pid):
    if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage"
            and isinstance(pid[1], _StorageType)):
      raise DataError(f"{self._source}: an unknown persistent id {str(pid)[:80]}: not a "
                      "torch.save state dict nlx can read")
    _, kind, key, _location, numel = pid
    if key not in self._storages:
      raw = self._zf.read(f"{self._prefix}data/{key}")
      if len(raw) < int(numel) * kind.dtype.itemsize:
        raise DataError(f"{self._source}: storage {key} holds {len(raw)} bytes, fewer than "
                        f"its {numel} {kind.name} elements: the file is damaged")
      self._storages[key] = np.frombuffer(raw, kind.dtype, count=int(numel))
    return self._storages[key]


def load_torch_state_dict(path: str) -> dict[str, np.ndarray]:
  """A `torch.save` zip of a state dict (torchvision's `.pth` files) as numpy arrays, by
  name, without torch: tensors of the dtypes in `TORCH_STORAGES` (bfloat16 as
  ml_dtypes'), views of shared storages resolved. Any other object in the pickle, a
  legacy (pre-1.6, not zip) file or a big-endian one is a DataError saying so."""
  with reading(path, "torch.save zip file"), open(path, "rb") as f:
    data = f.read()
  if not data.startswith(_ZIP_MAGIC):
    raise DataError(f"{path}: not a torch.save zip file (torch 1.6 or later); load it in "
                    "torch and save the state dict again, or as .safetensors")
  with reading(path, "torch.save zip file"), zipfile.ZipFile(io.BytesIO(data)) as z:
    pickles = [n for n in z.namelist() if n.endswith("/data.pkl")]
    if not pickles:
      raise DataError(f"{path}: no data.pkl inside; not a torch.save file")
    prefix = pickles[0][:-len("data.pkl")]
    if f"{prefix}byteorder" in z.namelist() and z.read(f"{prefix}byteorder") != b"little":
      raise DataError(f"{path}: written on a big-endian machine; nlx reads little-endian files")
    try:
      out = _TorchStateDictUnpickler(z.read(pickles[0]), z, prefix, path).load()
    except DataError:
      raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as e:
      raise DataError(f"{path}: not a readable state dict, cut short or damaged "
                      f"({damage_cause(e)})") from None
  if not isinstance(out, dict) or not all(isinstance(v, np.ndarray) for v in out.values()):
    raise DataError(f"{path}: holds a {type(out).__name__}, not a state dict of tensors")
  return dict(out)
