"""The `nlx` command: `nlx train ...` (= python -m nlx.main), `nlx report WORKDIR...`,
`nlx report label-issues WORKDIR` (the review page, nlx.report.review_page) and
`nlx find-label-issues --config=... [--top=20]` (trains, then prints the likely wrong labels)."""

import os
import sys

USAGE = ("usage: nlx {train,report,find-label-issues} ...   (nlx report --help, "
         "nlx train --helpfull)")


def main() -> None:
  from nlx import gc_policy
  if sys.argv[1:2] in (["train"], ["find-label-issues"]):
    gc_policy.pause()  # no collections at start-up (the trainer resumes them)
  from nlx.main import enable_compile_cache  # before anything imports jax
  enable_compile_cache()
  if len(sys.argv) < 2 or sys.argv[1] not in ("train", "report", "find-label-issues"):
    sys.exit(USAGE)
  command, rest = sys.argv[1], sys.argv[2:]
  if command == "find-label-issues":  # train (or resume), then print the top suspects
    find_label_issues(rest)
  elif command == "report" and rest[:1] == ["label-issues"]:  # the review page
    from nlx.report.review_page import main as review_page
    review_page(rest[1:])
  elif command == "report":
    from nlx.report.report import main as report
    report(rest)
  else:
    from absl import app

    from nlx import main as train_main
    sys.argv = ["nlx train", *rest]
    app.run(train_main.main, flags_parser=train_main.parse_flags)


def find_label_issues(args: list[str]) -> None:
  """`nlx find-label-issues --config=... [--workdir=...] [--top=20] [train flags]`: trains
  (or resumes) the configured run, then prints its most suspicious labels; with
  `--config.label_issues.folds=K` the K fold runs' out-of-fold list (`nlx.replicas`)."""
  import argparse

  from absl import app, flags

  from nlx import io, label_issues
  from nlx import main as train_main
  from nlx import workdir as workdir_lib
  from nlx.errors import NlxError
  p = argparse.ArgumentParser(add_help=False)
  p.add_argument("--top", type=int, default=20)
  a, rest = p.parse_known_args(args)

  def run(argv):
    if flags.FLAGS.config.train.replicas > 1:
      sys.exit("nlx: error: find-label-issues lists the labels of one training set: use "
               "--config.label_issues.folds=K (K runs, each example judged by the one that "
               "never trained on it), not train.replicas")
    train_main.main(argv)  # the same workdir as `nlx train` (variant included), never another run's
    workdir = flags.FLAGS.workdir or workdir_lib.default_workdir(
        flags.FLAGS["config"].config_filename)
    try:
      summary = io.read_json(os.path.join(workdir, label_issues.JSON_NAME))
      rows = label_issues.find(workdir)
    except NlxError as e:
      sys.exit(f"nlx: error: {e}")
    print(f"\nscore: {summary['score']}; estimated wrong labels: {summary['estimated_errors']}"
          + (f" (true: {summary['true_errors']})" if "true_errors" in summary else ""))
    print(format_suspects(rows, a.top))
    print(f"all rows: {os.path.join(workdir, label_issues.CSV_NAME)}")

  app.run(run, argv=["nlx find-label-issues", *rest], flags_parser=train_main.parse_flags)


def format_suspects(rows: list[dict], top: int = 20) -> str:
  """The table `nlx find-label-issues` prints: a header and one line per suspect.

  Args:
    rows: `nlx.label_issues.find`'s rows, most suspicious first.
    top: how many rows to show.

  Returns:
    The lines, joined by newlines: index, given and suggested class, score, whether
    flagged (yes/no) and the file path, for the first `top` rows.
  """
  lines = [f"{'index':>7}  {'given':<14} {'suggested':<14} {'score':>9}  flagged  path"]
  for r in rows[:top]:
    lines.append(f"{r['index']:>7}  {r['given_class']:<14} {r['suggested_class']:<14} "
                 f"{r['score']:>9.4g}  {'yes' if r['flagged'] else 'no':<7}  {r['path']}")
  return "\n".join(lines)
