"""Where XLA's CPU convolutions lose to PyTorch's, and which XLA flag wins it back.

  python experiments/bench_xla_cpu.py [--torch_python=PATH] [--steps=10]
      [--models=small_cnn,resnet18]

For each set of XLA_FLAGS (nlx.benchmarks.conv_speed.FLAG_SETS; one subprocess each, so
the flags take effect), times: the three parts of one 3x3 convolution layer at the
shapes of a ResNet-18 stage on CIFAR (batch 128, NHWC): forward, gradient with respect to
the input, gradient with respect to the kernel; and the whole jitted CE train step of
nlx's small CNN and ResNet-18 (experiments/bench_step.py's step), with XLA's
convolutions (model.conv=xla) and with nlx.ops.conv's chunked kernel gradient
(model.conv=auto, the default); and nlx.ops.conv.kernel_grad alone at the same shapes.
With --torch_python, the same three conv parts in PyTorch (experiments/bench_torch.py
--conv_parts). Prints a markdown table, then a second one (default flags): per stage
shape, XLA's forward pass against the same pass as chunked im2col products; the small
CNN's max-pools with nnx.max_pool and with nlx.models.cnn.max_pool_2x2.

  python experiments/bench_xla_cpu.py --attempts [--torch_python=PATH] [--rounds=3]

times only the small CNN's CE step under each attempt this CPU offers (nlx's default,
XLA's convolutions, bf16 compute, convolutions in NCHW), beside PyTorch's (NCHW,
channels-last, bf16 autocast), all compiled first and then timed in turns (--rounds).
"""

import json
import os
import subprocess

from absl import app, flags

from nlx.benchmarks import conv_speed

FLAGS = flags.FLAGS
flags.DEFINE_bool("child", False, "Internal: run the timings in this process and print JSON.")
flags.DEFINE_integer("steps", 20, "Timed calls per measurement (after 3 warm-up calls).",
                     lower_bound=1)
flags.DEFINE_list("models", ["mlp", "resnet18"], "Models whose CE step is timed.")
flags.DEFINE_string("torch_python", "", "A Python with torch: PyTorch's conv parts too.")
flags.DEFINE_integer("rounds", 3, "--attempts: turns in which every attempt is timed.",
                     lower_bound=1)
flags.DEFINE_bool("attempts", False, "Only the small CNN step's attempts table "
                  "(conv_speed.small_cnn_attempts), PyTorch's with --torch_python.")
HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv):
  del argv
  if FLAGS.child:
    print(json.dumps(conv_speed.flag_set_timings(FLAGS.steps, FLAGS.models)))
    return
  if FLAGS.attempts:
    print("\n".join(conv_speed.small_cnn_attempts(FLAGS.steps, FLAGS.torch_python,
                                                  os.path.join(HERE, "bench_torch.py"),
                                                  FLAGS.rounds)))
    return
  rows = {}
  for name, xla_flags in conv_speed.FLAG_SETS.items():
    result, err = conv_speed.run_child(os.path.abspath(__file__), xla_flags, FLAGS.steps,
                                       FLAGS.models)
    rows[f"XLA {name} `{xla_flags}`" if xla_flags else "XLA default"] = result or {"error": err}
  if FLAGS.torch_python:
    out = subprocess.run([FLAGS.torch_python, os.path.join(HERE, "bench_torch.py"),
                          "--conv_parts", f"--steps={FLAGS.steps}"],
                         check=True, capture_output=True, text=True)
    rows["PyTorch (NCHW)"] = json.loads(out.stdout.strip().splitlines()[-1])
  print(conv_speed.flags_table(rows, FLAGS.models))
  print()
  print("\n".join(conv_speed.extras(FLAGS.steps)))


if __name__ == "__main__":
  app.run(main)
