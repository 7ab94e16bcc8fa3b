"""Reading and writing a run's small text files: JSON and JSON lines (metrics.jsonl).

The bottom layer (see `nlx`'s docstring): used by the trainer, the report and the CLI
alike, it imports nothing from nlx.
"""

import contextlib
import json
import os


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
  with naming(path), open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in records)


def append_jsonl(path: str, record: dict) -> None:
  with naming(path), open(path, "a") as f:
    f.write(json.dumps(record) + "\n")


def read_json(path: str, default=None):
  """The JSON value in `path`; `default` when the file does not exist (None: an error)."""
  if default is not None and not os.path.isfile(path):
    return default
  with open(path) as f:
    return json.load(f)


def write_json(path: str, value, indent: int | None = 2) -> None:
  with naming(path), open(path, "w") as f:
    json.dump(value, f, indent=indent)
