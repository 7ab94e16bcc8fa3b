"""Two processes on 127.0.0.1 (4 CPU devices each, gloo collectives) train the same run as
one process with 8 devices: the same global batches, so the same losses, metrics and
final parameters (up to the summation order of the all-reduce)."""

import json
import os
import socket
import subprocess

import jax
import numpy as np
import pytest
from conftest import CONFIGS, start_main

from nlx.checkpointing import read_arrays

ARGS = [f"--config={CONFIGS}/quickstart.py:tiny", "--config.data.augment=crop_flip"]


def start(workdir, devices, *extra):
  return start_main(*ARGS, f"--workdir={workdir}", *extra, devices=devices)


def finish(proc):
  try:
    out, err = proc.communicate(timeout=300)
  except subprocess.TimeoutExpired:
    proc.kill()
    pytest.fail("a process did not finish in 300 s")
  assert proc.returncode == 0, err[-3000:]
  return out


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def final_params(workdir):
  ckpt = os.path.join(workdir, "checkpoints")
  steps = sorted(int(d) for d in os.listdir(ckpt) if d.isdigit())
  assert not [d for d in os.listdir(ckpt) if "tmp" in d]  # no half-written checkpoint
  state = read_arrays(os.path.join(ckpt, str(steps[-1]), "state"))
  return steps, state["params"]["model"]


def read(workdir):
  with open(os.path.join(workdir, "results.json")) as f:
    results = json.load(f)
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    losses = [json.loads(line)["loss"] for line in f if '"train"' in line]
  return results, losses


@pytest.mark.slow
def test_two_processes_equal_one_process_with_eight_devices(tmp_path):
  port = free_port()
  multi = [start(tmp_path / "multi", 4, f"--coordinator_address=127.0.0.1:{port}",
                 "--num_processes=2", f"--process_id={i}") for i in (0, 1)]
  single = start(tmp_path / "single", 8)
  outs = [finish(p) for p in multi]
  finish(single)
  assert "| digits | ce |" in outs[0] and "| digits | ce |" in outs[1]

  (r_multi, loss_multi), (r_single, loss_single) = (read(tmp_path / "multi"),
                                                    read(tmp_path / "single"))
  assert r_multi["steps"] == r_single["steps"] == 16
  np.testing.assert_allclose(loss_multi, loss_single, rtol=1e-5)
  for k in ("accuracy", "macro_f1"):
    assert r_multi["test"][k] == pytest.approx(r_single["test"][k], abs=1e-9)
  (steps_m, p_m), (steps_s, p_s) = (final_params(tmp_path / "multi"),
                                    final_params(tmp_path / "single"))
  assert steps_m == steps_s == [8, 16]  # written once per epoch, not once per process
  flat_m, flat_s = (jax.tree.leaves(p) for p in (p_m, p_s))
  assert len(flat_m) == len(flat_s) > 0
  for a, b in zip(flat_m, flat_s):
    np.testing.assert_allclose(a, b, atol=1e-4)  # Adam: ~1e-3 a step apart


def test_incomplete_multi_host_settings_are_named():
  from nlx import distributed
  from nlx.errors import ConfigError
  assert distributed.settings() is None or os.environ.get("JAX_COORDINATOR_ADDRESS")
  with pytest.raises(ConfigError, match="missing process_id"):
    distributed.settings("127.0.0.1:1234", 2, None)
  with pytest.raises(ConfigError, match=r"process_id must be in \[0, 2\), got 2"):
    distributed.settings("127.0.0.1:1234", 2, 2)
  assert distributed.settings("h:1", 2, 1) == {"coordinator_address": "h:1",
                                               "num_processes": 2, "process_id": 1}
