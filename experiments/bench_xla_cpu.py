"""Where XLA's CPU convolutions lose to PyTorch's, and which XLA flag wins it back.

  python experiments/bench_xla_cpu.py [--torch_python=PATH] [--steps=10]
      [--models=small_cnn,resnet18]

For each set of XLA_FLAGS below (one subprocess each, so the flags take effect), times:
the three parts of one 3x3 convolution layer at the shapes of a ResNet-18 stage on
CIFAR (batch 128, NHWC): forward, gradient with respect to the input, gradient with
respect to the kernel; and the whole jitted CE train step of nlx's small CNN and
ResNet-18 (experiments/bench_step.py's step), with XLA's convolutions (model.conv=xla)
and with nlx.ops.conv's chunked kernel gradient (model.conv=auto, the default); and
nlx.ops.conv.kernel_grad alone at the same shapes. With --torch_python, the same three
conv parts in PyTorch (experiments/bench_torch.py --conv_parts). Prints a markdown table,
then a second one (default flags): per stage shape, XLA's forward pass against the same
pass as chunked im2col products; the small CNN's max-pools with nnx.max_pool and with
nlx.models.cnn.max_pool_2x2.
"""

import json
import os
import statistics
import subprocess
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_step  # its --steps, --models, --batch_size and --torch_python apply here too

FLAGS = flags.FLAGS
flags.DEFINE_bool("child", False, "Internal: run the timings in this process and print JSON.")

FLAG_SETS = {
    "default": "",
    "oneDNN": "--xla_cpu_use_onednn=true",
    "XNNPACK": "--xla_cpu_use_xnnpack=true",
    "no fast math": "--xla_cpu_enable_fast_math=false",
}
# (batch, height/width, channels in = out): ResNet-18's four stages on 32x32 inputs.
CONV_SHAPES = ((128, 32, 64), (128, 16, 128), (128, 8, 256), (128, 4, 512))


def conv(x, w):
  """XLA's 3x3 "same" convolution, NHWC/HWIO."""
  import jax
  return jax.lax.conv_general_dilated(x, w, (1, 1), "SAME",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def median_time(fn, *args, steps):
  import jax
  for _ in range(3):
    jax.block_until_ready(fn(*args))
  times = []
  for _ in range(steps):
    t = time.perf_counter()
    jax.block_until_ready(fn(*args))
    times.append(time.perf_counter() - t)
  return statistics.median(times)


def conv_parts(steps):
  """Seconds for forward / input-gradient / kernel-gradient, summed over CONV_SHAPES."""
  import jax

  @jax.jit
  def input_grad(x, w, g):
    return jax.vjp(lambda x_: conv(x_, w), x)[1](g)[0]

  @jax.jit
  def kernel_grad(x, w, g):
    return jax.vjp(lambda w_: conv(x, w_), w)[1](g)[0]

  from nlx.ops import conv as conv_ops
  chunked = jax.jit(conv_ops.kernel_grad)
  out = {"forward": 0.0, "input gradient": 0.0, "kernel gradient": 0.0,
         "kernel gradient, nlx chunked": 0.0}
  for b, hw, c in CONV_SHAPES:
    x = jax.random.normal(jax.random.key(0), (b, hw, hw, c))
    w = jax.random.normal(jax.random.key(1), (3, 3, c, c)) * 0.05
    g = jax.random.normal(jax.random.key(2), (b, hw, hw, c))
    out["forward"] += median_time(jax.jit(conv), x, w, steps=steps)
    out["input gradient"] += median_time(input_grad, x, w, g, steps=steps)
    out["kernel gradient"] += median_time(kernel_grad, x, w, g, steps=steps)
    out["kernel gradient, nlx chunked"] += median_time(chunked, x, g, steps=steps)
  return out


def forward_chunked(x, w):
  """The forward pass written like nlx.ops.conv.kernel_grad: im2col patches of a chunk of
  examples at a time times the kernel matrix (kept here, not in nlx: it rarely wins)."""
  import jax
  import jax.numpy as jnp

  from nlx.ops import conv as conv_ops
  n, h, ww, c = x.shape
  cs = conv_ops.chunk_size(n, h, ww, c)
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))).reshape(n // cs, cs, h + 2, ww + 2, c)

  def chunk(xs):
    patches = jnp.concatenate([xs[:, i:i + h, j:j + ww] for i in range(3) for j in range(3)],
                              axis=-1)
    return patches.reshape(cs * h * ww, 9 * c) @ w.reshape(9 * c, -1)

  return jax.lax.map(chunk, xp).reshape(n, h, ww, -1)


def extras(steps):
  """Default flags, per shape: XLA's forward pass against `forward_chunked`; the small
  CNN's three 2x2 max-pools (value and gradient) with nnx.max_pool and with nlx's
  max_pool_2x2. Markdown rows."""
  import jax
  from flax import nnx

  from nlx.models.cnn import max_pool_2x2

  rows = ["| shape | XLA | alternative |", "|---|---|---|"]
  for b, hw, c in CONV_SHAPES:
    x = jax.random.normal(jax.random.key(0), (b, hw, hw, c))
    w = jax.random.normal(jax.random.key(1), (3, 3, c, c)) * 0.05
    rows.append(f"| forward, {b}x{hw}x{hw}x{c} | {1000 * median_time(jax.jit(conv), x, w, steps=steps):.1f} ms "
                f"| chunked im2col {1000 * median_time(jax.jit(forward_chunked), x, w, steps=steps):.1f} ms |")
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


def child(steps, models):
  result = conv_parts(steps)
  for m in models:
    for conv in ("xla", "auto"):
      result[f"{m} CE step, conv={conv}"] = bench_step.time_step(m, conv=conv)
  print(json.dumps(result))


def run_child(xla_flags):
  env = {**os.environ, "XLA_FLAGS": xla_flags, "JAX_PLATFORMS": "cpu"}
  out = subprocess.run([sys.executable, os.path.abspath(__file__), "--child",
                        f"--steps={FLAGS.steps}", f"--models={','.join(FLAGS.models)}"],
                       env=env, capture_output=True, text=True, check=False)
  if out.returncode:
    return None, out.stderr.strip().splitlines()[-1][:200]
  return json.loads(out.stdout.strip().splitlines()[-1]), ""


def main(argv):
  del argv
  if FLAGS.child:
    child(FLAGS.steps, FLAGS.models)
    return
  rows = {}
  for name, xla_flags in FLAG_SETS.items():
    result, err = run_child(xla_flags)
    rows[f"XLA {name} `{xla_flags}`" if xla_flags else "XLA default"] = result or {"error": err}
  if FLAGS.torch_python:
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_torch.py")
    out = subprocess.run([FLAGS.torch_python, script, "--conv_parts", f"--steps={FLAGS.steps}"],
                         check=True, capture_output=True, text=True)
    rows["PyTorch (NCHW)"] = json.loads(out.stdout.strip().splitlines()[-1])
  columns = ["forward", "input gradient", "kernel gradient", "kernel gradient, nlx chunked"]
  columns += [f"{m} CE step, conv={conv}" for m in FLAGS.models for conv in ("xla", "auto")]
  print("| | " + " | ".join(columns) + " |\n|---" * 1 + "|---" * len(columns) + "|")
  for name, r in rows.items():
    if "error" in r:
      print(f"| {name} | failed: {r['error']} |")
      continue
    print(f"| {name} | " + " | ".join(f"{1000 * r[c]:.1f} ms" if c in r else "—"
                                      for c in columns) + " |")
  print()
  print("\n".join(extras(FLAGS.steps)))


if __name__ == "__main__":
  app.run(main)
