"""A lower bound for issue 31's target (3 seeds in at most 1.5x one seed's wall time).

  python experiments/bench_replica_products.py [--replicas=1,3] [--one_seed_wall=S]

Times, on this machine, only the matrix products of the CPU protocol's run (the MLP
1024-256-256-10, batch 128: each step's forward products, its three weight gradients and
the two input gradients the backward pass needs; after each epoch the forward products
over the 45,000 training rows in blocks of 1,000), for R replicas vmapped over a leading
axis as `nlx.replicas` runs them: one epoch's 351 steps and one epoch's training-set pass
as one jitted `fori_loop` each (no data movement, no optimiser, no element-wise work,
no start-up), the best of 3, times 30 epochs. With `--one_seed_wall` (one seed's whole
run, `python experiments/bench_run.py --runs=replicas`'s first row, same machine) it
prints the bound against 1.5x that wall: the products alone of 3 seeds taking longer than
1.5x one seed's whole run means no program can meet the target here.
"""

import time

import jax
import jax.numpy as jnp
from absl import app, flags

_REPLICAS = flags.DEFINE_list("replicas", ["1", "3"], "replica counts to time")
_WALL = flags.DEFINE_float("one_seed_wall", 0.0, "one seed's whole run, seconds (0: none)")
DIMS = ((1024, 256), (256, 256), (256, 10))
BATCH, STEPS, ROWS, BLOCK, EPOCHS = 128, 45_000 // 128, 45_000, 1_000, 30


def step_products(ws, x, g):
  """The products of one step: forward, each weight gradient, the input gradients of the
  layers above the first."""
  hs = [x]
  for w in ws:
    hs.append(hs[-1] @ w)
  d, out = g, 0.0
  for i in reversed(range(len(ws))):
    out = out + (hs[i].T @ d).sum()
    if i > 0:
      d = d @ ws[i].T
  return out


def pass_products(ws, x):
  for w in ws:
    x = x @ w
  return x.sum()


def step_flops() -> int:
  """`step_products`' FLOPs at batch `BATCH`: the forward products, the weight gradients
  (as many) and the input gradients of every layer but the first."""
  forward = 2 * sum(a * b for a, b in DIMS)
  return BATCH * (3 * forward - 2 * DIMS[0][0] * DIMS[0][1])


def pass_flops(rows: int) -> int:
  """`pass_products`' FLOPs over `rows` rows."""
  return rows * 2 * sum(a * b for a, b in DIMS)


def best_of(fn, *args, rounds: int = 3) -> float:
  fn(*args).block_until_ready()  # compiled
  best = float("inf")
  for _ in range(rounds):
    t0 = time.perf_counter()
    fn(*args).block_until_ready()
    best = min(best, time.perf_counter() - t0)
  return best


def epoch_seconds(r: int) -> tuple[float, float, float]:
  """(an epoch's steps' products, an epoch's pass, the FLOPs of both) for `r` replicas."""
  key = jax.random.PRNGKey(0)
  ws = [0.01 * jax.random.normal(key, (r, a, b), jnp.float32) for a, b in DIMS]
  x = jax.random.normal(key, (r, BATCH, DIMS[0][0]), jnp.float32)
  g = jax.random.normal(key, (r, BATCH, DIMS[-1][1]), jnp.float32)
  xb = jax.random.normal(key, (r, BLOCK, DIMS[0][0]), jnp.float32)
  vstep, vpass = jax.vmap(step_products), jax.vmap(pass_products)

  @jax.jit
  def steps(ws, x, g):  # each iteration's input depends on the last (nothing hoisted)
    return jax.lax.fori_loop(
        0, STEPS, lambda i, acc: acc + vstep(ws, x + 0 * acc[:, None, None], g), jnp.zeros(r))

  @jax.jit
  def passes(ws, xb):
    return jax.lax.fori_loop(
        0, ROWS // BLOCK, lambda i, acc: acc + vpass(ws, xb + 0 * acc[:, None, None]),
        jnp.zeros(r))
  flops = r * (STEPS * step_flops() + pass_flops(ROWS))
  return best_of(steps, ws, x, g), best_of(passes, ws, xb), flops


def main(argv):
  del argv
  print(f"devices: {jax.devices()}")
  for r in (int(v) for v in _REPLICAS.value):
    steps, passes, flops = epoch_seconds(r)
    total = EPOCHS * (steps + passes)
    line = (f"{r} replica(s): an epoch's step products {steps:.3f} s, its training-set "
            f"pass {passes:.3f} s; {EPOCHS} epochs {total:.1f} s "
            f"({EPOCHS * flops / total / 1e9:.0f} GFLOP/s)")
    if _WALL.value > 0:
      line += (f"; against 1.5x one seed's wall ({1.5 * _WALL.value:.1f} s): "
               f"{total / (1.5 * _WALL.value):.2f}x it")
    print(line)


if __name__ == "__main__":
  app.run(main)
