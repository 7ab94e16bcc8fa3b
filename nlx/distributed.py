"""Multi-host start-up: `jax.distributed.initialize` from flags or environment variables.

Every process runs the same command; process 0 is the coordinator. Set the three values
by flag (`--coordinator_address=HOST:PORT --num_processes=N --process_id=I`) or by the
environment variables `JAX_COORDINATOR_ADDRESS`, `JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`;
with `--distributed=auto`, JAX detects them on a cluster it knows (SLURM, Open MPI,
Kubernetes, Cloud TPU). Unset everywhere: one process, nothing to initialise.
After it, `jax.devices()` lists every process's devices; the trainer's mesh spans them,
each process reads its own slice of every global batch, and process 0 alone writes
metrics and results (orbax coordinates the checkpoint writes).
"""

import os

import jax

from nlx.errors import ConfigError

_ENV = {"coordinator_address": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES",
        "process_id": "JAX_PROCESS_ID"}


def settings(coordinator_address: str | None = None, num_processes: int | None = None,
             process_id: int | None = None) -> dict | None:
  """The (flag, else environment) values; None when none is set (a single process)."""
  given = {"coordinator_address": coordinator_address, "num_processes": num_processes,
           "process_id": process_id}
  values = {k: v if v is not None else os.environ.get(_ENV[k]) for k, v in given.items()}
  if all(v is None for v in values.values()):
    return None
  missing = [k for k, v in values.items() if v is None]
  if missing:
    raise ConfigError(f"multi-host needs coordinator_address, num_processes and process_id; "
                      f"missing {', '.join(missing)} "
                      f"(flags or {', '.join(_ENV[k] for k in missing)})")
  try:
    n, i = int(values["num_processes"]), int(values["process_id"])
  except ValueError:
    raise ConfigError(f"num_processes and process_id must be integers, got "
                      f"{values['num_processes']!r} and {values['process_id']!r}") from None
  if not 0 <= i < n:
    raise ConfigError(f"process_id must be in [0, {n}), got {i}")
  return {"coordinator_address": str(values["coordinator_address"]), "num_processes": n,
          "process_id": i}


def initialize(mode: str = "", **flags) -> None:
  """Starts the distributed runtime when `mode == "auto"` or values are given (see above)."""
  if mode == "auto":
    jax.distributed.initialize()
    return
  if mode:
    raise ConfigError(f"--distributed must be 'auto' or empty, got {mode!r}")
  values = settings(**flags)
  if values is not None:
    jax.distributed.initialize(**values)
