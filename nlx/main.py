"""Command line: `python -m nlx.main --config=configs/NAME.py [--config.key=value] [--workdir=DIR]`.

Without --config it runs `configs/quickstart.py` (digits, 40% symmetric noise, CE).
Multi-host: the same command on every host with `--coordinator_address=HOST:PORT
--num_processes=N --process_id=I` (or `--distributed=auto` on SLURM etc.; see
`nlx.distributed`).
"""

import os
import sys

from absl import app, flags, logging
from ml_collections import config_flags

from nlx.errors import NlxError

_DEFAULT_CONFIG = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               "configs", "quickstart.py")
_CONFIG = config_flags.DEFINE_config_file("config", _DEFAULT_CONFIG, "Config file.",
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory (default: workdirs/<config>).")
_DISTRIBUTED = flags.DEFINE_string("distributed", "", "'auto': let JAX detect the cluster.")
_COORDINATOR = flags.DEFINE_string("coordinator_address", None, "Multi-host: HOST:PORT of process 0.")
_NUM_PROCESSES = flags.DEFINE_integer("num_processes", None, "Multi-host: number of processes.")
_PROCESS_ID = flags.DEFINE_integer("process_id", None, "Multi-host: this process's id.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.WARNING)  # orbax logs every checkpoint file at INFO
  from nlx import distributed, train

  try:
    distributed.initialize(_DISTRIBUTED.value, coordinator_address=_COORDINATOR.value,
                           num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
  except NlxError as e:
    sys.exit(f"nlx: error: {e}")
  config = _CONFIG.value
  name = os.path.splitext(os.path.basename(flags.FLAGS["config"].config_filename))[0]
  workdir = _WORKDIR.value or os.path.join("workdirs", name)
  try:
    results = train.train_and_evaluate(config, workdir)
  except NlxError as e:
    sys.exit(f"nlx: error: {e}")
  if results["status"] == "finished":
    print(train.results_table(results))
    print(f"workdir: {workdir} (results.json, metrics.jsonl, curves.png)")


if __name__ == "__main__":
  app.run(main)
