"""Reading and writing a run's small text files: JSON and JSON lines (metrics.jsonl), and
`reading`, which turns a damaged file that any reader of nlx meets into one line.

The bottom layer (see `nlx`'s docstring): used by the trainer, the data, the report and
the CLI alike, it imports nothing from nlx but `nlx.errors`.
"""

import contextlib
import csv
import json
import os
import pickle
import struct
import tarfile
import zipfile
import zlib

from nlx.errors import DataError, NlxError

# What parsing a file that is cut short, damaged or of another format raises: an early end
# (EOFError, struct.error, zip, zlib and tar errors), a foreign format (pickle, csv, JSON,
# numpy and bad UTF-8 raise ValueErrors; PIL and gzip OSErrors), or an npz member it lacks
# (KeyError).
DAMAGE = (OSError, EOFError, ValueError, KeyError, struct.error, zipfile.BadZipFile, zlib.error,
          tarfile.TarError, pickle.UnpicklingError, csv.Error)


def damage_cause(exc: BaseException) -> str:
  """`Type: first line of the message`, without the file name an OSError repeats."""
  text = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
  if isinstance(exc, KeyError) and exc.args:
    text = str(exc.args[0])
  line = next((t.strip() for t in text.splitlines() if t.strip()), "")
  line = line if len(line) <= 160 else line[:157] + "..."
  return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


@contextlib.contextmanager
def reading(path: str, what: str, fix: str = "", error: type[NlxError] = DataError,
            also: tuple[type[BaseException], ...] = ()):
  """Turns what a damaged `path` raises while the block parses it (`DAMAGE`, and the
  parser's own error types in `also`, e.g. safetensors') into one line, `PATH: not a
  readable WHAT, cut short or damaged (Type: message); FIX`, raised as `error`. nlx's own
  errors pass unchanged; so does a missing file, which readers report with what to put
  where."""
  try:
    yield
  except NlxError:
    raise
  except FileNotFoundError:
    raise
  except DAMAGE + tuple(also) as e:
    message = f"{path}: not a readable {what}, cut short or damaged ({damage_cause(e)})"
    raise error(message + (f"; {fix}" if fix else "")) from None


@contextlib.contextmanager
def naming(path: str):
  """Gives `path` as the file name of an OSError raised inside without one: a write or a
  close that fails on a full disk names no file, and the user must know which."""
  try:
    yield
  except OSError as e:
    if e.filename is None:
      raise OSError(e.errno, e.strerror, path) from e
    raise


def read_jsonl(path: str) -> list[dict]:
  """The records of a JSON-lines file (e.g. metrics.jsonl), in order; blank lines skipped,
  and a last line cut short (no newline, not JSON: a write that ran out of space)."""
  with reading(path, "JSON-lines file"):
    with open(path) as f:
      lines = [line for line in f if line.strip()]
    if lines and not lines[-1].endswith("\n"):
      try:
        json.loads(lines[-1])
      except ValueError:
        lines.pop()
    return [json.loads(line) for line in lines]


def write_jsonl(path: str, records: list[dict]) -> None:
  """Writes `records` one JSON object a line, replacing the file."""
  with replacing(path) as f:
    f.writelines(json.dumps(r) + "\n" for r in records)


def append_jsonl(path: str, record: dict) -> None:
  with naming(path), open(path, "a") as f:
    f.write(json.dumps(record) + "\n")


def read_json(path: str, default=None):
  """The JSON value in `path`; `default` when the file does not exist (None: an error)."""
  if default is not None and not os.path.isfile(path):
    return default
  with reading(path, "JSON file"), open(path) as f:
    return json.load(f)


def write_json(path: str, value, indent: int | None = 2) -> None:
  with replacing(path) as f:
    json.dump(value, f, indent=indent)


@contextlib.contextmanager
def replacing(path: str, newline: str | None = None):
  """A text file to write that replaces `path` only once it is complete: written to
  `path.tmp` and renamed, so a write that fails or is killed half-way leaves the old file
  (or none), never a cut-short one. The temporary file of a failed write is removed."""
  tmp = path + ".tmp"
  try:
    with naming(path), open(tmp, "w", newline=newline) as f:
      yield f
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
