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


def test_bench_run_times_a_commands_cpu_and_tables_it(tmp_path):
  """`timed` leaves a command's CPU seconds (all its threads: two busy threads of 0.5 s
  each here, 1 s of CPU) in `timed.cpu`, and a row's CPU seconds reach the table."""
  busy = ("import threading, time\n"
          "def spin():\n"
          "  t = time.thread_time()\n"
          "  while time.thread_time() - t < 0.5: pass\n"
          "ts = [threading.Thread(target=spin) for _ in range(2)]\n"
          "[t.start() for t in ts]; [t.join() for t in ts]\n")
  code = f"""
import sys
sys.path.insert(0, {os.path.join(REPO, "experiments")!r})
sys.argv = ["bench_run"]
import bench_run
wall, _ = bench_run.timed([sys.executable, "-c", {busy!r}])
table = bench_run.Table(1e9)
table.add("r", "side", wall, None, "0/0", cpu=bench_run.timed.cpu)
print(bench_run.timed.cpu)
print(table.markdown().splitlines()[-1])
"""
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  cpu, row = out.stdout.strip().splitlines()[-2:]
  assert 1.0 <= float(cpu) < 1.6
  assert row.startswith("| r | side | ") and f"| {round(float(cpu), 1)} |" in row


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
  short = timing.step_runner("mlp", batch_size=8, chunk=2)  # shorter than its 4-step epoch
  for _ in range(2):
    one()
    chunked()
    short()
  assert one.steps_done() == 2 and chunked.steps_done() == 10 and short.steps_done() == 4


def test_a_chunk_longer_than_the_log_period_is_an_error():
  # base_config logs every 50 steps: a compiled call never runs past a log
  with pytest.raises(ValueError, match="no compiled chunk of 64 steps here .steps_per_call 50"):
    timing.step_runner("mlp", batch_size=8, chunk=64)


def test_a_negative_chunk_is_named_not_run():
  with pytest.raises(ValueError, match="chunk must be 0 .one step alone. or a step count, got -8"):
    timing.step_runner("mlp", batch_size=8, chunk=-8)


@pytest.mark.parametrize("chunk,steps,calls,per_step", [
    (0, 5, [3, 5], 0.25),   # 3 warm-up calls, 5 timed: the median call is a step
    (8, 40, [1, 5], 0.25 / 8),  # one warm-up chunk, 40 // 8 = 5 timed: over 8 steps each
    (8, 10, [1, 2], 0.25 / 8),  # at least 2 timed chunks
])
def test_time_per_step_counts_calls_and_divides_a_chunk_by_its_steps(monkeypatch, chunk, steps,
                                                                       calls, per_step):
  made = []

  def run_one():
    made.append(1)

  run_one.chunk = chunk
  seen = {}

  def fake_median(fn, *, steps, warmups=3):
    seen.update(steps=steps, warmups=warmups)
    return 0.25

  monkeypatch.setattr(timing, "median_time", fake_median)
  assert timing.time_per_step(run_one, steps) == pytest.approx(per_step)
  assert [seen["warmups"], seen["steps"]] == calls


def test_torch_step_lines_give_nlxs_step_alone_and_in_a_chunk_over_pytorchs(tmp_path,
                                                                            monkeypatch):
  """A stand-in for experiments/bench_torch.py prints one JSON line per (model, method);
  each line divides PyTorch's seconds by nlx's, alone and (with `chunk`) in a chunk."""
  script = tmp_path / "fake_torch.py"
  script.write_text("import json\nprint(json.dumps({'model': 'mlp', 'method': 'ce', "
                    "'seconds': 0.012, 'torch': '9.9', 'threads': 2}))\n")
  times = {0: 0.004, 4: 0.003}
  monkeypatch.setattr(timing, "step_time",
                      lambda model, method, *, conv, batch_size, steps, chunk=0: times[chunk])
  alone, = timing.torch_step_lines(sys.executable, str(script), ["mlp"], batch_size=8, steps=8)
  assert alone == ("train step, ce, mlp, batch 8: nlx 4.0 ms, PyTorch 9.9 (2 threads) 12.0 ms: "
                   "nlx is 3.00x PyTorch's speed")
  both, = timing.torch_step_lines(sys.executable, str(script), ["mlp"], batch_size=8, steps=8,
                                  chunk=4)
  assert both == alone + "; in a compiled chunk of 4 steps 3.0 ms a step, 4.00x"


def test_bench_run_times_the_methods_in_turns_each_over_its_turns_ce():
  """`--runs=methods --rounds=2` alone: each turn times CE, ARNet and SINet cold (the
  turn passed on: caches of their own) and divides each method by that turn's CE; the
  summary rows give the median and range of those ratios. After the protocol's turns:
  one turn of ARNet and SINet over its last CE run."""
  code = f"""
import json, sys
sys.path.insert(0, {os.path.join(REPO, "experiments")!r})
import bench_run
bench_run.FLAGS(["bench_run", "--rounds=2", "--methods_warm=false"])
cold = {{0: {{"ce": 10.0, "arnet": 13.0, "sinet": 11.0}},
        1: {{"ce": 20.0, "arnet": 22.0, "sinet": 30.0}},
        2: {{"ce": 9.0, "arnet": 11.0, "sinet": 27.0}},
        3: {{"ce": 10.0, "sinet": 12.0}}}}  # ARNet failed in this turn (no wall)
calls = []
def fake(table, tmp, data_dir, methods, with_others, walls, work, turn=0, speeds=None,
         kinds=None):
  assert kinds == ("cold",)
  calls.append((methods, with_others, turn))
  for m in methods:
    if m in cold[turn]:
      walls[m, "cold"] = cold[turn][m]
bench_run.protocol = fake
table = bench_run.Table(1e9)
bench_run.methods_over_ce(table, "tmp", "data", {{}}, {{}})
after = {{("ce", "cold"): 8.0}}  # the protocol's 2 turns ran: one more, turn 2
bench_run.methods_over_ce(table, "tmp", "data", after, {{}})
bench_run.FLAGS.rounds = 3
cold[0].pop("arnet"); cold[1].pop("arnet")  # ARNet failing in 2 of 3 turns
bench_run.methods_over_ce(table, "tmp", "data", {{}}, {{}})
# ARNet failing in the turn of CE's fastest run (8 s), SINet not: ARNet's fastest over
# CE's fastest of its own turns (13 / 10), not of SINet's
cold.update({{0: {{"ce": 8.0, "sinet": 9.0}}, 1: {{"ce": 10.0, "arnet": 13.0, "sinet": 12.0}},
             2: {{"ce": 10.0, "arnet": 14.0, "sinet": 11.0}}}})
bench_run.methods_over_ce(table, "tmp", "data", {{}}, {{}})
rows = table.rows
print(json.dumps({{"calls": calls, "notes": [r["note"] for r in rows],
                  "sides": [r["side"] for r in rows], "runs": [r["run"] for r in rows]}}))
"""
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  got = __import__("json").loads(out.stdout.strip().splitlines()[-1])
  ce3 = [["ce", "arnet", "sinet"], False]
  assert got["calls"] == [ce3 + [0], ce3 + [1], [["arnet", "sinet"], False, 2],
                          ce3 + [0], ce3 + [1], ce3 + [2], ce3 + [0], ce3 + [1], ce3 + [2]]
  # ARNet 13/10 and 22/20; SINet 11/10 and 30/20; after the protocol (one turn): no
  # summary; then SINet over 3 turns (11/10, 30/20, 27/9) and ARNet's one ratio: none
  assert got["sides"] == ["nlx arnet (cold)", "nlx sinet (cold)", "nlx sinet (cold)",
                          "nlx sinet (cold)", "nlx arnet (cold)"]
  assert got["runs"] == (["protocol methods, 2 turns"] * 2 + ["protocol methods, 3 turns"]
                         + ["protocol methods, 3 turns", "protocol methods, 2 turns"])
  # fastest over fastest: ARNet 13 / 10, SINet 11 / 10; then SINet 11 / 9 (CE's fastest
  # in a turn where SINet was slow)
  assert got["notes"] == [
      "wall time over CE's: median 1.20x, range 1.10-1.30x (per turn: 1.30, 1.10); "
      "fastest over fastest: 1.30x",
      "wall time over CE's: median 1.30x, range 1.10-1.50x (per turn: 1.10, 1.50); "
      "fastest over fastest: 1.10x",
      "wall time over CE's: median 1.50x, range 1.10-3.00x (per turn: 1.10, 1.50, 3.00); "
      "fastest over fastest: 1.22x",
      "wall time over CE's: median 1.12x, range 1.10-1.20x (per turn: 1.12, 1.20, 1.10); "
      "fastest over fastest: 1.12x",
      "wall time over CE's: median 1.35x, range 1.30-1.40x (per turn: 1.30, 1.40); "
      "fastest over fastest: 1.30x"]

def test_bench_run_protocol_skips_the_warm_run_after_a_failed_cold_one_and_keeps_no_stale_wall():
  """A failing cold run: its warm run is not run (its cache was never filled), a row says
  so; and a turn whose CE run fails leaves no CE wall of an earlier turn in `walls` (the
  methods' ratios and notes would divide by it)."""
  code = f"""
import json, sys
sys.path.insert(0, {os.path.join(REPO, "experiments")!r})
import bench_run
bench_run.FLAGS(["bench_run"])
fail = {{(0, "arnet", "cold"), (1, "ce", "cold"), (1, "ce", "warm")}}
ran = []
state = {{"turn": 0}}
def timed(cmd, env=None):
  method = "arnet" if any("arnet" in c for c in cmd) else "ce"
  kind = "warm" if env["NLX_COMPILE_CACHE"] in seen_caches else "cold"
  seen_caches.add(env["NLX_COMPILE_CACHE"])
  ran.append((state["turn"], method, kind))
  if (state["turn"], method, kind) in fail:
    raise RuntimeError("boom")
  return 10.0 + len(ran), ""
timed.cpu = 1.0
seen_caches = set()
bench_run.timed = timed
bench_run.write_arrays = lambda *a: None
bench_run.step_flops = lambda variant, data_dir: 1e6
bench_run.accuracy = lambda wd: 0.5
bench_run.load = lambda: "0/0"
table = bench_run.Table(1e9)
walls, work = {{}}, {{}}
for turn in (0, 1):
  state["turn"] = turn
  bench_run.protocol(table, "tmp", "data", ["ce", "arnet"], False, walls, work, turn,
                     kinds=("cold", "warm"))
print(json.dumps({{"ran": ran, "walls": sorted(map(list, walls)),
                  "notes": [(r["side"], r["note"]) for r in table.rows]}}))
"""
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  got = __import__("json").loads(out.stdout.strip().splitlines()[-1])
  # turn 0: CE cold and warm, ARNet cold (fails), no ARNet warm; turn 1: CE cold fails,
  # so no CE warm; ARNet cold and warm
  assert [tuple(r) for r in got["ran"]] == [(0, "ce", "cold"), (0, "ce", "warm"),
                                            (0, "arnet", "cold"), (1, "ce", "cold"),
                                            (1, "arnet", "cold"), (1, "arnet", "warm")]
  assert ["nlx (warm)", "not run: the cold run, which fills its cache, failed"] in got["notes"]
  # after turn 1 only ARNet's walls remain: turn 0's CE walls were dropped when its run failed
  assert got["walls"] == [["arnet", "cold"], ["arnet", "warm"]]
  # so ARNet's turn-1 rows carry no ratio to a stale CE
  arnet_rows = [n for side, n in got["notes"] if "compile cache" in side][-2:]
  assert arnet_rows == ["", ""]


def test_bench_run_methods_warm_divides_each_warm_run_by_its_turns_warm_ce():
  """`--methods_warm` (the default): every method also runs warm (the cache its cold run
  filled); each kind's ratio is over CE's run of the same kind and turn, summarised per
  kind, fastest over fastest of the same kind."""
  code = f"""
import json, sys
sys.path.insert(0, {os.path.join(REPO, "experiments")!r})
import bench_run
bench_run.FLAGS(["bench_run", "--rounds=2"])
wall = {{(0, "cold"): {{"ce": 10.0, "arnet": 12.0, "sinet": 11.0}},
        (0, "warm"): {{"ce": 8.0, "arnet": 9.0, "sinet": 8.8}},
        (1, "cold"): {{"ce": 12.0, "arnet": 15.0, "sinet": 12.0}},
        (1, "warm"): {{"ce": 9.0, "arnet": 9.9, "sinet": 9.0}}}}
seen = []
def fake(table, tmp, data_dir, methods, with_others, walls, work, turn=0, speeds=None,
         kinds=None):
  seen.append(kinds)
  for kind in kinds:
    for m in methods:
      walls[m, kind] = wall[turn, kind][m]
bench_run.protocol = fake
table = bench_run.Table(1e9)
bench_run.methods_over_ce(table, "tmp", "data", {{}}, {{}})
print(json.dumps({{"kinds": seen, "rows": [(r["side"], r["note"]) for r in table.rows]}}))
"""
  out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=120)
  assert out.returncode == 0, out.stderr[-2000:]
  got = __import__("json").loads(out.stdout.strip().splitlines()[-1])
  assert got["kinds"] == [["cold", "warm"]] * 2
  rows = dict((side, note) for side, note in got["rows"])
  # ARNet cold 12/10, 15/12; warm 9/8 = 1.125, 9.9/9 = 1.1 (median 1.1125); fastest over
  # fastest 12/10 and 9/8
  assert rows["nlx arnet (cold)"] == ("wall time over CE's: median 1.23x, range 1.20-1.25x "
                                      "(per turn: 1.20, 1.25); fastest over fastest: 1.20x")
  assert rows["nlx arnet (warm)"] == ("wall time over CE's: median 1.11x, range 1.10-1.12x "
                                      "(per turn: 1.12, 1.10); fastest over fastest: 1.12x")
  # SINet warm 8.8/8 and 9/9
  assert rows["nlx sinet (warm)"] == ("wall time over CE's: median 1.05x, range 1.00-1.10x "
                                      "(per turn: 1.10, 1.00); fastest over fastest: 1.10x")
  assert len(rows) == 4

