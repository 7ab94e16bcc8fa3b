"""The `nlx` command: `nlx train ...` (= python -m nlx.main) and `nlx report WORKDIR...`."""

import sys

USAGE = "usage: nlx {train,report} ...   (nlx report --help, nlx train --helpfull)"


def main() -> None:
  if len(sys.argv) < 2 or sys.argv[1] not in ("train", "report"):
    sys.exit(USAGE)
  command, rest = sys.argv[1], sys.argv[2:]
  if command == "report":
    from nlx.report.report import main as report
    report(rest)
  else:
    from absl import app

    from nlx import main as train_main
    sys.argv = ["nlx train", *rest]
    app.run(train_main.main, flags_parser=train_main.parse_flags)
