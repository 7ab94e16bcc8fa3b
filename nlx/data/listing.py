"""Checks of a user's list of examples (`path, label` rows from folders or a CSV).

Each function is pure and raises a one-line `DataError` naming the problem and the fix:
`class_indices` turns label strings into class indices (from `data.class_names` when
given; an unknown label lists its near matches; without names, labels that differ only in
case, a rare label that looks like a typo of a common one, or integer labels that leave
classes empty are errors); `drop_repeated_paths` handles a path listed twice;
`copies` finds files with the same pixels.
"""

import collections
import os

import numpy as np

from nlx.errors import DataError, near_matches

# A label seen in fewer than 1/RARE of the rows of a similar label is taken as its typo.
RARE = 20


def _is_int(text: str) -> bool:
  return text.lstrip("-").isdigit()


def class_indices(raw, class_names=(), source: str = "") -> tuple[list, np.ndarray]:
  """`(classes, labels [N] int64)` for label strings `raw` (class names or integers)."""
  raw = [str(x).strip() for x in raw]
  if class_names:
    return _with_names(raw, [str(c) for c in class_names], source)
  if raw and all(_is_int(x) for x in raw):
    return _integer_labels(raw, source)
  counts = collections.Counter(raw)
  folded = collections.defaultdict(list)
  for name in counts:
    folded[name.casefold()].append(name)
  clash = next((names for names in folded.values() if len(names) > 1), None)
  if clash:
    raise DataError(f"{source}: labels {sorted(clash)} differ only in case; fix them, or set "
                    "data.class_names to the intended classes")
  for name, n in sorted(counts.items(), key=lambda kv: kv[1]):
    common = [c for c in near_matches(name, [c for c in counts if c != name])
              if counts[c] > RARE * n]
    if common:
      raise DataError(f"{source}: label {name!r} ({n} rows) looks like a typo of "
                      f"{common[0]!r} ({counts[common[0]]} rows); fix it, or set "
                      "data.class_names to the intended classes")
  classes = sorted(counts)
  index = {c: k for k, c in enumerate(classes)}
  return classes, np.array([index[x] for x in raw], np.int64)


def _with_names(raw, names, source):
  if len(set(names)) != len(names):
    raise DataError(f"data.class_names lists a name twice: {names}")
  index = {c: k for k, c in enumerate(names)}
  unknown = sorted({x for x in raw if x not in index and not (
      _is_int(x) and 0 <= int(x) < len(names))})
  if unknown:
    hints = "; ".join(f"{x!r} (near: {', '.join(map(repr, near_matches(x, names))) or 'none'})"
                      for x in unknown[:5])
    more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
    raise DataError(f"{source}: {len(unknown)} labels not in data.class_names: {hints}{more}")
  return names, np.array([index[x] if x in index else int(x) for x in raw], np.int64)


def _integer_labels(raw, source):
  labels = np.array([int(x) for x in raw], np.int64)
  if labels.min() < 0:
    raise DataError(f"{source}: negative label {labels.min()}")
  present = set(labels.tolist())
  empty = [k for k in range(labels.max() + 1) if k not in present]
  if empty:
    shown = empty[:10] + (["..."] if len(empty) > 10 else [])
    raise DataError(f"{source}: integer labels {sorted(present)[:10]} leave classes "
                    f"{shown} without examples; number the classes 0..{len(present) - 1}, "
                    "or set data.class_names (one name per class index)")
  return [str(k) for k in range(labels.max() + 1)], labels


def drop_repeated_paths(paths, labels, classes, mode: str, source: str):
  """`(paths, labels, info)` with each path once. `mode="error"`: a repeated path is an
  error; `"drop"`: repeats with the same label collapse to one, a path listed with
  different labels is dropped (counted in `info` and named in the warning text)."""
  seen = collections.defaultdict(list)
  for i, p in enumerate(paths):
    seen[os.path.normpath(p)].append(i)
  repeated = {p: rows for p, rows in seen.items() if len(rows) > 1}
  info = {"repeated_paths": len(repeated), "conflicting_label_paths": 0, "warning": ""}
  if not repeated:
    return list(paths), np.asarray(labels), info
  first, rows = next(iter(repeated.items()))
  if mode != "drop":
    raise DataError(f"{source}: {len(repeated)} paths listed more than once (first {first}, "
                    f"rows {[r + 1 for r in rows]}); remove the repeats, or set "
                    "data.duplicates='drop'")
  keep, conflicts = [], []
  for p, rows in seen.items():
    label_set = {int(labels[r]) for r in rows}
    if len(label_set) == 1:
      keep.append(rows[0])
    else:
      conflicts.append((p, sorted(classes[k] for k in label_set)))
  keep = sorted(keep)
  info["conflicting_label_paths"] = len(conflicts)
  if conflicts:
    info["warning"] = (f"{source}: dropped {len(conflicts)} paths listed with different "
                       f"labels (first {conflicts[0][0]}: {conflicts[0][1]})")
  return [paths[i] for i in keep], np.asarray(labels)[keep], info


def copies(digests) -> dict:
  """`{index: index of the first file with the same pixels}` for every later copy."""
  first, out = {}, {}
  for i, d in enumerate(digests):
    if d is None:
      continue
    if d in first:
      out[i] = first[d]
    else:
      first[d] = i
  return out
