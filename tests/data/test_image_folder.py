"""Image folder / CSV validation (issue 16): headers, class names and typos, repeated
paths, pixel copies across the split, 16-bit images, missing versus corrupt files."""

import os

import numpy as np
import pytest
from conftest import write_images
from PIL import Image

from nlx.config_base import base_config
from nlx.data import load_dataset
from nlx.data.datasets.image_folder import decode_image
from nlx.errors import DataError


def config(**kw):
  c = base_config()
  c.data.name = "image_folder"
  c.data.image_size = 16
  for k, v in kw.items():
    setattr(c.data, k, v)
  return c


def csv_dataset(tmp_path, lines, **kw):
  (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
  return load_dataset(config(csv_file=str(tmp_path / "labels.csv"), **kw))


def all_labels(ds):
  return np.concatenate([ds.train.labels, ds.test.labels])


def test_a_header_line_is_recognised_not_a_class(tmp_path):
  write_images(tmp_path, [f"{i}.png" for i in range(10)])
  lines = ["filename,class"] + [f"{i}.png,{'cat' if i < 5 else 'dog'}" for i in range(10)]
  ds = csv_dataset(tmp_path, lines)
  assert ds.class_names == ["cat", "dog"] and len(ds.train) + len(ds.test) == 10


def two_class_rows(tmp_path, n, first, a="cat", b="dog", images=None):
  """Writes `images` (default n) PNGs 0.png...; CSV rows of the first n: label a below
  `first`, b from there."""
  write_images(tmp_path, [f"{i}.png" for i in range(images or n)])
  return [f"{i}.png,{a if i < first else b}" for i in range(n)]


def test_class_names_fix_the_classes_and_an_unknown_label_lists_near_matches(tmp_path):
  rows = two_class_rows(tmp_path, 11, 6, images=12)
  ds = csv_dataset(tmp_path, rows, class_names=("dog", "cat", "bird"))
  assert ds.class_names == ["dog", "cat", "bird"] and ds.num_classes == 3
  assert sorted(all_labels(ds).tolist()) == [0] * 5 + [1] * 6  # dog = 0, cat = 1
  with pytest.raises(DataError, match=r"1 labels not in data.class_names: 'dgo' \(near: 'dog'\)"):
    csv_dataset(tmp_path, rows + ["11.png,dgo"], class_names=("dog", "cat", "bird"))


def test_a_typo_or_a_case_variant_is_not_a_new_class(tmp_path):
  # Measured on main: `dgo` and `Dog` each became a class of their own.
  rows = two_class_rows(tmp_path, 41, 20, images=42)
  with pytest.raises(DataError, match=r"label 'dgo' \(1 rows\) looks like a typo of 'dog' "
                                      r"\(21 rows\).*data.class_names"):
    csv_dataset(tmp_path, rows + ["41.png,dgo"])
  with pytest.raises(DataError, match=r"labels \['Dog', 'dog'\] differ only in case"):
    csv_dataset(tmp_path, rows + ["41.png,Dog"])


def test_integer_labels_that_leave_classes_empty_are_an_error(tmp_path):
  # Measured on main: labels {0, 5} made 6 classes, 4 of them empty.
  rows = two_class_rows(tmp_path, 10, 5, a=0, b=5)
  with pytest.raises(DataError, match=r"integer labels \[0, 5\] leave classes \[1, 2, 3, 4\] "
                                      "without examples"):
    csv_dataset(tmp_path, rows)
  named = csv_dataset(tmp_path, rows, class_names=tuple("abcdef"))  # explicit: 6 classes
  assert named.num_classes == 6 and sorted(set(all_labels(named).tolist())) == [0, 5]


def test_a_path_listed_twice_is_an_error_or_dropped_with_conflicts_reported(tmp_path):
  # Measured on main: a repeated row put the same image in train and test.
  rows = two_class_rows(tmp_path, 10, 5)
  with pytest.raises(DataError, match=r"1 paths listed more than once \(first .*3\.png, rows "
                                      r"\[4, 11\]\).*duplicates='drop'"):
    csv_dataset(tmp_path, rows + ["3.png,cat"])
  ds = csv_dataset(tmp_path, rows + ["3.png,cat", "./7.png,cat"], duplicates="drop")
  assert len(ds.train) + len(ds.test) == 9  # 3.png once; 7.png (cat and dog) dropped
  assert ds.info["repeated_paths"] == 2 and ds.info["conflicting_label_paths"] == 1
  names = [os.path.basename(p) for p in np.concatenate([ds.train.inputs, ds.test.inputs])]
  assert sorted(names) == sorted(f"{i}.png" for i in range(10) if i != 7)


def test_files_with_the_same_pixels_are_an_error_or_dropped(tmp_path):
  write_images(tmp_path, [f"cat/{i}.png" for i in range(5)] + [f"dog/{i}.png" for i in range(5)])
  (tmp_path / "dog" / "copy.png").write_bytes((tmp_path / "cat" / "2.png").read_bytes())
  with pytest.raises(DataError, match=r"1 files have the same pixels as another \(first "
                                      r".*dog/copy\.png = .*cat/2\.png\)"):
    load_dataset(config(data_dir=str(tmp_path)))
  ds = load_dataset(config(data_dir=str(tmp_path), duplicates="drop"))
  assert len(ds.train) + len(ds.test) == 10 and ds.info["dropped_copies"] == 1
  pixels = {decode_image(p).tobytes() for p in np.concatenate([ds.train.inputs, ds.test.inputs])}
  assert len(pixels) == 10  # no image on both sides of the split


def test_class_names_are_checked_against_the_folders(tmp_path):
  write_images(tmp_path, [f"cat/{i}.png" for i in range(3)] + [f"dgo/{i}.png" for i in range(3)])
  with pytest.raises(DataError, match=r"'dgo' \(near: 'dog'\)"):
    load_dataset(config(data_dir=str(tmp_path), class_names=("cat", "dog")))


def test_16_bit_and_other_modes_are_scaled_not_saturated(tmp_path):
  # Measured on main: a 16-bit grey PNG of value 60*257 decoded as 255 (mean 248 vs ~60).
  values = np.arange(64, dtype=np.uint16).reshape(8, 8) * 257 * 2  # 0, 2, ..., 126 in 8 bits
  Image.fromarray(values).save(tmp_path / "grey16.png")
  got = decode_image(str(tmp_path / "grey16.png"))
  assert got.shape == (8, 8, 3) and got.dtype == np.uint8
  np.testing.assert_array_equal(got[..., 0], np.arange(64).reshape(8, 8) * 2)
  np.testing.assert_array_equal(got[..., 0], got[..., 2])
  Image.fromarray((values / 65535).astype(np.float32)).save(tmp_path / "float.tif")
  np.testing.assert_array_equal(decode_image(str(tmp_path / "float.tif"))[..., 1],
                                np.arange(64).reshape(8, 8) * 2)
  rgba = np.zeros((4, 4, 4), np.uint8)
  rgba[..., 0], rgba[..., 3] = 200, 255
  Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
  assert decode_image(str(tmp_path / "rgba.png"))[0, 0].tolist() == [200, 0, 0]
  Image.fromarray(np.full((4, 4), 77, np.uint8), "L").save(tmp_path / "grey8.png")
  assert decode_image(str(tmp_path / "grey8.png"))[0, 0].tolist() == [77, 77, 77]


def test_missing_and_corrupt_files_are_reported_apart_with_counts(tmp_path):
  # Measured on main: a file listed in the CSV but absent was called "corrupt".
  write_images(tmp_path, [f"{i}.png" for i in range(8)])
  (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
  rows = [f"{i}.png,{'cat' if i < 4 else 'dog'}" for i in range(8)]
  rows += ["gone1.png,cat", "gone2.png,dog", "bad.png,dog"]
  with pytest.raises(DataError, match=r"2 missing files \(first .*gone1\.png\) and 1 corrupt "
                                      r"or truncated images \(first .*bad\.png\)"):
    csv_dataset(tmp_path, rows)
  ds = csv_dataset(tmp_path, rows, corrupt_images="skip")
  assert ds.info["skipped_missing_files"] == 2 and ds.info["skipped_corrupt_images"] == 1
  assert len(ds.train) + len(ds.test) == 8 and ds.info["test_labels"] == "as given"


def test_class_indices_by_hand():
  from nlx.data import listing
  classes, labels = listing.class_indices(["b", "a", "b", "c"])
  assert classes == ["a", "b", "c"] and labels.tolist() == [1, 0, 1, 2]
  classes, labels = listing.class_indices(["2", "0", "1"])
  assert classes == ["0", "1", "2"] and labels.tolist() == [2, 0, 1]
  classes, labels = listing.class_indices(["1", "cat"], ("cat", "dog"))
  assert labels.tolist() == [1, 0]  # an integer label indexes data.class_names
  # a rare label far from every other (not a typo) is a class of its own
  classes, _ = listing.class_indices(["cat"] * 40 + ["zebra"])
  assert classes == ["cat", "zebra"]


def test_two_similar_labels_that_are_both_common_are_two_classes():
  # the typo rule needs a rare label: `car` and `cat` look alike (difflib ratio 2/3 >= 0.6)
  # but each has half the rows, so neither is the other's typo
  from nlx.data import listing
  raw = ["cat", "car"] * 30
  classes, labels = listing.class_indices(raw)
  assert classes == ["car", "cat"] and labels.tolist() == [1, 0] * 30
  # nor at a ratio of 19.5 (39 rows against 2), still not "fewer than 1/20"
  classes, labels = listing.class_indices(["cat"] * 39 + ["cats"] * 2)
  assert classes == ["cat", "cats"] and labels.tolist() == [0] * 39 + [1] * 2


@pytest.mark.parametrize("common,typo", [(39, False), (40, False), (41, True)])
def test_a_similar_label_is_a_typo_only_below_one_twentieth_of_the_other(common, typo):
  # listing.RARE = 20: a label seen in fewer than 1/20 of the rows of a similar label is
  # its typo. `cats` has 2 rows: 2 < 41/20 is a typo; 2 = 40/20 and 2 > 39/20 are not.
  from nlx.data import listing
  assert listing.RARE == 20
  raw = ["cats", "cat"] + ["cat"] * (common - 1) + ["cats"]
  if typo:
    with pytest.raises(DataError, match=rf"^labels.csv: label 'cats' \(2 rows\) looks like a "
                                        rf"typo of 'cat' \({common} rows\); fix it, or set "
                                        r"data.class_names"):
      listing.class_indices(raw, source="labels.csv")
  else:
    classes, labels = listing.class_indices(raw, source="labels.csv")
    assert classes == ["cat", "cats"]
    assert labels.tolist() == [1] + [0] * common + [1]


def test_listing_limits_negative_labels_and_pixel_copies_by_hand():
  from nlx.data import listing
  with pytest.raises(DataError, match=r"^s: negative label -1$"):
    listing.class_indices(["0", "-1", "1"], source="s")
  # empty integer classes: up to 10 are listed, more end in '...'
  with pytest.raises(DataError, match=r"^s: integer labels \[0, 11\] leave classes "
                                      r"\[1, 2, 3, 4, 5, 6, 7, 8, 9, 10\] without examples; "
                                      r"number the classes 0..1,"):
    listing.class_indices(["0", "11"], source="s")
  with pytest.raises(DataError, match=r"leave classes \[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, "
                                      r"'\.\.\.'\] without examples; number the classes 0..1,"):
    listing.class_indices(["0", "12"], source="s")
  # labels not in data.class_names: up to 5 are named, then "and N more"
  names = ("a", "b")
  with pytest.raises(DataError, match=r"5 labels not in data.class_names: 'c' .*'g' "
                                      r"\(near: none\)$"):
    listing.class_indices(list("abcdefg"), names, source="s")
  with pytest.raises(DataError, match=r"6 labels not in data.class_names: 'c' .*'g' "
                                      r"\(near: none\) and 1 more$"):
    listing.class_indices(list("abcdefgh"), names, source="s")
  # an integer label indexes data.class_names only inside 0..len - 1
  assert listing.class_indices(["0", "1"], names)[1].tolist() == [0, 1]
  with pytest.raises(DataError, match=r"1 labels not in data.class_names: '2'"):
    listing.class_indices(["0", "2"], names)
  with pytest.raises(DataError, match=r"data.class_names lists a name twice"):
    listing.class_indices(["a"], ("a", "b", "a"))
  # files with the same pixels: each later copy points at the first; unread files (None) skip
  assert listing.copies(["x", None, "x", None, "y", "y", "x"]) == {2: 0, 5: 4, 6: 0}


def test_the_rarest_suspect_label_is_named_with_its_closest_common_label():
  from nlx.data import listing
  # two typos: 'dgo' (1 row) of 'dog' and 'cta' (2 rows) of 'cat'; the rarest is named,
  # not the first in alphabetical order
  raw = ["dog"] * 50 + ["cat"] * 50 + ["cta"] * 2 + ["dgo"]
  with pytest.raises(DataError, match=r"^s: label 'dgo' \(1 rows\) looks like a typo of 'dog' "
                                      r"\(50 rows\); fix it"):
    listing.class_indices(raw, source="s")
  # 'cat' (1 row) is close to 'cats' (difflib ratio 6/7) and to 'bat' (4/6): the message
  # names the closer one, with its own row count (50, not bat's 60)
  raw = ["cats"] * 50 + ["bat"] * 60 + ["cat"]
  with pytest.raises(DataError, match=r"^s: label 'cat' \(1 rows\) looks like a typo of 'cats' "
                                      r"\(50 rows\); fix it"):
    listing.class_indices(raw, source="s")


def test_integer_labels_limits_by_hand():
  from nlx.data import listing
  # a negative integer is not an index into data.class_names
  with pytest.raises(DataError, match=r"^s: 1 labels not in data.class_names: '-1' "
                                      r"\(near: none\)$"):
    listing.class_indices(["0", "-1"], ("a", "b"), source="s")
  # 12 labels present (0..10 and 12), class 11 empty: the first 10 present ones are shown
  with pytest.raises(DataError, match=r"^s: integer labels \[0, 1, 2, 3, 4, 5, 6, 7, 8, 9\] "
                                      r"leave classes \[11\] without examples; number the "
                                      r"classes 0..11,"):
    listing.class_indices([str(k) for k in range(11)] + ["12"], source="s")


def test_drop_repeated_paths_by_hand():
  from nlx.data import listing
  # no repeats: everything kept, nothing counted, in either mode
  for mode in ("error", "drop"):
    paths, labels, info = listing.drop_repeated_paths(["a.png", "b.png"], [0, 1], ["x", "y"],
                                                      mode, "s")
    assert paths == ["a.png", "b.png"] and labels.tolist() == [0, 1]
    assert info == {"repeated_paths": 0, "conflicting_label_paths": 0, "warning": ""}
  # a repeat with the same label: the first row (and its spelling of the path) is kept
  paths, labels, info = listing.drop_repeated_paths(["a.png", "b.png", "./a.png"], [0, 1, 0],
                                                    ["x", "y"], "drop", "s")
  assert paths == ["a.png", "b.png"] and labels.tolist() == [0, 1]
  assert info == {"repeated_paths": 1, "conflicting_label_paths": 0, "warning": ""}
  # two paths with different labels: both dropped; the warning names the first and its labels
  classes = ["bird", "cat", "dog"]
  paths, labels, info = listing.drop_repeated_paths(
      ["a.png", "./b.png", "a.png", "b.png", "c.png"], [1, 1, 2, 0, 2], classes, "drop", "s")
  assert paths == ["c.png"] and labels.tolist() == [2]
  assert info == {"repeated_paths": 2, "conflicting_label_paths": 2,
                  "warning": "s: dropped 2 paths listed with different labels "
                             "(first a.png: ['cat', 'dog'])"}
