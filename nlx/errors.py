"""Errors that nlx raises for bad input: each says in one line what is wrong."""

import difflib
import errno
import os
import re
import sysconfig
import traceback

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_STDLIB = os.path.abspath(sysconfig.get_paths()["stdlib"]) + os.sep


class NlxError(Exception):
  """Base class of the errors a user can fix (data, config, numerics)."""


class DataError(NlxError):
  """A dataset is missing, malformed or inconsistent."""


class ConfigError(NlxError):
  """A config value is invalid or inconsistent with the data."""


class NonFiniteLossError(NlxError):
  """Training produced a NaN or Inf loss; the last good checkpoint is kept."""


class DiskError(NlxError):
  """A file of the run cannot be written: no space left, no permission, a read-only disk."""


class DamagedCheckpointError(NlxError):
  """A checkpoint's files differ from its integrity record, or orbax reports them corrupt."""


# Write failures a user fixes on their side, not bugs of nlx: no room to write (space,
# quota, file size, a read-only disk), and permissions (which a read may meet as well).
NO_ROOM_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
DISK_ERRNOS = NO_ROOM_ERRNOS | {errno.EACCES, errno.EPERM}


def disk_cause(exc: BaseException) -> str | None:
  """The OS's words (e.g. "No space left on device") when `exc`, or an exception it was
  raised from, is a write failure of `DISK_ERRNOS`; tensorstore (orbax) reports one as a
  ValueError whose text ends with `[os_error_code='28']`. None for anything else."""
  seen = set()
  while exc is not None and id(exc) not in seen:
    seen.add(id(exc))
    code = exc.errno if isinstance(exc, OSError) else None
    found = re.search(r"os_error_code='(\d+)'", str(exc))
    code = code if code is not None else (int(found.group(1)) if found else None)
    if code in DISK_ERRNOS:
      return os.strerror(code)
    exc = exc.__cause__ or exc.__context__
  return None


def near_matches(word: str, candidates, n: int = 3) -> list[str]:
  """Candidates that look like `word`: equal ignoring case, then by edit similarity."""
  folded = {str(c).casefold(): c for c in candidates}
  hits = [folded[word.casefold()]] if word.casefold() in folded else []
  hits += [folded[c] for c in difflib.get_close_matches(word.casefold(), list(folded), n, 0.6)]
  return list(dict.fromkeys(hits))[:n]


def config_load_message(exc: BaseException, argv=()) -> str:
  """One line for an error raised while the command line's config was read: a syntax error
  as `file:line: ...`, an unknown key as the `--config.` flag (or file:line) naming it,
  anything raised inside a config file with the file and line where it happened."""
  if "Traceback (most recent call last)" in str(exc):  # absl re-raised it as text
    return _from_traceback_text(str(exc))
  if isinstance(exc, SyntaxError):
    return syntax_error_message(exc, _config_arg(argv))
  where = _config_file_frame(exc)
  if isinstance(exc, (AttributeError, KeyError)):
    inner = exc
    while inner.args and isinstance(inner.args[0], BaseException):
      inner = inner.args[0]  # ml_collections wraps a KeyError in an AttributeError
    text = str(inner.args[0]) if inner.args else str(inner)
    found = re.match(r"""\s*(?:Key )?["']([^"']+)["']""", text)
    key = found.group(1) if found else text.splitlines()[0]
    mean = re.search(r'Did you mean "([^"]+)"', text)
    hint = f"did you mean {mean.group(1)!r}?" if mean else ""
    flag = next((a.split("=")[0] for a in argv if a.startswith("--config.")
                 and f".{key}" in a.split("=")[0].split("[")[0]), None)
    message = f"unknown config key {key!r}" + (f" ({hint})" if hint else "")
    if flag:
      return f"{flag}: {message}"
    if where:
      return f"{where}: {message}"
    return message
  text = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
  return f"{where}: {type(exc).__name__}: {text}" if where else text


def syntax_error_message(exc: SyntaxError, path: str = "") -> str:
  """`file:line: syntax error: ...`; a file that is not Python at all (garbage, null bytes)
  has no line, and Python names no file for it: `path` is the file that was read."""
  where = ":".join(str(p) for p in (exc.filename or path or "<config>", exc.lineno) if p)
  return f"{where}: syntax error: {exc.msg}"


def _config_arg(argv) -> str:
  """The config file named by `--config=FILE[:VARIANT]` (or `--config FILE`) in `argv`."""
  argv = list(argv)
  for i, arg in enumerate(argv):
    value = (arg[len("--config="):] if arg.startswith("--config=")
             else argv[i + 1] if arg == "--config" and i + 1 < len(argv) else None)
    if value:
      return value.split(":")[0]
  return ""


def _config_file_frame(exc: BaseException) -> str:
  """`file:line` of the innermost traceback frame in the user's code (a config file)."""
  frames = [f for f in traceback.extract_tb(exc.__traceback__) if _is_user_file(f.filename)]
  return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else ""


def _is_user_file(path: str) -> bool:
  """Not an installed package's, Python's own (`<frozen ...>`, the standard library) or
  the nlx package's."""
  return ("site-packages" not in path and not path.startswith("<")
          and not os.path.abspath(path).startswith((_PACKAGE, _STDLIB)))


def _from_traceback_text(text: str) -> str:
  """`file:line: last line` from a traceback printed into an error message."""
  lines = [line for line in text.strip().splitlines() if line.strip()]
  places = re.findall(r'File "([^"]+)", line (\d+)', text)
  places = [p for p in places if _is_user_file(p[0])]
  where = f"{places[-1][0]}:{places[-1][1]}: " if places else ""
  return where + lines[-1].strip()
