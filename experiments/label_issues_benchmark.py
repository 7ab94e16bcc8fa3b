"""Finding the wrong labels: nlx's per-run scores against cleanlab's, on the same data.

  pip install "cleanlab>=2,<3"     # needed by this experiment only, never by nlx
  python experiments/label_issues_benchmark.py --suite=cifar10n_cpu \
      --settings=worst,aggre,random1 --seeds=0,1,2
  python experiments/label_issues_benchmark.py --suite=digits --settings=sym40,pair40

Per (setting, seed), on the suite's training set (nlx.benchmarks.suites; the CIFAR-10N
CPU protocol's 45,000 cached 1,024-d features and their CIFAR-10N labels), nlx's scores
from one CE run against cleanlab's from 5-fold out-of-fold probabilities (the scorers:
nlx.benchmarks.label_issue_finding), measured against "given label != clean label":
AUROC and AP of the score, precision, recall and F1 of the flagged set, the estimated
and true error counts, wall time. Writes `--out/label_issues_SUITE.md` (mean ± std over
the seeds run) and keeps every cell's numbers in `--workroot/label_issues/.../*.json` (a
cell that exists is not rerun).
"""

import argparse
import os
import sys

from nlx.benchmarks import label_issue_finding, output, protocols, suites
from nlx.errors import NlxError


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--suite", default="cifar10n_cpu")
  p.add_argument("--settings", default="worst,aggre,random1")
  p.add_argument("--seeds", default="0")
  p.add_argument("--scorers", default=",".join(label_issue_finding.SCORERS))
  p.add_argument("--data_dir", default="workdirs/cifar10n_cpu_features")
  p.add_argument("--workroot", default="workdirs")
  p.add_argument("--out", default="experiments/results")
  p.add_argument("--candidates", action="store_true",
                 help="write the table of every out-of-fold score and count of the nlx_folds "
                      "cells instead (label_issues_folds_candidates_SUITE.md)")
  p.add_argument("--reuse_only", action="store_true",
                 help="table the finished cells only; train and fit nothing")
  a = p.parse_args()
  try:
    if a.suite in suites.FEATURE_SUITES and not a.reuse_only:  # built when missing
      a.data_dir = protocols.cpu_features_dir(a.data_dir)
    elif a.data_dir == p.get_default("data_dir"):
      a.data_dir = ""
    settings, seeds = a.settings.split(","), [int(s) for s in a.seeds.split(",")]
    finding = label_issue_finding.Finding(a.workroot, a.data_dir, a.reuse_only)
    cells = finding.run(a.suite, settings, seeds, a.scorers.split(","))
  except NlxError as e:
    sys.exit(f"label_issues_benchmark: {e}")
  if a.candidates:
    text = label_issue_finding.candidates_table(cells, a.suite, settings, seeds,
                                                arguments=" ".join(sys.argv[1:]))
    output.write_text(os.path.join(a.out, f"label_issues_folds_candidates_{a.suite}.md"), text)
    print(text)
    return
  text = label_issue_finding.report(cells, a.suite, settings, seeds,
                                    arguments=" ".join(sys.argv[1:]))
  output.write_text(os.path.join(a.out, f"label_issues_{a.suite}.md"), text)
  print(text)


if __name__ == "__main__":
  main()
