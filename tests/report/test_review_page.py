"""The review page (nlx.report.review_page): what it holds, worked out from the run's CSV
by hand, and, in headless Chromium, what a user sees and downloads."""

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, write_images
from PIL import Image

from nlx.report import review_page

FIELDS = ("index", "path", "given_label", "given_class", "score", "suggested_label",
          "suggested_class", "flagged")
CLASSES = ("cat", "dog", "eel")


def write_run(workdir, rows, summary=None):
  """A finished run's label_issues.csv (rows: index, path, given, suggested, score,
  flagged; written most suspicious first) and label_issues.json."""
  os.makedirs(workdir, exist_ok=True)
  rows = sorted(rows, key=lambda r: r[4])
  with open(os.path.join(workdir, "label_issues.csv"), "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(FIELDS)
    for i, path, given, suggested, score, flagged in rows:
      w.writerow([i, path, CLASSES.index(given), given, score, CLASSES.index(suggested),
                  suggested, int(flagged)])
  with open(os.path.join(workdir, "label_issues.json"), "w") as f:
    json.dump(summary or {"score": "aum", "estimated_errors": sum(r[5] for r in rows)}, f)


@pytest.fixture
def files_run(tmp_path):
  """Six image files (the fourth 100 x 80, larger than a thumbnail); a comma and a quote
  in one path; examples 1, 3 and 4 flagged."""
  names = ["a/0.png", "a/1,x.png", "a/2.png", 'a/3".png', "a/4.png", "a/5.png"]
  pixels = write_images(tmp_path / "img", names, size=(20, 30), seed=1)
  Image.fromarray(np.full((80, 100, 3), 200, np.uint8)).save(tmp_path / "img" / 'a/3".png')
  paths = [str(tmp_path / "img" / n) for n in names]
  rows = [(0, paths[0], "cat", "cat", 2.0, False), (1, paths[1], "cat", "dog", -1.5, True),
          (2, paths[2], "dog", "dog", 1.0, False), (3, paths[3], "dog", "eel", -0.5, True),
          (4, paths[4], "eel", "cat", -2.5, True), (5, paths[5], "eel", "eel", 3.0, False)]
  write_run(tmp_path / "run", rows, {"score": "aum", "estimated_errors": 3, "true_errors": 4})
  return tmp_path / "run", paths, pixels


def decoded(uri):
  assert uri.startswith("data:image/png;base64,")
  return np.asarray(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def test_the_page_holds_every_flagged_row_with_its_thumbnail_and_the_whole_set(files_run):
  run, paths, pixels = files_run
  data = review_page.page_data(str(run))
  assert [r["index"] for r in data["flagged"]] == [4, 1, 3]  # most suspicious first
  assert [(r["given"], r["suggested"]) for r in data["flagged"]] == [
      ("eel", "cat"), ("cat", "dog"), ("dog", "eel")]
  assert [r["score"] for r in data["flagged"]] == [-2.5, -1.5, -0.5]
  np.testing.assert_array_equal(decoded(data["flagged"][0]["thumb"]), pixels[4])  # 20 x 30: kept
  assert decoded(data["flagged"][2]["thumb"]).shape == (51, 64, 3)  # 80 x 100 -> fits 64
  assert data["key"] == "path" and data["classes"] == ["cat", "dog", "eel"]
  assert data["all"] == [[p, c] for p, c in zip(paths, ["cat", "cat", "dog", "dog", "eel", "eel"])]
  html = review_page.render(data)
  payload = re.search(r'<script id="data" type="application/json">(.*?)</script>', html, re.S)
  assert json.loads(payload.group(1)) == json.loads(json.dumps(data))
  assert "3 flagged of 6 training examples (score aum; estimated wrong labels 3; true: 4)" in html


def test_features_give_indices_in_memory_images_thumbnails_a_moved_file_none(tmp_path):
  rows = [(0, "", "cat", "dog", -1.0, True), (1, "", "dog", "dog", 1.0, False)]
  write_run(tmp_path / "run", rows)
  data = review_page.page_data(str(tmp_path / "run"))
  assert data["key"] == "index" and data["all"] == [[0, "cat"], [1, "dog"]]
  assert data["flagged"][0]["thumb"] == ""
  digits = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 1), dtype=np.uint8)
  data = review_page.page_data(str(tmp_path / "run"), images=digits)
  np.testing.assert_array_equal(decoded(data["flagged"][0]["thumb"]), digits[0, ..., 0])
  write_run(tmp_path / "moved", [(0, str(tmp_path / "gone.png"), "cat", "dog", -1.0, True)])
  assert review_page.page_data(str(tmp_path / "moved"))["flagged"][0]["thumb"] == ""


def test_a_run_gives_the_page_its_images_only_when_they_are_uint8_pictures_in_memory():
  from nlx import label_issues
  from nlx.data.types import Split
  y = np.zeros(4, np.int64)
  digits = np.zeros((4, 8, 8, 1), np.uint8)
  assert label_issues._images(Split(digits, y, y)) is digits
  assert label_issues._images(Split(digits.astype(np.float32), y, y)) is None  # features
  assert label_issues._images(Split(np.zeros((4, 16), np.uint8), y, y)) is None  # vectors
  files = Split(np.array(["a.png"] * 4, dtype=object), y, y, decode=lambda p: digits[0])
  assert label_issues._images(files) is None  # the page reads files itself


def test_a_path_with_a_script_end_tag_cannot_end_the_script(tmp_path):
  write_run(tmp_path / "run", [(0, "x</script><b>.png", "cat", "dog", -1.0, True)])
  html = review_page.render(review_page.page_data(str(tmp_path / "run")))
  script = html.split('<script id="data" type="application/json">', 1)[1]
  assert script.index("</script>") > script.index("x<\\/script>")


def test_the_command_writes_the_page_and_names_a_missing_run(files_run, tmp_path):
  run, _, _ = files_run
  env = {**os.environ, "PYTHONPATH": REPO}
  cmd = [sys.executable, "-c", "from nlx.cli import main; main()", "report", "label-issues"]
  out = subprocess.run([*cmd, str(run)], capture_output=True, text=True, env=env, check=True)
  assert out.stdout.strip() == str(run / "label_issues.html")
  assert "download corrected CSV" in (run / "label_issues.html").read_text()
  bad = subprocess.run([*cmd, str(tmp_path / "nothing")], capture_output=True, text=True,
                       env=env)
  assert bad.returncode != 0 and "no " in bad.stderr and "label_issues.csv" in bad.stderr
  assert "Traceback" not in bad.stderr


def chromium():
  path = shutil.which("chromium") or shutil.which("chromium-browser")
  if path is None:
    pytest.skip("needs Chromium (Debian: apt-get install chromium)")
  sync_api = pytest.importorskip("playwright.sync_api")
  return path, sync_api


@pytest.mark.slow
def test_in_chromium_thumbnails_load_and_the_download_is_the_accepted_suggestions(
    files_run, tmp_path):
  path, sync_api = chromium()
  run, paths, _ = files_run
  page_file = review_page.write(str(run), page_size=2)  # two pages: 2 rows, then 1
  with sync_api.sync_playwright() as p:
    browser = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
    page = browser.new_page()
    page.goto("file://" + page_file)  # opened from disk: no server
    loaded = "imgs => imgs.map(i => i.complete && i.naturalWidth > 0)"
    assert page.locator("#issues tbody tr").count() == 2
    assert page.eval_on_selector_all("td.thumb img", loaded) == [True] * 2
    assert page.inner_text("#page") == "page 1 of 2 (3 rows)"
    page.screenshot(path=str(tmp_path / "page.png"))
    page.click("#next")
    assert [t.split("\t")[2] for t in page.locator("#issues tbody tr").all_inner_texts()] == ["3"]
    assert page.eval_on_selector_all("td.thumb img", loaded) == [True]
    page.click("#prev")
    # the filter: the dog row alone
    page.select_option("#class", "dog")
    assert page.locator("#issues tbody tr").all_inner_texts()[0].split("\t")[2:4] == ["3", "dog"]
    page.select_option("#class", "")
    page.check('input[name="d1"][value="accept"]')   # cat -> dog: accepted
    page.check('input[name="d4"][value="accept"]')   # eel -> cat: accepted, then kept
    page.check('input[name="d4"][value="keep"]')
    page.click("#next")
    page.check('input[name="d3"][value="accept"]')   # dog -> eel (page 2): accepted
    assert page.inner_text("#counts") == "2 suggestions accepted of 3 flagged"
    with page.expect_download() as info:
      page.click("#download")
    got = open(info.value.path(), newline="").read()
    browser.close()
  expected = io.StringIO()
  csv.writer(expected, lineterminator="\n").writerows(
      [["path", "label"]] + [[q, c] for q, c in zip(
          paths, ["cat", "dog", "dog", "eel", "eel", "eel"])])
  assert got == expected.getvalue()
  assert Image.open(tmp_path / "page.png").size[0] > 0
