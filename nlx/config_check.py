"""Value ranges of the config keys every run uses, checked before anything runs.

`check_values(config)` raises a one-line `ConfigError` naming the key, the range and the
value (e.g. `data.batch_size must be >= 1, got 0`), instead of a ZeroDivisionError deep in
the loop or a run that "finishes" without training.
"""

import math

from nlx.errors import ConfigError

# key -> (lowest, highest, whether the lowest is excluded); None: unbounded.
RANGES = {
    "seed": (0, None, False),
    "data.batch_size": (1, None, False),
    "data.eval_batch_size": (1, None, False),
    "data.num_threads": (1, None, False),
    "data.prefetch_buffer_size": (0, None, False),
    "data.clean_fraction": (0.0, 1.0, False),
    "data.clean_ratio": (0.0, None, True),
    "noise.rate": (0.0, 1.0, False),
    "model.dropout": (0.0, 1.0, False),
    "model.embed_dim": (1, None, False),    # multimodal: a text branch of no width
    "model.lstm_hidden": (1, None, False),  # would train on the image alone, silently
    "optimizer.learning_rate": (0.0, None, True),
    "optimizer.momentum": (0.0, 1.0, False),
    "optimizer.weight_decay": (0.0, None, False),
    "optimizer.warmup_epochs": (0, None, False),
    "optimizer.step_factor": (0.0, None, True),
    "train.num_epochs": (1, None, False),
    "train.log_every_steps": (1, None, False),
    "train.eval_every_epochs": (1, None, False),
    "train.checkpoint_every_epochs": (1, None, False),
    "train.max_checkpoints": (1, None, False),
    "train.checkpoint_every_steps": (0, None, False),
    "train.steps_per_call": (0, None, False),
    "train.replicas": (1, None, False),
    "label_issues.folds": (0, None, False),
    "label_issues.holdout_fold": (-1, None, False),
}
# -1 means "all" / "no limit" for these; otherwise at least 1.
ALL_OR_POSITIVE = ("data.max_train_examples", "data.max_test_examples", "train.stop_after_steps")


def _get(config, key: str):
  for part in key.split("."):
    if part not in config:
      return None  # a config built without this key (e.g. an older schema)
    config = config[part]
  return config


def _range_text(low, high, open_low) -> str:
  text = f"> {low}" if open_low else f">= {low}"
  return text if high is None else f"{'in (' if open_low else 'in ['}{low}, {high}]"


def check_values(config) -> None:
  """Raises ConfigError for the first key outside its range (see RANGES) or the first
  value that is not one of its choices (`model.compile`)."""
  for key, (low, high, open_low) in RANGES.items():
    value = _get(config, key)
    if value is None:
      continue
    bad = (isinstance(value, float) and not math.isfinite(value)) or value < low or (
        open_low and value == low) or (high is not None and value > high)
    if bad:
      raise ConfigError(f"{key} must be {_range_text(low, high, open_low)}, got {value}")
  for key in ALL_OR_POSITIVE:
    value = _get(config, key)
    if value is not None and value != -1 and value < 1:
      raise ConfigError(f"{key} must be -1 (all) or >= 1, got {value}")
  mode = _get(config, "model.compile")
  if mode is not None:  # (nlx.models imports jax: here, not at this module's import)
    from nlx.models import check_compile_mode
    check_compile_mode(mode)
  folds, holdout = _get(config, "label_issues.folds"), _get(config, "label_issues.holdout_fold")
  if folds == 1:
    raise ConfigError("label_issues.folds must be 0 (in-sample) or >= 2 (out-of-fold), got 1")
  if holdout is not None and holdout >= 0 and not (folds and holdout < folds):
    raise ConfigError(f"label_issues.holdout_fold={holdout} needs label_issues.folds > "
                      f"{holdout}, got {folds}")
