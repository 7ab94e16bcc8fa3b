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
