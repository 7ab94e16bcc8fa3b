"""nlx.benchmarks.timing: the matmul rate, the step runner (a step alone or a compiled chunk),
and bench_run.py's check of its features folder."""

import math
import os
import subprocess
import sys

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import REPO

from nlx.benchmarks import timing


def test_square_product_is_in_the_asked_dtype_and_sums_in_float32():
  f, a = timing.square_product(16, "bfloat16")
  assert a.dtype == jnp.bfloat16 and a.shape == (16, 16)
  out = f(a)
  assert out.dtype == jnp.float32
  x = np.asarray(a.astype(jnp.float32))
  np.testing.assert_allclose(np.asarray(out), x @ x, rtol=1e-5, atol=1e-5)
  f32, b = timing.square_product(16)
  assert b.dtype == jnp.float32
  # the same draw: the bfloat16 operand is the float32 one rounded
  np.testing.assert_array_equal(np.asarray(b.astype(jnp.bfloat16)), np.asarray(a))


def test_matmul_rate_counts_two_n_cubed_flops_per_product(monkeypatch):
  clock = iter([0.0, 0.5, 1.0, 1.25, 2.0, 3.0])  # 3 products: 0.5 s, 0.25 s, 1.0 s
  monkeypatch.setattr(timing.time, "perf_counter", lambda: next(clock))
  assert math.isclose(timing.matmul_rate(n=8, repeats=3), 2 * 8 ** 3 / 0.25)


def test_bench_run_names_a_features_folder_without_features_in_one_line(tmp_path):
  out = subprocess.run([sys.executable, os.path.join(REPO, "experiments", "bench_run.py"),
                        f"--features_dir={tmp_path}", "--runs=replicas"],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
  assert out.returncode != 0
  assert out.stderr.strip().splitlines()[-1] == (
      f"bench_run: --features_dir={tmp_path} holds no features.npz (write it with python "
      "experiments/protocols.py --out=DIR)")
  assert "GFLOP/s" not in out.stdout  # before any timing


def test_the_step_runner_runs_a_step_or_a_compiled_chunk_a_call():
  one = timing.step_runner("mlp", batch_size=8)
  chunked = timing.step_runner("mlp", batch_size=8, chunk=5)
  for _ in range(2):
    one()
    chunked()
  assert one.steps_done() == 2 and chunked.steps_done() == 10


def test_a_chunk_longer_than_the_log_period_is_an_error():
  # base_config logs every 50 steps: a compiled call never runs past a log
  with pytest.raises(ValueError, match="no compiled chunk of 64 steps here .steps_per_call 50"):
    timing.step_runner("mlp", batch_size=8, chunk=64)
