"""Command line: `python -m nlx.main --config=configs/NAME.py [--config.key=value] [--workdir=DIR]`.

Without --config it runs `configs/quickstart.py` (digits, 40 percent symmetric noise, CE).
`--config=configs/NAME.py` is that file in the working folder, or else the one installed
with nlx (`pip install nlx` ships configs/), so the README's commands work from any folder.
Multi-host: the same command on every host with `--coordinator_address=HOST:PORT
--num_processes=N --process_id=I` (or `--distributed=auto` on SLURM etc.; see
`nlx.distributed`).
Default workdir: workdirs/NAME, or workdirs/NAME/VARIANT for --config=configs/NAME.py:VARIANT.
A rerun with the same config resumes; another config there is an error (see nlx.workdir).
"""

import os
import sys


def enable_compile_cache() -> None:
  """JAX's persistent compilation cache for the command line (before jax is imported):
  a run loads the programs an earlier run with the same shapes compiled (the step, the
  chunk, the predictions, the model's init) instead of compiling them again. Directory:
  $NLX_COMPILE_CACHE (default ~/.cache/nlx/jax; "off" turns it off); JAX keys each entry
  on the program, its devices and jax's version and flags."""
  cache = os.environ.get("NLX_COMPILE_CACHE",
                         os.path.join(os.path.expanduser("~"), ".cache", "nlx", "jax"))
  if cache and cache.lower() != "off":
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", cache)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


enable_compile_cache()
if __name__ == "__main__":  # the process is this command's: no collections at start-up
  from nlx import gc_policy
  gc_policy.pause()

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from nlx.config_base import CONFIGS_DIR, config_path  # noqa: E402
from nlx.errors import NlxError, config_load_message  # noqa: E402

_DEFAULT_CONFIG = os.path.join(CONFIGS_DIR, "quickstart.py")
try:  # with the default config, config_flags applies `--config.*` overrides right here
  _CONFIG = config_flags.DEFINE_config_file("config", _DEFAULT_CONFIG, "Config file.",
                                            lock_config=True)
except Exception as e:  # noqa: BLE001
  sys.exit(f"nlx: error: {config_load_message(e, sys.argv)}")
_WORKDIR = flags.DEFINE_string("workdir", None,
                                "Output directory (default: workdirs/<config>[/<variant>]).")
_DISTRIBUTED = flags.DEFINE_string("distributed", "", "'auto': let JAX detect the cluster.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None,
                                   "Multi-host: HOST:PORT of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-host: this process's id.")


def _resolve(value: str) -> str:
  path, colon, variant = value.partition(":")
  return f"{config_path(path)}{colon}{variant}" if path.endswith(".py") else value


def resolve_config_arg(argv: list[str]) -> list[str]:
  """`--config=configs/NAME.py[:VARIANT]` (or `--config configs/...`) with the file taken
  from the installed nlx when the working folder has no such file (nlx.config_base)."""
  out = list(argv)
  for i, arg in enumerate(out):
    if arg.startswith("--config="):
      out[i] = "--config=" + _resolve(arg[len("--config="):])
    elif arg == "--config" and i + 1 < len(out):
      out[i + 1] = _resolve(out[i + 1])
  return out


def parse_flags(argv):
  """absl's flag parsing, with a config that cannot be read reported in one line."""
  argv = resolve_config_arg(argv)
  try:
    return flags.FLAGS(argv)
  except flags.Error as e:  # a config file's own error arrives as its traceback's text
    sys.exit(f"nlx: error: {config_load_message(e, argv) if 'Traceback' in str(e) else e}")
  except Exception as e:  # noqa: BLE001 (whatever a config file raises)
    sys.exit(f"nlx: error: {config_load_message(e, argv)}")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint file at INFO
  from nlx import distributed, replicas
  from nlx import workdir as workdir_lib
  from nlx.report import run_files

  try:
    distributed.initialize(_DISTRIBUTED.value, coordinator_address=_COORDINATOR.value,
                           num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
  except NlxError as e:
    sys.exit(f"nlx: error: {e}")
  config = _CONFIG.value
  path = flags.FLAGS["config"].config_filename.split(":")[0]
  try:
    config.get("seed")  # config_flags defers an unreadable file's error to the first access
  except OSError:
    sys.exit(f"nlx: error: cannot read the config file {path}" +
             ("" if os.path.isfile(path) else ": no such file"))
  workdir = _WORKDIR.value or workdir_lib.default_workdir(flags.FLAGS["config"].config_filename)
  try:
    results = replicas.train_and_evaluate(config, workdir)
  except workdir_lib.Interrupted as e:
    print(f"nlx: {e}", file=sys.stderr)
    sys.exit(130)
  except KeyboardInterrupt:
    sys.exit("nlx: interrupted outside the training loop; rerun the same command to start "
             "or resume it")
  except NlxError as e:
    sys.exit(f"nlx: error: {e}")
  if results["status"] == "finished" and "summary" in results:  # several runs
    print(replicas.summary_text(results["summary"]))
    print(f"workdir: {workdir} ({replicas.SUMMARY_NAME}; each run's files in "
          f"{', '.join(r['workdir'] for r in results['summary']['runs'])})")
  elif results["status"] == "finished":
    print(run_files.results_table(results))
    print(f"workdir: {workdir} (results.json, metrics.jsonl, curves.png)")


if __name__ == "__main__":
  app.run(main, flags_parser=parse_flags)
