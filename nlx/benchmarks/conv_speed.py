"""Convolution speed on the CPU: where XLA's convolutions lose to PyTorch's, which XLA
flag wins it back, and nlx.ops.conv's kernels at the small CNN's shapes
(experiments/bench_xla_cpu.py and experiments/bench_small_maps.py).
"""

import json
import os
import statistics
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from nlx.benchmarks.timing import median_time, step_runner, step_time, time_per_step, xla_conv3x3
from nlx.ops import conv as conv_ops

FLAG_SETS = {
    "default": "",
    "oneDNN": "--xla_cpu_use_onednn=true",
    "XNNPACK": "--xla_cpu_use_xnnpack=true",
    "no fast math": "--xla_cpu_enable_fast_math=false",
    # what model.conv=auto's programs get (nlx.ops.conv.compiler_options), for every program
    "XLA's own convolutions, not YNNPACK's":
        f"--xla_cpu_experimental_ynn_fusion_type={conv_ops.YNN_FUSIONS_WITHOUT_CONV}",
}
# (batch, height/width, channels in = out): ResNet-18's four stages on 32x32 inputs.
CONV_SHAPES = ((128, 32, 64), (128, 16, 128), (128, 8, 256), (128, 4, 512))
CONV_PARTS = ("forward", "input gradient", "kernel gradient", "kernel gradient, nlx chunked")


def conv_parts(steps: int) -> dict:
  """Seconds for forward / input-gradient / kernel-gradient (XLA's, and nlx.ops.conv's
  chunked kernel gradient), summed over `CONV_SHAPES`."""

  @jax.jit
  def input_grad(x, w, g):
    return jax.vjp(lambda x_: xla_conv3x3(x_, w), x)[1](g)[0]

  @jax.jit
  def kernel_grad(x, w, g):
    return jax.vjp(lambda w_: xla_conv3x3(x, w_), w)[1](g)[0]

  chunked = jax.jit(conv_ops.kernel_grad)
  out = dict.fromkeys(CONV_PARTS, 0.0)
  for b, hw, c in CONV_SHAPES:
    x = jax.random.normal(jax.random.key(0), (b, hw, hw, c))
    w = jax.random.normal(jax.random.key(1), (3, 3, c, c)) * 0.05
    g = jax.random.normal(jax.random.key(2), (b, hw, hw, c))
    out["forward"] += median_time(jax.jit(xla_conv3x3), x, w, steps=steps)
    out["input gradient"] += median_time(input_grad, x, w, g, steps=steps)
    out["kernel gradient"] += median_time(kernel_grad, x, w, g, steps=steps)
    out["kernel gradient, nlx chunked"] += median_time(chunked, x, g, steps=steps)
  return out


def forward_chunked(x, w):
  """The forward pass written like nlx.ops.conv.kernel_grad: im2col patches of a chunk of
  examples at a time times the kernel matrix (kept here, not in nlx.ops: it rarely wins)."""
  n, h, ww, c = x.shape
  cs = conv_ops.chunk_size(n, h, ww, c)
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))).reshape(n // cs, cs, h + 2, ww + 2, c)

  def chunk(xs):
    patches = jnp.concatenate([xs[:, i:i + h, j:j + ww] for i in range(3) for j in range(3)],
                              axis=-1)
    return patches.reshape(cs * h * ww, 9 * c) @ w.reshape(9 * c, -1)

  return jax.lax.map(chunk, xp).reshape(n, h, ww, -1)


def extras(steps: int) -> list[str]:
  """Default flags, per shape: XLA's forward pass against `forward_chunked`; the small
  CNN's three 2x2 max-pools (value and gradient) with nnx.max_pool and with nlx's
  max_pool_2x2. Markdown rows."""
  from flax import nnx

  from nlx.models.cnn import max_pool_2x2

  rows = ["| shape | XLA | alternative |", "|---|---|---|"]
  for b, hw, c in CONV_SHAPES:
    x = jax.random.normal(jax.random.key(0), (b, hw, hw, c))
    w = jax.random.normal(jax.random.key(1), (3, 3, c, c)) * 0.05
    xla = 1000 * median_time(jax.jit(xla_conv3x3), x, w, steps=steps)
    chunked = 1000 * median_time(jax.jit(forward_chunked), x, w, steps=steps)
    rows.append(f"| forward, {b}x{hw}x{hw}x{c} | {xla:.1f} ms | chunked im2col {chunked:.1f} ms |")
  pools = {"nnx.max_pool": lambda h: nnx.max_pool(h, (2, 2), strides=(2, 2)),
           "max_pool_2x2": max_pool_2x2}
  total = dict.fromkeys(pools, 0.0)
  for b, hw, c in ((128, 32, 32), (128, 16, 64), (128, 8, 128)):  # the small CNN's pools
    h = jax.random.normal(jax.random.key(0), (b, hw, hw, c))
    ct = jax.random.normal(jax.random.key(1), (b, hw // 2, hw // 2, c))
    for name, pool in pools.items():
      grad = jax.jit(lambda h_, ct_, pool=pool: jax.vjp(pool, h_)[1](ct_)[0])
      total[name] += median_time(grad, h, ct, steps=steps)
  rows.append(f"| small CNN's 3 max-pools, value + gradient | nnx.max_pool "
              f"{1000 * total['nnx.max_pool']:.1f} ms | max_pool_2x2 "
              f"{1000 * total['max_pool_2x2']:.1f} ms |")
  return rows


def step_columns(models) -> list[str]:
  return [f"{m} CE step, conv={conv}" for m in models for conv in ("xla", "auto")]


def flag_set_timings(steps: int, models) -> dict:
  """`conv_parts`, and each model's CE step with XLA's and nlx's convolutions, under the
  XLA_FLAGS this process started with."""
  result = conv_parts(steps)
  for m in models:
    for conv in ("xla", "auto"):
      result[f"{m} CE step, conv={conv}"] = step_time(m, conv=conv, steps=steps)
  return result


def run_child(script: str, xla_flags: str, steps: int, models) -> tuple[dict | None, str]:
  """`script --child` in a subprocess with `xla_flags` (so they take effect): its
  `flag_set_timings`, or None and its last error line."""
  env = {**os.environ, "XLA_FLAGS": xla_flags, "JAX_PLATFORMS": "cpu"}
  out = subprocess.run([sys.executable, script, "--child", f"--steps={steps}",
                        f"--models={','.join(models)}"],
                       env=env, capture_output=True, text=True, check=False)
  if out.returncode:
    return None, out.stderr.strip().splitlines()[-1][:200]
  return json.loads(out.stdout.strip().splitlines()[-1]), ""


def flags_table(rows: dict, models) -> str:
  """Markdown: one row per flag set (`{name: timings or {"error": text}}`), in ms."""
  columns = list(CONV_PARTS) + step_columns(models)
  lines = ["| | " + " | ".join(columns) + " |\n|---" + "|---" * len(columns) + "|"]
  for name, r in rows.items():
    if "error" in r:
      lines.append(f"| {name} | failed: {r['error']} |")
      continue
    lines.append(f"| {name} | " + " | ".join(f"{1000 * r[c]:.1f} ms" if c in r else "—"
                                             for c in columns) + " |")
  return "\n".join(lines)


def small_map_lines() -> list[str]:
  """At the small CNN's shapes (batch 256 and 64: 8x8x1 -> 32, 4x4x32 -> 64, 2x2x64 ->
  128), the median of XLA's 3x3 convolution and of `nlx.ops.conv.conv_patches`,
  forward and kernel gradient: one line per shape."""
  lines = []
  for n, h, c, d in [(256, 8, 1, 32), (256, 4, 32, 64), (256, 2, 64, 128),
                     (64, 8, 1, 32), (64, 4, 32, 64), (64, 2, 64, 128)]:
    x = jax.random.normal(jax.random.PRNGKey(0), (n, h, h, c))
    w = jax.random.normal(jax.random.PRNGKey(1), (3, 3, c, d))
    row = []
    for f in (xla_conv3x3, conv_ops.conv_patches):
      grad = jax.jit(jax.grad(lambda x_, w_, f=f: jnp.sum(f(x_, w_) ** 2), argnums=1))
      row += [1e3 * median_time(jax.jit(f), x, w, steps=20),
              1e3 * median_time(grad, x, w, steps=20)]
    lines.append(f"[{n}, {h}, {h}, {c}] -> {d}: forward XLA {row[0]:.2f} ms, patches "
                 f"{row[2]:.2f} ms; kernel gradient XLA {row[1]:.2f} ms, patches {row[3]:.2f} ms")
  return lines


def quickstart_line(conv: str) -> str:
  """The quickstart's config with `model.conv=conv` (data on the device): the median train
  step over compiled calls of up to 20 steps, and predicting the training and test sets
  (warm, after a first call that compiles)."""
  from nlx import data as data_lib
  from nlx import train
  from nlx.config_base import load_file
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
  return (f"quickstart, model.conv={conv}: train step {1e3 * statistics.median(times):.2f} ms "
          f"(calls of {n} steps); predict train ({len(ds.train)}) {predict['train']:.1f} ms, "
          f"test ({len(ds.test)}) {predict['test']:.1f} ms")


def nchw_conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
              dimension_numbers=None, feature_group_count=1, precision=None, **kwargs):
  """A `conv_general_dilated` for flax's NHWC / HWIO arguments that convolves in PyTorch's
  layout (NCHW / OIHW) between transposes, to see whether XLA's CPU convolutions are
  faster there (a layout attempt of `small_cnn_attempts`; kept out of nlx.ops: it loses)."""
  nhwc = jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, ("NHWC", "HWIO", "NHWC"))
  if jax.lax.conv_dimension_numbers(lhs.shape, rhs.shape, dimension_numbers) != nhwc:
    raise ValueError(f"nchw_conv takes NHWC / HWIO arguments (flax's), got {dimension_numbers}")
  out = jax.lax.conv_general_dilated(
      lhs.transpose(0, 3, 1, 2), rhs.transpose(3, 2, 0, 1), window_strides, padding,
      lhs_dilation, rhs_dilation, ("NCHW", "OIHW", "NCHW"), feature_group_count,
      precision=precision, **kwargs)
  return out.transpose(0, 2, 3, 1)


def has_avx512_bf16(cpuinfo_path: str = "/proc/cpuinfo") -> bool | None:
  """Whether the CPU lists the `avx512_bf16` flag (bf16 products in hardware); None where
  the file is not there to say (not Linux)."""
  try:
    with open(cpuinfo_path) as f:
      return any(line.startswith("flags") and "avx512_bf16" in line.split() for line in f)
  except OSError:
    return None


CHUNK = 8  # steps of the compiled chunk the attempts time (`train.steps_per_call`)


def small_cnn_attempts(steps: int, torch_python: str = "", torch_script: str = "",
                       rounds: int = 3) -> list[str]:
  """The small CNN's CE train step (batch 128, 32x32x3, Adam; `timing.step_runner`) under
  each attempt the CPU offers (the default also as it trains on in-memory data, in a
  compiled chunk of `CHUNK` steps, and with XLA's default compile options, i.e. YNNPACK's
  convolutions), one markdown row each with its speed over PyTorch's default step (with
  `torch_python`: experiments/bench_torch.py's small CNN, NCHW, channels-last and bf16
  autocast). All are timed in `rounds` turns of `steps` steps (`timing.time_per_step`: a
  chunk's runner `steps // CHUNK` calls, at least 2; PyTorch's as a process per turn), so
  the machine's drift hits each alike; a row gives the median over turns and the range of
  its per-turn ratio."""
  from unittest import mock

  bf16_words = {True: "this CPU has AVX-512 BF16", False: "this CPU has no AVX-512 BF16",
                None: "AVX-512 BF16 unknown"}[has_avx512_bf16()]
  default = ("nlx default (NHWC, `model.conv=auto`: chunked kernel gradient, patches on "
             f"maps of <= {conv_ops.SMALL_MAP} pixels, XLA's own convolutions, not YNNPACK's)")
  runners = {default: step_runner("small_cnn", "ce"),
             f"{default}, in a compiled chunk of {CHUNK} steps (how nlx trains on data held "
             "in memory), per step": step_runner("small_cnn", "ce", chunk=CHUNK),
             "XLA's convolutions only (`model.conv=xla`: XLA's defaults, YNNPACK's "
             "convolutions)": step_runner("small_cnn", "ce", conv="xla"),
             f"bf16 compute (`model.dtype=bfloat16`; {bf16_words})":
                 step_runner("small_cnn", "ce+model.dtype=bfloat16")}
  with mock.patch.object(conv_ops, "compiler_options", lambda conv="auto": None):
    runners["nlx default with YNNPACK's convolutions (XLA's default compile options)"] = (
        step_runner("small_cnn", "ce"))
  with mock.patch.object(conv_ops, "conv_general_dilated", nchw_conv):  # read at build time
    runners["convolutions in NCHW / OIHW (PyTorch's layout) between transposes"] = (
        step_runner("small_cnn", "ce"))
  torch_variants = {"PyTorch, NCHW (its default)": [],
                    "PyTorch, channels-last (NHWC)": ["--channels_last"],
                    "PyTorch, bf16 autocast": ["--dtypes=bfloat16"]} if torch_python else {}
  times = {label: [] for label in [*runners, *torch_variants]}
  for _ in range(rounds):
    for label, run_one in runners.items():
      times[label].append(time_per_step(run_one, steps))
    for label, extra in torch_variants.items():
      out = subprocess.run([torch_python, torch_script, "--models=small_cnn", "--methods=ce",
                            f"--steps={steps}", *extra],
                           check=True, capture_output=True, text=True)
      times[label].append(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])
  ref = times.get("PyTorch, NCHW (its default)")
  lines = [f"| small CNN CE step, batch 128 | median of {rounds} turns | speed over PyTorch's "
           "NCHW step (median, range over turns) |", "|---|---|---|"]
  for label, ts in times.items():
    ratio = "—"
    if ref:
      r = sorted(a / b for a, b in zip(ref, ts))
      ratio = f"{statistics.median(r):.2f}x ({r[0]:.2f}-{r[-1]:.2f})"
    lines.append(f"| {label} | {1000 * statistics.median(ts):.1f} ms | {ratio} |")
  return lines


# (batch, height = width, channels in, channels out, kernel size, stride): the CIFAR
# ResNet-18's first two stages and its stride-2 downsampling (3 x 3 and the 1 x 1
# projection), CIFAR10-quick's three convolutions, the small CNN's first two on digits.
# Zero padding k // 2.
SCAN_SHAPES = ((128, 32, 3, 32, 3, 1), (128, 16, 32, 64, 3, 1), (128, 32, 64, 128, 3, 2),
               (128, 16, 128, 256, 3, 2), (128, 32, 64, 128, 1, 2), (100, 32, 3, 32, 5, 1),
               (100, 16, 32, 32, 5, 1), (100, 8, 32, 64, 5, 1), (128, 8, 1, 32, 3, 1),
               (128, 4, 32, 64, 3, 1))


def scan_parts(stride: int = 1) -> dict:
  """The gradient computations of one convolution with a square kernel, `stride` and zero
  padding k // 2: XLA's transposes and nlx.ops.conv's (`fn(x, w, g)`)."""

  def xla(x, w):
    p = w.shape[0] // 2
    return jax.lax.conv_general_dilated(x, w, (stride, stride), ((p, p), (p, p)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

  def pads(w):
    return w.shape[0] // 2, w.shape[0] // 2

  return {
      "XLA kernel gradient": lambda x, w, g: jax.vjp(lambda w_: xla(x, w_), w)[1](g)[0],
      "nlx kernel gradient": lambda x, w, g: conv_ops.kernel_grad(x, g, None, w.shape[0],
                                                                  stride, pads(w)),
      "XLA input gradient": lambda x, w, g: jax.vjp(lambda x_: xla(x_, w), x)[1](g)[0],
      "nlx input gradient": lambda x, w, g: conv_ops.input_grad(g, w, stride, pads(w),
                                                                x.shape[1:3]),
  }


def in_a_scan(fn, length: int = 4):
  """`fn(x, w, g)` called `length` times in one `lax.scan` (its inputs nudged each step, so
  that XLA cannot hoist the work out of the loop), the way nlx's compiled chunks of
  steps run a model's gradients."""

  def scanned(x, w, g):
    def body(total, i):
      s = i.astype(x.dtype) * 1e-3
      return total + jnp.sum(fn(x + s, w + s, g + s)), None
    return jax.lax.scan(body, jnp.zeros((), x.dtype), jnp.arange(length))[0]

  return scanned


def compiled_time(fn, *args, steps: int) -> float:
  """Median seconds of `steps` calls of `fn` compiled ahead of time (no warm-up calls: the
  slowest programs here take minutes a call)."""
  return median_time(jax.jit(fn).lower(*args).compile(), *args, steps=steps, warmups=0)


def scan_lines(steps: int = 1, length: int = 2) -> list[str]:
  """Markdown rows: per shape of `SCAN_SHAPES`, each of `scan_parts`' median time in one
  jitted call and per step inside a `length`-step `lax.scan`, in ms."""
  names = list(scan_parts())
  head = " | ".join(f"{name}: alone / in a scan" for name in names)
  rows = [f"| shape (N, H=W, C -> D, k x k / stride) | {head} |", "|---" * (len(names) + 1) + "|"]
  for n, hw, c, d, k, stride in SCAN_SHAPES:
    keys = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(keys[0], (n, hw, hw, c))
    w = jax.random.normal(keys[1], (k, k, c, d)) * 0.05
    out = -(-hw // stride)
    g = jax.random.normal(keys[2], (n, out, out, d))
    cells = []
    for fn in scan_parts(stride).values():
      alone = 1000 * compiled_time(fn, x, w, g, steps=steps)
      scanned = 1000 * compiled_time(in_a_scan(fn, length), x, w, g, steps=steps) / length
      cells.append(f"{alone:.1f} / {scanned:.1f}")
    rows.append(f"| {n}, {hw}, {c} -> {d}, {k}x{k} / {stride} | " + " | ".join(cells) + " |")
  return rows
