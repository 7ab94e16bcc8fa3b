"""experiments/gpu_check.py (nlx.benchmarks.gpu_check): the accelerator script, run whole
on the CPU with --tiny (a few steps of every part), so that the device run cannot fail on
a typo."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, shared_path

from nlx.benchmarks import gpu_check


@pytest.mark.slow
def test_tiny_run_writes_every_part_without_tensorflow_datasets(tmp_path):
  shared_path("cifar10", "cifar10_jpeg.npz")
  shared_path("cifar10n", "CIFAR-10_human.pt")
  data, out = tmp_path / "data", tmp_path / "out"
  script = os.path.join(REPO, "experiments", "gpu_check.py")
  subprocess.run([sys.executable, script, "--prepare", f"--data_dir={data}"], check=True,
                 capture_output=True)
  assert sorted(os.listdir(data)) == ["CIFAR-10_human.pt", "cifar10_jpeg.npz", "materialize.py"]
  run = ("import runpy, sys; sys.argv = sys.argv[1:]; "
         "runpy.run_path(sys.argv[0], run_name='__main__'); "
         "assert 'tensorflow_datasets' not in sys.modules, 'tfds was imported'")
  subprocess.run([sys.executable, "-c", run, script, "--tiny", f"--out={out}",
                  f"--data_dir={data}", f"--workroot={tmp_path / 'work'}"], check=True,
                 capture_output=True, cwd=REPO)
  with open(out / "results.jsonl") as f:
    records = [json.loads(line) for line in f]
  parts = [r["part"] for r in records]
  assert parts[0] == "device" and parts[-1] == "done"
  nlx_rows = [r for r in records if r["part"] == "throughput" and r["framework"] == "nlx"]
  assert [(r["model"], r["dtype"]) for r in nlx_rows] == [("small_cnn", "float32"),
                                                          ("small_cnn", "bfloat16")]
  for r in nlx_rows:
    assert r["loss_finite"] and r["images_per_s"] > 0
    assert r["mfu_vs_bf16_peak"] == pytest.approx(
        r["flops_per_step"] / (r["step_ms"] / 1e3) / 989e12)
  torch_rows = [r for r in records if r["part"] == "throughput" and r["framework"] == "pytorch"]
  assert {r["compiled"] for r in torch_rows} == {False, True}
  assert all("skipped" in r or r["images_per_s"] > 0 for r in torch_rows)
  # the data: 256 training images with their CIFAR-10N worst labels, read independently
  from nlx.data import safe_pickle
  human = safe_pickle.load_torch_zip(os.path.join(data, "CIFAR-10_human.pt"))
  worst, clean = np.asarray(human["worse_label"]), np.asarray(human["clean_label"])
  spread = np.linspace(0, 49999, 256).astype(int)  # 256 rows spread over the 50,000
  expected = float(np.mean(worst[spread] != clean[spread]))
  (d,) = [r for r in records if r["part"] == "data"]
  assert (d["train"], d["test"]) == (256, 128) and d["noise_rate"] == pytest.approx(expected)
  protocol = {r["method"]: r for r in records if r["part"] == "protocol"}
  assert list(protocol) == ["ce", "arnet", "elr"]
  assert protocol["ce"]["paper"] == 77.69
  for method, r in protocol.items():
    # the percentage of the run's own results.json, and a copy of its metrics.jsonl
    with open(os.path.join(r["workdir"], "results.json")) as f:
      run = json.load(f)
    assert r["epochs"] == 2 and run["steps"] > 0
    assert r["test_accuracy"] == pytest.approx(100 * run["test"]["accuracy"])
    with open(out / f"metrics_{method}.jsonl") as f, open(os.path.join(
        r["workdir"], "metrics.jsonl")) as g:
      assert f.read() == g.read()
  with open(out / "protocol.json") as f:  # the per-part file holds the same records
    assert [r["method"] for r in json.load(f)] == ["ce", "arnet", "elr"]


SPEEDS = {("resnet34", "bfloat16", 128): 10000.0, ("resnet34", "bfloat16", 256): 20000.0,
          ("resnet34", "bfloat16", 512): 30000.0, ("resnet34", "float32", 128): 1e9}


def test_plan_keeps_batch_128_when_100_epochs_fit():
  # 100 epochs x 50,000 images / 10,000 per s = 500 s, x 1.15 = 575 s <= 600 s
  assert gpu_check.plan_batch(SPEEDS, "resnet34", 600, 100, 50000) == (128, 100, "")


def test_plan_grows_the_batch_and_says_so_when_128_cannot_fit():
  # 128: 575 s > 400 s; 256: 250 s x 1.15 = 287.5 s <= 400 s
  batch, epochs, note = gpu_check.plan_batch(SPEEDS, "resnet34", 400, 100, 50000)
  assert (batch, epochs) == (256, 100) and "linear learning-rate rule" in note


def test_plan_shrinks_the_epochs_and_says_so_when_no_batch_fits():
  # fastest (512, 30,000/s): 100 s / 1.15 x 30,000 / 50,000 = 52.2 -> 52 epochs
  batch, epochs, note = gpu_check.plan_batch(SPEEDS, "resnet34", 100, 100, 50000)
  assert (batch, epochs) == (512, 52) and "52 epochs instead of 100" in note


def test_a_rerun_reports_a_run_an_earlier_call_finished(tmp_path):
  (tmp_path / "ce_b512_e100").mkdir()
  (tmp_path / "arnet_b512_e100").mkdir()  # started, not finished: no gpu_check.json
  (tmp_path / "ce_b512_e100" / "gpu_check.json").write_text(
      json.dumps({"method": "ce", "test_accuracy": 77.0}))
  assert gpu_check.finished_run(str(tmp_path), "ce") == {
      "method": "ce", "test_accuracy": 77.0, "reused_from_an_earlier_call": True}
  assert gpu_check.finished_run(str(tmp_path), "arnet") is None
