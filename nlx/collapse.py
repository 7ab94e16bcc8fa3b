"""Collapse guard: says when a model's predictions on the training set fall to one class.

A noisy-label regulariser that pulls every prediction toward a shared target (ELR's and
ARNet's `alpha log(1 - p.t)` with alpha = 3) can beat a weak cross-entropy signal and
send every example to the same class; the test accuracy is then the share of that class
and nothing in the loss curve says why. At each evaluation the trainer predicts the
training set (one extra pass in eval mode) and `Guard.check` records

- `train_top_class` and `train_top_class_share`: the most predicted class and its share;
- `corrected_share` (methods with refined labels): the share of the wrong training labels
  (given != clean) whose refined label is the clean one, the memory's or targets' effect.

When the share reaches `config.train.collapse_share` (0.9; 0 turns the guard off) it
logs a warning once, `results.json` gets `collapse: {epoch, step, class, share,
last_share}` (None otherwise; `last_share` is the top-class share at the last check, which
says whether the run found its way out), and with `config.train.stop_on_collapse` the run
ends there: it is evaluated and written like a finished run. A check early in training
can also fire on a model that has not yet left the majority class; `last_share` tells.
"""

import dataclasses
from collections.abc import Callable

import numpy as np
from absl import logging

DEFAULT_SHARE = 0.9


def class_shares(logits: np.ndarray) -> np.ndarray:
  """`[N, C]` logits -> `[C]` share of examples predicted as each class."""
  logits = np.asarray(logits)
  return np.bincount(np.argmax(logits, -1), minlength=logits.shape[-1]) / len(logits)


def corrected_share(refined: np.ndarray, given: np.ndarray, clean: np.ndarray) -> float:
  """Share of the wrong labels (`given != clean`) whose refined label is the clean one;
  NaN when no label is wrong."""
  wrong = np.asarray(given) != np.asarray(clean)
  if not wrong.any():
    return float("nan")
  return float(np.mean(np.asarray(refined)[wrong] == np.asarray(clean)[wrong]))


@dataclasses.dataclass
class Guard:
  """Checks a run's training-set predictions at each evaluation (see the module doc)."""
  share: float = DEFAULT_SHARE   # top-class share that counts as collapse; 0: off
  stop: bool = False             # end the run at the first collapse
  collapse: dict | None = None   # the first collapse: epoch, step, class, share, last_share

  @classmethod
  def from_config(cls, train_config, *, multi_label: bool = False) -> "Guard":
    share = 0.0 if multi_label else train_config.get("collapse_share", DEFAULT_SHARE)
    return cls(share=share, stop=train_config.get("stop_on_collapse", False))

  @property
  def should_stop(self) -> bool:
    return self.stop and self.collapse is not None

  def check(self, epoch: int, step: int, predict: Callable[[], np.ndarray],
            labels: tuple | None = None) -> dict:
    """Returns the record's fields. `predict()` gives the training set's logits `[N, C]`;
    `labels`: optional `(refined, given, clean)` `[N]` for `corrected_share`."""
    record = {}
    if labels is not None:
      record["corrected_share"] = corrected_share(*labels)
    if self.share <= 0:
      return record
    shares = class_shares(predict())
    top = int(np.argmax(shares))
    record.update(train_top_class=top, train_top_class_share=float(shares[top]))
    if self.collapse is not None:  # did it stay collapsed? (a run can find its way out)
      self.collapse["last_share"] = float(shares[top])
    elif shares[top] >= self.share:
      self.collapse = {"epoch": epoch, "step": step, "class": top, "share": float(shares[top]),
                       "last_share": float(shares[top])}
      logging.warning("collapse: at epoch %d the model predicts class %d for %.1f%% of the "
                      "training set (train.collapse_share=%.2f)%s", epoch, top,
                      100 * shares[top], self.share,
                      "; stopping (train.stop_on_collapse)" if self.stop else "")
    return record
