"""ARNet's readings, temperature x target x lambda, against ELR and CE (issue 19).

Every cell (suite:setting, row, seed) trains on 90% of the noisy training set; the other
10% (seeded by the seed) keeps its *noisy* labels and is the validation split: the
table's "val (noisy)" column is the agreement with those labels, and the reading chosen
per cell is the ARNet row with the best mean validation score among the rows run on every
seed of the cell (a row on fewer seeds is a screen, shown but never chosen). The clean
test labels are reported, never used to choose. Temperatures: `paper` (Eq. 1 and Eq. 3
at 1), `read0.1` (read at 0.1, clustering at 1), `swav` (both at 0.1). Targets: `current`
(the paper's text) or `running` (ELR's running average of predictions, momentum 0.7).
Cell workdirs are reused only when made under the same config (`cells.finished_results`).
"""

import dataclasses
import os
import time

import numpy as np

from nlx import data as data_lib
from nlx import io, train
from nlx.benchmarks import cells, output, protocols, suites

TEMPERATURES = {"paper": (1.0, 1.0), "read0.1": (0.1, 1.0), "swav": (0.1, 0.1)}
DIAGNOSTICS = ("read_entropy", "read_max", "q_entropy", "proto_label_max", "r_dot_t",
               "memory_accuracy", "target_accuracy", "corrected_share", "loss_ce",
               "loss_elr", "loss_proto", "data_loss", "reg_loss", "train_top_class_share")


def arnet_rows(triples) -> dict:
  """`{row name: method spec}` for `(temperature, target, lambda)` triples (the spec's
  syntax: `suites.parse_spec`)."""
  rows = {}
  for temp, target, lam in triples:
    read, cluster = TEMPERATURES[temp]
    rows[f"arnet {temp} {target} lam={lam}"] = (
        f"arnet+method.read_temperature={read}+method.cluster_temperature={cluster}"
        f"+method.target={target}+method.lam={lam}")
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
  if suite not in suites.FEATURE_SUITES:
    return ""
  return protocols.cpu_features_dir(data_dir or os.path.join(workroot, "cifar10n_cpu_features"))


@dataclasses.dataclass
class Ablation:
  """How the ablation's cells run.

  Attributes:
    workroot: cell workdirs go to `WORKROOT/SUITE/SETTING/ROW/seedN`.
    data_dir: the CIFAR-10N suites' features cache ("": `WORKROOT/cifar10n_cpu_features`).
    val_fraction: share of the noisy training set held out for validation.
    render_only: write the table from the cells already run; train nothing.
  """
  workroot: str
  data_dir: str = ""
  val_fraction: float = 0.1
  render_only: bool = False

  def cell(self, suite, setting, row, spec, seed, data_dir):
    """`(config, workdir)` of one cell."""
    workdir = os.path.join(self.workroot, suite, setting, row.replace(" ", "_"), f"seed{seed}")
    config = suites.suite_config(suite, spec, setting, seed, data_dir=data_dir)
    config.train.eval_every_epochs = min(config.train.eval_every_epochs, 5)
    return config, workdir

  def train_seeds(self, suite, setting, row, spec, seeds, data_dir) -> bool:
    """The row's unfinished seeds as one program (`cells.train_together`), each with its
    own validation split carved."""
    pairs = [self.cell(suite, setting, row, spec, s, data_dir) for s in seeds]
    todo = [(c, wd) for c, wd in pairs if cells.finished_results(wd, c) is None]
    if len(todo) < 2:
      return False
    datasets = [carve_validation(data_lib.load_dataset(c), self.val_fraction, c.seed)
                for c, wd in pairs]
    return cells.train_together(pairs, os.path.dirname(pairs[0][1]), datasets)

  def run_cell(self, suite, setting, row, spec, seed, data_dir) -> dict | None:
    """One cell's test and validation accuracy, collapse record and diagnostics (None
    with `render_only` when the cell has not run)."""
    config, workdir = self.cell(suite, setting, row, spec, seed, data_dir)
    r = cells.finished_results(workdir, config)
    if r is None:
      if self.render_only:
        return None
      ds = carve_validation(data_lib.load_dataset(config), self.val_fraction, seed)
      t = time.time()
      train.train_and_evaluate(config, workdir, dataset=ds)
      print(f"{suite}:{setting} {row} seed {seed}: {time.time() - t:.0f} s", flush=True)
      r = io.read_json(os.path.join(workdir, "results.json"))
    return {"seed": seed, "test": r["test"]["accuracy"], "val": r["val"]["accuracy"],
            "collapse": r.get("collapse"), **last_diagnostics(workdir)}

  def header(self, command: str, note: str = "") -> str:
    return (f"# ARNet readings: temperature x target x lambda, with ELR and CE\n\n"
            f"Command: `{command}`\n\n{note + chr(10) + chr(10) if note else ''}"
            f"Clean-test accuracy (%), mean ± std over the seeds; val: agreement (%) with "
            f"the noisy labels of {100 * self.val_fraction:.0f}% of the training set held out "
            "(the only score used to choose a reading). Diagnostics: the last logged value, "
            "mean over seeds (see nlx/methods/arnet.py, nlx/methods/elr.py for data_loss and "
            "reg_loss, and nlx/collapse.py).\n")

  def run(self, cell_names, rows: dict, seeds, *, out: str, command: str, note: str = "") -> str:
    """Runs every cell (`suite:setting`, or `suite:setting:0+1` for those seeds only) of
    every row (`{row name: method spec}`) and writes the markdown to `out` after each
    cell (a partial run leaves a table); returns it."""
    text = self.header(command, note)
    for cell in cell_names:
      suite, setting, *only = cell.split(":")
      cell_seeds = [int(s) for s in only[0].split("+")] if only else list(seeds)
      data_dir = data_dir_for(suite, self.data_dir, self.workroot)
      if not self.render_only:  # each row's unfinished seeds as one program, where it can
        for row, spec in rows.items():
          self.train_seeds(suite, setting, row, spec, cell_seeds, data_dir)
      results = {row: [self.run_cell(suite, setting, row, spec, s, data_dir)
                       for s in cell_seeds] for row, spec in rows.items()}
      results = {row: [r for r in runs if r] for row, runs in results.items()}
      results = {row: runs for row, runs in results.items() if runs}  # render_only: what ran
      text += f"\n## {suite}:{setting}, seeds {cell_seeds}\n\n{cell_table(results, cell_seeds)}"
      output.write_text(out, text)
    return text


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
                 f"{output.mean_std_text([x['test'] for x in runs])} | "
                 f"{output.mean_std_text([x['val'] for x in runs])}"
                 f" | {collapsed}/{len(runs)} | " + " | ".join(f"{d:.3f}" for d in diag) + " |")
  return head + "\n".join(lines) + "\n"
