"""Step-time and input-pipeline benchmark.

  python experiments/bench_step.py [--cifar10_dir=DIR] [--steps=20]
      [--methods=arnet,sinet,noise_model,can] [--torch_python=PATH]

Prints, for this machine: the median wall time of one jitted train step (CE, Adam) for
the MLP and ResNet-18 on 32x32x3 inputs at batch 128; each of --methods' step over the CE
step (CAN, multi-label: over the BCE step); with --torch_python (a Python with torch, see
experiments/bench_torch.py), nlx's CE and ELR steps beside the same steps in plain
PyTorch; and the grain input pipeline's batches/s for CIFAR-10 training batches of 128
with crop+flip augmentation, over the train steps/s. Without --cifar10_dir it writes the
official CIFAR-10 layout from ../shared/data/cifar10 to a temporary folder (and stops
with a message naming the path if that is missing).
"""

import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import jax
import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import protocols

from nlx import config_presets, methods, train
from nlx.config_base import base_config
from nlx.data import input_pipeline, mixture
from nlx.data.types import Dataset, Split

flags.DEFINE_string("cifar10_dir", "", "Folder with cifar-10-batches-py/.")
flags.DEFINE_integer("steps", 20, "Timed steps per model (after 3 warm-up steps).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_list("models", ["mlp", "resnet18"], "Models to time (CE step).")
flags.DEFINE_list("methods", ["arnet"], "Methods whose step is timed against CE's.")
flags.DEFINE_string("method_model", "resnet18", "Backbone for the method/CE ratios.")
flags.DEFINE_bool("pipeline", True, "Also time the CIFAR-10 input pipeline.")
flags.DEFINE_string("torch_python", "", "A Python with torch: compare with plain PyTorch.")
flags.DEFINE_list("torch_models", ["small_cnn", "resnet18"], "Models of the PyTorch comparison.")
flags.DEFINE_string("conv", "auto", "model.conv: auto (nlx.ops.conv's chunked kernel "
                    "gradient where it applies) | xla.")
FLAGS = flags.FLAGS
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "cifar10")


def synthetic_dataset(n: int, multi_label: bool = False) -> Dataset:
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
  labels = rng.integers(0, 10, n)
  if multi_label:  # 0/1 vectors with one to three positives
    labels = (rng.random((n, 10)) < 0.15).astype(np.float32)
    labels[np.arange(n), rng.integers(0, 10, n)] = 1.0
  split = Split(images, labels, labels.copy())
  return Dataset("synthetic", split, split, 10, [str(i) for i in range(10)],
                 (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), multi_label=multi_label)


def time_step(model: str, method: str = "ce", conv: str | None = None) -> float:
  """Median seconds per jitted train step on random 32x32x3 data (compile excluded).
  Method defaults are the papers' (ARNet: L = 64 prototypes, a 1,000-feature cache).
  SINet's per-epoch weight update (one inference pass) is outside the step.
  `conv`: model.conv (default: the --conv flag)."""
  return _time_step(model, method, conv or FLAGS.conv)


@functools.cache
def _time_step(model: str, method: str, conv: str) -> float:
  c = base_config()
  c.model.name = model
  c.model.conv = conv
  method, _, overrides = method.partition("@")  # e.g. noise_model@shared_trunk=True
  config_presets.set_method(c, method)
  protocols.override_method(c.method, overrides)
  c.data.batch_size = FLAGS.batch_size
  ds = synthetic_dataset(FLAGS.batch_size * 4, method in methods.MULTI_LABEL_NAMES)
  if method == "sinet":  # side information for classes "0".."9": the bundled digit hierarchy
    c.method.hierarchy = "digits"
  if method in ("noise_model", "bottom_up"):  # a known-clean 10% of the labels
    ds.train = mixture.clean_noisy_mixture(ds.train, 0.1, 0.5, 0)
  trainer = train.Trainer(c, ds)
  it = trainer.train_iterator(1)  # the trainer's own batches: indices when the data are
  batches = [trainer.shard(next(it)) for _ in range(4)]  # on the device (the default)
  state = trainer.initial_state
  times = []
  for i in range(FLAGS.steps + 3):
    t = time.perf_counter()
    state, m = trainer.train_step(state, batches[i % len(batches)])
    jax.block_until_ready(m["loss"])
    if i >= 3:
      times.append(time.perf_counter() - t)
  return statistics.median(times)


def pipeline_rate(cifar10_dir: str, seconds: float = 10.0) -> float:
  from nlx.data.datasets import cifar10
  x, y, _, _, _ = cifar10.read_official(cifar10_dir)
  split = Split(x, y, y.copy())
  c = base_config().data
  c.batch_size, c.augment = FLAGS.batch_size, "crop_flip"
  it = iter(input_pipeline.train_dataset(split, c, num_epochs=10, seed=0))
  next(it)  # start-up
  n, t0 = 0, time.perf_counter()
  while time.perf_counter() - t0 < seconds:
    next(it)
    n += 1
  return n / (time.perf_counter() - t0)


def compare_with_torch():
  """nlx's CE and ELR steps against experiments/bench_torch.py's, same shapes, same CPU."""
  script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_torch.py")
  out = subprocess.run([FLAGS.torch_python, script, f"--models={','.join(FLAGS.torch_models)}",
                        "--methods=ce,elr", f"--batch_size={FLAGS.batch_size}",
                        f"--steps={FLAGS.steps}"], check=True, capture_output=True, text=True)
  for line in out.stdout.splitlines():
    r = json.loads(line)
    t = time_step(r["model"], r["method"])
    print(f"train step, {r['method']}, {r['model']}, batch {FLAGS.batch_size}: nlx "
          f"{t * 1000:.1f} ms, PyTorch {r['torch']} ({r['threads']} threads) "
          f"{r['seconds'] * 1000:.1f} ms: nlx is {r['seconds'] / t:.2f}x PyTorch's speed")


def main(argv):
  del argv
  print(f"devices: {jax.devices()}  cpu count: {os.cpu_count()}")
  step_times = {}
  for model in FLAGS.models:
    step_times[model] = time_step(model)
    print(f"train step, CE, {model}, 32x32x3, batch {FLAGS.batch_size}: "
          f"median {step_times[model] * 1000:.1f} ms")
  if FLAGS.methods:
    base = {"ce": step_times.get(FLAGS.method_model) or time_step(FLAGS.method_model)}
    for method in FLAGS.methods:
      ref = "bce" if method in methods.MULTI_LABEL_NAMES else "ce"
      if ref not in base:
        base[ref] = time_step(FLAGS.method_model, ref)
      t = time_step(FLAGS.method_model, method)
      print(f"train step, {method}, {FLAGS.method_model}, batch {FLAGS.batch_size}: median "
            f"{t * 1000:.1f} ms = {t / base[ref]:.3f}x the {ref.upper()} step "
            f"({base[ref] * 1000:.1f} ms)")
  if FLAGS.torch_python:
    compare_with_torch()
  if not FLAGS.pipeline:
    return
  cifar_dir = FLAGS.cifar10_dir
  tmp = None
  if not cifar_dir:
    script = os.path.join(SHARED, "materialize.py")
    if not os.path.exists(script):
      sys.exit(f"bench_step: {os.path.abspath(SHARED)} not found; pass --cifar10_dir=DIR "
               "(a folder with cifar-10-batches-py/)")
    tmp = tempfile.TemporaryDirectory()
    subprocess.run([sys.executable, script, tmp.name], check=True, capture_output=True)
    cifar_dir = tmp.name
  rate = pipeline_rate(cifar_dir)
  print(f"grain pipeline, CIFAR-10 train, crop+flip, batch {FLAGS.batch_size}: {rate:.1f} batches/s")
  for model, t in step_times.items():
    print(f"  pipeline batches/s over {model} train steps/s: {rate * t:.1f}x")


if __name__ == "__main__":
  app.run(main)
