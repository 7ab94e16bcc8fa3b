"""Kill and resume, determinism, and the bad inputs of the robustness issue not covered
next to their modules (label range and dtype, empty split and NaN inputs:
tests/data/test_datasets.py; corrupt images: ibid.; a missing data directory and an
unknown config key: tests/test_main.py; a NaN loss: tests/test_train.py; code in a pickle
label file: tests/data/test_safe_pickle.py)."""

import json
import os
import signal
import time

import jax
import numpy as np
import pytest
from conftest import CONFIGS, load_config, start_main, write_image_folder

from nlx import data as data_lib
from nlx import train
from nlx.checkpointing import RECORD, read_arrays
from nlx.errors import ConfigError, DataError

# 12 epochs of 8 steps, crop+flip (the per-example grain path), a checkpoint every 3 steps.
RUN = [f"--config={CONFIGS}/quickstart.py:tiny", "--config.data.augment=crop_flip",
       "--config.train.num_epochs=12", "--config.train.checkpoint_every_steps=3",
       "--config.train.max_checkpoints=3"]


def main_process(workdir):
  return start_main(*RUN, f"--workdir={workdir}")


def checkpoint_steps(workdir):
  d = os.path.join(workdir, "checkpoints")
  return sorted(int(n) for n in os.listdir(d) if n.isdigit()) if os.path.isdir(d) else []


def recorded_steps(workdir):
  """The steps whose save finished: their integrity record is there (written into orbax's
  temporary folder before it is renamed into the step's, so a kill before then leaves no
  step; where the record is written after the step appears, a kill between the two leaves
  it damaged, and, when it is the only one, nothing to resume from)."""
  return [s for s in checkpoint_steps(workdir)
          if os.path.exists(os.path.join(workdir, "checkpoints", str(s), RECORD))]


def outcome(workdir):
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    evals = [json.loads(line) for line in f if '"eval"' in line]
  state = read_arrays(os.path.join(workdir, "checkpoints", str(results["steps"]), "state"))
  return results, evals, state


@pytest.mark.slow
def test_sigkill_mid_epoch_then_the_same_command_gives_the_uninterrupted_result(tmp_path):
  reference = main_process(tmp_path / "reference")
  _, err = reference.communicate(timeout=300)
  assert reference.returncode == 0, err[-2000:]

  killed = main_process(tmp_path / "killed")
  deadline = time.time() + 240
  while time.time() < deadline and not any(s % 8 for s in recorded_steps(tmp_path / "killed")):
    time.sleep(0.02)  # wait for the first mid-epoch checkpoint (step 3), its save finished
  killed.send_signal(signal.SIGKILL)
  killed.communicate()
  steps = checkpoint_steps(tmp_path / "killed")
  assert steps and max(steps) < 96, "the run finished before it could be killed"
  assert not os.path.exists(tmp_path / "killed" / "results.json")

  rerun = main_process(tmp_path / "killed")
  _, err = rerun.communicate(timeout=300)
  assert rerun.returncode == 0, err[-2000:]
  (r_ref, e_ref, s_ref), (r_new, e_new, s_new) = (outcome(tmp_path / "reference"),
                                                  outcome(tmp_path / "killed"))
  assert r_new["steps"] == r_ref["steps"] == 96
  assert r_new["test"] == r_ref["test"]
  assert [e["step"] for e in e_new] == [8 * k for k in range(1, 13)]  # each epoch once
  assert e_new == e_ref
  for a, b in zip(jax.tree.leaves(s_ref["params"]), jax.tree.leaves(s_new["params"])):
    np.testing.assert_array_equal(a, b)


def test_a_half_written_checkpoint_is_never_restored(tmp_path):
  # What a kill during a save leaves behind: orbax's temporary directory, never renamed.
  config = load_config("quickstart", "tiny")
  train.train_and_evaluate(config, str(tmp_path))
  from nlx.checkpointing import Checkpointer
  os.makedirs(tmp_path / "checkpoints" / "24.orbax-checkpoint-tmp-1234" / "state")
  assert Checkpointer(str(tmp_path / "checkpoints")).latest_step() == 16


@pytest.mark.slow
def test_same_config_and_seed_give_the_same_metrics_twice(tmp_path):
  config = load_config("quickstart", "tiny")
  config.data.augment = "crop_flip"
  first = train.train_and_evaluate(config, str(tmp_path / "a"))
  second = train.train_and_evaluate(config, str(tmp_path / "b"))
  assert first["test"] == second["test"]
  with open(tmp_path / "a" / "metrics.jsonl") as fa, open(tmp_path / "b" / "metrics.jsonl") as fb:
    assert fa.read() == fb.read()


def test_truncated_image_is_named_or_skipped(tmp_path):
  write_image_folder(tmp_path, 5)
  whole = (tmp_path / "dog" / "4.png").read_bytes()
  (tmp_path / "dog" / "4.png").write_bytes(whole[:len(whole) // 2])  # cut mid-stream
  config = load_config("ce_image_folder", "tiny")
  config.data.data_dir = str(tmp_path)
  with pytest.raises(DataError, match=r"4\.png"):
    data_lib.load_dataset(config)
  config.data.corrupt_images = "skip"
  assert data_lib.load_dataset(config).info["skipped_corrupt_images"] == 1


def features_config(tmp_path, class_names, train_labels, name="features.npz"):
  """A tiny MLP run on a features file with these class names and training labels."""
  d = tmp_path / name
  os.makedirs(d, exist_ok=True)
  n = len(train_labels)
  rng = np.random.default_rng(0)
  np.savez(d / "features.npz", train_features=rng.standard_normal((n, 4)).astype(np.float32),
           test_features=rng.standard_normal((8, 4)).astype(np.float32),
           train_clean_labels=np.asarray(train_labels), train_labels=np.asarray(train_labels),
           test_labels=np.arange(8) % 2, class_names=np.array(class_names))
  config = load_config("quickstart", "tiny")
  config.data.name, config.data.data_dir = "features", str(d)
  config.model.name, config.model.hidden = "mlp", (8,)
  config.data.batch_size = 16
  return config


def test_labels_beyond_the_class_names_are_named(tmp_path):
  config = features_config(tmp_path, ["a", "b", "c"], np.arange(64) % 4)
  with pytest.raises(DataError, match=r"out of range: found \[0, 3\] for 3 classes"):
    data_lib.load_dataset(config)


def test_fine_tuning_from_a_run_with_another_class_count_names_the_layer(tmp_path, monkeypatch):
  three = features_config(tmp_path, ["a", "b", "c"], np.arange(64) % 3, "three")
  train.train_and_evaluate(three, str(tmp_path / "run3"))
  same = features_config(tmp_path, ["a", "b", "c"], np.arange(64) % 3, "three_again")
  same.train.init_from = str(tmp_path / "run3")
  saved = read_arrays(str(tmp_path / "run3" / "checkpoints" / "8" / "state"))
  np.testing.assert_array_equal(
      train.Trainer(same, data_lib.load_dataset(same))
      .initial_state.params["model"]["head"]["bias"],
      saved["params"]["model"]["head"]["bias"]["value"])
  with monkeypatch.context() as m:  # a relative path reads the same arrays
    m.chdir(tmp_path)
    relative = read_arrays(os.path.join("run3", "checkpoints", "8", "state"))
  np.testing.assert_array_equal(relative["params"]["model"]["head"]["bias"]["value"],
                                saved["params"]["model"]["head"]["bias"]["value"])
  five = features_config(tmp_path, list("abcde"), np.arange(64) % 5, "five")
  five.train.init_from = str(tmp_path / "run3")
  with pytest.raises(ConfigError, match=r"params/model/head/bias has shape \(3,\) in the "
                                        r"checkpoint, \(5,\) in this model"):
    train.Trainer(five, data_lib.load_dataset(five))
  five.train.init_from = str(tmp_path / "nothing")
  with pytest.raises(ConfigError, match="init_from: no checkpoint"):
    train.Trainer(five, data_lib.load_dataset(five))
