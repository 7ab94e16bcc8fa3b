import json
import os
import re
import signal
import time

import pytest
from conftest import CONFIGS, run_main, start_main


@pytest.mark.slow
def test_main_runs_a_config_and_prints_the_table(tmp_path):
  """From a folder without configs/: `configs/NAME.py` is the one shipped with nlx."""
  r = run_main("--config=configs/quickstart.py:tiny", f"--workdir={tmp_path}/wd", cwd=tmp_path)
  assert r.returncode == 0, r.stderr
  assert "| digits | ce | small_cnn | 39.8% |" in r.stdout
  with open(tmp_path / "wd" / "results.json") as f:
    assert json.load(f)["status"] == "finished"


def one_line_error(r):
  assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr[-3000:]
  assert len(r.stderr.strip().splitlines()) == 1, r.stderr[-3000:]
  return r.stderr.strip()


def test_config_override_and_typo(tmp_path):
  r = run_main("--config", "configs/quickstart.py:tiny", "--config.data.nmae=x",
               f"--workdir={tmp_path}/wd", cwd=tmp_path)
  assert one_line_error(r) == ("nlx: error: --config.data.nmae: unknown config key 'nmae' "
                               "(did you mean 'name'?)")
  r = run_main(f"--config={CONFIGS}/baselines.py:sym20,sym40", cwd=tmp_path)
  assert one_line_error(r).endswith(
      "ConfigError: config variant gives two noise words, 'sym20' and 'sym40'; give one")


BAD_FILES = {  # config file text -> the one line expected (after "nlx: error: FILE:")
    "def get_config(v=''):\n  x = = 1\n": "2: syntax error: invalid syntax",
    ("from nlx.config_base import base_config\ndef get_config(v=''):\n  c = base_config()\n"
     "  c.data.nmae = 1\n  return c\n"): "4: unknown config key 'nmae' (did you mean 'name'?)",
}


@pytest.mark.slow
def test_errors_before_training_are_one_line(tmp_path):
  """Each of these printed 17 to 55 lines of traceback before (issue 16)."""
  for i, (text, expected) in enumerate(BAD_FILES.items()):
    (tmp_path / f"bad{i}.py").write_text(text)
    r = run_main(f"--config={tmp_path}/bad{i}.py", cwd=tmp_path)
    assert one_line_error(r) == f"nlx: error: {tmp_path}/bad{i}.py:{expected}"
  tiny = f"--config={CONFIGS}/quickstart.py:tiny"
  (tmp_path / "file").write_text("x")
  for args, expected in [
      (["--config.data.batch_size=0"], "nlx: error: data.batch_size must be >= 1, got 0"),
      (["--config.optimizer.learning_rate=-1"],
       "nlx: error: optimizer.learning_rate must be > 0.0, got -1.0"),
      ([f"--workdir={tmp_path}/file"],
       f"nlx: error: workdir {tmp_path}/file is a file, not a directory; choose another --workdir"),
      ([f"--config={tmp_path}/nope.py"],
       f"nlx: error: cannot read the config file {tmp_path}/nope.py: no such file")]:
    r = run_main(tiny, *args, cwd=tmp_path)
    assert one_line_error(r) == expected
  # without --config, config_flags applies overrides to the default config at import time
  assert one_line_error(run_main("--config.data.nmae=1", cwd=tmp_path)) == (
      "nlx: error: --config.data.nmae: unknown config key 'nmae' (did you mean 'name'?)")


def test_help_prints_the_docstring_intact(tmp_path):
  r = run_main("--help", cwd=tmp_path)
  assert "(digits, 40 percent symmetric noise, CE)" in r.stdout  # a "%" was formatted
  assert "workdirs/NAME/VARIANT" in r.stdout


@pytest.mark.slow
def test_ctrl_c_names_the_step_and_the_checkpoint_kept(tmp_path):
  p = start_main(f"--config={CONFIGS}/quickstart.py:tiny", "--config.train.num_epochs=30",
                 "--config.train.checkpoint_every_steps=2", f"--workdir={tmp_path}/wd",
                 cwd=tmp_path)
  deadline = time.time() + 240
  ckpts = tmp_path / "wd" / "checkpoints"
  while time.time() < deadline and not (ckpts.is_dir()
                                        and any(n.isdigit() for n in os.listdir(ckpts))):
    time.sleep(0.05)  # in the training loop once the first checkpoint exists
  p.send_signal(signal.SIGINT)
  _, err = p.communicate(timeout=120)
  assert p.returncode == 130, err[-3000:]
  last = err.strip().splitlines()[-1]
  found = re.fullmatch(r"nlx: interrupted at step (\d+); checkpoint step (\d+) kept in "
                       r".*/wd/checkpoints; rerun the same command to resume", last)
  assert found and found.group(1) == found.group(2), last
  assert int(found.group(1)) < 240 and found.group(1) in os.listdir(ckpts)
  assert "Traceback" not in err


def test_missing_data_gives_one_line_error(tmp_path):
  r = run_main(f"--config={CONFIGS}/ce_cifar10.py:tiny", f"--config.data.data_dir={tmp_path}/none",
               f"--workdir={tmp_path}/wd", cwd=tmp_path)
  assert r.returncode == 1
  assert r.stderr.strip().splitlines()[-1].startswith("nlx: error: cifar10:")
  assert "Traceback" not in r.stderr  # nor a background thread's after it
  assert "Traceback" not in r.stderr


@pytest.mark.parametrize("value,want", [(None, "HOME/.cache/nlx/jax"), ("DIR", "DIR"),
                                        ("off", None), ("OFF", None), ("", None)])
def test_the_command_line_turns_on_the_persistent_compile_cache(monkeypatch, tmp_path, value,
                                                                want):
  from nlx.main import enable_compile_cache
  for key in ("JAX_COMPILATION_CACHE_DIR", "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
              "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "NLX_COMPILE_CACHE"):
    monkeypatch.delenv(key, raising=False)
  monkeypatch.setenv("HOME", str(tmp_path))
  if value is not None:
    monkeypatch.setenv("NLX_COMPILE_CACHE", value.replace("DIR", str(tmp_path / "c")))
  enable_compile_cache()
  want = want and want.replace("HOME", str(tmp_path)).replace("DIR", str(tmp_path / "c"))
  assert os.environ.get("JAX_COMPILATION_CACHE_DIR") == want
  # every program cached, not only those that took a second to compile
  assert os.environ.get("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS") == (want and "0")
  monkeypatch.setenv("JAX_COMPILATION_CACHE_DIR", "/elsewhere")  # the user's own wins
  enable_compile_cache()
  assert os.environ["JAX_COMPILATION_CACHE_DIR"] == "/elsewhere"


def test_a_run_reaches_its_first_step_without_matplotlib_scikit_learn_or_scipy(tmp_path):
  """Start-up (issue 28): what a run imports before its first step (the command's modules,
  the trainer, the dataset registry and a data source) leaves matplotlib (the figures at
  its end), scikit-learn and scipy unloaded: about 3 s of imports a run that stops at bad
  input never pays. A run needs neither of the last two at all (`nlx.metrics` is numpy's;
  the digits loader reads scikit-learn's file without importing it); pyplot is loaded
  when the end figures ask for it."""
  import subprocess
  import sys

  from conftest import main_env
  code = ("import sys\n"
          "import nlx.main, nlx.cli, nlx.train, nlx.replicas, nlx.dynamics, nlx.checkpointing\n"
          "from nlx import data\n"
          "heavy = ('matplotlib', 'sklearn', 'scipy')\n"
          "print(sorted(m for m in heavy if m in sys.modules))\n"
          "from nlx.report import plots\n"
          "from nlx.data.datasets import digits\n"
          "print(sorted(m for m in heavy if m in sys.modules))\n"
          "backend = plots.pyplot().get_backend().lower()\n"
          "print(sorted(m for m in heavy if m in sys.modules), backend)\n")
  r = subprocess.run([sys.executable, "-c", code], env=main_env(), cwd=tmp_path,
                     capture_output=True, text=True, check=True)
  assert r.stdout.splitlines() == ["[]", "[]", "['matplotlib'] agg"], r.stdout + r.stderr
