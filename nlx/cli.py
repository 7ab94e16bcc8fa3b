"""The `nlx` command: `nlx train ...` (= python -m nlx.main), `nlx report WORKDIR...` and
`nlx find-label-issues --config=... [--top=20]` (trains, then prints the likely wrong labels)."""

import sys

USAGE = ("usage: nlx {train,report,find-label-issues} ...   (nlx report --help, "
         "nlx train --helpfull)")


def main() -> None:
  if len(sys.argv) < 2 or sys.argv[1] not in ("train", "report", "find-label-issues"):
    sys.exit(USAGE)
  command, rest = sys.argv[1], sys.argv[2:]
  if command == "find-label-issues":  # train (or resume), then print the top suspects
    from nlx.label_issues import cli
    cli(rest)
  elif command == "report":
    from nlx.report.report import main as report
    report(rest)
  else:
    from absl import app

    from nlx import main as train_main
    sys.argv = ["nlx train", *rest]
    app.run(train_main.main, flags_parser=train_main.parse_flags)
