"""Committed text names no folder of the machine it was written on (issue 30).

A command printed with `--workroot=/tmp/...` or `--data_dir=/work/...` fails when a new
user pastes it; the README and the tables in experiments/results use the defaults
(relative workdirs, `../shared/data`) or say "a scratch folder" in words.
"""

import os
import re
import subprocess

import pytest
from conftest import REPO

EXTENSIONS = (".md", ".py", ".ipynb", ".csv", ".cfg", ".toml", ".txt")
# An absolute path under a folder that only the machine that wrote it has. Not preceded by
# a word character, `.`, `~`, `/` or `-`, so `workdirs/tmp/x`, `~/work/x`, `$HOME/x` and
# URLs (`github.com/root/x`) are not matches.
ROOTS = ("tmp", "work", "root", "home", "Users", "mnt")
ABSOLUTE = re.compile(r"(?<![\w.~/-])/(?:%s)/[^\s`'\")\]]*" % "|".join(ROOTS))

# (file, path) pairs where an absolute path stays for now, each with why (none today). The
# test fails when a pair is no longer found, so the list cannot outlive the problem.
# This file is not read: its examples and ALLOWED name such paths on purpose.
SELF = "tests/test_docs.py"
ALLOWED: dict = {}


def text_files() -> list:
  """Tracked files and new ones git would add (not ignored), with the text extensions."""
  try:
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
  except (OSError, subprocess.CalledProcessError):
    pytest.skip("not a git checkout")
  return sorted(f for f in set(out.splitlines()) if f.endswith(EXTENSIONS) and f != SELF
                and os.path.isfile(os.path.join(REPO, f)))


def absolute_paths() -> set:
  found = set()
  for name in text_files():
    with open(os.path.join(REPO, name), encoding="utf-8", errors="replace") as f:
      found |= {(name, m.rstrip(".,;:")) for m in ABSOLUTE.findall(f.read())}
  return found


def test_the_pattern_finds_machine_folders_and_nothing_relative():
  hits = ABSOLUTE.findall("--workroot=/work/cache/x `/tmp/y` (/home/u/z) /root/a")
  assert hits == ["/work/cache/x", "/tmp/y", "/home/u/z", "/root/a"]
  assert not ABSOLUTE.findall("workdirs/tmp/x ~/work/y ../shared/data $HOME/a "
                              "https://github.com/root/x /usr/share/datasets /dev/null")


def test_no_committed_text_names_an_absolute_path_of_the_machine():
  found = absolute_paths()
  new = sorted(found - set(ALLOWED))
  assert not new, ("absolute paths in committed text (use a relative workdir, the default, "
                   f"or say 'a scratch folder'): {new}")
  stale = sorted(set(ALLOWED) - found)
  assert not stale, f"fixed, so remove them from ALLOWED: {stale}"
