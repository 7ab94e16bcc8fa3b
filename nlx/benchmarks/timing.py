"""Timing helpers the `bench_*` scripts share: medians of timed calls, the matmul rate, nlx's
train step on random 32x32x3 data, the input pipeline's rate, and plain PyTorch's steps
beside nlx's.
"""

import functools
import json
import statistics
import subprocess
import time

import jax
import numpy as np

from nlx import config_presets, methods, train
from nlx.benchmarks import suites
from nlx.config_base import base_config
from nlx.data import input_pipeline, mixture
from nlx.data.types import Dataset, Split


def median_time(fn, *args, steps: int, warmups: int = 3) -> float:
  """Median seconds of `steps` calls of `fn(*args)` (each waited for), after `warmups`."""
  for _ in range(warmups):
    jax.block_until_ready(fn(*args))
  times = []
  for _ in range(steps):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def square_product(n: int, dtype: str = "float32"):
  """`(f, a)`: a jitted `a @ a` with products summed in float32, and an `n x n` operand of
  standard normals in `dtype` (bfloat16: the CPU's or the chip's bf16 products)."""
  import jax.numpy as jnp
  a = jax.random.normal(jax.random.PRNGKey(0), (n, n), jnp.float32).astype(dtype)
  return jax.jit(lambda x: jnp.dot(x, x, preferred_element_type=jnp.float32)), a


def matmul_rate(n: int = 1024, repeats: int = 20, dtype: str = "float32") -> float:
  """This machine's matmul rate (FLOP/s) through XLA in `dtype`: the best of `repeats`
  timed `square_product`s, after a warm-up (the floor's denominator of bench_run.py)."""
  f, a = square_product(n, dtype)
  f(a).block_until_ready()
  best = float("inf")
  for _ in range(repeats):
    t0 = time.perf_counter()
    f(a).block_until_ready()
    best = min(best, time.perf_counter() - t0)
  return 2 * n ** 3 / best


def xla_conv3x3(x, w):
  """XLA's 3x3 "same" convolution: `[N, H, W, C]` x `[3, 3, C, D]` -> `[N, H, W, D]`."""
  return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def synthetic_dataset(n: int, multi_label: bool = False) -> Dataset:
  """`n` random 32x32x3 uint8 images with random labels of 10 classes (multi-label: 0/1
  vectors with at least one positive), the same split as train and test."""
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
  labels = rng.integers(0, 10, n)
  if multi_label:  # 0/1 vectors with one to three positives
    labels = (rng.random((n, 10)) < 0.15).astype(np.float32)
    labels[np.arange(n), rng.integers(0, 10, n)] = 1.0
  split = Split(images, labels, labels.copy())
  return Dataset("synthetic", split, split, 10, [str(i) for i in range(10)],
                 (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), multi_label=multi_label)


def step_runner(model: str, method: str = "ce", *, conv: str = "auto",
                batch_size: int = 128, chunk: int = 0):
  """A function that runs one jitted train step on random 32x32x3 data and waits for it
  (the first call compiles; `step_time`'s arguments, without `steps`); with `chunk` > 0,
  one compiled chunk of that many steps instead (`train.steps_per_call`: how nlx trains on
  data held on the device, the default for in-memory sets). Several runners can then be
  timed in turns, so a machine's drift hits each alike."""
  if chunk < 0:
    raise ValueError(f"chunk must be 0 (one step alone) or a step count, got {chunk}")
  c = base_config()
  c.model.name = model
  c.model.conv = conv
  (method, *_), overrides = suites.parse_spec(method)
  config_presets.set_method(c, method)
  suites.apply_overrides(c, overrides)
  c.data.batch_size = batch_size
  c.train.steps_per_call = chunk
  ds = synthetic_dataset(batch_size * max(4, chunk), method in methods.MULTI_LABEL_NAMES)
  if "hierarchy" in c.method:  # side information for classes "0".."9": the digit hierarchy
    c.method.hierarchy = "digits"
  if methods.get(method).needs_clean_subset:  # a known-clean 10% of the labels
    ds.train = mixture.clean_noisy_mixture(ds.train, 0.1, 0.5, 0)
  trainer = train.Trainer(c, ds)
  if chunk and trainer.steps_per_call != chunk:
    raise ValueError(f"{model}/{method}: no compiled chunk of {chunk} steps here "
                     f"(steps_per_call {trainer.steps_per_call}; data.on_device applies?)")
  it = trainer.train_iterator(2)  # the trainer's own batches: indices when the data are
  state, calls = trainer.initial_state, 0  # on the device (the default)
  if chunk:
    chunks = [trainer.shard_chunk([next(it)["index"] for _ in range(chunk)]) for _ in range(2)]
  else:
    batches = [trainer.shard(next(it)) for _ in range(4)]

  def run_one():
    nonlocal state, calls
    if chunk:
      state, m = trainer.train_chunk(state, chunks[calls % 2], np.int32(chunk))
    else:
      state, m = trainer.train_step(state, batches[calls % len(batches)])
    calls += 1
    jax.block_until_ready(m["loss"])

  run_one.steps_done = lambda: int(state.step)  # the train state's step count
  run_one.chunk = chunk
  return run_one


@functools.cache
def step_time(model: str, method: str = "ce", *, conv: str = "auto", batch_size: int = 128,
              steps: int = 20, chunk: int = 0) -> float:
  """Median seconds per jitted train step on random 32x32x3 data (compile excluded); with
  `chunk` > 0, a compiled chunk's median over its `chunk` steps.

  Args:
    model: `model.name`.
    method: a method name, optionally with overrides in the cells' spec syntax
      (`noise_model+method.shared_trunk=True`, `suites.parse_spec`). Method defaults are
      the papers' (ARNet: L = 64 prototypes, a 1,000-feature cache); SINet's per-epoch
      weight update (one inference pass) is outside the step.
    conv: `model.conv`.
    batch_size: examples per step.
    steps: timed steps (a chunk's: `time_per_step`).
    chunk: steps per compiled call (0: one step alone, `step_runner`).
  """
  return time_per_step(step_runner(model, method, conv=conv, batch_size=batch_size,
                                   chunk=chunk), steps)


def time_per_step(run_one, steps: int) -> float:
  """Median seconds per training step of a `step_runner`: `steps` calls after 3 warm-up
  ones; a chunk's runner `max(2, steps // chunk)` calls after one (which compiles it), each
  call's time over its `chunk` steps."""
  if not run_one.chunk:
    return median_time(run_one, steps=steps)
  return median_time(run_one, steps=max(2, steps // run_one.chunk), warmups=1) / run_one.chunk


def pipeline_rate(cifar10_dir: str, batch_size: int = 128, seconds: float = 10.0) -> float:
  """Batches/s of the grain input pipeline on CIFAR-10's training set (crop + flip)."""
  from nlx.data.datasets import cifar10
  x, y, _, _, _ = cifar10.read_official(cifar10_dir)
  split = Split(x, y, y.copy())
  c = base_config().data
  c.batch_size, c.augment = batch_size, "crop_flip"
  it = iter(input_pipeline.train_dataset(split, c, num_epochs=10, seed=0))
  next(it)  # start-up
  n, t0 = 0, time.perf_counter()
  while time.perf_counter() - t0 < seconds:
    next(it)
    n += 1
  return n / (time.perf_counter() - t0)


def torch_step_lines(torch_python: str, torch_script: str, models, *, batch_size: int,
                     steps: int, conv: str = "auto", chunk: int = 0) -> list[str]:
  """nlx's CE and ELR steps against `torch_script`'s (experiments/bench_torch.py, run
  with `torch_python`), same shapes, same CPU: one line per (model, method); with `chunk`
  > 0 also nlx's step as its training runs it, in a compiled chunk of `chunk` steps."""
  out = subprocess.run([torch_python, torch_script, f"--models={','.join(models)}",
                        "--methods=ce,elr", f"--batch_size={batch_size}", f"--steps={steps}"],
                       check=True, capture_output=True, text=True)
  lines = []
  for line in out.stdout.splitlines():
    r = json.loads(line)
    t = step_time(r["model"], r["method"], conv=conv, batch_size=batch_size, steps=steps)
    text = (f"train step, {r['method']}, {r['model']}, batch {batch_size}: nlx "
            f"{t * 1000:.1f} ms, PyTorch {r['torch']} ({r['threads']} threads) "
            f"{r['seconds'] * 1000:.1f} ms: nlx is {r['seconds'] / t:.2f}x PyTorch's speed")
    if chunk:
      tc = step_time(r["model"], r["method"], conv=conv, batch_size=batch_size, steps=steps,
                     chunk=chunk)
      text += (f"; in a compiled chunk of {chunk} steps {tc * 1000:.1f} ms a step, "
               f"{r['seconds'] / tc:.2f}x")
    lines.append(text)
  return lines
