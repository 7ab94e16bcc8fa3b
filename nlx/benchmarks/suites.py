"""The benchmark suites, and the config of one cell (method, setting, seed) of a suite.

A suite is a file in `configs/` (`SUITES`); a cell is that file loaded with the variant
`METHOD,SETTING` (the config files' own syntax, `configs/NAME.py:VARIANT`), then the
cell's seed, data folder and epochs.

Cells are named in one syntax, the config files': a method or a setting is a spec
`WORD[+WORD...][+KEY=VALUE...]` whose words join the variant and whose `KEY=VALUE`s
override the loaded config as `--config.KEY=VALUE` flags do (full dotted keys, each value
parsed in the key's type). E.g. the method `arnet+method.num_prototypes=16` with the
setting `worst+clean10` on `cifar10n_cpu` is `configs/cifar10n_cpu.py:arnet,worst,clean10`
with `--config.method.num_prototypes=16`. (`+` joins, since the spec lists of the
command lines are comma-separated.)
"""

import os

from absl import flags
from ml_collections import config_flags

from nlx.benchmarks.protocols import SHARED
from nlx.config_base import load_file
from nlx.errors import ConfigError

SENTIMENT = {"fi": "80/5/15", "emotion6": "80/20", "artphoto": "80/20", "unbiasedemo": "80/20"}
# suite -> (config file in configs/, variant words every cell adds)
SUITES = {"digits": ("baselines", ""), "fashion_mnist": ("ce_fashion_mnist", "mlp"),
          "face_sentiment": ("ce_face_sentiment", ""), "cifar10n_cpu": ("cifar10n_cpu", ""),
          "cifar10n_full": ("ce_cifar10n", ""), "cifar10n_mosaic": ("can_cifar10n_mosaic", ""),
          **{suite: (f"arnet_{suite}", "") for suite in SENTIMENT}}
EVALUATE_AT_END = ("digits", "fashion_mnist", "face_sentiment")  # once, after the last epoch
SPLIT_PER_SEED = ("face_sentiment", "cifar10n_mosaic")  # the others: one split for all seeds
DEFAULT_DATA_DIR = {"face_sentiment": os.path.join(SHARED, "face_sentiment")}
FEATURE_SUITES = ("cifar10n_cpu", "cifar10n_mosaic")  # cells read the CPU protocol's features

# The rows and columns of each suite's table (experiments/noisy_benchmark.py)
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
                    **dict.fromkeys(SENTIMENT, "agent,sym20,sym30,sym40")}


def metrics_of(suite: str) -> tuple:
  """`(results key, file suffix, heading)` of each metric of the suite's tables."""
  if suite in MULTI_LABEL_SUITES:
    return (("map", "map", "mAP"), ("map_voc07", "map_voc07", "mAP (VOC07 11-point)"))
  return (("accuracy", "acc", "Accuracy"), ("macro_f1", "f1", "Macro-F1"))


def parse_spec(spec: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
  """A cell's method or setting spec -> `(variant words, "KEY=VALUE" overrides)`.

  E.g. `"arnet+method.lam=0.8"` -> `(("arnet",), ("method.lam=0.8",))`; words and
  overrides may come in any order. The old `NAME@key=value` form is an error saying what
  to write instead."""
  if "@" in spec:
    name, _, overrides = spec.partition("@")
    new = "+".join([name] + [f"method.{o}" for o in overrides.split(",") if o])
    raise ConfigError(f"cell spec {spec!r}: write {new!r} (overrides are full config keys "
                      "joined by '+', as --config.KEY=VALUE flags name them)")
  parts = [p for p in spec.split("+") if p]
  return (tuple(p for p in parts if "=" not in p), tuple(p for p in parts if "=" in p))


def apply_overrides(config, overrides) -> None:
  """Sets `"KEY=VALUE"` overrides (dotted keys from the config's root) in `config`, in
  place, exactly as `--config.KEY=VALUE` flags would: ml_collections' own parser, each
  value in its key's type. An unknown key or a value of the wrong type is a ConfigError."""
  if not overrides:
    return
  argv = ["benchmark"] + [f"--config.{o}" for o in overrides]
  values = flags.FlagValues()
  try:  # an unknown key fails already where the flags are defined (from `argv`)
    config_flags.DEFINE_config_dict("config", config, flag_values=values, sys_argv=argv)
    values(argv)
  except (flags.Error, AttributeError, KeyError, ValueError) as e:
    raise ConfigError(f"config override {' '.join(overrides)!r}: {e}") from None


def suite_config(suite: str, method: str, setting: str, seed: int, *, data_dir: str = "",
                 epochs: int | None = None):
  """The config of one benchmark cell.

  Args:
    suite: a key of `SUITES`; the cell loads that file in `configs/`.
    method: a spec (`parse_spec`), e.g. `"arnet"` or `"arnet+method.num_prototypes=16"`.
    setting: a spec of the label setting. digits / fashion_mnist take clean, sym20, sym30,
      sym40, pair40, agent; cifar10n_* take clean or a CIFAR-10N label set (cifar10n_cpu
      also `SET+clean10`: 10% of the labels known clean, for Xiao et al.'s methods);
      face_sentiment takes sample, majority, soft or truth; cifar10n_mosaic (multi-label,
      CAN) takes worst, aggre, random1, clean, shuffle20/40/60; the ARNet sentiment sets
      take clean, agent, sym20, sym30, sym40.
    seed: the cell's seed: model, labels, noise (and the split of `SPLIT_PER_SEED`).
    data_dir: the data folder ("": the suite's default).
    epochs: overrides the suite's epochs (quick checks); None keeps them.

  Returns:
    The locked config: the file with the variant `METHOD,SETTING` (and the suite's own
    words), the spec's overrides, the seed, data folder and epochs.
  """
  if suite not in SUITES:
    raise ValueError(f"unknown suite {suite!r}; known: {', '.join(SUITES)}")
  method_words, method_overrides = parse_spec(method)
  setting_words, setting_overrides = parse_spec(setting)
  name, extra = SUITES[suite]
  c = load_file(name, ",".join(filter(None, (*method_words, *setting_words, extra))))
  c.seed = c.noise.seed = seed
  if suite in SPLIT_PER_SEED:
    c.data.split_seed = seed
  c.data.data_dir = data_dir or DEFAULT_DATA_DIR.get(suite, c.data.data_dir)
  c.train.progress_bar = False
  if suite in EVALUATE_AT_END:
    c.train.eval_every_epochs = c.train.checkpoint_every_epochs = c.train.num_epochs
  apply_overrides(c, method_overrides + setting_overrides)
  if epochs:
    c.train.num_epochs = epochs
    c.train.eval_every_epochs = min(c.train.eval_every_epochs, epochs)
    c.train.checkpoint_every_epochs = min(c.train.checkpoint_every_epochs, epochs)
  return c
