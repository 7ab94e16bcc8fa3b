"""The command line's garbage collection at start-up: paused, then frozen.

A run's start-up builds a few hundred thousand long-lived objects that the collector
tracks (jax, flax, scikit-learn and their modules, the traced programs: 220,000 in the
quickstart, 345,000 with a ResNet-18) and little garbage. Python's collector meanwhile
runs a full collection whenever that heap has grown by a quarter, each a walk over all of
it holding the interpreter's lock: 6 of them took 0.54-0.56 s of a warm quickstart run
(4.7-4.8 s as a wrapper timed it on the 2-core CPU), 0.65-0.69 s with the younger
generations (`gc.callbacks`, 2026-12-06; experiments/results/bench_run.md, invocation 16,
where the run's CPU time fell by more than that).

`python -m nlx.main` and `nlx train|find-label-issues` call `pause()` before their imports;
the trainer calls `resume()` where its loop is about to start (before its background
compile starts), or on its way out if an error comes first: what exists then moves to
the permanent generation (`gc.freeze`), which later collections do not walk, and
collection resumes for what the run creates from there on. The garbage frozen with it is
small and kept until the process exits: a `gc.collect()` at that point found 1,690
unreachable objects in the quickstart, 3,866 with a ResNet-18 or ResNet-50 and 1,831 in
the CPU protocol's run. Code that imports nlx as a library keeps its own collector
settings: only `pause()` changes anything, and only those commands call it.
"""

import gc
import threading

_lock = threading.Lock()
_paused = False      # pause() disabled the collector and resume() has not run


def pause() -> None:
  """Disables the collector until `resume()` (nothing if it is already off: the
  process's owner turned it off and keeps it off)."""
  global _paused
  with _lock:
    if gc.isenabled():
      gc.disable()
      _paused = True


def resume() -> None:
  """If `pause()` paused the collector: freezes every object that exists now and enables
  the collector again. Otherwise nothing."""
  global _paused
  with _lock:
    if _paused:
      gc.freeze()
      gc.enable()
      _paused = False


def paused() -> bool:
  """Whether `pause()` holds the collector off now."""
  return _paused
