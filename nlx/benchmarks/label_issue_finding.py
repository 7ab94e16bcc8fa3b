"""Finding the wrong labels: nlx's per-run scores against cleanlab's, on the same data.

Per (setting, seed), on the suite's training set (`suites`; the CIFAR-10N CPU protocol's
45,000 cached 1,024-d features and their CIFAR-10N labels):
- `nlx ce aum` / `nlx ce loss`: one CE run of the suite's model (the MLP head, 30
  epochs) with its training dynamics; score = the area under the margin / minus the
  mean given-label loss, flagged set = `nlx.label_issues`' default count (confident
  learning's per-class counts, nlx's own code, on the run's epoch-averaged in-sample
  probabilities), that many lowest scores per class. Wall time = the whole run (which
  also yields the trained classifier). `nlx ce aum, mixture count`: the same ranking
  with nlx's other count (per-class Gaussian mixtures on the log mean losses).
  `nlx ce aum, a 10-epoch run`: the default score and count from a separate CE run of
  10 epochs instead of the suite's (30 for the CIFAR-10N CPU protocol, at the same
  constant learning rate), for a user who wants the list sooner.
- `cleanlab, 5-fold logistic regression`: out-of-fold probabilities of a standardised
  multinomial logistic regression on the same inputs (scikit-learn, stratified folds
  seeded by the seed), then `cleanlab.filter.find_label_issues` (default
  prune_by_noise_rate) for the flagged set and `cleanlab.rank.get_label_quality_scores`
  (self-confidence) for the ranking.
- `cleanlab, 5-fold nlx MLP`: the same with the suite's own model and config trained
  by nlx (CE) on each 4/5 and predicting the held-out 1/5 (same folds).
Measured against "given label != clean label": AUROC and AP of the score, precision,
recall and F1 of the flagged set, the estimated and true error counts, wall time (a CE
run trained with the other seeds' as one program, `cells.train_together`, counts its
share: the program's time over its runs). Every
cell's numbers are kept in `WORKROOT/label_issues/SUITE/SETTING/seedN/SCORER.json`.
cleanlab (`pip install "cleanlab>=2,<3"`) is needed by this benchmark only, never by nlx.
"""

import dataclasses
import functools
import json
import os
import time
from unittest import mock

import numpy as np

from nlx import data as data_lib
from nlx import dynamics, io, label_issues, train
from nlx import workdir as workdir_lib
from nlx.benchmarks import output, suites
from nlx.benchmarks.cells import finished_results, train_together
from nlx.data.types import Dataset
from nlx.errors import ConfigError

# scorer -> (nlx score, how nlx estimates the count: `label_issues.COUNTS`, epochs of the
# CE run: None = the suite's)
NLX_SCORES = {"nlx_ce_aum": ("aum", "confident_learning", None),
              "nlx_ce_loss": ("negative_loss", "confident_learning", None),
              "nlx_ce_aum_peak": ("aum", "confident_learning_peak", None),
              "nlx_ce_aum_mixture": ("aum", "mixture", None),
              "nlx_ce10_aum": ("aum", "confident_learning", 10)}
SCORERS = (*NLX_SCORES, "nlx_folds", "cleanlab_logreg", "cleanlab_mlp", "cleanlab_folds")
TITLES = {"nlx_ce_aum": "nlx: CE's area under the margin (one run)",
          "nlx_ce_loss": "nlx: CE's mean given-label loss (one run)",
          "nlx_ce_aum_peak": "nlx: CE's area under the margin, peak per-epoch "
                             "confident-learning count",
          "nlx_ce_aum_mixture": "nlx: CE's area under the margin, mixture count",
          "nlx_ce10_aum": "nlx: CE's area under the margin, a 10-epoch run",
          "cleanlab_logreg": "cleanlab: 5-fold logistic regression",
          "cleanlab_mlp": "cleanlab: 5-fold nlx model (CE, same config)",
          "nlx_folds": "nlx: 5-fold out-of-fold (label_issues.folds=5, one program)",
          "cleanlab_folds": "cleanlab on nlx's 5-fold out-of-fold softmax (same runs)"}
FOLDS = 5
FOLD_SCORERS = ("nlx_folds", "cleanlab_folds")  # from one program of FOLDS runs (nlx.replicas)


def cell_config(suite, setting, seed, data_dir, epochs=None):
  """The CE run's config of a cell (`suites.suite_config`)."""
  return suites.suite_config(suite, "ce", setting, seed, data_dir=data_dir, epochs=epochs)


_LAST_RUN = {}


def _load(config, workdir):
  """The run's dataset and dynamics; the scorers of one run (consecutive) share them."""
  if workdir not in _LAST_RUN:
    _LAST_RUN.clear()
    _LAST_RUN[workdir] = data_lib.load_dataset(config), dynamics.load(workdir)
  return _LAST_RUN[workdir]


def run_nlx(config, workdir, score, count):
  """One CE run (reused if finished), scored from its training dynamics."""
  done = finished_results(workdir, config)
  if done is None:
    train.train_and_evaluate(config, workdir)
    done = io.read_json(os.path.join(workdir, "results.json"))
  wall = done["wall_time_s"]
  dataset, dyn = _load(config, workdir)
  labels = np.asarray(dataset.train.hard_labels())
  scores = {"aum": dyn.area_under_margin, "negative_loss": lambda: -dyn.mean_loss()}[score]()
  per_class = label_issues.estimated_counts(labels, dyn, count)
  flagged = label_issues.flag_by_class(scores, labels, per_class)
  return {"score": score, "count": count, "estimated_errors": int(flagged.sum()),
          **label_issues.detection_metrics(scores, flagged, labels, dataset.train.clean_labels),
          "wall_s": wall}


def folds_config(config, k=FOLDS):
  """The cell's CE config with `label_issues.folds=k` (`nlx.replicas`)."""
  c = config.copy_and_resolve_references()
  c.unlock()
  c.label_issues.folds = k
  c.lock()
  return c


def fold_outputs(config, workdir):
  """The folds' run of a cell (trained in `workdir` unless finished): `(dataset, fold_of,
  final train logits per fold's run, dynamics per run, wall seconds)`."""
  from nlx import replicas
  from nlx.data import folds as folds_lib
  summary_path = os.path.join(workdir, replicas.SUMMARY_NAME)
  if not os.path.exists(summary_path):
    replicas.train_and_evaluate(config, workdir)
  summary = io.read_json(summary_path)
  dataset = data_lib.load_dataset(config)
  logits, dyns = [], []
  for name, c in replicas.sub_configs(config):
    trainer, state = train.restore(c, os.path.join(workdir, name), dataset)
    logits.append(trainer.predict(state, dataset.train))
    dyns.append(dynamics.load(os.path.join(workdir, name)))
  fold_of = folds_lib.stratified_folds(dataset.train.hard_labels(), config.label_issues.folds,
                                       config.seed)
  return dataset, fold_of, logits, dyns, summary["wall_time_s"]


def oof_candidates(config, workdir) -> dict:
  """Every out-of-fold (score, count) of `nlx.label_issue_scores.out_of_fold` on a cell's
  folds' run, against the clean labels: `{"score/count": detection metrics}` (the
  validation protocol that chose the defaults)."""
  from nlx.label_issue_scores import OOF_COUNTS, OOF_SCORES, out_of_fold
  dataset, fold_of, logits, dyns, wall = fold_outputs(config, workdir)
  labels = np.asarray(dataset.train.hard_labels())
  out = {}
  for score in OOF_SCORES:
    for count in OOF_COUNTS:
      issues = out_of_fold(labels, fold_of, logits, dyns, score, count)
      out[f"{score}/{count}"] = {
          "estimated_errors": int(issues.flagged.sum()), "wall_s": wall,
          **label_issues.detection_metrics(issues.scores, issues.flagged, labels,
                                           dataset.train.clean_labels)}
  return out


def folds(labels, seed):
  """`FOLDS` stratified `(train, held-out)` index pairs, shuffled by `seed`."""
  from sklearn.model_selection import StratifiedKFold
  return list(StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(labels, labels))


def logreg_probs(x, labels, seed):
  """Out-of-fold `[N, C]` probabilities of a standardised logistic regression."""
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler
  x = x.reshape(len(x), -1).astype(np.float32)
  probs = np.zeros((len(x), labels.max() + 1))
  for tr, te in folds(labels, seed):
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=300, C=1.0))
    model.fit(x[tr], labels[tr])
    probs[te] = model.predict_proba(x[te])
  return probs


def mlp_probs(config, dataset, workdir, seed):
  """Out-of-fold softmax of the suite's model trained by nlx on the other folds."""
  import jax
  labels = dataset.train.hard_labels()
  probs = np.zeros((len(labels), dataset.num_classes))
  # cleanlab's folds need no training dynamics: skip the per-epoch pass over the train set
  # (it would add its cost to cleanlab's wall time)
  with mock.patch.object(dynamics.Tracker, "add_epoch", lambda self, *args, **kwargs: None):
    for k, (tr, te) in enumerate(folds(labels, seed)):
      ds = Dataset(dataset.name, dataset.train.subset(tr), dataset.train.subset(te),
                   dataset.num_classes, dataset.class_names, dataset.mean, dataset.std,
                   info=dataset.info)
      result = train.train_and_evaluate(config, os.path.join(workdir, f"fold{k}"), dataset=ds)
      trainer = train.Trainer(config, ds)
      probs[te] = np.asarray(jax.nn.softmax(trainer.predict(result["state"], ds.test), axis=-1))
  return probs


def run_cleanlab(probs_fn, dataset):
  """cleanlab's flagged set and self-confidence ranking from `probs_fn()`'s probabilities."""
  import cleanlab
  t0 = time.time()
  labels = np.asarray(dataset.train.hard_labels())
  probs = probs_fn()
  flagged = cleanlab.filter.find_label_issues(labels, probs)
  quality = cleanlab.rank.get_label_quality_scores(labels, probs)
  wall = time.time() - t0
  return {"score": "cleanlab self-confidence", "estimated_errors": int(flagged.sum()),
          **label_issues.detection_metrics(quality, flagged, labels, dataset.train.clean_labels),
          "wall_s": wall}


@dataclasses.dataclass
class Finding:
  """Where the cells run.

  Attributes:
    workroot: cells go to `WORKROOT/label_issues/SUITE/SETTING/seedN`.
    data_dir: the suite's data folder ("": the suite's default).
    reuse_only: table the finished cells only; train and fit nothing.
  """
  workroot: str
  data_dir: str = ""
  reuse_only: bool = False

  def cell_dir(self, suite, setting, seed) -> str:
    return os.path.join(self.workroot, "label_issues", suite, setting, f"seed{seed}")

  def run_cell(self, suite, setting, seed, scorer) -> dict | None:
    """One scorer's numbers on one (setting, seed), stored as `SCORER.json`: a cleanlab
    cell is reused when scored under the same data and noise (an error otherwise); an
    nlx cell is rescored from its run each time. None with `reuse_only` when missing."""
    out_dir = self.cell_dir(suite, setting, seed)
    path = os.path.join(out_dir, f"{scorer}.json")
    epochs = NLX_SCORES[scorer][2] if scorer in NLX_SCORES else None
    config = cell_config(suite, setting, seed, self.data_dir, epochs)
    keys = workdir_lib.fingerprint_keys(config)  # the data and noise the cell was scored on
    # nlx's cells (and cleanlab's on nlx's folds) are rescored from their runs each time
    rescored = scorer in NLX_SCORES or scorer in FOLD_SCORERS
    if os.path.exists(path) and not rescored:
      done = io.read_json(path)
      diff = workdir_lib.changed_keys(done.get("config_keys", {}), keys)
      if diff:
        raise ConfigError(f"{path} was scored under another config ({'; '.join(diff[:3])}); "
                          "use another --workroot, or delete it to score the cell again")
      return done
    run_dir = os.path.join(out_dir, "nlx_ce" + (f"_e{epochs}" if epochs else ""))
    fold_dir = os.path.join(out_dir, f"nlx_ce_folds{FOLDS}")
    done = (os.path.join(fold_dir, "summary.json") if scorer in FOLD_SCORERS
            else os.path.join(run_dir, "results.json"))
    if self.reuse_only and (not rescored or not os.path.exists(done)):
      return None
    if scorer in FOLD_SCORERS:
      if scorer == "nlx_folds":
        oof = oof_candidates(folds_config(config), fold_dir)
        from nlx.label_issue_scores import OOF_DEFAULT_COUNT, OOF_DEFAULT_SCORE
        out = {"score": f"folds:{OOF_DEFAULT_SCORE}", "count": f"folds:{OOF_DEFAULT_COUNT}",
               **oof[f"{OOF_DEFAULT_SCORE}/{OOF_DEFAULT_COUNT}"], "candidates": oof}
      else:
        dataset, fold_of, logits, _, wall = fold_outputs(folds_config(config), fold_dir)
        z = np.stack(logits)[fold_of, np.arange(len(fold_of))].astype(np.float64)
        probs = np.exp(z - z.max(1, keepdims=True))
        out = run_cleanlab(lambda: probs / probs.sum(1, keepdims=True), dataset)
        out["wall_s"] += wall
    elif scorer in NLX_SCORES:
      out = run_nlx(config, run_dir, *NLX_SCORES[scorer][:2])
    else:
      dataset = data_lib.load_dataset(config)
      fn = ((lambda: logreg_probs(dataset.train.inputs, dataset.train.hard_labels(), seed))
            if scorer == "cleanlab_logreg" else
            (lambda: mlp_probs(config, dataset, os.path.join(out_dir, "mlp_folds"), seed)))
      out = run_cleanlab(fn, dataset)
    out["load"] = os.getloadavg()[0]
    out["config_keys"] = keys
    os.makedirs(out_dir, exist_ok=True)
    with open(path, "w") as f:
      json.dump(out, f, indent=2)
    print(suite, setting, seed, scorer, {k: out[k] for k in ("auroc", "ap", "f1", "wall_s")
                                         if k in out}, flush=True)
    return out

  def run(self, suite, settings, seeds, scorers) -> dict:
    """`{(setting, seed, scorer): numbers}` of the cells run (or reused), plus the
    cells of other scorers stored from earlier calls."""
    cells = {}
    if not self.reuse_only:  # each setting's unfinished CE runs of all seeds as one program
      for s in settings:
        for epochs in {NLX_SCORES[k][2] for k in scorers if k in NLX_SCORES}:
          name = "nlx_ce" + (f"_e{epochs}" if epochs else "")
          train_together([(cell_config(suite, s, seed, self.data_dir, epochs),
                           os.path.join(self.cell_dir(suite, s, seed), name)) for seed in seeds],
                         os.path.join(self.workroot, "label_issues", suite, s, name))
    for seed in seeds:
      for s in settings:
        for scorer in scorers:
          cell = self.run_cell(suite, s, seed, scorer)
          if cell is not None:
            cells[(s, seed, scorer)] = cell
    for seed in seeds:  # cells of other scorers run before, from their files
      for s in settings:
        for scorer in SCORERS:
          path = os.path.join(self.cell_dir(suite, s, seed), f"{scorer}.json")
          if (s, seed, scorer) not in cells and os.path.exists(path):
            with open(path) as f:
              cells[(s, seed, scorer)] = json.load(f)
    return cells


def candidates_table(cells, suite, settings, seeds, *, arguments: str) -> str:
  """Markdown: every out-of-fold (score, count) of the `nlx_folds` cells (their
  `candidates`), per setting, mean over the seeds, and the mean F1 and AP over the
  settings: the validation protocol that chose `label_issue_scores.OOF_DEFAULT_*`."""
  names = None
  per = {}
  for s in settings:
    rows = [cells[(s, seed, "nlx_folds")]["candidates"] for seed in seeds
            if (s, seed, "nlx_folds") in cells]
    if rows:
      names = names or list(rows[0])
      per[s] = {n: {k: float(np.mean([r[n][k] for r in rows])) for k in ("auroc", "ap", "f1")}
                | {"estimated": float(np.mean([r[n]["estimated_errors"] for r in rows])),
                   "true": float(np.mean([r[n]["true_errors"] for r in rows]))}
                for n in names}
  head = "| score / count | " + " | ".join(f"{s}: AP / F1 (est.)" for s in per) + \
      " | mean AP | mean F1 |"
  lines = [f"## Out-of-fold label issues: every score and count, {suite}", "",
           f"`python experiments/label_issues_benchmark.py {arguments}`", "", head,
           "|" + "---|" * (len(per) + 3)]
  for n in names or []:
    cols = [f"{100 * per[s][n]['ap']:.1f} / {100 * per[s][n]['f1']:.1f} "
            f"({per[s][n]['estimated']:.0f} of {per[s][n]['true']:.0f})" for s in per]
    lines.append(f"| {n} | " + " | ".join(cols) + f" | "
                 f"{100 * np.mean([per[s][n]['ap'] for s in per]):.1f} | "
                 f"{100 * np.mean([per[s][n]['f1'] for s in per]):.1f} |")
  return "\n".join(lines) + "\n"


def _column(rows, key, **kw):
  return output.mean_std_text([r[key] for r in rows], std_of_one=False, **kw)


def table(cells, settings, seeds_done):
  """Markdown: per setting, one row per scorer, mean ± std over seeds."""
  lines = []
  for s in settings:
    n = len(seeds_done[s])
    lines += [f"### {s} ({n} seed{'s' if n > 1 else ''}: {', '.join(map(str, seeds_done[s]))})",
              "", ("| scorer | AUROC | AP | precision | recall | F1 | estimated errors | "
                   "true errors | wall time (s) |"), "|---|---|---|---|---|---|---|---|---|"]
    for scorer in SCORERS:
      seeds = [seed for seed in seeds_done[s] if (s, seed, scorer) in cells]
      if not seeds:
        continue
      col = functools.partial(_column, [cells[(s, seed, scorer)] for seed in seeds], digits=1)
      title = TITLES[scorer] + ("" if len(seeds) == n else
                                f" (seed{'s' if len(seeds) > 1 else ''} "
                                f"{', '.join(map(str, seeds))} only)")
      lines.append(f"| {title} | {col('auroc')} | {col('ap')} | {col('precision')} | "
                   f"{col('recall')} | {col('f1')} | {col('estimated_errors', scale=1, digits=0)}"
                   f" | {col('true_errors', scale=1, digits=0)} | "
                   f"{col('wall_s', scale=1, digits=0)} |")
    lines.append("")
  return "\n".join(lines)


def report(cells, suite, settings, seeds, *, arguments: str) -> str:
  """The markdown file's text: the command (`experiments/label_issues_benchmark.py
  ARGUMENTS`) and the table over the seeds that have any cell."""
  done = {s: [seed for seed in seeds if any((s, seed, k) in cells for k in SCORERS)]
          for s in settings}
  return (f"## Label issues, {suite}\n\n`python experiments/label_issues_benchmark.py "
          f"{arguments}`\n\nWall time: per cell, start-up included; the CE runs of a "
          "setting's seeds train as one program (`nlx.replicas`) and each counts its share "
          "(the program's time over its runs); the folds' program is one cell's.\n\n"
          + table(cells, settings, done))
