"""A convolution's gradients alone and inside a `lax.scan`, XLA's and nlx.ops.conv's.

  python experiments/bench_conv_scan.py [--steps=1] [--length=2]

nlx runs a chunk of train steps as one `lax.scan`; XLA's CPU backend runs a
convolution's kernel gradient up to 76 times slower there than in a program of its own
(stride 1; up to 250 times at stride 2), and its input gradient up to 11 times
(experiments/results/bench_run.md, invocation 12).
Prints, per shape of `nlx.benchmarks.conv_speed.SCAN_SHAPES`, the median time of each
gradient computation (XLA's transposes; nlx's kernel gradient as chunked matrix products
and input gradient as a forward convolution) in one jitted call and per step of a
`--length`-step scan.
"""

import os

import jax
from absl import app, flags

from nlx.benchmarks import conv_speed

_STEPS = flags.DEFINE_integer("steps", 1, "timed calls per figure (median), each program "
                              "compiled first (XLA's slowest take minutes a call)")
_LENGTH = flags.DEFINE_integer("length", 2, "steps of the scan")


def main(argv):
  del argv
  print(f"devices: {jax.devices()}; cpu count {os.cpu_count()}; load "
        f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}")
  print("\n".join(conv_speed.scan_lines(_STEPS.value, _LENGTH.value)))


if __name__ == "__main__":
  app.run(main)
