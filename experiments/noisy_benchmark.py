"""Runs methods x noise settings x seeds and writes the ARNet-paper-style tables.

  python experiments/noisy_benchmark.py --suite=digits
  python experiments/noisy_benchmark.py --suite=cifar10n_cpu --settings=aggre,random1,worst
  python experiments/noisy_benchmark.py --suite=cifar10n_full --cifar10_dir=DIR \
      --label_file=FILE        (a GPU job)
  python experiments/noisy_benchmark.py --suite=cifar10n_mosaic   (multi-label, CAN)

Every cell (method, setting, seed) is one `train_and_evaluate` in
`--workroot/SUITE/METHOD/SETTING/seedN`; a cell whose results.json exists is not rerun,
and an interrupted cell resumes from its checkpoint. Writes
`--out/SUITE.md` and `--out/SUITE_{acc,f1}.csv`: clean-test accuracy and macro-F1
(multi-label suites: `SUITE_{map,map_voc07}.csv`, mAP and VOC07 11-point mAP), mean ±
std over seeds, one column per setting, best method in bold. The row "clean labels
(upper bound)" is CE trained on the clean labels (multi-label suites have a `clean`
column instead).
Suites and protocols are defined in `experiments/protocols.py`: each cell is its suite's
file in `configs/` (`protocols.SUITES`) with the variant `METHOD,SETTING`, plus the seed.
"""

import os
import sys
import time

import jax
from absl import app, flags, logging

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocols

from nlx import methods, train
from nlx.report import tables

DEFAULT_METHODS = ("ce", "bootstrap_soft", "bootstrap_hard", "gce", "sce", "tce", "nce_rce",
                   "forward", "learnq", "mixup", "coteaching_plus", "elr", "arnet")
MULTI_LABEL_SUITES = {"cifar10n_mosaic": ("bce", "learnq_sigmoid", "icnm", "bootstrap_sigmoid",
                                          "can")}
CLEAN_SETTING = {"face_sentiment": "truth"}
DEFAULT_SETTINGS = {"face_sentiment": "sample,majority",
                    "digits": "agent,sym20,sym30,sym40,pair40",
                    "fashion_mnist": "agent,sym20,sym30,sym40,pair40",
                    "cifar10n_cpu": "aggre,random1,worst",
                    "cifar10n_full": "aggre,random1,worst",
                    "cifar10n_mosaic": "worst,clean,shuffle40,shuffle60",
                    **dict.fromkeys(protocols.SENTIMENT, "agent,sym20,sym30,sym40")}

flags.DEFINE_enum("suite", "digits", list(DEFAULT_SETTINGS), "Benchmark suite.")
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
FLAGS = flags.FLAGS


def data_dir_for(suite: str) -> str:
  if suite in protocols.FEATURE_SUITES:
    return protocols.cpu_features_dir(
        FLAGS.data_dir or os.path.join(FLAGS.workroot, "cifar10n_cpu_features"),
        FLAGS.cifar10_dir, FLAGS.label_file)
  if suite in protocols.SENTIMENT and not FLAGS.data_dir:
    sys.exit(f"noisy_benchmark: --suite={suite} needs --data_dir (the official release)")
  if suite == "cifar10n_full":
    if not FLAGS.cifar10_dir:
      sys.exit("noisy_benchmark: --suite=cifar10n_full needs --cifar10_dir and --label_file")
    return FLAGS.cifar10_dir
  return FLAGS.data_dir


def run_cell(suite, method, setting, seed, data_dir) -> dict:
  workdir = os.path.join(FLAGS.workroot, suite, method, setting, f"seed{seed}")
  config = protocols.suite_config(suite, method, setting, seed, data_dir=data_dir,
                                  epochs=FLAGS.epochs)
  if suite == "cifar10n_full":
    config.data.label_file = FLAGS.label_file
  done = protocols.finished_results(workdir, config)
  if done is not None:
    return done
  if suite in protocols.SENTIMENT and not FLAGS.data_dir:
    sys.exit(f"noisy_benchmark: --suite={suite} needs --data_dir (the official release)")
  t = time.time()
  r = train.train_and_evaluate(config, workdir)
  scores = " ".join(f"{key} {100 * r['test'][key]:.2f}" for key, _, _ in metrics_of(suite))
  print(f"{suite} {method:16s} {setting:8s} seed {seed}: {scores} noise "
        f"{100 * r['noise_rate']:.1f}% ({time.time() - t:.0f} s)", flush=True)
  return {k: v for k, v in r.items() if k != "state"}


def metrics_of(suite) -> tuple:
  """(results key, file suffix, heading) of the suite's table metrics."""
  if suite in MULTI_LABEL_SUITES:
    return (("map", "map", "mAP"), ("map_voc07", "map_voc07", "mAP (VOC07 11-point)"))
  return (("accuracy", "acc", "Accuracy"), ("macro_f1", "f1", "Macro-F1"))


def run_suite(suite, rows_methods, settings, seeds, *, data_dir, out, tag=None,
              upper_bound=True) -> str:
  """Runs every cell and writes `out/TAG.md`, `out/TAG_<metric>.csv`; returns the markdown."""
  tag = tag or suite
  upper = "clean labels (upper bound)"
  clean = CLEAN_SETTING.get(suite, "clean")
  upper_bound = upper_bound and suite not in MULTI_LABEL_SUITES
  rows = list(rows_methods) + ([upper] if upper_bound else [])
  keys = metrics_of(suite)
  values, noise = {key: {} for key, _, _ in keys}, {}
  for setting in settings:
    for row in rows:
      method, cell_setting = ("ce", clean) if row == upper else (row, setting)
      for seed in seeds:
        r = run_cell(suite, method, cell_setting, seed, data_dir)
        for key, _, _ in keys:
          values[key].setdefault((row, setting), []).append(r["test"][key])
        if row != upper:
          noise.setdefault(setting, set()).add(round(r["noise_rate"], 4))
  os.makedirs(out, exist_ok=True)
  rates = ", ".join(f"{s}: {100 * min(v):.1f}" + (f"-{100 * max(v):.1f}" if len(v) > 1 else "")
                    + "%" for s, v in noise.items())
  cmd = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
  names = " and ".join(h for _, _, h in keys)
  text = (f"# {tag}: clean-test {names} (%), mean ± std over seeds {seeds}\n\n"
          f"Command: `{cmd}`\n\nRealised training-label noise rates"
          f"{' (examples with any label entry wrong)' if suite in MULTI_LABEL_SUITES else ''}: "
          f"{rates}.\n")
  for key, suffix, heading in keys:
    md, csv = tables.table(values[key], rows, settings, exclude_from_best={upper})
    text += f"\n## {heading}\n\n{md}"
    with open(os.path.join(out, f"{tag}_{suffix}.csv"), "w") as f:
      f.write(csv)
  with open(os.path.join(out, f"{tag}.md"), "w") as f:
    f.write(text)
  return text


def setup_cache():
  logging.set_verbosity(logging.WARNING)
  # Cells of one method share their programs: reuse compiled executables across cells.
  jax.config.update("jax_compilation_cache_dir", os.path.join(FLAGS.workroot, "jax_cache"))
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def main(argv):
  del argv
  setup_cache()
  suite = FLAGS.suite
  settings = FLAGS.settings or DEFAULT_SETTINGS[suite].split(",")
  rows = FLAGS.methods or MULTI_LABEL_SUITES.get(suite, DEFAULT_METHODS)
  print(run_suite(suite, rows, settings, [int(s) for s in FLAGS.seeds],
                  data_dir=data_dir_for(suite), out=FLAGS.out, tag=FLAGS.tag,
                  upper_bound=FLAGS.upper_bound))


if __name__ == "__main__":
  app.run(main)
