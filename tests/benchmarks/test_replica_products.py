"""experiments/bench_replica_products.py: the FLOPs its bound divides by are the ones XLA
counts in the programs it times."""

import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO


@pytest.fixture(scope="module")
def bench():
  path = os.path.join(REPO, "experiments", "bench_replica_products.py")
  spec = importlib.util.spec_from_file_location("bench_replica_products", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def xla_flops(fn, *shapes) -> float:
  cost = jax.jit(fn).lower(*shapes).compile().cost_analysis()
  return (cost[0] if isinstance(cost, list) else cost)["flops"]


def test_a_steps_products_are_the_flops_xla_counts(bench):
  s = jax.ShapeDtypeStruct
  ws = [s(d, jnp.float32) for d in bench.DIMS]
  x, g = s((bench.BATCH, bench.DIMS[0][0]), jnp.float32), s((bench.BATCH, 10), jnp.float32)
  # 186.5 MFLOP by hand: 128 x (3 x 2 x 330,240 - 2 x 262,144)
  assert bench.step_flops() == 186_515_456
  np.testing.assert_allclose(xla_flops(bench.step_products, ws, x, g), bench.step_flops(),
                             rtol=0.01)
  np.testing.assert_allclose(xla_flops(bench.pass_products, ws, s((1000, 1024), jnp.float32)),
                             bench.pass_flops(1000), rtol=0.01)


def test_a_steps_products_are_the_backward_pass_of_the_linear_network(bench):
  """The weight gradients `step_products` sums are autodiff's of <x W1 W2 W3, g>."""
  keys = jax.random.split(jax.random.PRNGKey(1), 5)
  ws = [jax.random.normal(k, d) for k, d in zip(keys, bench.DIMS)]
  x = jax.random.normal(keys[3], (bench.BATCH, bench.DIMS[0][0]))
  g = jax.random.normal(keys[4], (bench.BATCH, 10))
  grads = jax.grad(lambda w: jnp.sum((x @ w[0] @ w[1] @ w[2]) * g))(ws)
  np.testing.assert_allclose(bench.step_products(ws, x, g), sum(gw.sum() for gw in grads),
                             rtol=1e-4)
