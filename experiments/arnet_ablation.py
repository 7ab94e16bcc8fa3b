"""ARNet's readings, temperature x target x lambda, against ELR and CE (issue 19).

  python experiments/arnet_ablation.py                      # the full grid (hours on 2 cores)
  python experiments/arnet_ablation.py --cells=digits:sym40 --seeds=0,1,2 \
      --arnet=paper/current/0.8,paper/running/0.2,swav/current/0.8   (chosen rows)

Every cell (suite:setting, row, seed) trains on 90% of the noisy training set; the other
10% (seeded by the seed) keeps its *noisy* labels and is the validation split: the
table's "val (noisy)" column is the agreement with those labels, and the reading chosen
per cell is the ARNet row with the best mean validation score among the rows run on every
seed of the cell (a row on fewer seeds is a screen, shown but never chosen). The clean
test labels are reported, never used to choose. The CIFAR-10N cells read the CPU
protocol's features from --data_dir (default WORKROOT/cifar10n_cpu_features, built from
../shared/data the first time). Temperatures: `paper` (Eq. 1 and Eq. 3 at 1),
`read0.1` (read at 0.1, clustering at 1), `swav` (both at 0.1). Targets: `current` (the
paper's text) or `running` (ELR's running average of predictions, momentum 0.7).

Writes `--out` (default experiments/results/arnet_ablation.md): per cell, each row's
clean-test accuracy and validation score (mean ± std over seeds) and the last epoch's
diagnostics (nlx.methods.arnet's aux metrics and nlx.collapse's record, mean over
seeds), and which rows collapsed. Cell workdirs go to `--workroot` and are reused only
when made under the same config (protocols.finished_results).
"""

import itertools
import os
import sys
import time

import jax
import numpy as np
from absl import app, flags, logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocols

from nlx import data as data_lib
from nlx import io, train

TEMPERATURES = {"paper": (1.0, 1.0), "read0.1": (0.1, 1.0), "swav": (0.1, 0.1)}
DIAGNOSTICS = ("read_entropy", "read_max", "q_entropy", "proto_label_max", "r_dot_t",
               "memory_accuracy", "target_accuracy", "corrected_share", "loss_ce",
               "loss_elr", "loss_proto", "data_loss", "reg_loss", "train_top_class_share")


def define_flags() -> None:
  """The command line, defined when the script runs (not on import: a test importing
  this module beside another script with an `--out` flag would clash)."""
  flags.DEFINE_list("cells", ["digits:sym40", "fashion_mnist:pair40", "cifar10n_cpu:worst",
                              "cifar10n_cpu:aggre", "cifar10n_cpu:random1"],
                    "suite:setting cells; suite:setting:0+1 runs that cell on those seeds only.")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
  flags.DEFINE_list("temperatures", list(TEMPERATURES), f"From {list(TEMPERATURES)}.")
  flags.DEFINE_list("targets", ["current", "running"], "current, running.")
  flags.DEFINE_list("lams", ["0", "0.2", "0.8"], "lambda values (Eq. 1's mix of r and v).")
  flags.DEFINE_list("arnet", [], "Explicit ARNet rows TEMPERATURE/TARGET/LAMBDA (e.g. "
                    "paper/current/0.8) instead of the product of the three lists above.")
  flags.DEFINE_list("baselines", ["ce", "elr"], "Baseline rows.")
  flags.DEFINE_float("val_fraction", 0.1, "Share of the noisy training set held out.")
  flags.DEFINE_string("data_dir", "", "The CIFAR-10N suites' features cache (default: "
                      "WORKROOT/cifar10n_cpu_features, built from ../shared when missing); "
                      "the other suites keep their own data folders.")
  flags.DEFINE_string("workroot", "workdirs/arnet_ablation", "Where cell workdirs go.")
  flags.DEFINE_string("out", "experiments/results/arnet_ablation.md", "The table.")
  flags.DEFINE_bool("render_only", False, "Write the table from the cells already run.")
  flags.DEFINE_string("note", "", "A line written under the command (e.g. 'partial: ...').")


FLAGS = flags.FLAGS


def arnet_rows(triples) -> dict:
  """`{row name: method spec}` for `(temperature, target, lambda)` triples (spec:
  `arnet@key=value,...`, see protocols.suite_config)."""
  rows = {}
  for temp, target, lam in triples:
    read, cluster = TEMPERATURES[temp]
    rows[f"arnet {temp} {target} lam={lam}"] = (
        f"arnet@read_temperature={read},cluster_temperature={cluster},target={target},lam={lam}")
  return rows


def carve_validation(ds, fraction: float, seed: int):
  """Moves `fraction` of the training set into `ds.val` with its noisy labels standing as
  the labels it is scored against (so the clean labels never reach the selection)."""
  n = len(ds.train)
  order = np.random.default_rng(seed + 1000).permutation(n)
  held, kept = np.sort(order[:int(n * fraction)]), np.sort(order[int(n * fraction):])
  val = ds.train.subset(held)
  val.clean_labels = val.hard_labels()
  ds.train, ds.val = ds.train.subset(kept), val
  return ds


def last_diagnostics(workdir: str) -> dict:
  """The last train record's and the last eval record's diagnostics of a run."""
  out = {}
  for record in io.read_jsonl(os.path.join(workdir, "metrics.jsonl")):
    out.update({k: v for k, v in record.items() if k in DIAGNOSTICS})
  return out


def data_dir_for(suite: str, data_dir: str, workroot: str) -> str:
  """The data folder a suite's cells get: `data_dir` (or the default cache) for the
  CIFAR-10N feature suites only; "" (the suite's own default) for the others, so one
  command can mix suites without giving digits the CIFAR-10N cache."""
  if suite not in protocols.FEATURE_SUITES:
    return ""
  return protocols.cpu_features_dir(data_dir or os.path.join(workroot, "cifar10n_cpu_features"))


def run_cell(suite, setting, row, spec, seed, data_dir) -> dict:
  workdir = os.path.join(FLAGS.workroot, suite, setting, row.replace(" ", "_"), f"seed{seed}")
  config = protocols.suite_config(suite, spec, setting, seed, data_dir=data_dir)
  config.train.eval_every_epochs = min(config.train.eval_every_epochs, 5)
  r = protocols.finished_results(workdir, config)
  if r is None:
    if FLAGS.render_only:
      return None
    ds = carve_validation(data_lib.load_dataset(config), FLAGS.val_fraction, seed)
    t = time.time()
    train.train_and_evaluate(config, workdir, dataset=ds)
    print(f"{suite}:{setting} {row} seed {seed}: {time.time() - t:.0f} s", flush=True)
    r = io.read_json(os.path.join(workdir, "results.json"))
  return {"seed": seed, "test": r["test"]["accuracy"], "val": r["val"]["accuracy"],
          "collapse": r.get("collapse"), **last_diagnostics(workdir)}


def fmt(values, scale=100.0) -> str:
  v = scale * np.asarray(values, float)
  return f"{np.mean(v):.2f} ± {np.std(v):.2f}"


def cell_table(results: dict, seeds) -> str:
  """Markdown rows for one cell: `results[row] = [per-seed dicts]` (each with its "seed").

  The reading chosen is the ARNet row with the best mean validation score among the rows
  run on every seed of the cell; a row run on fewer (a screen on one seed) is shown with
  its seeds and never chosen, since a mean over other seeds is not comparable."""
  full = [r for r in results if r.startswith("arnet") and len(results[r]) == len(seeds)]
  chosen = max(full, key=lambda r: np.mean([x["val"] for x in results[r]])) if full else None
  head = ("| row | seeds | test acc | val acc (noisy labels) | collapsed seeds | "
          + " | ".join(DIAGNOSTICS) + " |\n|---|---|---|---|---|" + "---|" * len(DIAGNOSTICS)
          + "\n")
  lines = []
  for row, runs in results.items():
    diag = [np.nanmean([x.get(k, np.nan) for x in runs]) for k in DIAGNOSTICS]
    name = f"**{row}** (chosen on val)" if row == chosen else row
    collapsed = sum(x["collapse"] is not None for x in runs)
    lines.append(f"| {name} | {','.join(str(x['seed']) for x in runs)} | "
                 f"{fmt([x['test'] for x in runs])} | {fmt([x['val'] for x in runs])}"
                 f" | {collapsed}/{len(runs)} | " + " | ".join(f"{d:.3f}" for d in diag) + " |")
  return head + "\n".join(lines) + "\n"


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  # the seeds of one row run the same programs: keep the compiled ones on disk
  jax.config.update("jax_compilation_cache_dir", os.path.join(FLAGS.workroot, "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  seeds = [int(s) for s in FLAGS.seeds]
  rows = {b: b for b in FLAGS.baselines}
  triples = ([tuple(a.split("/")) for a in FLAGS.arnet] if FLAGS.arnet else
             itertools.product(FLAGS.temperatures, FLAGS.targets, FLAGS.lams))
  rows.update(arnet_rows(triples))
  cmd = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
  text = (f"# ARNet readings: temperature x target x lambda, with ELR and CE\n\n"
          f"Command: `{cmd}`\n\n{FLAGS.note + chr(10) + chr(10) if FLAGS.note else ''}"
          f"Clean-test accuracy (%), mean ± std over the seeds; val: agreement (%) with "
          f"the noisy labels of {100 * FLAGS.val_fraction:.0f}% of the training set held out "
          "(the only score used to choose a reading). Diagnostics: the last logged value, "
          "mean over seeds (see nlx/methods/arnet.py, nlx/methods/elr.py for data_loss and "
          "reg_loss, and nlx/collapse.py).\n")
  for cell in FLAGS.cells:
    suite, setting, *only = cell.split(":")
    cell_seeds = [int(s) for s in only[0].split("+")] if only else seeds
    data_dir = data_dir_for(suite, FLAGS.data_dir, FLAGS.workroot)
    results = {row: [run_cell(suite, setting, row, spec, s, data_dir) for s in cell_seeds]
               for row, spec in rows.items()}
    results = {row: [r for r in runs if r] for row, runs in results.items()}
    results = {row: runs for row, runs in results.items() if runs}  # render_only: what ran
    text += f"\n## {suite}:{setting}, seeds {cell_seeds}\n\n{cell_table(results, cell_seeds)}"
    os.makedirs(os.path.dirname(FLAGS.out) or ".", exist_ok=True)
    with open(FLAGS.out, "w") as f:  # rewritten after every cell: a partial run leaves a table
      f.write(text)
  print(text)


if __name__ == "__main__":
  define_flags()
  app.run(main)
