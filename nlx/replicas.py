"""Many runs of one config in one program: seeds (`train.replicas`) and folds
(`label_issues.folds`).

JAX trains K small models as one program: the K runs' train states are stacked along a
leading replica axis and the method's `train_step` (`nlx.train.make_train_step`,
unchanged) runs under `jax.vmap` inside the compiled chunk of steps (`nlx.data.on_device`),
each replica with its own batch indices (`[K, B]` gathers from the one training set on
the device), labels, augmentation key, dropout key and method state.

- `train.replicas=K`: replica r is the config with `seed + r` and `noise.seed + r`, i.e.
  its own init, label-noise draw, batch order and dropout; its sub-workdir
  `WORKDIR/seed_<seed + r>` holds exactly what that seed's run alone writes (checkpoints,
  metrics, results.json, label issues, its own `workdir.json` fingerprint, which is the
  single run's: that run can be resumed or reported alone). `WORKDIR/summary.json`: every
  replica's test metrics and label-issue figures with their mean and std.
- `label_issues.folds=K`: K runs with the same seed, run k not training on fold k of K
  stratified folds (`nlx.data.folds`; `label_issues.holdout_fold=k`, sub-workdir
  `WORKDIR/fold_k`; each epoch it draws its batches from the other folds only). Every
  training example is then judged by the run that never trained on it: the label issues
  (`nlx.label_issue_scores.out_of_fold`) are written in `WORKDIR` as a single run
  writes its own (label_issues.csv/json/html, read by `nlx.label_issues.find`).

The replicas step in lockstep: the same steps per epoch, logs, evaluations and
checkpoints (each replica's into its own sub-workdir), so a resumed program continues
every replica from the same step; a non-finite loss in one replica stops the program and
names the replica. What is done once per epoch (the method's `end_of_epoch`, the
training dynamics, evaluation) runs replica by replica on its own trainer.
"""

import contextlib
import functools
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from nlx import gc_policy, label_issue_scores, label_issues, methods, train
from nlx import workdir as workdir_lib
from nlx.checkpointing import Checkpointer
from nlx.config_check import check_values
from nlx.data import folds as folds_lib
from nlx.data import on_device
from nlx.errors import ConfigError, NonFiniteLossError
from nlx.io import write_json
from nlx.periodic import itstime
from nlx.report import run_files

SUMMARY_NAME = "summary.json"


def is_parent(config) -> bool:
  """Whether `config` asks for several runs in one program (replicas or folds)."""
  return config.train.replicas > 1 or (config.label_issues.folds > 0
                                       and config.label_issues.holdout_fold < 0)


def sub_configs(config) -> list[tuple[str, ml_collections.ConfigDict]]:
  """`[(sub-workdir name, config)]` of the runs `config` stands for (see the module doc).

  Raises:
    ConfigError: both replicas and folds asked for.
  """
  k, folds = config.train.replicas, config.label_issues.folds
  if k > 1 and folds:
    raise ConfigError(f"train.replicas={k} and label_issues.folds={folds}: give one (the "
                      "folds' runs share one seed)")
  out = []
  for r in range(k if k > 1 else folds):
    c = config.copy_and_resolve_references()
    c.unlock()
    c.train.replicas = 1
    if k > 1:
      c.seed, c.noise.seed = config.seed + r, config.noise.seed + r
      out.append((f"seed_{c.seed}", c))
    else:
      c.label_issues.holdout_fold = r
      out.append((f"fold_{r}", c))
    c.lock()
  return out


def _check(config, dataset) -> None:
  """One-line errors for what replicas or folds cannot do."""
  key = "train.replicas" if config.train.replicas > 1 else "label_issues.folds"
  if config.train.stop_on_collapse:
    raise ConfigError(f"{key}: the runs step together, so train.stop_on_collapse (which ends "
                      "one run early) cannot be used with it; unset it")
  if (dataset is not None and not isinstance(dataset, list) and config.train.replicas > 1
      and config.noise.type != "none"):
    raise ConfigError("train.replicas draws each replica's label noise (noise.seed + r), "
                      "which one dataset passed in cannot: pass none, one per replica, or "
                      "use noise.type='none'")
  if key == "label_issues.folds":
    method = methods.get(config.method.name)
    if not method.class_probabilities:
      raise ConfigError(f"label_issues.folds: method {config.method.name!r} gives no class "
                        "probabilities of one network to judge a held-out example by; use "
                        "ce or another single-network method")
    if method.needs_clean_subset or config.data.clean_fraction > 0:
      raise ConfigError("label_issues.folds: the known-clean subset is repeated in the "
                        "training set (data.clean_fraction), so one example would sit in "
                        "several folds; unset data.clean_fraction")
    if not config.train.training_dynamics:
      raise ConfigError("label_issues.folds needs train.training_dynamics=True (the "
                        "in-sample margins are half of the score)")


class NotInMemory(ConfigError):
  """The training set cannot be held on the device, which several runs in one program need."""


def train_and_evaluate(config, workdir: str, *, mesh=None, dataset=None,
                       run_dirs: list[str] | None = None) -> dict:
  """`nlx.train.train_and_evaluate`, or with `train.replicas > 1` / `label_issues.folds`
  the K runs in one program (module doc).

  Args:
    config: as `nlx.train.train_and_evaluate`'s.
    workdir: the parent folder; sub-workdirs `seed_S` or `fold_k` are made in it.
    mesh: the device mesh (default: every local device).
    dataset: an `nlx.data.Dataset` every run trains on instead of `config.data`'s, or a
      list of K, one per run.
    run_dirs: the K runs' workdirs (default `WORKDIR/seed_S` or `WORKDIR/fold_k`), e.g.
      the benchmark cells' own folders.

  Returns:
    A single run's results; for several: `status`, `summary` (also written to
    `WORKDIR/summary.json`), `runs` (each run's results, with its `state`) and, for
    folds, `label_issues` (the out-of-fold summary).

  Raises:
    As `nlx.train.train_and_evaluate`; a NonFiniteLossError names the replica.
  """
  check_values(config)
  if not is_parent(config):
    return train.train_and_evaluate(config, workdir, mesh=mesh, dataset=dataset)
  try:
    return _train_several(config, workdir, mesh, dataset, run_dirs)
  finally:
    gc_policy.resume()  # where the loop was not reached (an error before it): here


def _train_several(config, workdir: str, mesh, dataset, run_dirs) -> dict:
  _check(config, dataset)
  if config.label_issues.folds and config.train.replicas == 1:
    # the folds' runs share one dataset; too many folds: an error before any folder is made
    dataset = dataset or train.load_dataset(config, mesh)
    folds_lib.stratified_folds(dataset.train.hard_labels(), config.label_issues.folds,
                               config.seed)
  subs = sub_configs(config)
  if run_dirs is not None:
    if len(run_dirs) != len(subs):
      raise ValueError(f"{len(run_dirs)} run_dirs for {len(subs)} runs")
    subs = [(os.path.relpath(d, workdir), c) for d, (_, c) in zip(run_dirs, subs, strict=True)]
  start_time = time.time()
  is_main = jax.process_index() == 0
  datasets = _datasets([c for _, c in subs], dataset, mesh)
  with contextlib.ExitStack() as stack:
    parent = stack.enter_context(workdir_lib.Run(workdir, is_main=is_main))
    runs, ckpts = [], []
    for name, c in subs:
      runs.append(stack.enter_context(workdir_lib.Run(os.path.join(workdir, name), is_main)))
      ckpts.append(stack.enter_context(Checkpointer(
          os.path.join(workdir, name, "checkpoints"), c.train.max_checkpoints, cleanup=True)))
    latest = [ck.latest_step() for ck in ckpts]
    parent_ext = parent.resume(config, max((s for s in latest if s is not None), default=None))
    extensions = [run.resume(c, s) for run, (_, c), s in zip(runs, subs, latest, strict=True)]
    group = _Group(config, subs, workdir, mesh, datasets, is_main)
    start = group.restore(ckpts, latest)
    parent.record(config, parent_ext, start)
    for run, (_, c), ext in zip(runs, subs, extensions, strict=True):
      run.record(c, ext, start)
    group.make_loops(ckpts, start)
    parent.interrupt.watch()
    gc_policy.resume()  # the command line's start-up without collections ends here
    state, step = group.run(group.stacked_state, start, parent.interrupt)
    parent.interrupt.restore()
    if step < group.loops[0].total:  # stopped early: every replica keeps a checkpoint
      for r, loop in enumerate(group.loops):
        if loop.last_ckpt != step:
          loop.save(step, _unstack(state, r))
      for ck in ckpts:  # the saves finished (or their DiskError) before the message
        ck.close()
      if parent.interrupt.requested:
        raise workdir_lib.Interrupted(
            f"interrupted at step {step}; checkpoint step {step} kept in each run's "
            f"checkpoints/ ({', '.join(os.path.join(workdir, n) for n, _ in subs)}); rerun "
            "the same command to resume")
      return {"status": "stopped", "step": step, "state": state}
    for ck in ckpts:
      ck.close()
    return group.finish(state, step, start_time)


def _unstack(state, r: int):
  return jax.tree.map(lambda x: x[r], state)


class _Group:
  """The K runs: their configs, datasets, trainers and loops, and the vmapped chunk."""

  def __init__(self, config, subs, workdir, mesh, datasets, is_main):
    self.config, self.subs, self.workdir, self.is_main = config, subs, workdir, is_main
    self.names = [name for name, _ in subs]
    self.datasets = datasets
    self.trainers = []
    for (_, c), ds in zip(subs, self.datasets, strict=True):
      trainer = train.Trainer(c, ds, mesh)
      if trainer.device_data is None:
        why = on_device.unsupported(ds.train, c.data) or "data.on_device is False"
        raise NotInMemory(
            f"{'train.replicas' if config.train.replicas > 1 else 'label_issues.folds'} "
            "needs the training set held in memory on the device (data.on_device=True, "
            f"arrays not image files, data.augment none or crop_flip): {why}")
      if self.trainers:  # one resident copy of an in-memory split the runs share, and
        # one compiled program for each prediction (the runs' networks have one graph)
        first = self.trainers[0]
        trainer._resident_splits = first._resident_splits
        trainer.eval_steps = first.eval_steps
        trainer.eval_step = first.eval_step
      self.trainers.append(trainer)
    first = self.trainers[0]
    self.mesh, self.replicated = first.mesh, first.replicated
    self.arrays, axes = _shared_arrays([t.device_data for t in self.trainers], first.mesh)
    self.keys = jnp.stack([t.device_data.key for t in self.trainers])
    step = jax.vmap(on_device.wrap_step(first.step_fn, first.device_data.kind),
                    in_axes=(0, 0, axes, 0))
    self.max_steps = first.steps_per_call
    self.chunk = jax.jit(on_device.chunk_step(step, self.max_steps), donate_argnums=(0,),
                         out_shardings=(self.replicated, self.replicated),
                         compiler_options=first.compiler_options)
    self.index_sharding = NamedSharding(first.mesh, P(None, None, "data"))
    self.its = [t.train_iterator(c.train.num_epochs)
                for t, (_, c) in zip(self.trainers, subs, strict=True)]
    self.pending = []  # (first step, n, stacked device metrics [max_steps, K]) not yet logged

  def restore(self, ckpts, latest) -> int:
    """Every run's state from its newest good checkpoint (all at one step), stacked."""
    states, steps = [], []
    for r, (t, ck, it) in enumerate(zip(self.trainers, ckpts, self.its, strict=True)):
      if latest[r] is None:
        states.append(t.initial_state)
        steps.append(0)
        continue
      step, state, data_state = ck.restore_latest(t.initial_state)
      it.set_state(data_state)
      states.append(state)
      steps.append(step)
    if len(set(steps)) > 1:
      raise ConfigError(
          "the runs of this program are at different steps (" + ", ".join(
              f"{n}: {s}" for n, s in zip(self.names, steps, strict=True)) + f") in "
          f"{self.workdir}: finish or remove the ones ahead, or use another --workdir")
    if steps[0]:
      logging.info("resumed %d runs from step %d", len(steps), steps[0])
    self.stacked_state = self.stack(*states)
    return steps[0]

  def make_loops(self, ckpts, start: int) -> None:
    self.loops = []
    for (name, c), t, ck, it in zip(self.subs, self.trainers, ckpts, self.its, strict=True):
      sub = os.path.join(self.workdir, name)
      loop = train._Loop(c, t, ck, it, sub, start, self.is_main)
      if self.is_main and start < loop.total:  # training again: not finished
        run_files.remove_results(sub)
        label_issues.remove_files(sub)
      self.loops.append(loop)
    if self.is_main and start < self.loops[0].total:
      _remove_parent_files(self.workdir)

  def run(self, state, step: int, interrupt):
    """The steps of every replica, a vmapped chunk at a time; between chunks what each
    run's loop does (`nlx.train._Loop`: logs, checkpoints, epoch ends) for each replica."""
    lead, cfg = self.loops[0], self.config.train
    stop = min(lead.total, lead.stop_at)
    while step < stop and not interrupt.requested:
      n = lead.chunk_length(step)
      local = np.stack([np.stack([next(it)["index"] for _ in range(n)]) for it in self.its],
                       axis=1)  # [n, K, local B]
      padded = np.zeros((self.max_steps, *local.shape[1:]), np.int32)
      padded[:n] = local
      indices = {"index": jax.make_array_from_process_local_data(self.index_sharding, padded)}
      state, metrics = self.chunk(state, indices, np.int32(n), self.arrays, self.keys)
      self.pending.append((step, n, metrics))
      step += n
      epoch_end = itstime(step, lead.spe, lead.total, last=False)
      mid_ckpt = itstime(step, cfg.checkpoint_every_steps, lead.total,
                         last=False) and not epoch_end
      if itstime(step, cfg.log_every_steps, lead.stop_at) or epoch_end or mid_ckpt:
        self.log_train(step)
      if mid_ckpt:
        for r, loop in enumerate(self.loops):
          loop.save(step, _unstack(state, r))
      if epoch_end:
        states = [loop.end_of_epoch(_unstack(state, r), step)
                  for r, loop in enumerate(self.loops)]
        state = self.stack(*states)
    return state, step

  def log_train(self, step: int) -> None:
    """Each replica's metrics since the last log through its own loop's `log_train` (the
    finite check and metrics.jsonl); a non-finite loss names the replica."""
    fetched = [(first, n, jax.device_get(m)) for first, n, m in self.pending]
    self.pending = []
    for r, loop in enumerate(self.loops):
      loop.pending = [(first, n, {k: v[:, r] for k, v in m.items()}, True)
                      for first, n, m in fetched]
      try:
        loop.log_train(step)
      except NonFiniteLossError as e:
        raise NonFiniteLossError(
            f"replica {self.names[r]} ({os.path.join(self.workdir, self.names[r])}): {e}"
        ) from None

  @functools.cached_property
  def stack(self):
    return jax.jit(lambda *s: jax.tree.map(lambda *x: jnp.stack(x), *s),
                   out_shardings=self.replicated)

  def finish(self, state, step: int, start_time: float) -> dict:
    """Every run's results and label issues in its sub-workdir; the summary (and, for
    folds, the out-of-fold label issues) in the parent."""
    results = []
    for r, ((name, c), t, loop) in enumerate(zip(self.subs, self.trainers, self.loops,
                                                  strict=True)):
      state_r = _unstack(state, r)
      sub = os.path.join(self.workdir, name)
      res = train._results(c, t, state_r, loop, step, start_time)
      # the program's time is shared: each run records its share, and the whole
      res["program"] = {"workdir": os.path.abspath(self.workdir), "runs": len(self.subs),
                        "wall_time_s": res["wall_time_s"]}
      res["wall_time_s"] /= len(self.subs)
      if loop.tracker is not None:
        res["label_issues"] = label_issues.finish_run(sub, t, state_r, loop.tracker.dynamics,
                                                      is_main=self.is_main)
      if self.is_main:
        run_files.write_results(sub, res, loop.metrics.records)
      results.append({**res, "state": state_r})
    summary = _summary(self.config, self.subs, results, time.time() - start_time)
    out = {"status": "finished", "summary": summary, "runs": results}
    if self.config.label_issues.folds:
      out["label_issues"] = summary["out_of_fold"] = self.out_of_fold(
          [r["state"] for r in results])
    if self.is_main:
      write_json(os.path.join(self.workdir, SUMMARY_NAME), summary)
    return out

  def out_of_fold(self, states) -> dict:
    """The folds' label issues: every example judged by the run that held it out
    (`label_issue_scores.out_of_fold`), written in the parent workdir."""
    dataset = self.datasets[0]
    train_split = dataset.train
    logits = [t.predict(s, train_split) for t, s in zip(self.trainers, states, strict=True)]
    issues = label_issue_scores.out_of_fold(
        np.asarray(train_split.hard_labels()), self.trainers[0].fold_of, logits,
        [loop.tracker.dynamics for loop in self.loops])
    summary = {**issues.summary(), "folds": len(states), **label_issues.detection_metrics(
        issues.scores, issues.flagged, issues.labels, train_split.clean_labels)}
    if self.is_main:
      label_issues.write_files(self.workdir, issues, dataset, summary)
    return summary


def _datasets(configs, dataset, mesh) -> list:
  """Each run's dataset: `dataset` for all when given (the folds' runs: one dataset);
  else each config's own (its noise draw), sharing the arrays that come out equal (one
  copy in memory)."""
  if isinstance(dataset, list):
    if len(dataset) != len(configs):
      raise ValueError(f"{len(dataset)} datasets for {len(configs)} runs")
    return dataset
  if dataset is not None:
    return [dataset] * len(configs)
  first = train.load_dataset(configs[0], mesh)
  out = [first]
  for c in configs[1:]:
    ds = train.load_dataset(c, mesh)
    for split in ("train", "test", "val"):
      a, b = getattr(first, split), getattr(ds, split)
      if a is not None and b is not None and _same(a.inputs, b.inputs):
        b.inputs = a.inputs
        if _same(a.labels, b.labels):
          setattr(ds, split, a)
    out.append(ds)
  return out


def _same(a, b) -> bool:
  return a is b or (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                    and a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b))


def _shared_arrays(device_sets, mesh):
  """The resident training arrays of K runs: an array equal in every run once (vmap axis
  None), the others stacked `[K, ...]` (axis 0); `(arrays, axes)`."""
  arrays, axes = {}, {}
  for k, first in device_sets[0].host.items():
    if all(_same(first, d.host[k]) for d in device_sets[1:]):
      arrays[k], axes[k] = device_sets[0].arrays[k], None
    else:
      arrays[k] = on_device.put_replicated({k: np.stack([d.host[k] for d in device_sets])},
                                           mesh)[k]
      axes[k] = 0
  for d in device_sets[1:]:  # each run's own copy is no longer needed
    d.arrays = None
  return arrays, axes


def _summary(config, subs, results, wall: float) -> dict:
  """summary.json: each run's test metrics and label-issue figures, their mean and std
  (population, ddof=0) over the runs."""
  def spread(values):
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "std": float(v.std())}

  rows = []
  for (name, c), res in zip(subs, results, strict=True):
    row = {"workdir": name, "seed": c.seed, "noise_seed": c.noise.seed, "test": res["test"]}
    li = res.get("label_issues") or {}
    row["label_issues"] = {k: li[k] for k in ("auroc", "ap", "f1", "estimated_errors",
                                               "true_errors") if k in li}
    rows.append(row)
  test_keys = [k for k, v in rows[0]["test"].items() if isinstance(v, (int, float))]
  li_keys = list(rows[0]["label_issues"])
  return {"kind": "folds" if config.label_issues.folds else "replicas",
          "runs": rows, "wall_time_s": wall,
          "test": {k: spread([r["test"][k] for r in rows]) for k in test_keys},
          "label_issues": {k: spread([r["label_issues"][k] for r in rows]) for k in li_keys}}


def _remove_parent_files(workdir: str) -> None:
  if os.path.exists(os.path.join(workdir, SUMMARY_NAME)):
    os.remove(os.path.join(workdir, SUMMARY_NAME))
  label_issues.remove_files(workdir)


def summary_text(summary: dict) -> str:
  """The lines `python -m nlx.main` prints for several runs: each run's test accuracy (or
  mAP) and label-issue F1, then their mean ± std; for folds, the out-of-fold figures."""
  metric = "accuracy" if "accuracy" in summary["test"] else "map"
  lines = [f"{'run':<10} {'seed':>5} {'test ' + metric:>14} {'label-issue F1':>15}"]
  for r in summary["runs"]:
    f1 = r["label_issues"].get("f1")
    lines.append(f"{r['workdir']:<10} {r['seed']:>5} {100 * r['test'][metric]:>14.2f} "
                 f"{'' if f1 is None else f'{100 * f1:.1f}':>15}")
  t = summary["test"][metric]
  lines.append(f"{'mean ± std':<16} {100 * t['mean']:>8.2f} ± {100 * t['std']:.2f}")
  oof = summary.get("out_of_fold")
  if oof:
    lines.append(f"out-of-fold label issues ({oof['folds']} folds, score {oof['score']}): "
                 f"{oof['estimated_errors']} estimated wrong labels"
                 + (f", true {oof['true_errors']}, F1 {100 * oof['f1']:.1f}, AUROC "
                    f"{100 * oof['auroc']:.1f}" if "true_errors" in oof else ""))
  return "\n".join(lines)
