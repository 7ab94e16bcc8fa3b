import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from nlx.data import safe_pickle
from nlx.errors import DataError


class Evil:
  def __init__(self, marker):
    self.marker = marker

  def __reduce__(self):
    return (os.system, (f"touch {self.marker}",))


def torch_like_zip(path, obj):
  buf = io.BytesIO()
  pickle.dump(obj, buf, protocol=2)
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", buf.getvalue())
    z.writestr("archive/version", "3\n")


def test_numpy_dict_roundtrip(tmp_path):
  obj = {"clean_label": np.arange(5, dtype=np.int64), "names": ["a", "b"]}
  torch_like_zip(tmp_path / "ok.pt", obj)
  got = safe_pickle.load_torch_zip(str(tmp_path / "ok.pt"))
  np.testing.assert_array_equal(got["clean_label"], obj["clean_label"])
  assert got["names"] == ["a", "b"]


def test_code_in_a_label_file_is_refused_not_run(tmp_path):
  marker = tmp_path / "pwned"
  torch_like_zip(tmp_path / "evil.pt", {"clean_label": Evil(marker)})
  with pytest.raises(DataError, match=r"refusing to unpickle .*system"):
    safe_pickle.load_torch_zip(str(tmp_path / "evil.pt"))
  assert not marker.exists()
  (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Evil(marker)))
  with pytest.raises(DataError, match="refusing"):
    safe_pickle.load_file(str(tmp_path / "evil.pkl"))
  assert not marker.exists()


def test_truncated_pickle_is_a_data_error(tmp_path):
  (tmp_path / "t.pkl").write_bytes(pickle.dumps({"a": np.arange(100)})[:40])
  with pytest.raises(DataError, match="not a readable pickle"):
    safe_pickle.load_file(str(tmp_path / "t.pkl"))


TORCH_FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "models", "fixtures", "torch_state_dict.pth")


def rewritten(src, dst, change):
  """A copy of the zip `src` at `dst` with `change(name, bytes) -> bytes | None` applied to
  each member (None leaves the member out)."""
  with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
    for name in zin.namelist():
      data = change(name, zin.read(name))
      if data is not None:
        zout.writestr(name, data)
  return str(dst)


def test_a_state_dict_naming_other_code_is_refused(tmp_path):
  path = rewritten(TORCH_FIXTURE, tmp_path / "evil.pth", lambda n, b: b.replace(
      b"collections\nOrderedDict\n", b"posix\nsystem\n") if n.endswith("data.pkl") else b)
  with pytest.raises(DataError, match="refusing to unpickle posix.system"):
    safe_pickle.load_torch_state_dict(path)


def test_a_torch_file_with_a_short_or_missing_storage_is_a_data_error(tmp_path):
  short = rewritten(TORCH_FIXTURE, tmp_path / "short.pth",
                    lambda n, b: b[:-4] if n.endswith("/data/0") else b)
  with pytest.raises(DataError, match="storage 0 holds 212 bytes, fewer than its 54"):
    safe_pickle.load_torch_state_dict(short)
  gone = rewritten(TORCH_FIXTURE, tmp_path / "gone.pth",
                   lambda n, b: None if n.endswith("/data/1") else b)
  with pytest.raises(DataError, match="gone.pth: not a readable state dict"):
    safe_pickle.load_torch_state_dict(gone)
  big = rewritten(TORCH_FIXTURE, tmp_path / "big.pth",
                  lambda n, b: b"big" if n.endswith("/byteorder") else b)
  with pytest.raises(DataError, match="big-endian"):
    safe_pickle.load_torch_state_dict(big)
  legacy = tmp_path / "legacy.pth"
  legacy.write_bytes(pickle.dumps({"w": np.zeros(2)}))
  with pytest.raises(DataError, match="not a torch.save zip file"):
    safe_pickle.load_torch_state_dict(str(legacy))


def test_a_tensor_view_must_end_inside_its_storage():
  rebuild = safe_pickle._tensor_from("f.pth")
  storage = np.arange(10, dtype=np.float32)
  # last element read: offset + (2 - 1) * 4 + (4 - 1) * 1 = offset + 7
  np.testing.assert_array_equal(rebuild(storage, 2, (2, 4), (4, 1)),
                                [[2, 3, 4, 5], [6, 7, 8, 9]])  # element 9: the last one
  with pytest.raises(DataError, match="reaches element 10 of a storage of 10"):
    rebuild(storage, 3, (2, 4), (4, 1))
  np.testing.assert_array_equal(rebuild(storage, 1, (3,), (3,)), [1, 4, 7])
  with pytest.raises(DataError, match="stride"):
    rebuild(storage, 0, (2,), (-1,))
  assert rebuild(storage, 9, (), ()) == 9 and rebuild(storage, 9, (), ()).shape == ()
