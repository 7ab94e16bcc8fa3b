"""Workdir identity (issue 16): one run per workdir, resumed only by its own config;
training longer only when asked and recorded; one process at a time; Ctrl-C keeps a
checkpoint and says so; config values checked before anything runs."""

import json
import os
import re
import signal
import subprocess
import sys

import pytest
from conftest import REPO, load_config, override

from nlx import train
from nlx.errors import ConfigError

# nlx.workdir is imported inside the tests that use it, so that on a tree without it
# (main before issue 16) every other test still runs and fails on its behaviour.


def read(path):
  with open(path) as f:
    return f.read()


def test_default_workdir_names_the_config_and_its_variant():
  from nlx import workdir as workdir_lib
  assert workdir_lib.default_workdir("configs/baselines.py:gce,tiny") == os.path.join(
      "workdirs", "baselines", "gce,tiny")
  assert workdir_lib.default_workdir("configs/baselines.py: mae, pair40,tiny") == os.path.join(
      "workdirs", "baselines", "mae,pair40,tiny")
  assert workdir_lib.default_workdir("/abs/configs/quickstart.py") == os.path.join(
      "workdirs", "quickstart")


@pytest.mark.slow
def test_another_config_in_a_finished_workdir_is_refused_naming_the_keys(tmp_path):
  # The README's sequence baselines.py:ce,tiny then :gce,tiny in one workdir reported the
  # CE model's accuracy labelled gce, and rewrote config.json.
  wd = str(tmp_path / "wd")
  ce = train.train_and_evaluate(load_config("baselines", "ce,tiny"), wd)
  config_json, results_json = read(f"{wd}/config.json"), read(f"{wd}/results.json")
  with pytest.raises(ConfigError, match=r"another config \(method\.name: 'ce' -> 'gce'; "
                                        r"method\.q: \(absent\) -> 0\.7\).*start fresh"):
    train.train_and_evaluate(load_config("baselines", "gce,tiny"), wd)
  wider = load_config("baselines", "ce,tiny")
  wider.model.width = 64  # today: an orbax traceback after config.json was rewritten
  with pytest.raises(ConfigError, match=r"model\.width: 32 -> 64"):
    train.train_and_evaluate(wider, wd)
  assert read(f"{wd}/config.json") == config_json  # untouched by the refused runs
  assert read(f"{wd}/results.json") == results_json
  record = json.loads(read(f"{wd}/workdir.json"))
  assert record["keys"]["method.name"] == "ce" and "train.log_every_steps" not in record["keys"]

  # keys that cannot change the model (logging, checkpoints) resume the same run
  same = load_config("baselines", "ce,tiny")
  same.train.log_every_steps, same.train.progress_bar = 3, False
  again = train.train_and_evaluate(same, wd)
  assert again["test"] == ce["test"] and again["steps"] == ce["steps"] == 16

  # training longer: refused unless asked for, then recorded in workdir.json
  longer = load_config("baselines", "ce,tiny")
  longer.train.num_epochs = 3
  with pytest.raises(ConfigError, match=r"run of 2 epochs.*allow_more_epochs=True"):
    train.train_and_evaluate(longer, wd)
  longer.train.allow_more_epochs = True
  result = train.train_and_evaluate(longer, wd)
  assert result["steps"] == 24
  record = json.loads(read(f"{wd}/workdir.json"))
  assert [{k: e[k] for k in ("num_epochs", "at_step")} for e in record["extensions"]] == [
      {"num_epochs": [2, 3], "at_step": 16}]
  assert record["keys"]["train.num_epochs"] == 3
  assert json.loads(read(f"{wd}/config.json"))["train"]["num_epochs"] == 3
  evals = [json.loads(x)["step"] for x in read(f"{wd}/metrics.jsonl").splitlines()
           if '"eval"' in x]
  assert evals == [8, 16, 24]


def hold_lock(path):
  """Another process that holds the workdir lock until it is killed."""
  code = ("import sys, time; from nlx.workdir import Lock; Lock(sys.argv[1]).acquire(); "
          "print('locked', flush=True); time.sleep(120)")
  p = subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE,
                       text=True, env={**os.environ, "PYTHONPATH": REPO})
  assert p.stdout.readline().strip() == "locked"
  return p


def test_a_second_process_stops_at_once_naming_the_first_and_a_dead_ones_lock_is_taken(tmp_path):
  wd = tmp_path / "wd"
  wd.mkdir()
  other = hold_lock(wd)
  try:
    with pytest.raises(ConfigError, match=rf"workdir {wd} is in use by process {other.pid} "):
      train.train_and_evaluate(load_config("quickstart", "tiny"), str(wd))
    assert sorted(os.listdir(wd)) == [".lock"]  # nothing written, no checkpoint touched
  finally:
    other.send_signal(signal.SIGKILL)
    other.wait()
  assert read(wd / ".lock").strip() == str(other.pid)  # the killed holder's stale lock file
  from nlx import workdir as workdir_lib
  lock = workdir_lib.Lock(str(wd)).acquire()  # taken over
  assert read(wd / ".lock").strip() == str(os.getpid())
  lock.release()


def test_a_workdir_that_is_a_file_or_cannot_be_created_is_one_line(tmp_path):
  (tmp_path / "file").write_text("x")
  config = load_config("quickstart", "tiny")
  with pytest.raises(ConfigError, match="is a file, not a directory"):
    train.train_and_evaluate(config, str(tmp_path / "file"))
  with pytest.raises(ConfigError, match="cannot create workdir"):
    train.train_and_evaluate(config, str(tmp_path / "file" / "sub"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_workdir_is_one_line(tmp_path):
  ro = tmp_path / "ro"
  ro.mkdir()
  ro.chmod(0o500)
  with pytest.raises(ConfigError, match="not writable"):
    train.train_and_evaluate(load_config("quickstart", "tiny"), str(ro))


@pytest.mark.parametrize("key,value,message", [
    ("data.batch_size", 0, "data.batch_size must be >= 1, got 0"),
    ("train.log_every_steps", 0, "train.log_every_steps must be >= 1, got 0"),
    ("train.num_epochs", 0, "train.num_epochs must be >= 1, got 0"),
    ("optimizer.learning_rate", -1.0, r"optimizer.learning_rate must be > 0.0, got -1.0"),
    ("noise.rate", 1.5, r"noise.rate must be in \[0.0, 1.0\], got 1.5"),
    ("data.max_train_examples", 0, r"data.max_train_examples must be -1 \(all\) or >= 1"),
    ("train.steps_per_call", -1, "train.steps_per_call must be >= 0, got -1"),
    ("model.embed_dim", 0, "model.embed_dim must be >= 1, got 0"),
    ("model.lstm_hidden", -1, "model.lstm_hidden must be >= 1, got -1"),
    ("model.compile", "Fast", r"^model.compile must be full or fast, got 'Fast'$"),
])
def test_value_ranges_are_checked_before_anything_runs(tmp_path, key, value, message):
  config = load_config("quickstart", "tiny")
  section, name = key.split(".")
  config[section][name] = value
  with pytest.raises(ConfigError, match=message):
    train.train_and_evaluate(config, str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd")  # nothing created


@pytest.mark.slow
def test_ctrl_c_stops_with_a_checkpoint_and_the_rerun_resumes(tmp_path, monkeypatch):
  from nlx.errors import NlxError
  config = load_config("quickstart", "tiny", **{"train.steps_per_call": 1})  # step by step
  reference = train.train_and_evaluate(config, str(tmp_path / "reference"))
  shard, calls = train.Trainer.shard, []

  def shard_then_ctrl_c(self, batch):
    calls.append(1)
    if len(calls) == 5:
      signal.raise_signal(signal.SIGINT)  # as a Ctrl-C during the 5th step
    return shard(self, batch)

  with monkeypatch.context() as m:
    m.setattr(train.Trainer, "shard", shard_then_ctrl_c)
    with pytest.raises(NlxError,
                       match=r"interrupted at step 5; checkpoint step 5 kept in .*/wd/"
                             r"checkpoints; rerun the same command to resume"):
      train.train_and_evaluate(config, str(tmp_path / "wd"))
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored
  assert sorted(os.listdir(tmp_path / "wd" / "checkpoints")) == ["5"]
  resumed = train.train_and_evaluate(config, str(tmp_path / "wd"))
  assert resumed["test"] == reference["test"]


def test_a_checkpoint_that_does_not_fit_is_one_line(tmp_path):
  import jax.numpy as jnp

  from nlx.checkpointing import Checkpointer
  ckpt = Checkpointer(str(tmp_path))
  ckpt.save(3, {"w": jnp.zeros(3)}, {"position": 1})
  with pytest.raises(ConfigError, match=r"checkpoint .*/3 does not fit this run's state "
                                        r"\(Requested shape: \(4,\) .*start fresh"):
    ckpt.restore(3, {"w": jnp.zeros(4)})
  with pytest.raises(ConfigError, match="does not fit"):
    ckpt.restore(3, {"v": jnp.zeros(3)})


def test_keys_added_by_a_newer_nlx_resume_only_at_their_default(tmp_path):
  from nlx import workdir as workdir_lib
  config = load_config("quickstart", "tiny")
  workdir_lib.write_record(str(tmp_path), config, None, 0)
  record = json.loads(read(tmp_path / "workdir.json"))
  del record["keys"]["data.duplicates"]  # as written before the key existed
  (tmp_path / "workdir.json").write_text(json.dumps(record))
  assert workdir_lib.check_resume(str(tmp_path), config, has_checkpoint=True) is None
  config.data.duplicates = "drop"
  with pytest.raises(ConfigError, match=r"data\.duplicates: \(absent\) -> 'drop'"):
    workdir_lib.check_resume(str(tmp_path), config, has_checkpoint=True)
  # an older nlx's workdir: config.json alone is its record
  config.data.duplicates = "error"
  (tmp_path / "workdir.json").unlink()
  assert workdir_lib.check_resume(str(tmp_path), config, has_checkpoint=True) is None
  config.noise.rate = 0.2
  with pytest.raises(ConfigError, match=r"noise\.rate: 0\.4 -> 0\.2"):
    workdir_lib.check_resume(str(tmp_path), config, has_checkpoint=True)
  assert workdir_lib.check_resume(str(tmp_path), config, has_checkpoint=False) is None


# Every seed-like key of the schema (nlx/config_base.py): the init/step seed, the label
# corruption's seed and the train/test split's seed. Each makes another run.
SEEDS = ("seed", "noise.seed", "data.split_seed")
# What the README says the fingerprint leaves out ("logging, evaluation and checkpoint
# intervals"), plus what the module docstring adds: how far this invocation goes, how the
# input is read, the progress bar. Written out here, not read from nlx.workdir.
NOT_FINGERPRINTED = {
    "train.log_every_steps": 7, "train.eval_every_epochs": 3,
    "train.checkpoint_every_epochs": 2, "train.checkpoint_every_steps": 5,
    "train.max_checkpoints": 9, "train.stop_after_steps": 11, "train.progress_bar": True,
    "train.allow_more_epochs": True, "data.num_threads": 3, "data.prefetch_buffer_size": 1,
    "data.eval_batch_size": 16, "train.steps_per_call": 1,
}
# Keys just outside that set (their neighbours in the schema): each can change the run.
FINGERPRINTED = {
    "data.batch_size": 16, "train.num_epochs": 1, "train.collapse_share": 0.5,
    "train.stop_on_collapse": True, "train.training_dynamics": False,
    "train.init_from": "elsewhere", "data.max_train_examples": 128,
    "optimizer.learning_rate": 0.01, "model.width": 16,
    "data.on_device": False,  # crop_flip's batches differ from grain's: it changes the run
}


def recorded_workdir(tmp_path, config):
  """A workdir whose run was made by `config` (its record, as a run with a checkpoint)."""
  from nlx import workdir as workdir_lib
  workdir_lib.write_record(str(tmp_path), config, None, 0)
  return str(tmp_path)


@pytest.mark.parametrize("key", SEEDS)
def test_a_seed_changes_the_fingerprint_and_another_seed_cannot_resume_the_run(tmp_path, key):
  # Without the seed in the fingerprint, seed 1 would resume seed 0's checkpoint (and
  # report it as seed 1's result).
  from nlx import workdir as workdir_lib
  zero = load_config("quickstart", "tiny", **{key: 0})
  one = load_config("quickstart", "tiny", **{key: 1})
  keys0, keys1 = workdir_lib.fingerprint_keys(zero), workdir_lib.fingerprint_keys(one)
  assert (keys0[key], keys1[key]) == (0, 1)
  assert workdir_lib.fingerprint(keys0) != workdir_lib.fingerprint(keys1)
  wd = recorded_workdir(tmp_path, zero)
  assert workdir_lib.check_resume(wd, zero, has_checkpoint=True) is None  # its own run
  with pytest.raises(ConfigError, match=rf"another config \({re.escape(key)}: 0 -> 1\)"):
    workdir_lib.check_resume(wd, one, has_checkpoint=True)
  with pytest.raises(ConfigError, match=rf"{re.escape(key)}: 0 -> 1"):
    workdir_lib.Run(wd).resume(one, latest_step=8)
  # the record written in workdir.json holds the seed and the fingerprint of its keys
  record = json.loads(read(os.path.join(wd, "workdir.json")))
  assert record["keys"][key] == 0
  assert record["fingerprint"] == workdir_lib.fingerprint(keys0)
  # and the same seed written again (a rerun of the same command) gives the same fingerprint
  assert workdir_lib.fingerprint(workdir_lib.fingerprint_keys(
      override(load_config("quickstart", "tiny"), **{key: 0}))) == record["fingerprint"]


def test_the_fingerprint_leaves_out_exactly_the_intervals_and_keeps_their_neighbours(tmp_path):
  from nlx import workdir as workdir_lib
  base = load_config("quickstart", "tiny")
  every = set(workdir_lib.flatten(base))
  assert set(NOT_FINGERPRINTED) <= every and set(FINGERPRINTED) <= every
  assert every - set(workdir_lib.fingerprint_keys(base)) == set(NOT_FINGERPRINTED)
  wd = recorded_workdir(tmp_path, base)
  fp = workdir_lib.fingerprint(workdir_lib.fingerprint_keys(base))
  for key, value in NOT_FINGERPRINTED.items():
    changed = override(load_config("quickstart", "tiny"), **{key: value})
    assert workdir_lib.flatten(changed)[key] != workdir_lib.flatten(base)[key], key
    assert workdir_lib.fingerprint(workdir_lib.fingerprint_keys(changed)) == fp, key
    assert workdir_lib.check_resume(wd, changed, has_checkpoint=True) is None, key
  # all of them changed at once still resume
  assert workdir_lib.check_resume(wd, override(load_config("quickstart", "tiny"),
                                               **NOT_FINGERPRINTED), has_checkpoint=True) is None
  for key, value in FINGERPRINTED.items():
    changed = override(load_config("quickstart", "tiny"), **{key: value})
    old = workdir_lib.flatten(base)[key]
    assert workdir_lib.fingerprint(workdir_lib.fingerprint_keys(changed)) != fp, key
    with pytest.raises(ConfigError, match=rf"\({re.escape(key)}: {re.escape(repr(old))} -> "
                                          rf"{re.escape(repr(value))}\)"):
      workdir_lib.check_resume(wd, changed, has_checkpoint=True)


def test_more_epochs_resume_only_when_allowed_and_only_upwards(tmp_path):
  from nlx import workdir as workdir_lib
  wd = recorded_workdir(tmp_path, load_config("quickstart", "tiny"))  # 2 epochs
  same = load_config("quickstart", "tiny", **{"train.allow_more_epochs": True})
  assert workdir_lib.check_resume(wd, same, has_checkpoint=True) is None  # 2 -> 2: no extension
  longer = load_config("quickstart", "tiny", **{"train.num_epochs": 3})
  with pytest.raises(ConfigError, match=r"holds a run of 2 epochs; to train it on to 3 .*"
                                        r"--config\.train\.allow_more_epochs=True"):
    workdir_lib.check_resume(wd, longer, has_checkpoint=True)
  longer.train.allow_more_epochs = True
  assert workdir_lib.check_resume(wd, longer, has_checkpoint=True) == {"num_epochs": [2, 3]}
  # fewer epochs is another run, even when more are allowed
  shorter = load_config("quickstart", "tiny", **{"train.num_epochs": 1,
                                                 "train.allow_more_epochs": True})
  with pytest.raises(ConfigError, match=r"another config \(train\.num_epochs: 2 -> 1\)"):
    workdir_lib.check_resume(wd, shorter, has_checkpoint=True)
  # more epochs together with another key: another run, naming both
  wider = load_config("quickstart", "tiny", **{"train.num_epochs": 3, "model.width": 16,
                                               "train.allow_more_epochs": True})
  with pytest.raises(ConfigError, match=r"another config \(model\.width: 32 -> 16; "
                                        r"train\.num_epochs: 2 -> 3\)"):
    workdir_lib.check_resume(wd, wider, has_checkpoint=True)


def test_the_extension_is_recorded_at_its_step_and_a_fresh_start_forgets_it(tmp_path):
  from nlx import workdir as workdir_lib
  wd = str(tmp_path)
  workdir_lib.write_record(wd, load_config("quickstart", "tiny"), None, 0)
  longer = load_config("quickstart", "tiny", **{"train.num_epochs": 3,
                                                "train.allow_more_epochs": True})
  workdir_lib.write_record(wd, longer, {"num_epochs": [2, 3]}, 16)
  workdir_lib.write_record(wd, longer, None, 20)  # a later resume adds nothing
  record = json.loads(read(tmp_path / "workdir.json"))
  assert [{k: e[k] for k in ("num_epochs", "at_step")} for e in record["extensions"]] == [
      {"num_epochs": [2, 3], "at_step": 16}]
  assert record["keys"]["train.num_epochs"] == 3
  assert json.loads(read(tmp_path / "config.json"))["train"]["num_epochs"] == 3
  workdir_lib.write_record(wd, longer, None, 0)  # step 0: a fresh start, a new run
  assert json.loads(read(tmp_path / "workdir.json"))["extensions"] == []


def test_at_most_four_differences_are_named_then_a_count(tmp_path):
  from nlx import workdir as workdir_lib
  wd = recorded_workdir(tmp_path, load_config("quickstart", "tiny"))
  changes = {"data.batch_size": 16, "model.width": 16, "noise.rate": 0.2, "seed": 3,
             "train.collapse_share": 0.5}  # sorted: the order of the message
  four = load_config("quickstart", "tiny", **dict(list(changes.items())[:4]))
  with pytest.raises(ConfigError) as e:
    workdir_lib.check_resume(wd, four, has_checkpoint=True)
  assert ("(data.batch_size: 32 -> 16; model.width: 32 -> 16; noise.rate: 0.4 -> 0.2; "
          "seed: 0 -> 3); use another") in str(e.value)
  five = load_config("quickstart", "tiny", **changes)
  with pytest.raises(ConfigError) as e:
    workdir_lib.check_resume(wd, five, has_checkpoint=True)
  assert ("(data.batch_size: 32 -> 16; model.width: 32 -> 16; noise.rate: 0.4 -> 0.2; "
          "seed: 0 -> 3; and 1 more); use another") in str(e.value)


def test_checkpoints_without_a_record_are_refused_and_no_checkpoint_starts_fresh(tmp_path):
  from nlx import workdir as workdir_lib
  config = load_config("quickstart", "tiny")
  assert workdir_lib.check_resume(str(tmp_path), config, has_checkpoint=False) is None
  with pytest.raises(ConfigError, match=r"has checkpoints but no workdir\.json or "
                                        r"config\.json.*delete its checkpoints/"):
    workdir_lib.check_resume(str(tmp_path), config, has_checkpoint=True)
  # another seed's record does not matter where there is nothing to resume
  recorded_workdir(tmp_path, load_config("quickstart", "tiny", seed=1))
  assert workdir_lib.Run(str(tmp_path)).resume(config, latest_step=None) is None


def test_ctrl_c_is_watched_from_the_main_thread_only_and_restored(capsys):
  # In the main thread: the first SIGINT sets `requested` and says so, the second
  # interrupts, and restore() puts the previous handler back. From another thread no
  # handler can be set, and watch() leaves SIGINT alone.
  import signal
  import threading

  from nlx import workdir as workdir_lib
  before = signal.getsignal(signal.SIGINT)
  stop = workdir_lib.StopOnInterrupt()
  stop.watch()
  try:
    handler = signal.getsignal(signal.SIGINT)
    assert handler is not before
    handler(signal.SIGINT, None)
    assert stop.requested
    assert "stopping after this step" in capsys.readouterr().err
    with pytest.raises(KeyboardInterrupt):
      handler(signal.SIGINT, None)
  finally:
    stop.restore()
  assert signal.getsignal(signal.SIGINT) is before
  other = workdir_lib.StopOnInterrupt()
  thread = threading.Thread(target=other.watch)
  thread.start()
  thread.join()
  assert signal.getsignal(signal.SIGINT) is before and other._previous is None


def test_an_older_nlxs_config_json_leaves_out_every_key_it_lacks(tmp_path):
  """A legacy record (config.json alone) lacked keys nlx added since; each is left out of
  the comparison whatever its value (a workdir.json record would refuse a non-default)."""
  from nlx import workdir as workdir_lib
  config = load_config("quickstart", "tiny")
  workdir_lib.write_record(str(tmp_path), config, None, 0)
  (tmp_path / "workdir.json").unlink()
  old = json.loads(read(tmp_path / "config.json"))
  del old["data"]["duplicates"]
  (tmp_path / "config.json").write_text(json.dumps(old))
  config.data.duplicates = "drop"  # not the default "error"
  assert workdir_lib.read_record(str(tmp_path))["legacy"] is True
  assert workdir_lib.check_resume(str(tmp_path), config, has_checkpoint=True) is None


@pytest.mark.parametrize("name, text, what", [
    ("workdir.json", '{"fingerprint": "0123"}', "run record"),  # a dict without "keys"
    ("workdir.json", '[1, 2]', "run record"),
    ("config.json", '[1, 2]', "config"),                        # legacy: no key needed
])
def test_a_record_that_is_not_the_expected_object_is_one_line(tmp_path, name, text, what):
  from nlx import workdir as workdir_lib
  (tmp_path / name).write_text(text)
  with pytest.raises(ConfigError, match=rf"{what}.*not a JSON object"):
    workdir_lib.check_resume(str(tmp_path), load_config("quickstart", "tiny"),
                             has_checkpoint=True)


def test_the_fingerprint_is_16_hex_digits_of_the_sorted_json_sha256():
  import hashlib

  from nlx import workdir as workdir_lib
  keys = {"b": [1, 2], "a": 0.5}
  want = hashlib.sha256(b'{"a": 0.5, "b": [1, 2]}').hexdigest()[:16]
  assert workdir_lib.fingerprint(keys) == want and len(want) == 16


def test_a_released_lock_is_free_empty_and_of_mode_644(tmp_path):
  """The lock file holds the holder's pid (rw-r--r-- under the umask); releasing it
  empties the file and frees the lock for the next run, even in the same process;
  releasing twice is harmless. A Run (the main process by default) holds it."""
  from nlx import workdir as workdir_lib
  umask = os.umask(0)
  os.umask(umask)
  lock = workdir_lib.Lock(str(tmp_path)).acquire()
  path = tmp_path / workdir_lib.LOCK_FILE
  assert read(path) == f"{os.getpid()}\n"
  assert os.stat(path).st_mode & 0o777 == 0o644 & ~umask
  lock.release()
  lock.release()
  assert read(path) == ""
  again = workdir_lib.Lock(str(tmp_path)).acquire()  # would fail if the first still held it
  again.release()
  with workdir_lib.Run(str(tmp_path)):
    with pytest.raises(ConfigError, match=f"in use by process {os.getpid()}"):
      workdir_lib.Lock(str(tmp_path)).acquire()
  with workdir_lib.Run(str(tmp_path), is_main=False):  # another host's process: no lock
    workdir_lib.Lock(str(tmp_path)).acquire().release()
