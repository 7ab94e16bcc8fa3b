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
