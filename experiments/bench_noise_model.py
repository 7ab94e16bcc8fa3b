"""Timing of Xiao et al.'s closed-form C estimate: 1,000,000 pairs, L = 14 (Clothing1M).

  python experiments/bench_noise_model.py

Prints the median of 5 runs of `nlx.ops.noise_model.estimate_confusion` on random pairs
(30% flipped to a class-dependent confusing label, 10% random).
"""

import statistics
import time

import numpy as np

from nlx.ops import noise_model


def main():
  rng = np.random.default_rng(0)
  n, num = 1_000_000, 14
  true = rng.integers(0, num, n)
  noisy = np.where(rng.random(n) < 0.3, (true + 1 + true % 3) % num, true)
  noisy = np.where(rng.random(n) < 0.1, rng.integers(0, num, n), noisy)
  times = []
  for _ in range(5):
    t = time.perf_counter()
    noise_model.estimate_confusion(true, noisy, num)
    times.append(time.perf_counter() - t)
  print(f"estimate_confusion, {n:,} pairs, L = {num}: "
        f"median {1000 * statistics.median(times):.1f} ms")


if __name__ == "__main__":
  main()
