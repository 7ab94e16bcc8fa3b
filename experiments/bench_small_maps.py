"""The small-map convolution and the quickstart's step, as README Speed quotes them.

  python experiments/bench_small_maps.py

Prints, for this machine: (1) at the small CNN's shapes (batch 256 and 64: 8x8x1 -> 32,
4x4x32 -> 64, 2x2x64 -> 128), the median time of XLA's 3x3 convolution and of
`nlx.ops.conv.conv_patches`, forward and kernel gradient; (2) with the quickstart's
config as nlx now runs it (`model.conv=auto`, data on the device), the median time of a
train step over a compiled call of 20 steps, and of predicting the training and the test
set (warm, after a first call that compiles); (3) the same with `--config`-equivalent
`model.conv=xla`, for the before/after ratio. (nlx.benchmarks.conv_speed)
"""

import jax

from nlx.benchmarks import conv_speed

if __name__ == "__main__":
  print(f"devices: {jax.devices()}")
  print("\n".join(conv_speed.small_map_lines()))
  print(conv_speed.quickstart_line("auto"))
  print(conv_speed.quickstart_line("xla"))
