"""The collapse guard (nlx.collapse) and its hook in the trainer."""

import json
import logging

import numpy as np
import pytest
from conftest import load_config

from nlx import collapse, io, train, workdir
from nlx import data as data_lib


def test_class_shares_and_corrected_share_by_hand():
  logits = np.array([[2.0, 0.0, 1.0], [0.0, 3.0, 1.0], [5.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
  np.testing.assert_allclose(collapse.class_shares(logits), [0.75, 0.25, 0.0])
  given = np.array([0, 1, 2, 2, 1])
  clean = np.array([0, 0, 2, 1, 1])    # examples 1 and 3 are wrong
  refined = np.array([1, 0, 0, 2, 1])  # example 1 corrected, example 3 not
  assert collapse.corrected_share(refined, given, clean) == 0.5
  assert np.isnan(collapse.corrected_share(refined, clean, clean))


def test_guard_records_the_first_collapse_once_and_stops_only_when_asked():
  one_class = np.tile([[0.0, 1.0, 0.0]], (20, 1))
  spread = np.eye(3)[np.arange(20) % 3]
  for stop in (False, True):
    guard = collapse.Guard(share=0.9, stop=stop)
    assert guard.check(1, 10, lambda: spread) == {"train_top_class": 0,
                                                   "train_top_class_share": 7 / 20}
    assert guard.collapse is None and not guard.should_stop
    assert guard.check(2, 20, lambda: one_class)["train_top_class_share"] == 1.0
    assert guard.collapse == {"epoch": 2, "step": 20, "class": 1, "share": 1.0,
                              "last_share": 1.0}
    guard.check(3, 30, lambda: spread)  # found its way out: the first collapse stays recorded
    assert guard.collapse == {"epoch": 2, "step": 20, "class": 1, "share": 1.0,
                              "last_share": 7 / 20}
    assert guard.should_stop == stop
  off = collapse.Guard(share=0.0)
  assert off.check(1, 10, lambda: one_class) == {} and off.collapse is None


def predictions(top: int, n: int, num_classes: int = 3) -> np.ndarray:
  """`[n, C]` one-hot logits: the first `top` examples predict class 1, the rest cycle
  through classes 0 and 2 (so class 1 is the top class whenever top > n / 3)."""
  classes = np.where(np.arange(n) < top, 1, np.where(np.arange(n) % 2 == 0, 0, 2))
  return np.eye(num_classes)[classes]


@pytest.mark.parametrize("top,n,threshold,collapsed", [
    (3, 4, 0.75, True),                  # the share reaches the threshold exactly: collapse
    (48, 64, 0.75, True),                # 48/64 = 0.75 again, from 64 examples
    (47, 64, 0.75, False),               # one example short: 0.734375 < 0.75
    (49, 64, 0.75, True),                # one more: 0.765625
    (3, 4, 0.75 + 2 ** -10, False),      # a threshold just above the share
    (3, 4, 0.75 - 2 ** -10, True),       # and just below it
    (2, 4, 0.5, True),                   # a non-default threshold, met exactly
    (9, 16, 0.5625, True),               # 9/16 (exact in binary) against itself
    (8, 16, 0.5625, False),
])
def test_guard_fires_when_the_share_reaches_the_threshold(top, n, threshold, collapsed):
  # The module doc: "When the share *reaches* config.train.collapse_share": a share equal
  # to the threshold is a collapse. Every share and threshold here is exact in binary.
  guard = collapse.Guard(share=threshold)
  record = guard.check(5, 50, lambda: predictions(top, n))
  assert record == {"train_top_class": 1, "train_top_class_share": top / n}
  if collapsed:
    assert guard.collapse == {"epoch": 5, "step": 50, "class": 1, "share": top / n,
                              "last_share": top / n}
  else:
    assert guard.collapse is None


def test_any_positive_share_turns_the_guard_on_and_zero_or_less_turns_it_off():
  # collapse_share = 0 turns the guard off (the module doc); the smallest positive share
  # turns it on, and then any prediction (top share >= 1/C > 0) is a collapse
  spread = np.eye(4)[np.arange(8) % 4]  # each class 2/8
  for off in (0.0, -0.5):
    guard = collapse.Guard(share=off)
    assert guard.check(1, 1, lambda: spread) == {} and guard.collapse is None
  on = collapse.Guard(share=2 ** -20)
  assert on.check(1, 1, lambda: spread) == {"train_top_class": 0, "train_top_class_share": 0.25}
  assert on.collapse == {"epoch": 1, "step": 1, "class": 0, "share": 0.25, "last_share": 0.25}
  # corrected_share is recorded whether the guard is on or off
  labels = (np.array([1, 1]), np.array([0, 1]), np.array([1, 1]))  # one wrong label, fixed
  assert collapse.Guard(share=0.0).check(1, 1, lambda: spread, labels) == {
      "corrected_share": 1.0}


def test_guard_from_config_reads_share_and_stop_and_is_off_for_multi_label():
  from ml_collections import ConfigDict
  default = collapse.Guard.from_config(ConfigDict({}))
  assert (default.share, default.stop) == (0.9, False)
  chosen = collapse.Guard.from_config(ConfigDict({"collapse_share": 0.5,
                                                  "stop_on_collapse": True}))
  assert (chosen.share, chosen.stop) == (0.5, True)
  multi = collapse.Guard.from_config(ConfigDict({"collapse_share": 0.5}), multi_label=True)
  assert (multi.share, multi.stop) == (0.0, False)
  # stop_on_collapse is what ends the run: a collapse without it does not stop
  one_class = np.tile([[0.0, 1.0]], (4, 1))
  for guard, stops in ((chosen, True), (default, False)):
    guard.check(1, 1, lambda: one_class)
    assert guard.collapse["share"] == 1.0 and guard.should_stop == stops


@pytest.mark.parametrize("training_dynamics", [True, False])
def test_a_run_forced_to_collapse_is_logged_recorded_and_stopped(tmp_path, caplog,
                                                                 training_dynamics):
  # without training dynamics the guard predicts the training set itself at evaluations
  config = load_config("baselines", "ce,tiny")
  config.model.name, config.model.hidden = "mlp", (32,)
  config.train.num_epochs, config.train.eval_every_epochs = 4, 1
  config.train.stop_on_collapse = True
  config.train.training_dynamics = training_dynamics
  ds = data_lib.load_dataset(config)
  ds.train.labels = np.full_like(ds.train.labels, 3)  # every training label says class 3
  with caplog.at_level(logging.WARNING):
    result = train.train_and_evaluate(config, str(tmp_path), dataset=ds)
  assert any("collapse: at epoch 1" in r.getMessage() and "class 3" in r.getMessage()
             for r in caplog.records)
  spe = len(ds.train) // config.data.batch_size
  assert result["collapse"]["epoch"] == 1 and result["collapse"]["class"] == 3
  assert result["steps"] == spe  # stopped after the first epoch, of 4
  with open(tmp_path / "results.json") as f:
    assert json.load(f)["collapse"] == result["collapse"]
  evals = [r for r in io.read_jsonl(str(tmp_path / "metrics.jsonl")) if r["kind"] == "eval"]
  assert len(evals) == 1 and evals[0]["train_top_class"] == 3
  assert evals[0]["train_top_class_share"] >= 0.9
  # the test set is balanced-ish: a model predicting one class scores that class's share
  test_share = np.mean(ds.test.clean_labels == 3)
  assert result["test"]["accuracy"] == pytest.approx(test_share, abs=0.1)


def test_collapse_share_and_training_dynamics_stay_in_the_fingerprint():
  # collapse_share decides where a run with stop_on_collapse ends, and training_dynamics
  # which files it writes: a workdir must not continue under other values of either
  base = load_config("baselines", "ce,tiny")
  keys = workdir.fingerprint_keys(base)
  assert keys["train.collapse_share"] == 0.9 and keys["train.training_dynamics"] is True
  for key, value in (("collapse_share", 0.5), ("training_dynamics", False)):
    other = load_config("baselines", "ce,tiny")
    other.train[key] = value
    assert workdir.fingerprint(workdir.fingerprint_keys(other)) != workdir.fingerprint(keys)


def test_guard_defaults_and_the_one_warning_it_logs(caplog):
  guard = collapse.Guard()
  assert (guard.share, guard.stop, guard.collapse) == (0.9, False, None)
  assert collapse.DEFAULT_SHARE == 0.9
  for stop, suffix in ((False, ""), (True, "; stopping (train.stop_on_collapse)")):
    guard = collapse.Guard(share=0.5, stop=stop)
    with caplog.at_level(logging.WARNING):
      caplog.clear()
      guard.check(2, 20, lambda: predictions(3, 4))  # class 1 for 3 of 4 examples
      guard.check(3, 30, lambda: predictions(4, 4))  # still collapsed: not logged again
    messages = [r.getMessage() for r in caplog.records if "collapse" in r.getMessage()]
    assert messages == ["collapse: at epoch 2 the model predicts class 1 for 75.0% of the "
                        "training set (train.collapse_share=0.50)" + suffix]
    assert guard.collapse == {"epoch": 2, "step": 20, "class": 1, "share": 0.75,
                              "last_share": 1.0}
    assert guard.should_stop == stop


def test_guard_from_config_takes_multi_label_only_by_name():
  # a bare `True` would not say what it turns off: multi_label is keyword-only, and the
  # config may be passed by name like any other argument
  from ml_collections import ConfigDict
  with pytest.raises(TypeError):
    collapse.Guard.from_config(ConfigDict({}), True)
  guard = collapse.Guard.from_config(train_config=ConfigDict({}), multi_label=True)
  assert (guard.share, guard.stop) == (0.0, False)
