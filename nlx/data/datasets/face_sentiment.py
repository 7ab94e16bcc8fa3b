"""Facial sentiment with real crowd votes (CMU faces; 584 images, 4 classes).

`data.data_dir` holds `faces/<user>/*.pgm`, `answer.csv` (question,worker,answer),
`truth.csv` (question,truth) and `face4.details` (question -> image name, user).
Classes: 0 neutral, 1 happy, 2 sad, 3 angry. `data.label_set` chooses what training sees:
`sample` (one worker's vote per image, seeded by `data.split_seed`), `majority` (most
frequent vote, ties to a seeded random choice among the tied), `soft` (the vote
distribution as a soft label), or `truth` (the true expression: the upper bound).
Clean label = truth. Train and test share no person:
the 20 people are split by `data.split` (seeded), not the images.
"""

import csv
import os

import numpy as np
from PIL import Image

from nlx.data.types import Dataset, Split, parse_split, seeded_split
from nlx.errors import ConfigError, DataError
from nlx.io import reading

CLASS_NAMES = ["neutral", "happy", "sad", "angry"]
FILES = ("answer.csv", "truth.csv", "face4.details", "faces")


def _check_dir(d: str):
  missing = [f for f in FILES if not os.path.exists(os.path.join(d, f))]
  if not d or missing:
    raise DataError(f"face_sentiment: {d or '(data.data_dir unset)'} lacks {', '.join(missing)}; "
                    "point --config.data.data_dir at the folder with faces/, answer.csv, "
                    "truth.csv and face4.details (e.g. ../shared/data/face_sentiment)")


def _read_csv(path: str, columns: str, parse) -> list:
  """`parse(row)` for each row after the header (`columns`, the leading ones nlx reads); a
  file cut short, damaged or of another format is one line naming it."""
  with reading(path, f"CSV file of {columns}", "restore it from the release"):
    with open(path, newline="") as f:
      rows = [[c.strip() for c in row] for row in csv.reader(f) if row][1:]
    n = columns.count(",") + 1
    short = next((i for i, row in enumerate(rows) if len(row) < n), None)
    if short is not None:
      raise ValueError(f"line {short + 2} has {len(rows[short])} of the {n} columns")
    return [parse(*row[:n]) for row in rows]


def read_votes(d: str):
  """Returns `(questions [N], image_names, users, truth [N], votes [N, 4] counts,
  answers list of (question, worker, answer))`, questions sorted."""
  details = dict(_read_csv(os.path.join(d, "face4.details"), "question,imageName,user",
                           lambda q, name, user: (int(q), (name, user))))
  truth = dict(_read_csv(os.path.join(d, "truth.csv"), "question,truth",
                         lambda q, t: (int(q), int(t))))
  answers = _read_csv(os.path.join(d, "answer.csv"), "question,worker,answer",
                      lambda q, w, a: (int(q), w, int(a)))
  questions = np.array(sorted(truth))
  pos = {q: i for i, q in enumerate(questions)}
  unknown = sorted({q for q, _, _ in answers} - set(pos))
  if unknown:  # the release has a truth for every question asked
    raise DataError(f"{os.path.join(d, 'truth.csv')}: no truth for {len(unknown)} questions of "
                    f"answer.csv (first {unknown[0]}); restore it from the release")
  votes = np.zeros((len(questions), 4), np.int64)
  for q, _, a in answers:
    if not 0 <= a < 4:
      raise DataError(f"face_sentiment: answer {a} for question {q} is not a class in 0..3")
    votes[pos[q], a] += 1
  unnamed = [int(q) for q in questions if q not in details]
  if unnamed:
    raise DataError(f"{os.path.join(d, 'face4.details')}: no image for {len(unnamed)} questions "
                    f"of truth.csv (first {unnamed[0]}); restore it from the release")
  names = [details[q][0] for q in questions]
  users = np.array([details[q][1] for q in questions])
  return questions, names, users, np.array([truth[q] for q in questions]), votes, answers


def load(config) -> Dataset:
  d = config.data_dir
  _check_dir(d)
  label_set = config.label_set or "sample"
  if label_set not in ("sample", "majority", "soft", "truth"):
    raise ConfigError(f"data.label_set for face_sentiment must be sample, majority, soft or "
                      f"truth, got {label_set!r}")
  questions, names, users, truth, votes, answers = read_votes(d)
  if (votes.sum(1) == 0).any():
    raise DataError(f"face_sentiment: {int((votes.sum(1) == 0).sum())} images have no vote in "
                    f"{os.path.join(d, 'answer.csv')}")
  suffix = "_4.pgm" if config.resolution == "small" else "_2.pgm"
  images = []
  for name, user in zip(names, users):
    path = os.path.join(d, "faces", user, name[:-len(".jpg")] + suffix)
    try:
      with Image.open(path) as im:
        images.append(np.asarray(im.convert("L"), np.uint8)[..., None])
    except (OSError, ValueError) as e:
      raise DataError(f"face_sentiment: cannot read {path}: {e}") from None
  images = np.stack(images)

  rng = np.random.default_rng(config.split_seed)
  if label_set == "truth":
    labels = truth.astype(np.int64)
  elif label_set == "soft":
    labels = (votes / votes.sum(1, keepdims=True)).astype(np.float32)
  elif label_set == "majority":
    tie_break = rng.random(votes.shape) * 0.5  # < 1, so only ties are decided by it
    labels = np.argmax(votes + tie_break, axis=1).astype(np.int64)
  else:
    by_q = {}
    for q, _, a in answers:
      by_q.setdefault(q, []).append(a)
    labels = np.array([rng.choice(by_q[q]) for q in questions], np.int64)

  full = Split(images, labels, truth.astype(np.int64), groups=users)
  people = np.unique(users)
  parts = seeded_split(len(people), parse_split(config.split), config.split_seed)
  splits = [full.subset(np.flatnonzero(np.isin(users, people[p]))) for p in parts]
  x = images.astype(np.float32) / 255
  return Dataset("face_sentiment", splits[0], splits[-1], 4, CLASS_NAMES,
                 mean=(float(x.mean()),), std=(float(x.std()),),
                 val=splits[1] if len(splits) == 3 else None,
                 info={"label_set": label_set})
