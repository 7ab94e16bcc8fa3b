"""A restricted unpickler for label and batch files: plain containers and numpy arrays only.

Pickle runs code named in the file. CIFAR-10's batches and CIFAR-N's `.pt` label files
only need dicts, lists, bytes and numpy arrays, so any other global is refused with an
error naming it, instead of being imported and called.
"""

import io
import pickle
import zipfile

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
