"""What every benchmark table writes: the command that made it, the file, mean ± std text."""

import functools
import os
import sys

import numpy as np

from nlx.errors import NlxError


def command_line(argv: list[str] | None = None) -> str:
  """`python SCRIPT ARGS...` of this process (or of `argv`), the script relative to the
  working folder, as a table's "Command:" line prints it."""
  argv = sys.argv if argv is None else argv
  return "python " + " ".join([os.path.relpath(argv[0])] + list(argv[1:]))


def write_text(path: str, text: str) -> str:
  """Writes `text` to `path`, making its folder; returns `path`."""
  os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
  with open(path, "w") as f:
    f.write(text)
  return path


def mean_std_text(values, *, scale: float = 100.0, digits: int = 2,
                  std_of_one: bool = True) -> str:
  """`"mean ± std"` of `scale * values` (population std, ddof=0), `digits` decimals;
  with `std_of_one=False` a single value prints without "± 0"."""
  v = scale * np.asarray(values, float)
  if not std_of_one and len(v) < 2:
    return f"{v.mean():.{digits}f}"
  return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def one_line_errors(main):
  """`main(argv)` for `absl.app.run`, with a user's error (an `NlxError`: missing data, a
  wrong variant) printed as one line naming the script instead of a traceback."""
  @functools.wraps(main)
  def wrapped(argv):
    try:
      return main(argv)
    except NlxError as e:
      sys.exit(f"{os.path.basename(sys.argv[0]).removesuffix('.py')}: {e}")
  return wrapped
