"""Step-time and input-pipeline benchmark.

  python experiments/bench_step.py [--cifar10_dir=DIR] [--steps=20]
      [--methods=arnet,sinet,noise_model,can] [--torch_python=PATH]

Prints, for this machine: the median wall time of one jitted train step (CE, Adam) for
the MLP and ResNet-18 on 32x32x3 inputs at batch 128; each of --methods' step over the CE
step (CAN, multi-label: over the BCE step; a method may carry overrides in the cells'
syntax, `noise_model+method.shared_trunk=True`); with --torch_python (a Python with
torch, see experiments/bench_torch.py), nlx's CE and ELR steps beside the same steps in
plain PyTorch (nlx's alone and, with --chunk, in a compiled chunk of that many steps, as
it trains on in-memory data); and the grain input pipeline's batches/s for CIFAR-10
training batches of 128 with crop+flip augmentation, over the train steps/s. Without
--cifar10_dir it writes the official CIFAR-10 layout from ../shared/data/cifar10 to a
temporary folder (and stops with a message naming the path if that is missing). The timings are
nlx.benchmarks.timing's.
"""

import os
import tempfile

import jax
from absl import app, flags

from nlx import methods
from nlx.benchmarks import output, protocols, timing

flags.DEFINE_string("cifar10_dir", "", "Folder with cifar-10-batches-py/.")
flags.DEFINE_integer("steps", 20, "Timed steps per model (after 3 warm-up steps).")
flags.DEFINE_integer("batch_size", 128, "Batch size.")
flags.DEFINE_list("models", ["mlp", "resnet18"], "Models to time (CE step).")
flags.DEFINE_list("methods", ["arnet"], "Methods whose step is timed against CE's.")
flags.DEFINE_string("method_model", "resnet18", "Backbone for the method/CE ratios.")
flags.DEFINE_bool("pipeline", True, "Also time the CIFAR-10 input pipeline.")
flags.DEFINE_string("torch_python", "", "A Python with torch: compare with plain PyTorch.")
flags.DEFINE_list("torch_models", ["small_cnn", "resnet18"], "Models of the PyTorch comparison.")
flags.DEFINE_integer("chunk", 8, "Also time nlx's step in a compiled chunk of this many "
                     "steps (how it trains on in-memory data; 0: not).")
flags.DEFINE_string("conv", "auto", "model.conv: auto (nlx.ops.conv's chunked kernel "
                    "gradient where it applies) | xla.")
FLAGS = flags.FLAGS
TORCH_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench_torch.py")


def time_step(model: str, method: str = "ce") -> float:
  return timing.step_time(model, method, conv=FLAGS.conv, batch_size=FLAGS.batch_size,
                          steps=FLAGS.steps)


@output.one_line_errors
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
    for line in timing.torch_step_lines(FLAGS.torch_python, TORCH_SCRIPT, FLAGS.torch_models,
                                        batch_size=FLAGS.batch_size, steps=FLAGS.steps,
                                        conv=FLAGS.conv, chunk=FLAGS.chunk):
      print(line)
  if not FLAGS.pipeline:
    return
  with tempfile.TemporaryDirectory() as tmp:
    cifar_dir = FLAGS.cifar10_dir or protocols.materialized_cifar10(tmp)
    rate = timing.pipeline_rate(cifar_dir, FLAGS.batch_size)
  print(f"grain pipeline, CIFAR-10 train, crop+flip, batch {FLAGS.batch_size}: "
        f"{rate:.1f} batches/s")
  for model, t in step_times.items():
    print(f"  pipeline batches/s over {model} train steps/s: {rate * t:.1f}x")


if __name__ == "__main__":
  app.run(main)
