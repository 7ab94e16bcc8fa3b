"""Reading and writing a run's small text files: JSON and JSON lines (metrics.jsonl).

The bottom layer (see `nlx`'s docstring): used by the trainer, the report and the CLI
alike, it imports nothing from nlx.
"""

import json
import os


def read_jsonl(path: str) -> list[dict]:
  """The records of a JSON-lines file (e.g. metrics.jsonl), in order; blank lines skipped."""
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: str, records: list[dict]) -> None:
  """Writes `records` one JSON object a line, replacing the file."""
  with open(path, "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in records)


def append_jsonl(path: str, record: dict) -> None:
  with open(path, "a") as f:
    f.write(json.dumps(record) + "\n")


def read_json(path: str, default=None):
  """The JSON value in `path`; `default` when the file does not exist (None: an error)."""
  if default is not None and not os.path.isfile(path):
    return default
  with open(path) as f:
    return json.load(f)


def write_json(path: str, value, indent: int | None = 2) -> None:
  with open(path, "w") as f:
    json.dump(value, f, indent=indent)
