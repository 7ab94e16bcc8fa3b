"""One epoch of the CPU protocol's training (MLP 1024-256-256-10, Adam 1e-3, batch 128,
45,056 random feature vectors, one jitted `lax.scan`) under XLA CPU flags, each in a
fresh process: which flags make the protocol's small matmuls faster on this machine.

  python experiments/bench_xla_flags.py                  # the flag sets of FLAG_SETS
  XLA_FLAGS=... python experiments/bench_xla_flags.py --child   # one set, one line

Prints the best of 3 epochs (after one to compile and warm up) and the GFLOP/s of the
forward and backward matmuls (3 x 2 x N x weights).
"""

import os
import subprocess
import sys
import time

FLAG_SETS = ("", "--xla_cpu_multi_thread_eigen=false",
             "--xla_cpu_experimental_xnn_graph_fusion_mode=XNN_GRAPH_FUSION_MODE_GREEDY",
             "--xla_cpu_enable_concurrency_optimized_scheduler=true")
N, D, C, B = 45056, 1024, 10, 128


def child() -> None:
  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.normal(size=(N, D)).astype(np.float32))
  y = jnp.asarray(rng.integers(0, C, N))
  keys = jax.random.split(jax.random.key(0), 3)
  sizes = [(D, 256), (256, 256), (256, C)]
  params = [(jax.random.normal(k, s) * (2 / s[0]) ** 0.5, jnp.zeros(s[1]))
            for k, s in zip(keys, sizes)]

  def loss(p, xb, yb):
    h = xb
    for w, b in p[:-1]:
      h = jax.nn.relu(h @ w + b)
    logits = h @ p[-1][0] + p[-1][1]
    return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

  tx = optax.adam(1e-3)

  @jax.jit
  def epoch(p, o, perm):
    def step(carry, idx):
      p, o = carry
      g = jax.grad(loss)(p, x[idx], y[idx])
      u, o = tx.update(g, o, p)
      return (optax.apply_updates(p, u), o), None
    (p, o), _ = jax.lax.scan(step, (p, o), perm.reshape(-1, B))
    return p, o

  opt = tx.init(params)
  perm = jnp.asarray(rng.permutation(N))
  params, opt = epoch(params, opt, perm)
  jax.block_until_ready(params)
  times = []
  for _ in range(3):
    start = time.perf_counter()
    params, opt = epoch(params, opt, perm)
    jax.block_until_ready(params)
    times.append(time.perf_counter() - start)
  flops = 3 * 2 * N * (D * 256 + 256 * 256 + 256 * C)
  print(f"{os.environ.get('XLA_FLAGS') or 'default'}: epoch {min(times):.3f} s, "
        f"{flops / min(times) / 1e9:.1f} GFLOP/s", flush=True)


def main() -> None:
  if "--child" in sys.argv:
    return child()
  print(f"load {os.getloadavg()[0]:.2f}", flush=True)
  for flags in FLAG_SETS:
    subprocess.run([sys.executable, __file__, "--child"], env={**os.environ, "XLA_FLAGS": flags},
                   check=False)


if __name__ == "__main__":
  main()
