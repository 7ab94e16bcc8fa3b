import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import override

from nlx import optim
from nlx.config_base import base_config
from nlx.errors import ConfigError


def opt_config(**kw):
  return override(base_config().optimizer, **kw)


def test_schedules_by_hand():
  # 10 steps an epoch, 10 epochs.
  cos = optim.learning_rate_schedule(opt_config(learning_rate=0.1, schedule="cosine"), 10, 10)
  assert float(cos(0)) == pytest.approx(0.1)
  assert float(cos(50)) == pytest.approx(0.1 * 0.5 * (1 + math.cos(math.pi * 0.5)))
  assert float(cos(100)) == pytest.approx(0.0, abs=1e-9)
  step = optim.learning_rate_schedule(
      opt_config(learning_rate=0.1, schedule="step", step_epochs=(3, 6), step_factor=0.1), 10, 10)
  assert [float(step(s)) for s in (29, 30, 59, 60)] == pytest.approx([0.1, 0.01, 0.01, 0.001])
  warm = optim.learning_rate_schedule(
      opt_config(learning_rate=0.1, schedule="constant", warmup_epochs=1), 10, 10)
  assert [float(warm(s)) for s in (0, 5, 10, 50)] == pytest.approx([0.0, 0.05, 0.1, 0.1])
  with pytest.raises(ConfigError, match="schedule"):
    optim.learning_rate_schedule(opt_config(schedule="linear"), 10, 10)


def test_sgd_momentum_and_l2_weight_decay_by_hand():
  tx, _ = optim.build(opt_config(name="sgd", learning_rate=0.1, momentum=0.9,
                                 weight_decay=0.01), 10, 1)
  params = {"w": jnp.array([1.0, -2.0])}
  state = tx.init(params)
  grads = {"w": jnp.array([0.5, 0.5])}
  u1, state = tx.update(grads, state, params)
  # PyTorch SGD: g' = g + wd * w; buf = g'; update = -lr * buf
  g1 = np.array([0.5, 0.5]) + 0.01 * np.array([1.0, -2.0])
  np.testing.assert_allclose(u1["w"], -0.1 * g1, rtol=1e-6)
  p1 = optax.apply_updates(params, u1)
  u2, _ = tx.update(grads, state, p1)
  g2 = np.array([0.5, 0.5]) + 0.01 * np.asarray(p1["w"])
  np.testing.assert_allclose(u2["w"], -0.1 * (0.9 * g1 + g2), rtol=1e-6)
  with pytest.raises(ConfigError, match="optimizer.name"):
    optim.build(opt_config(name="lamb"), 10, 1)


def test_lr_multipliers_scale_only_the_named_parameters():
  from flax import nnx
  c = base_config().optimizer
  c.name, c.learning_rate, c.momentum, c.lr_multipliers = "sgd", 0.1, 0.0, "gate=10"
  tx, _ = optim.build(c, steps_per_epoch=1, num_epochs=1)

  class Net(nnx.Module):
    def __init__(self):
      self.gate = nnx.Param(jnp.zeros(2))
      self.head = nnx.Linear(2, 2, rngs=nnx.Rngs(0))

  params = nnx.state(Net(), nnx.Param)
  grads = jax.tree.map(jnp.ones_like, params)
  updates, _ = tx.update(grads, tx.init(params), params)
  np.testing.assert_allclose(updates["gate"][...], [-1.0, -1.0])          # -0.1 * 10 * 1
  np.testing.assert_allclose(updates["head"]["kernel"][...], -0.1 * np.ones((2, 2)))
  with pytest.raises(ConfigError, match="'gate:10'"):
    optim.parse_multipliers("gate:10")


def test_lr_multipliers_are_honoured_by_adamw():
  """adamw returned before the multipliers were chained: `gate=10` was silently unused."""
  c = base_config().optimizer
  c.name, c.learning_rate, c.weight_decay, c.lr_multipliers = "adamw", 0.1, 0.5, "gate=10"
  tx, _ = optim.build(c, steps_per_epoch=1, num_epochs=1)
  params = {"gate": jnp.full(2, 2.0), "head": {"w": jnp.full(2, 2.0)}}
  updates, _ = tx.update({"gate": jnp.full(2, 3.0), "head": {"w": jnp.full(2, -3.0)}},
                         tx.init(params), params)
  # AdamW's first step: m_hat / (sqrt(v_hat) + eps) = g / |g| = +-1, plus wd * p = 0.5 * 2
  # = 1; times -lr: -0.2 (gradient 3) and 0 (gradient -3); the gate's times 10: -2.
  np.testing.assert_allclose(updates["head"]["w"], [0.0, 0.0], atol=1e-6)
  np.testing.assert_allclose(updates["gate"], [-2.0, -2.0], rtol=1e-5)
  c.lr_multipliers = "gates=10"  # names no parameter: an error, not a factor never applied
  tx, _ = optim.build(c, steps_per_epoch=1, num_epochs=1)
  with pytest.raises(ConfigError, match=r"lr_multipliers: no parameter is named \['gates'\]"):
    tx.init(params)
