"""Optax optimisers and learning-rate schedules from `config.optimizer`."""

import jax
import optax

from nlx.errors import ConfigError


def learning_rate_schedule(config, steps_per_epoch: int, num_epochs: int) -> optax.Schedule:
  lr, total = config.learning_rate, max(steps_per_epoch * num_epochs, 1)
  warmup = config.warmup_epochs * steps_per_epoch
  if config.schedule == "constant":
    main = optax.constant_schedule(lr)
  elif config.schedule == "cosine":
    main = optax.cosine_decay_schedule(lr, decay_steps=max(total - warmup, 1))
  elif config.schedule == "step":
    main = optax.piecewise_constant_schedule(
        lr, {int(e * steps_per_epoch) - warmup: config.step_factor for e in config.step_epochs})
  else:
    raise ConfigError(f"optimizer.schedule must be constant, cosine or step, "
                      f"got {config.schedule!r}")
  if warmup <= 0:
    return main
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), main], [warmup])


def build(config, steps_per_epoch: int, num_epochs: int) -> tuple[optax.GradientTransformation,
                                                                  optax.Schedule]:
  """SGD (+momentum, nesterov), Adam or AdamW. For sgd and adam, `weight_decay` is an L2
  term added to the gradient (as in PyTorch); adamw decouples it. `lr_multipliers` scales
  the final update of the named parameters, for every optimizer (with adamw the decoupled
  decay of those parameters too, as a per-parameter learning rate would)."""
  schedule = learning_rate_schedule(config, steps_per_epoch, num_epochs)
  wd = config.weight_decay
  if config.name == "sgd":
    tx = optax.sgd(schedule, momentum=config.momentum or None, nesterov=config.nesterov)
  elif config.name == "adam":
    tx = optax.adam(schedule)
  elif config.name == "adamw":
    tx = optax.adamw(schedule, weight_decay=wd)
  else:
    raise ConfigError(f"optimizer.name must be sgd, adam or adamw, got {config.name!r}")
  if wd and config.name != "adamw":
    tx = optax.chain(optax.add_decayed_weights(wd), tx)
  if config.lr_multipliers:
    tx = optax.chain(tx, scale_updates_by_name(parse_multipliers(config.lr_multipliers)))
  return tx, schedule


def parse_multipliers(spec: str) -> dict[str, float]:
  """`"gate=10,memory=0.5"` -> {"gate": 10.0, "memory": 0.5}; a ConfigError names a bad entry."""
  out = {}
  for item in filter(None, (x.strip() for x in spec.split(","))):
    name, _, value = item.partition("=")
    try:
      out[name.strip()] = float(value)
    except ValueError:
      raise ConfigError(f"optimizer.lr_multipliers: {item!r} is not NAME=NUMBER") from None
  return out


def _names(path) -> set[str]:
  return {str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path}


def scale_updates_by_name(multipliers: dict[str, float]) -> optax.GradientTransformation:
  """Multiplies the final update of every parameter whose path has a component equal to a
  key of `multipliers` (e.g. "gate") by its value: a per-parameter learning-rate factor.
  A key that names no parameter is a ConfigError at `init` (not a factor silently unused)."""
  def factor(path) -> float:
    hits = [m for name, m in multipliers.items() if name in _names(path)]
    return hits[0] if hits else 1.0

  def init(params):
    found = set().union(*(_names(p) for p, _ in jax.tree_util.tree_leaves_with_path(params)))
    unused = [name for name in multipliers if name not in found]
    if unused:
      raise ConfigError(f"optimizer.lr_multipliers: no parameter is named {unused}")
    return optax.EmptyState()

  def update(updates, state, params=None):
    del params
    return jax.tree_util.tree_map_with_path(lambda p, u: u * factor(p), updates), state

  return optax.GradientTransformation(init, update)
