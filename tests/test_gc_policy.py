"""The command line's start-up without garbage collections (`nlx.gc_policy`): paused by
the commands that train, resumed with the start-up's objects frozen when the training loop
starts (the single run's and the replicas') or when an error comes first; a library
caller's collector untouched."""

import gc
import subprocess
import sys

import pytest
from conftest import REPO, main_env
from test_compiled import tiny_mlp
from test_replicas import with_values

from nlx import gc_policy, replicas, train
from nlx.errors import NlxError


@pytest.fixture(autouse=True)
def own_collector(monkeypatch):
  """Each test starts with the collector on, nothing frozen by this module, the policy's
  state reset; afterwards the collector is as it was and what a test froze is unfrozen."""
  was_enabled = gc.isenabled()
  gc.enable()
  monkeypatch.setattr(gc_policy, "_paused", False)
  yield
  gc.unfreeze()
  (gc.enable if was_enabled else gc.disable)()


def test_pause_then_resume_freezes_what_exists_and_collects_again(monkeypatch):
  gc_policy.pause()
  assert not gc.isenabled() and gc_policy.paused()
  before = gc.get_freeze_count()
  kept = [object() for _ in range(10)]  # noqa: F841 (alive across the freeze)
  gc_policy.resume()
  assert gc.isenabled() and not gc_policy.paused()
  assert gc.get_freeze_count() > before  # at least what was made above, now frozen
  # a second resume: nothing more. Counted as calls of gc.freeze, not by the process's
  # freeze count, which another thread of the test worker may move (seen once in CI: +2)
  freezes = []
  monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1))
  gc_policy.resume()
  assert freezes == [] and gc.isenabled()
  gc_policy.pause()  # and a new pause, then resume, freezes again: the spy sees it
  gc_policy.resume()
  assert freezes == [1] and gc.isenabled()


def test_without_pause_nothing_changes():
  gc_policy.resume()
  assert gc.isenabled() and gc.get_freeze_count() == 0


def test_a_collector_its_owner_turned_off_stays_off():
  gc.disable()
  gc_policy.pause()
  assert not gc_policy.paused()
  gc_policy.resume()
  assert not gc.isenabled() and gc.get_freeze_count() == 0


def loop_starts(monkeypatch, loop_cls) -> list:
  """Records, at every start of `loop_cls.run`, whether the collector is on and how many
  objects are frozen."""
  seen = []
  real = loop_cls.run

  def run(self, *args, **kwargs):
    seen.append((gc.isenabled(), gc.get_freeze_count()))
    return real(self, *args, **kwargs)
  monkeypatch.setattr(loop_cls, "run", run)
  return seen


def test_the_trainer_resumes_a_paused_collector_when_its_loop_starts(tmp_path, monkeypatch):
  built = []
  real_init = train.Trainer.__init__

  def init(self, *args, **kwargs):
    built.append(gc.isenabled())
    return real_init(self, *args, **kwargs)
  monkeypatch.setattr(train.Trainer, "__init__", init)
  real_precompile = train.Trainer.precompile_predictions

  def precompile(self, *args, **kwargs):  # its thread's lowering is not to be frozen
    built.append(("precompile", gc.isenabled()))
    return real_precompile(self, *args, **kwargs)
  monkeypatch.setattr(train.Trainer, "precompile_predictions", precompile)
  seen = loop_starts(monkeypatch, train._Loop)
  gc_policy.pause()
  train.train_and_evaluate(tiny_mlp(), str(tmp_path / "paused"))
  assert built == [False, ("precompile", True)]  # built without collections
  assert len(seen) == 1 and seen[0][0] and seen[0][1] > 0  # on again, the start-up frozen
  # a library caller's run (a process that never paused): on throughout, nothing frozen
  gc.unfreeze()
  train.train_and_evaluate(tiny_mlp(), str(tmp_path / "library"))
  assert built[2] is True and seen[1] == (True, 0)


def test_the_replicas_resume_a_paused_collector_when_their_loop_starts(tmp_path, monkeypatch):
  seen = loop_starts(monkeypatch, replicas._Group)
  gc_policy.pause()
  replicas.train_and_evaluate(with_values(tiny_mlp(), **{"train.replicas": 2}),
                              str(tmp_path / "both"))
  assert len(seen) == 1 and seen[0][0] and seen[0][1] > 0


def test_an_error_before_the_loop_resumes_the_collector(tmp_path, monkeypatch):
  # the data cannot be read (a single run) / a replica's data cannot be read (the program)
  for run in (train.train_and_evaluate, replicas.train_and_evaluate):
    gc_policy.pause()
    config = with_values(tiny_mlp(), **{"data.name": "features",
                                        "data.data_dir": str(tmp_path / "nothing"),
                                        "train.replicas": 2 if run is replicas.train_and_evaluate
                                        else 1})
    with pytest.raises(NlxError):
      run(config, str(tmp_path / run.__module__))
    assert gc.isenabled() and not gc_policy.paused(), run.__module__
    gc.unfreeze()


@pytest.mark.parametrize("command", [["-m", "nlx.main"], ["-m", "nlx.cli", "train"],
                                     ["-m", "nlx.cli", "find-label-issues"]])
def test_the_training_commands_pause_the_collector_until_the_loop(tmp_path, command):
  """`python -m nlx.main` and `nlx train`: the trainer is built with the collector off, the
  loop starts with it on and the start-up frozen (a run in a subprocess, observed from a
  wrapper around the trainer)."""
  code = f"""
import gc, runpy, sys
from nlx import train
seen = []
real_init, real_run = train.Trainer.__init__, train._Loop.run
def init(self, *a, **k):
  seen.append(("built", gc.isenabled()))
  return real_init(self, *a, **k)
def run(self, *a, **k):
  seen.append(("loop", gc.isenabled(), gc.get_freeze_count() > 0))
  return real_run(self, *a, **k)
train.Trainer.__init__, train._Loop.run = init, run
sys.argv = ["nlx", *{command[2:]!r}, "--config=configs/quickstart.py:tiny",
            "--workdir={tmp_path / 'wd'}", "--config.train.progress_bar=False"]
try:
  if {command[1]!r} == "nlx.cli":
    from nlx import cli
    cli.main()
  else:
    runpy.run_module("nlx.main", run_name="__main__")
except SystemExit as e:
  assert not e.code, e.code
print(seen)
"""
  r = subprocess.run([sys.executable, "-c", code], env={**main_env(), "NLX_COMPILE_CACHE": "off"},
                     cwd=REPO, capture_output=True, text=True, timeout=300)
  assert r.returncode == 0, r.stderr[-2000:]
  assert r.stdout.strip().splitlines()[-1] == "[('built', False), ('loop', True, True)]", (
      r.stdout[-2000:])


def test_a_report_command_leaves_the_collector_alone(tmp_path):
  code = ("import gc, sys\n"
          "from nlx import cli\n"
          "sys.argv = ['nlx', 'report', '--help']\n"
          "try:\n  cli.main()\nexcept SystemExit:\n  pass\n"
          "print(gc.isenabled())\n")
  r = subprocess.run([sys.executable, "-c", code], env=main_env(), cwd=REPO,
                     capture_output=True, text=True, timeout=120)
  assert r.stdout.strip().splitlines()[-1] == "True", r.stdout + r.stderr

