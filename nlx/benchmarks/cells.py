"""Running benchmark cells, reusing finished ones, and a suite's tables.

A cell (method, setting, seed) of a suite is one `train_and_evaluate` in
`WORKROOT/SUITE/METHOD/SETTING/seedN`; a cell whose results.json exists is reused when
it was made under the cell's own config (and an error otherwise), and an interrupted cell
resumes from its checkpoint. `run_suite` runs methods x settings x seeds and writes the
ARNet-paper-style tables: mean ± std over seeds, one column per setting, best in bold.
"""

import dataclasses
import os
import time

import jax
from absl import flags, logging

from nlx import io, methods, train
from nlx import workdir as workdir_lib
from nlx.benchmarks import output, protocols, suites
from nlx.errors import ConfigError
from nlx.report import tables


def finished_results(workdir: str, config) -> dict | None:
  """The results.json of a finished run in `workdir`, or None when there is none. A run made
  under another config (another data_dir, epochs, code default, ...) is a ConfigError
  naming the difference, never reused silently as this cell's."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    return None
  if workdir_lib.check_resume(workdir, config, has_checkpoint=True) is not None:
    # train.allow_more_epochs accepts a longer schedule for *resuming*; a finished run of
    # fewer epochs is still not this cell's result
    raise ConfigError(f"workdir {workdir} holds a finished run of fewer epochs than this "
                      "cell's; use another --workroot, or delete it to run the cell")
  return io.read_json(path)


def train_together(cells, parent_root: str, datasets=None) -> bool:
  """Trains the unfinished cells among `cells` (`[(config, workdir)]`, one per seed) as
  one program (`nlx.replicas`, `train.replicas=K`), each into its own workdir, where
  that is the same as running them one by one: at least two, each config being the
  first's with `seed + r` and `noise.seed + r` (nothing else per seed, e.g. not a split
  per seed), the data held in memory. `datasets`: each cell's dataset (`[...]`, e.g. with
  its validation split carved), else each config's own. The program's own folder:
  `PARENT_ROOT/seedsA-B`. Returns whether it trained them so.

  Each run's results.json then records the program's wall time over K as its
  `wall_time_s` (`nlx.replicas`)."""
  from nlx import replicas
  todo = [i for i, (c, wd) in enumerate(cells) if finished_results(wd, c) is None]
  if len(todo) < 2:
    return False
  config = cells[todo[0]][0].copy_and_resolve_references()
  config.unlock()
  config.train.replicas = len(todo)
  config.lock()
  try:
    subs = replicas.sub_configs(config)
  except ConfigError:
    return False
  if any(workdir_lib.fingerprint_keys(sub) != workdir_lib.fingerprint_keys(cells[i][0])
         for (_, sub), i in zip(subs, todo, strict=True)):
    return False  # not the same runs as one by one
  seeds = [cells[i][0].seed for i in todo]
  t = time.time()
  try:
    replicas.train_and_evaluate(
        config, os.path.join(parent_root, f"seeds{seeds[0]}-{seeds[-1]}"),
        dataset=None if datasets is None else [datasets[i] for i in todo],
        run_dirs=[cells[i][1] for i in todo])
  except replicas.NotInMemory:
    return False  # image files: one run after another
  print(f"{parent_root}: seeds {', '.join(map(str, seeds))} in one program "
        f"({time.time() - t:.0f} s)", flush=True)
  return True


def setup_cache(workroot: str) -> None:
  """Quiet logs, and JAX's compilation cache under `workroot`: the cells of one method
  share their programs, so compiled executables are reused across cells."""
  logging.set_verbosity(logging.WARNING)
  jax.config.update("jax_compilation_cache_dir", os.path.join(workroot, "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def define_suite_flags() -> None:
  """The command line of experiments/noisy_benchmark.py, which the scripts built on its
  cells share (called by each script, never on import)."""
  flags.DEFINE_enum("suite", "digits", list(suites.DEFAULT_SETTINGS), "Benchmark suite.")
  flags.DEFINE_list("methods", None, f"Methods, from {methods.NAMES} (default: the suite's).")
  flags.DEFINE_list("settings", None, "Noise settings (default: the suite's).")
  flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds.")
  flags.DEFINE_string("workroot", "workdirs/benchmark", "Where cell workdirs go.")
  flags.DEFINE_string("out", "experiments/results", "Where the tables go.")
  flags.DEFINE_string("data_dir", "", "fashion_mnist: idx folder; cifar10n_cpu: features cache.")
  flags.DEFINE_string("cifar10_dir", "", "cifar10n_*: folder with cifar-10-batches-py/.")
  flags.DEFINE_string("label_file", "", "cifar10n_*: CIFAR-10_human.pt.")
  flags.DEFINE_string("tag", None, "Name of the written tables (default: the suite's).")
  flags.DEFINE_integer("epochs", None, "Override the suite's epochs (quick checks).")
  flags.DEFINE_bool("upper_bound", True, "Add the CE-on-clean-labels row (single-label suites).")


def start(suite: str, default_settings: list[str] | None = None,
          values=flags.FLAGS) -> tuple["Cells", list[str], list[int]]:
  """What a suite script does first, from `define_suite_flags`' flags: the compile cache
  under --workroot (`setup_cache`), then `(cells of the suite, settings, seeds)`, the
  settings being --settings, else `default_settings`, else the suite's defaults."""
  setup_cache(values.workroot)
  settings = (values.settings or default_settings
              or suites.DEFAULT_SETTINGS[suite].split(","))
  return Cells.from_flags(suite, values), settings, [int(s) for s in values.seeds]


def suite_data_dir(suite: str, *, data_dir: str, workroot: str, cifar10_dir: str = "",
                   label_file: str = "") -> str:
  """The data folder of a suite's cells: the CPU protocol's features cache for the
  CIFAR-10N feature suites (default `WORKROOT/cifar10n_cpu_features`, built when
  missing), `cifar10_dir` for cifar10n_full, else `data_dir`."""
  if suite in suites.FEATURE_SUITES:
    return protocols.cpu_features_dir(
        data_dir or os.path.join(workroot, "cifar10n_cpu_features"), cifar10_dir, label_file)
  if suite in suites.SENTIMENT and not data_dir:
    raise ConfigError(f"--suite={suite} needs --data_dir (the official release)")
  if suite == "cifar10n_full":
    if not cifar10_dir:
      raise ConfigError("--suite=cifar10n_full needs --cifar10_dir and --label_file")
    return cifar10_dir
  return data_dir


@dataclasses.dataclass
class Cells:
  """The cells of one suite under one workroot.

  Attributes:
    suite: a key of `suites.SUITES`.
    workroot: cell workdirs go to `WORKROOT/SUITE/METHOD/SETTING/seedN`.
    data_dir: the suite's data folder ("": the suite's default; see `suite_data_dir`).
    epochs: overrides the suite's epochs (quick checks); None keeps them.
    label_file: cifar10n_full's CIFAR-10_human.pt.
  """
  suite: str
  workroot: str
  data_dir: str = ""
  epochs: int | None = None
  label_file: str = ""

  @classmethod
  def from_flags(cls, suite: str, values=flags.FLAGS) -> "Cells":
    """The cells `define_suite_flags`' flags describe (the data folder resolved)."""
    data_dir = suite_data_dir(suite, data_dir=values.data_dir, workroot=values.workroot,
                              cifar10_dir=values.cifar10_dir, label_file=values.label_file)
    return cls(suite, values.workroot, data_dir, values.epochs, values.label_file)

  def workdir(self, method: str, setting: str, seed: int) -> str:
    return os.path.join(self.workroot, self.suite, method, setting, f"seed{seed}")

  def config(self, method: str, setting: str, seed: int):
    """The cell's config (`suites.suite_config`)."""
    config = suites.suite_config(self.suite, method, setting, seed, data_dir=self.data_dir,
                                 epochs=self.epochs)
    if self.suite == "cifar10n_full":
      config.data.label_file = self.label_file
    return config

  def run(self, method: str, setting: str, seed: int) -> dict:
    """The cell's results (results.json's dict, without the state): reused when finished
    under the same config, else trained (resuming an interrupted run)."""
    workdir = self.workdir(method, setting, seed)
    config = self.config(method, setting, seed)
    done = finished_results(workdir, config)
    if done is not None:
      return done
    t = time.time()
    r = train.train_and_evaluate(config, workdir)
    scores = " ".join(f"{key} {100 * r['test'][key]:.2f}"
                      for key, _, _ in suites.metrics_of(self.suite))
    print(f"{self.suite} {method:16s} {setting:8s} seed {seed}: {scores} noise "
          f"{100 * r['noise_rate']:.1f}% ({time.time() - t:.0f} s)", flush=True)
    return {k: v for k, v in r.items() if k != "state"}

  def run_seeds(self, method: str, setting: str, seeds) -> list[dict]:
    """Every seed's cell results, as `run`; the unfinished seeds first trained as one
    program where they can be (`train_together`)."""
    train_together([(self.config(method, setting, s), self.workdir(method, setting, s))
                    for s in seeds],
                   os.path.join(self.workroot, self.suite, method, setting))
    return [self.run(method, setting, s) for s in seeds]

  def restore(self, method: str, setting: str, seed: int):
    """`(trainer, state)` of the cell's final checkpoint (`train.restore`)."""
    return train.restore(self.config(method, setting, seed), self.workdir(method, setting, seed))


def run_suite(cells: Cells, rows, settings, seeds, *, out: str, command: str,
              tag: str | None = None, upper_bound: bool = True) -> str:
  """Runs every cell and writes `out/TAG.md` and `out/TAG_<metric>.csv`.

  Args:
    cells: the suite's cells.
    rows: method specs, or `{row title: method spec}`.
    settings: setting specs, one column each.
    seeds: the seeds of every (row, setting).
    out: the tables' folder.
    command: the command printed in the markdown (`output.command_line()`).
    tag: the tables' name (default: the suite's).
    upper_bound: add the row "clean labels (upper bound)": CE on the clean labels
      (single-label suites only).

  Returns:
    The markdown written.
  """
  suite = cells.suite
  specs = dict(rows) if isinstance(rows, dict) else {r: r for r in rows}
  tag = tag or suite
  upper = tables.UPPER_BOUND_ROW
  clean = suites.CLEAN_SETTING.get(suite, "clean")
  upper_bound = upper_bound and suite not in suites.MULTI_LABEL_SUITES
  if upper_bound:
    specs[upper] = "ce"
  keys = suites.metrics_of(suite)
  values, noise = {key: {} for key, _, _ in keys}, {}
  for setting in settings:
    for row, method in specs.items():
      cell_setting = clean if row == upper else setting
      for r in cells.run_seeds(method, cell_setting, seeds):
        for key, _, _ in keys:
          values[key].setdefault((row, setting), []).append(r["test"][key])
        if row != upper:
          noise.setdefault(setting, set()).add(round(r["noise_rate"], 4))
  rates = ", ".join(f"{s}: {100 * min(v):.1f}" + (f"-{100 * max(v):.1f}" if len(v) > 1 else "")
                    + "%" for s, v in noise.items())
  names = " and ".join(h for _, _, h in keys)
  multi = suite in suites.MULTI_LABEL_SUITES
  text = (f"# {tag}: clean-test {names} (%), mean ± std over seeds {seeds}\n\n"
          f"Command: `{command}`\n\nRealised training-label noise rates"
          f"{' (examples with any label entry wrong)' if multi else ''}: {rates}.\n")
  for key, suffix, heading in keys:
    md, csv = tables.table(values[key], list(specs), settings, exclude_from_best={upper})
    text += f"\n## {heading}\n\n{md}"
    output.write_text(os.path.join(out, f"{tag}_{suffix}.csv"), csv)
  output.write_text(os.path.join(out, f"{tag}.md"), text)
  return text

