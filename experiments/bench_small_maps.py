"""The small-map convolution and the quickstart's step, as README Speed quotes them.

  python experiments/bench_small_maps.py

Prints, for this machine: (1) at the small CNN's shapes (batch 256 and 64: 8x8x1 -> 32,
4x4x32 -> 64, 2x2x64 -> 128), the median time of XLA's 3x3 convolution and of
`nlx.ops.conv.conv3x3_patches`, forward and kernel gradient; (2) with the quickstart's
config as nlx now runs it (`model.conv=auto`, data on the device), the median time of a
train step over a compiled call of 20 steps, and of predicting the training and the test
set (warm, after a first call that compiles); (3) the same with `--config`-equivalent
`model.conv=xla`, for the before/after ratio.
"""

import os
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_xla_cpu import conv as xla  # XLA's 3x3 "same" convolution, NHWC/HWIO
from bench_xla_cpu import median_time

from nlx import data as data_lib
from nlx import train
from nlx.config_base import load_file
from nlx.ops import conv as conv_ops


def median_ms(f, *args) -> float:
  return 1e3 * median_time(f, *args, steps=20)


def conv_table():
  for n, h, c, d in [(256, 8, 1, 32), (256, 4, 32, 64), (256, 2, 64, 128),
                     (64, 8, 1, 32), (64, 4, 32, 64), (64, 2, 64, 128)]:
    x = jax.random.normal(jax.random.PRNGKey(0), (n, h, h, c))
    w = jax.random.normal(jax.random.PRNGKey(1), (3, 3, c, d))
    row = []
    for f in (xla, conv_ops.conv3x3_patches):
      grad = jax.jit(jax.grad(lambda x_, w_, f=f: jnp.sum(f(x_, w_) ** 2), argnums=1))
      row += [median_ms(jax.jit(f), x, w), median_ms(grad, x, w)]
    print(f"[{n}, {h}, {h}, {c}] -> {d}: forward XLA {row[0]:.2f} ms, patches {row[2]:.2f} ms;"
          f" kernel gradient XLA {row[1]:.2f} ms, patches {row[3]:.2f} ms")


def quickstart(conv: str):
  c = load_file("quickstart", "")
  c.model.conv = conv
  ds = data_lib.load_dataset(c)
  t = train.Trainer(c, ds, train.make_mesh(jax.devices()[:1]))
  state = t.initial_state
  it = t.train_iterator(c.train.num_epochs)
  n = min(20, t.steps_per_call)
  times = []
  for i in range(6):
    rows = [next(it)["index"] for _ in range(n)]
    t0 = time.perf_counter()
    state, m = t.train_chunk(state, t.shard_chunk(rows), np.int32(n))
    jax.block_until_ready(m)
    if i:
      times.append((time.perf_counter() - t0) / n)
  predict = {}
  for name, split in (("train", ds.train), ("test", ds.test)):
    t.predict(state, split)
    t0 = time.perf_counter()
    t.predict(state, split)
    predict[name] = 1e3 * (time.perf_counter() - t0)
  print(f"quickstart, model.conv={conv}: train step {1e3 * statistics.median(times):.2f} ms "
        f"(calls of {n} steps); predict train ({len(ds.train)}) {predict['train']:.1f} ms, "
        f"test ({len(ds.test)}) {predict['test']:.1f} ms")


if __name__ == "__main__":
  print(f"devices: {jax.devices()}")
  conv_table()
  quickstart("auto")
  quickstart("xla")
