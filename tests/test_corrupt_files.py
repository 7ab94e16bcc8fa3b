"""Every file nlx reads, cut short or replaced by garbage, is one line naming the file and
what is wrong with it (issue 29, "Faults"): never a traceback from zipfile, pickle, gzip,
csv, json or PIL. Each case writes a tiny valid file, checks that it reads, damages it
(the first half only, or as many random bytes) and reads it again."""

import csv
import gzip
import io as stdlib_io
import json
import logging
import os
import pickle
import re
import shutil
import tarfile
import zipfile

import numpy as np
import pytest
from conftest import override, run_main, write_idx, write_image_folder

from nlx import dynamics, label_issues, workdir
from nlx.config_base import base_config, load_file
from nlx.data import class_texts, load_dataset
from nlx.data.datasets import cifar10n, face_sentiment, fashion_mnist, image_folder
from nlx.data.datasets import features as features_lib
from nlx.errors import ConfigError, DataError
from nlx.io import read_json, write_json
from nlx.methods import sinet
from nlx.models import pretrained
from nlx.report import label_issues_page, report

DAMAGED = r"not a readable .*, cut short or damaged \(\w+"


def data_config(name, **kw):
  return override(base_config(), **{"data.name": name, **{f"data.{k}": v for k, v in kw.items()}})


def damage(path, how: str) -> None:
  """`truncated`: the file's first half; `garbage`: as many seeded random bytes."""
  with open(path, "rb") as f:
    data = f.read()
  data = data[:len(data) // 2] if how == "truncated" else np.random.default_rng(0).bytes(len(data))
  with open(path, "wb") as f:
    f.write(data)


# ---- the readers: each `make(tmp)` writes a valid file and returns (file, read) ---------------

def _features_npz(tmp):
  d = features_lib.write_synthetic_cache(str(tmp), n_train=40, n_test=10, dim=4)
  return os.path.join(d, "features.npz"), lambda: load_dataset(data_config("features", data_dir=d))


def _mosaic_npz(tmp):
  d = features_lib.write_synthetic_cache(str(tmp), n_train=40, n_test=10, dim=4)
  config = data_config("cifar10n_mosaic", data_dir=d, num_mosaics=(8, 4))
  return os.path.join(d, "features.npz"), lambda: load_dataset(config)


def _write_cifar(d, n=4):
  os.makedirs(d, exist_ok=True)
  rng = np.random.default_rng(0)
  labels = [int(y) for y in rng.integers(0, 10, n)]
  for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": labels}
    with open(os.path.join(d, name), "wb") as f:
      pickle.dump(batch, f)
  with open(os.path.join(d, "batches.meta"), "wb") as f:
    pickle.dump({b"label_names": [f"c{i}".encode() for i in range(10)]}, f)
  return np.array(labels * 5)


def _cifar_batch(tmp):
  d = str(tmp / "cifar-10-batches-py")
  _write_cifar(d)
  return os.path.join(d, "data_batch_3"), lambda: load_dataset(data_config("cifar10", data_dir=d))


def _cifar_meta(tmp):
  d = str(tmp / "cifar-10-batches-py")
  _write_cifar(d)
  return os.path.join(d, "batches.meta"), lambda: load_dataset(data_config("cifar10", data_dir=d))


def _cifar10n_pt(tmp):
  """A `torch.save` file as torch writes it: a zip whose `archive/data.pkl` pickles a dict
  of numpy arrays (as CIFAR-10_human.pt re-saved with numpy)."""
  labels = _write_cifar(str(tmp))
  payload = pickle.dumps({"clean_label": labels, "worse_label": (labels + 1) % 10}, protocol=2)
  path = str(tmp / "CIFAR-10_human.pt")
  with zipfile.ZipFile(path, "w") as z:
    z.writestr("archive/data.pkl", payload)
    z.writestr("archive/version", "3\n")
  return path, lambda: cifar10n.read_labels(path)


def _fashion_idx_gz(tmp):
  path = str(tmp / "train-images-idx3-ubyte.gz")
  write_idx(path, np.random.default_rng(0).integers(0, 256, (20, 28, 28)))
  return path, lambda: fashion_mnist.read_idx(path)


def _fashion_idx(tmp):
  path = str(tmp / "train-labels-idx1-ubyte")
  write_idx(path, np.arange(200) % 10)
  return path, lambda: fashion_mnist.read_idx(path)


def _face_csv(name):
  def make(tmp):
    d = tmp / "faces_data"
    d.mkdir()
    users = ["an2i", "at33"]
    (d / "face4.details").write_text(
        "PrimaryKey, imageName, user, orientation\n" + "".join(
            f"{q}, {users[q % 2]}_left_sad_open.jpg, {users[q % 2]}, left\n" for q in range(1, 9)))
    (d / "truth.csv").write_text("question,truth\n" + "".join(f"{q},{q % 4}\n"
                                                               for q in range(1, 9)))
    (d / "answer.csv").write_text("question,worker,answer\n" + "".join(
        f"{q},worker{w * 37},{(q + w) % 4}\n" for q in range(1, 9) for w in range(3)))
    return str(d / name), lambda: face_sentiment.read_votes(str(d))
  return make


def _image_folder_csv(tmp):
  write_image_folder(str(tmp), per_class=4)
  rows = "".join(f"{c}/{i}.png,{c}\n" for c in ("cat", "dog") for i in range(4))
  path = tmp / "list.csv"
  path.write_text("filename,class\n" + rows)
  return str(path), lambda: load_dataset(data_config("image_folder", csv_file=str(path),
                                                     image_size=16))


def _image_file(tmp):
  write_image_folder(str(tmp), per_class=1, size=(32, 32))
  path = str(tmp / "cat" / "0.png")
  return path, lambda: image_folder.decode_image(path)


def _multilabel_csv(tmp):
  write_image_folder(str(tmp), per_class=3)
  path = tmp / "web.csv"
  path.write_text("path,tags\n" + "".join(f"cat/{i}.png,cat dog\ndog/{i}.png,dog\n"
                                          for i in range(3)))
  return str(path), lambda: load_dataset(data_config("multilabel_list", csv_file=str(path),
                                                     image_size=16))


def _webvision_list(tmp):
  info = tmp / "info"
  info.mkdir()
  (info / "synsets.txt").write_text("".join(f"n0000000{c} class{c}\n" for c in range(3)))
  (info / "train_filelist_google.txt").write_text(
      "".join(f"google/q000{i % 3}/{i:06d}.jpg {i % 3}\n" for i in range(31)))
  (info / "val_filelist.txt").write_text("".join(f"val{i:06d}.jpg {i % 3}\n" for i in range(9)))
  config = data_config("mini_webvision", data_dir=str(tmp), image_size=16)
  return str(info / "train_filelist_google.txt"), lambda: load_dataset(config)


def _multimodal(name):
  def make(tmp):
    rng = np.random.default_rng(0)
    np.save(tmp / "features.npy", rng.standard_normal((12, 4)).astype(np.float32))
    with open(tmp / "posts.csv", "w", newline="", encoding="utf-8") as f:
      w = csv.writer(f)
      w.writerow(["features_row", "title", "description", "anp", "anp_score"])
      for i in range(12):
        w.writerow([i, f"title {i}", "a sunny day at the beach", "sunny beach", (i - 6) / 10])
    config = data_config("multimodal_anp", data_dir=str(tmp), text_len=8, vocab_size=50)
    return str(tmp / name), lambda: load_dataset(config)
  return make


def _voc_tar(tmp):
  src = tmp / "src" / "VOCdevkit" / "VOC2012" / "ImageSets" / "Main"
  src.mkdir(parents=True)
  for name in ("aeroplane", "bicycle"):
    (src / f"{name}_train.txt").write_text("".join(f"2008_{i:06d}  1\n" for i in range(500)))
  path = str(tmp / "VOCtrainval_11-May-2012.tar")
  with tarfile.open(path, "w") as t:
    t.add(str(tmp / "src" / "VOCdevkit"), arcname="VOCdevkit")
  config = data_config("voc2012", data_dir=str(tmp), image_size=16)

  def read():  # the extraction is what reads the tar; the listing itself is incomplete here
    shutil.rmtree(tmp / "VOCdevkit", ignore_errors=True)
    try:
      load_dataset(config)
    except DataError as e:
      if "not found (incomplete VOC release)" not in str(e):
        raise
  return path, read


def _descriptions(tmp):
  path = tmp / "descriptions.txt"
  path.write_text("".join(f"class{c}: a long description of class number {c}\n"
                          for c in range(6)))
  names = [f"class{c}" for c in range(6)]
  return str(path), lambda: class_texts.read_descriptions(str(path), names)


def _workdir_json(tmp):
  config = load_file("quickstart", "tiny")
  workdir.write_record(str(tmp), config, None, 0)
  return str(tmp / workdir.FINGERPRINT_FILE), lambda: workdir.check_resume(str(tmp), config, True)


def _config_file(tmp):
  path = tmp / "my_config.py"
  path.write_text('"""A config."""\n\nfrom nlx.config_base import base_config\n\n\n'
                  "def get_config(arg=None):\n  c = base_config()\n  c.seed = 3\n  return c\n")
  return str(path), lambda: load_file(str(path))


def _dynamics_npz(tmp):
  dyn = dynamics.Dynamics.zeros(6, 3)
  dyn.add(np.random.default_rng(0).standard_normal((6, 3)), np.arange(6) % 3, 1)
  dynamics.save(str(tmp), dyn)
  return dynamics.path(str(tmp), 1), lambda: dynamics.load(str(tmp), 1)


def _label_issues_csv(tmp):
  with open(tmp / label_issues.CSV_NAME, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(label_issues.FIELDS)
    for i in range(9):
      w.writerow([i, f"images/{i}.png", i % 3, f"class{i % 3}", f"{i / 10:.6g}", (i + 1) % 3,
                  f"class{(i + 1) % 3}", int(i < 2)])
  return str(tmp / label_issues.CSV_NAME), lambda: label_issues.find(str(tmp))


def _results_json(tmp):
  path = str(tmp / "results.json")
  write_json(path, {"status": "finished", "test_accuracy": 0.91, "steps": 120})
  return path, lambda: read_json(path)


def _weights(ext):
  """A (tiny, not a ResNet's) state dict as `model.pretrained` reads it."""
  def make(tmp):
    arrays = {f"layer1.{i}.conv1.weight": np.random.default_rng(i).standard_normal(
        (4, 3, 3, 3)).astype(np.float32) for i in range(3)}
    path = str(tmp / f"resnet18.{ext}")
    if ext == "npz":
      np.savez(path, **arrays)
    else:
      from safetensors.numpy import save_file
      save_file(arrays, path)
    return path, lambda: pretrained.read_state_dict(path)
  return make


def _sinet_embeddings(tmp):
  path = str(tmp / "embeddings.npy")
  np.save(path, np.random.default_rng(0).standard_normal((6, 16)).astype(np.float32))
  return path, lambda: sinet.read_embeddings(path)


def _hierarchy(tmp):
  path = tmp / "hierarchy.txt"
  path.write_text("".join(f"class{c} group{c % 2}\n" for c in range(6)) +
                  "group0 entity\ngroup1 entity\n")
  config = override(sinet.default_config(), hierarchy=str(path))
  return str(path), lambda: sinet.relation_matrix(config, [f"class{c}" for c in range(6)])


def _label_issues_page_csv(tmp):
  path, _ = _label_issues_csv(tmp)
  write_json(str(tmp / label_issues.JSON_NAME), {"score": "self_confidence",
                                                  "estimated_errors": 2})
  return path, lambda: label_issues_page.section(str(tmp), str(tmp))


# (case, make, error type, what is wrong when truncated, when garbage); None: DAMAGED
CASES = [
    ("features.npz", _features_npz, DataError, None, None),
    ("cifar10n_mosaic features.npz", _mosaic_npz, DataError, None, None),
    ("CIFAR-10 batch", _cifar_batch, DataError, None, None),
    ("CIFAR-10 batches.meta", _cifar_meta, DataError, None, None),
    ("CIFAR-10N .pt", _cifar10n_pt, DataError, None, None),
    ("idx.gz", _fashion_idx_gz, DataError, None, None),
    ("idx", _fashion_idx, DataError, r"truncated idx file \(\d+ bytes for shape",
     "not a uint8 idx file"),
    ("face4.details", _face_csv("face4.details"), DataError, None, None),
    ("truth.csv", _face_csv("truth.csv"), DataError,
     r"no truth for \d+ questions of answer.csv \(first \d+\); restore it", None),
    ("answer.csv", _face_csv("answer.csv"), DataError, None, None),
    ("image_folder CSV", _image_folder_csv, DataError,
     r"every line must be path,label \(line 4", None),
    ("image", _image_file, DataError, "corrupt or truncated image", "corrupt or truncated image"),
    ("multilabel CSV", _multilabel_csv, DataError, r"line 3: unknown class 'c'", None),
    ("webvision list", _webvision_list, DataError, r":16: expected '<image path> <label>'", None),
    ("multimodal features.npy", _multimodal("features.npy"), DataError, None, None),
    ("multimodal posts.csv", _multimodal("posts.csv"), DataError,
     r"line 7 has 3 of the 5 columns", None),
    ("VOC tar", _voc_tar, DataError, None, None),
    ("side-information text", _descriptions, DataError, r"no description for classes \['class3'",
     None),
    ("workdir.json", _workdir_json, ConfigError, None, None),
    ("config file", _config_file, ConfigError, r":\d+: syntax error: ",
     r"my_config.py: syntax error: source code string cannot contain null bytes"),
    ("dynamics epoch file", _dynamics_npz, DataError, None, None),
    ("label_issues.csv", _label_issues_csv, DataError, None, None),
    ("results.json", _results_json, DataError, None, None),
    ("pretrained .npz", _weights("npz"), DataError, None, None),
    ("pretrained .safetensors", _weights("safetensors"), DataError, None, None),
    ("sinet embeddings .npy", _sinet_embeddings, DataError, None, None),
    ("sinet hierarchy", _hierarchy, DataError,
     r"hierarchy.txt: no 'child parent' line for the classes \['class\d'", None),
    ("label_issues.csv of the report page", _label_issues_page_csv, DataError, None, None),
]


@pytest.mark.parametrize("how", ["truncated", "garbage"])
@pytest.mark.parametrize("case, make, error, truncated, garbage", CASES, ids=[c[0] for c in CASES])
def test_a_damaged_file_is_one_line_naming_it(tmp_path, case, make, error, truncated, garbage,
                                              how):
  path, read = make(tmp_path)
  read()  # the intact file reads
  damage(path, how)
  with pytest.raises(error) as e:
    read()
  message = str(e.value)
  assert "\n" not in message and len(message) < 600, message
  assert path in message, message
  assert re.search((truncated if how == "truncated" else garbage) or DAMAGED, message), message


def test_the_messages_of_a_truncated_features_cache_and_torch_file(tmp_path):
  path, read = _features_npz(tmp_path / "features")
  damage(path, "truncated")
  with pytest.raises(DataError) as e:
    read()
  assert str(e.value) == (
      f"{path}: not a readable NumPy .npz archive, cut short or damaged (BadZipFile: File is "
      "not a zip file); write it again (e.g. python experiments/protocols.py --out=DIR)")
  path, read = _cifar10n_pt(tmp_path)
  damage(path, "truncated")
  with pytest.raises(DataError) as e:
    read()
  assert str(e.value) == (f"{path}: not a readable torch.save zip file, cut short or damaged "
                          "(BadZipFile: File is not a zip file)")


def test_a_legacy_torch_file_is_a_plain_pickle(tmp_path):
  """A torch file from before the zip format (a bare pickle) still reads."""
  path = str(tmp_path / "old.pt")
  with open(path, "wb") as f:
    pickle.dump({"clean_label": np.arange(3)}, f, protocol=2)
  np.testing.assert_array_equal(cifar10n.read_labels(path)["clean_label"], np.arange(3))


def test_a_gzipped_idx_that_is_gzip_but_not_idx_is_named(tmp_path):
  path = str(tmp_path / "t10k-labels-idx1-ubyte.gz")
  with gzip.open(path, "wb") as f:
    f.write(b"hello")
  with pytest.raises(DataError, match=rf"^{re.escape(path)}: not a uint8 idx file$"):
    fashion_mnist.read_idx(path)


def test_a_workdir_record_of_json_but_not_a_record_is_named(tmp_path):
  config = load_file("quickstart", "tiny")
  path = tmp_path / workdir.FINGERPRINT_FILE
  path.write_text(json.dumps([1, 2]))
  with pytest.raises(ConfigError) as e:
    workdir.check_resume(str(tmp_path), config, True)
  assert str(e.value) == (
      f"{path}: not a readable run record (JSON), cut short or damaged (ValueError: not a "
      f"JSON object with 'keys'); restore it, or use another --workdir, or delete "
      f"{tmp_path}/checkpoints/ to start fresh")


def test_a_config_file_without_get_config_is_named(tmp_path):
  path = tmp_path / "empty.py"
  path.write_text("x = 1\n")
  with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: defines no get_config"):
    load_file(str(path))


def test_a_damaged_dynamics_record_restarts_the_sums_like_a_missing_one(tmp_path, caplog):
  """The tracker resumes from the record of its epoch; one cut short counts as missing (the
  sums restart at zero) with a one-line warning naming it, not a failed resume."""
  path, _ = _dynamics_npz(tmp_path)
  damage(path, "truncated")
  with caplog.at_level(logging.WARNING):
    t = dynamics.Tracker(str(tmp_path), np.arange(6) % 3, 3, start_epoch=1, write=False)
  assert (t.dynamics.count, t.dynamics.epoch) == (0, 0)
  warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
  assert len(warnings) == 1 and "\n" not in warnings[0], warnings
  assert warnings[0].startswith(f"{path}: not a readable training dynamics record (.npz), cut "
                                "short or damaged (BadZipFile: ")
  assert warnings[0].endswith("; the training dynamics restart at zero, as for a missing record")


def test_a_label_issues_write_that_fails_names_its_file(tmp_path, monkeypatch):
  """A full disk while label_issues.csv is written: the OSError names the file."""
  import builtins
  real_open = builtins.open

  class Full(stdlib_io.StringIO):
    def write(self, text):
      raise OSError(28, "No space left on device")

  def full_open(path, mode="r", *args, **kwargs):
    # the CSV is written to label_issues.csv.tmp, then renamed
    return Full() if "w" in mode and label_issues.CSV_NAME in str(path) else real_open(
        path, mode, *args, **kwargs)

  monkeypatch.setattr(builtins, "open", full_open)

  class Issues:
    scores, labels, suggested, flagged = (np.zeros(2), np.zeros(2, int), np.zeros(2, int),
                                          np.zeros(2))

  class Train:
    decode = paths = None

  class Data:
    class_names, train = ["a", "b"], Train()

  with pytest.raises(OSError) as e:
    label_issues.write(str(tmp_path), Issues(), Data())
  assert e.value.filename == str(tmp_path / label_issues.CSV_NAME)
  assert e.value.strerror == "No space left on device"


def test_nlx_main_on_a_truncated_features_cache_is_one_line(tmp_path):
  """The issue's measurement: a truncated features.npz was a 42-line traceback."""
  path, _ = _features_npz(tmp_path / "data")
  damage(path, "truncated")
  r = run_main("--config=configs/quickstart.py", "--config.data.name=features",
               f"--config.data.data_dir={tmp_path / 'data'}", f"--workdir={tmp_path / 'wd'}",
               cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))), timeout=120)
  assert r.returncode != 0
  lines = r.stderr.strip().splitlines()
  assert len(lines) == 1, r.stderr
  assert lines[0].startswith(f"nlx: error: {path}: not a readable NumPy .npz archive"), lines


@pytest.mark.parametrize("how", ["truncated", "garbage"])
def test_the_report_commands_on_a_damaged_file_end_in_one_line(tmp_path, how):
  """`nlx report` on a workdir whose results.json is damaged, and the label-issues page
  on a damaged label_issues.csv: `nlx: error: FILE: ...`, not a traceback."""
  wd = tmp_path / "run"
  wd.mkdir()
  results = str(wd / "results.json")
  write_json(results, {"dataset": "digits", "method": "ce", "model": "mlp", "noise_rate": 0.2,
                       "test": {"accuracy": 0.5, "macro_f1": 0.4}})
  csv_path, _ = _label_issues_page_csv(wd)
  out = str(tmp_path / "out.md")
  report.main([str(wd), "--out", out])  # the intact files read
  label_issues_page.main([str(wd), "--out", out])
  for path, command in ((results, report.main), (csv_path, label_issues_page.main)):
    damage(path, how)
    with pytest.raises(SystemExit) as e:
      command([str(wd), "--out", out])
    message = str(e.value.code)
    assert "\n" not in message, message
    assert message.startswith(f"nlx: error: {path}: not a readable "), message
    assert re.search(DAMAGED, message), message
