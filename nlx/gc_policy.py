"""The command line's garbage collection at start-up: paused, then frozen.

A run's start-up builds about a million long-lived objects (jax, flax, scikit-learn and
their modules, the traced programs) and little garbage. Python's collector meanwhile runs
a full collection whenever the heap has grown by a quarter, each a walk over every one of
those objects holding the interpreter's lock: 6 of them took 0.54-0.56 s of the
quickstart's 4.7 s warm run on the 2-core CPU, 0.65-0.69 s with the younger generations
(`gc.callbacks`, 2026-12-06; experiments/results/bench_run.md, invocation 16).

`python -m nlx.main` and `nlx train|find-label-issues` call `pause()` before their imports;
the trainer calls `resume()` when its loop starts: what exists then moves to the permanent
generation (`gc.freeze`), which later collections do not walk, and collection resumes for
what the run creates from there on; the background imports call `freeze_new_long_lived()`
when done. The garbage frozen with the rest is small (a `gc.collect()` at that point found
1,740 unreachable objects in the quickstart and 4,041 in the CPU protocol's run) and is
kept until the process exits. Code that imports nlx as a library keeps its own collector
settings: only `pause()` changes anything, and only those commands call it.
"""

import gc
import threading

_lock = threading.Lock()
_paused = False      # pause() disabled the collector and resume() has not run
_owned = False       # pause() disabled it: this process is a training command's


def pause() -> None:
  """Disables the collector until `resume()` (nothing if it is already off: the
  process's owner turned it off and keeps it off)."""
  global _paused, _owned
  with _lock:
    if gc.isenabled():
      gc.disable()
      _paused = _owned = True


def resume() -> None:
  """If `pause()` paused the collector: freezes every object that exists now and enables
  the collector again. Otherwise nothing."""
  global _paused
  with _lock:
    if _paused:
      gc.freeze()
      gc.enable()
      _paused = False


def freeze_new_long_lived() -> None:
  """In a process `pause()` paused, after `resume()`: freezes, too, what was created since
  (the modules a background import loaded while the training ran). Before `resume()`
  nothing (it freezes them with the rest), nor in a process that never paused."""
  with _lock:
    if _owned and not _paused:
      gc.freeze()


def paused() -> bool:
  """Whether `pause()` holds the collector off now."""
  return _paused
