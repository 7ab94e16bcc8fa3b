"""Whole runs, start-up and compile included, of nlx and of the same work in plain PyTorch
and plain JAX, timed one after the other in one invocation on this machine.

  python experiments/bench_run.py --torch_python=.torchvenv/bin/python \\
      [--runs=protocol,methods,startup,quickstart,steps] [--protocol_methods=ce,elr]
      [--features_dir=DIR] [--rounds=1] [--out=FILE.md]

Runs (each command timed from its start to its exit, as a user waits for it):
- `protocol`: CIFAR-10N's CPU protocol (configs/cifar10n_cpu.py:worst, 30 epochs of an
  MLP on 45,000 feature vectors, the training dynamics after every epoch and the label
  issues at the end), CE and ELR: `python -m nlx.main` with the compile cache empty
  (cold) and again with what that run cached (warm); experiments/bench_run_jax.py (plain
  JAX: one scan an epoch, sums in-graph) and experiments/bench_run_torch.py (plain PyTorch,
  `--torch_python`) doing the same work on the same arrays.
- `methods`: nlx's ARNet and SINet runs of the same protocol (cold, and warm: again with
  the compile cache the cold run filled, `--methods_warm`), over nlx's CE run of the same
  kind (alone: `--rounds` turns of CE, ARNet and SINet, each method over its turn's CE).
- `replicas`: the protocol's CE run for one seed and 3 seeds in one program
  (`train.replicas=3`, nlx.replicas), as a ratio to the one seed's wall time. `folds`:
  the same run with out-of-fold label issues (`label_issues.folds=5`) against cleanlab's
  5-fold logistic regression.
- `startup`: `import nlx.main, nlx.train`, and the quickstart stopped after one step.
- `quickstart`: `python -m nlx.main` (digits, small CNN, 30 epochs, the default config)
  against bench_run_torch.py's same run.
- `steps`: experiments/bench_step.py's small-CNN and ResNet-18 train steps against PyTorch.
- `extract`: features of `--extract_images` photo-sized JPEG files (320x240, generated)
  through a ResNet-50 (torchvision's architecture, one seeded random state dict saved by
  torch as `.pth`): `python -m nlx.benchmarks.image_features` (nlx reads the `.pth`
  itself: the path of `data.backbone`) against bench_run_torch.py's torchvision loop
  (PIL, Resize 256, CenterCrop 224, batches of 64); both the whole command and a second,
  warm pass, and the largest difference between the two sides' features.
Every line states the load average before it ran; ratios are over PyTorch's wall time
(above 1: nlx is faster) and over the floor: the run's floating-point work over this
machine's own float32 matmul rate (measured here, `nlx.benchmarks.timing.matmul_rate`;
the header also prints the bfloat16 rate). The protocol's work (`protocol_flops`: 2.9
TFLOP for 30 epochs) counts what a training step computes: the forward, the weights'
gradients and the hidden layers' input gradients, not the first layer's (its input is
data); the protocol rows take each method's step from XLA's cost analysis of its compiled
step (`step_flops`: CE's 2.6% above the matmuls counted by hand, Adam's and the loss's
elementwise work), the replicas and folds rows the hand count.
Before 2026-12-04 20:00 the floor counted 3 forwards per training example (3.6 TFLOP),
so the earlier tables' "x floor" figures are 1.24x too low.
Feature vectors: --features_dir (a folder with the protocol's features.npz, e.g. written by
experiments/protocols.py), else a generated stand-in of the real shape (45,000 x 1,024,
10 classes, 40% of the labels moved; `features.write_synthetic_cache`).
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

from nlx.benchmarks import output
from nlx.errors import DataError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(REPO, "experiments")

flags.DEFINE_string("torch_python", "", "A Python with torch (never an nlx dependency).")
flags.DEFINE_list("runs", ["protocol", "methods", "startup", "quickstart", "steps", "extract"],
                  "What to time.")
flags.DEFINE_string("features_dir", "", "Folder with the CPU protocol's features.npz.")
flags.DEFINE_integer("epochs", 30, "Epochs of the protocol runs.")
flags.DEFINE_list("protocol_methods", ["ce", "elr"], "Methods of the `protocol` runs.")
flags.DEFINE_bool("methods_warm", True, "`methods`: each run also again with the compile "
                  "cache its cold run filled (as the command line's second run of a config).")
flags.DEFINE_integer("rounds", 1, "Turns of the `protocol` runs (PyTorch, plain JAX, nlx "
                     "cold and warm), of the `methods` runs (CE, ARNet, SINet) and of the "
                     "`quickstart` runs (PyTorch, nlx cold and warm), each turn with an empty "
                     "cache: a machine's drift hits each side "
                     "alike, and the table ends with each ratio's median and range.",
                     lower_bound=1)
flags.DEFINE_integer("extract_images", 256, "Images of the `extract` run.")
flags.DEFINE_string("out", "", "Also write the table (markdown) here.")
FLAGS = flags.FLAGS

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")  # batches.meta's label_names, in order
# forward FLOPs of one example through the protocol's MLP 1024-256-256-10 (2 per MAC)
MLP_FORWARD = 2 * (1024 * 256 + 256 * 256 + 256 * 10)
# a training step's FLOPs per example: the forward, the weights' gradients (as many), and
# the gradients of the inputs of the second and third layers; not those of the first
# layer's input (the feature vectors are data: neither JAX nor PyTorch computes them)
MLP_TRAIN = 2 * MLP_FORWARD + 2 * (256 * 256 + 256 * 10)


def protocol_flops(n_train: int = 45000, epochs: int = 30, *, batch: int = 128,
                   step_flops: float | None = None) -> float:
  """The CPU protocol run's floating-point work: its training steps (`step_flops` each,
  default CE's `MLP_TRAIN * batch`), a forward pass over the training set after every
  epoch (the dynamics) and over the 10,000 test vectors every 5 epochs."""
  steps = (n_train // batch) * epochs
  return ((step_flops or MLP_TRAIN * batch) * steps
          + MLP_FORWARD * (n_train * epochs + 10000 * (epochs // 5)))


def step_flops(variant: str, data_dir: str) -> float:
  """XLA's count (cost analysis of the compiled program) of one training step's FLOPs of
  `configs/cifar10n_cpu.py:VARIANT` on the features in `data_dir`: a method's own work
  (ARNet's Sinkhorn over its cache, ...) counted as CE's is."""
  import jax
  import jax.numpy as jnp

  from nlx import train
  from nlx.config_base import load_file
  from nlx.data import on_device
  config = load_file("cifar10n_cpu", variant)
  config.data.data_dir = data_dir
  trainer = train.Trainer(config, train.load_dataset(config))
  data = trainer.device_data
  step = jax.jit(on_device.wrap_step(trainer.step_fn, data.kind))
  index = {"index": jnp.zeros(config.data.batch_size, jnp.int32)}
  cost = step.lower(trainer.initial_state, index, data.arrays, data.key).compile()
  cost = cost.cost_analysis()
  return float((cost[0] if isinstance(cost, list) else cost)["flops"])


def load() -> str:
  one, five, _ = os.getloadavg()
  return f"{one:.2f}/{five:.2f}"


def _children_cpu() -> float:
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict | None = None) -> tuple[float, str]:
  """(wall seconds, stdout) of a command, from its start to its exit; its CPU seconds
  (user + system, every thread and child of it) are left in `timed.cpu`."""
  c0, t0 = _children_cpu(), time.perf_counter()
  out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                       env={**os.environ, **(env or {})})
  wall = time.perf_counter() - t0
  timed.cpu = _children_cpu() - c0
  if out.returncode:
    raise RuntimeError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-3000:]}")
  return wall, out.stdout


def last_json(stdout: str) -> dict:
  return json.loads([line for line in stdout.splitlines() if line.startswith("{")][-1])


def features_dir(tmp: str) -> tuple[str, str]:
  if FLAGS.features_dir:
    return FLAGS.features_dir, f"features from {FLAGS.features_dir}"
  from nlx.data.datasets.features import write_synthetic_cache
  d = os.path.join(tmp, "features")
  write_synthetic_cache(d, n_train=45000, n_test=10000, dim=1024, flip=0.4)
  path = os.path.join(d, "features.npz")
  with np.load(path) as f:  # CIFAR-10's class names: SINet reads their hierarchy
    arrays = {k: f[k] for k in f.files}
  np.savez(path, **arrays, class_names=np.asarray(CIFAR10_CLASSES))
  return d, "a generated stand-in of the real shape (45,000 x 1,024; 40% of labels moved)"


def nlx_config(config: str, data_dir: str | None, workdir: str) -> list[str]:
  cmd = [sys.executable, "-m", "nlx.main", f"--config={config}", f"--workdir={workdir}",
         "--config.train.progress_bar=False"]
  if data_dir:
    cmd.append(f"--config.data.data_dir={data_dir}")
  if "cifar10n_cpu" in config and FLAGS.epochs != 30:
    cmd.append(f"--config.train.num_epochs={FLAGS.epochs}")
  return cmd


def accuracy(workdir: str) -> float:
  with open(os.path.join(workdir, "results.json")) as f:
    return json.load(f)["test"]["accuracy"]


def write_arrays(config_name: str, variant: str, data_dir: str | None, path: str) -> None:
  """The arrays nlx trains on (its loader, its noise), for the plain sides to read."""
  from nlx import data as data_lib
  from nlx.config_base import load_file
  c = load_file(config_name, variant)
  if data_dir:
    c.data.data_dir = data_dir
  ds = data_lib.load_dataset(c)
  np.savez(path, x_train=ds.train.inputs, y_train=ds.train.labels, x_test=ds.test.inputs,
           y_test=ds.test.clean_labels, mean=np.float32(ds.mean[0]),
           std=np.float32(ds.std[0]))


class Table:
  def __init__(self, floor_rate: float):
    self.rows, self.rate = [], floor_rate

  def add(self, run, side, wall, acc, load_before, *, torch_wall=None, flops=None, note="",
          cpu=None):
    row = {"run": run, "side": side, "wall_s": round(wall, 1), "accuracy": acc,
           "load": load_before, "note": note}
    if cpu is not None:  # the run's CPU seconds (`timed.cpu`)
      row["cpu_s"] = round(cpu, 1)
    if torch_wall:
      row["speed_over_torch"] = round(torch_wall / wall, 2)
    if flops:
      row["over_floor"] = round(wall / (flops / self.rate), 2)
    self.rows.append(row)
    print(json.dumps(row), flush=True)

  def markdown(self) -> str:
    lines = ["| run | side | wall s | CPU s | speed over PyTorch | x floor | clean-test acc | "
             "load before | note |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in self.rows:
      acc = "" if r["accuracy"] is None else f"{100 * r['accuracy']:.2f}%"
      lines.append(f"| {r['run']} | {r['side']} | {r['wall_s']} | {r.get('cpu_s', '')} | "
                   f"{r.get('speed_over_torch', '')} | {r.get('over_floor', '')} | {acc} | "
                   f"{r['load']} | {r['note']} |")
    return "\n".join(lines)


def protocol(table: Table, tmp: str, data_dir: str, methods: list[str], with_others: bool,
             walls: dict, work: dict, turn: int = 0, speeds: dict | None = None,
             kinds: tuple | None = None) -> None:
  """Times each method's run; `walls[(method, "cold" | "warm")]` gets nlx's wall times,
  `work[method]` the run's FLOPs (the floor's numerator), `work[method, "step"]` a step's;
  `speeds[(method, side)]` (when given) each side's speed over PyTorch's, one per turn.
  `turn` > 0: another turn, with caches and workdirs of its own. `kinds`: nlx's runs,
  "cold" (an empty compile cache) and/or "warm" (the cache the cold run filled); by
  default both with `with_others`, else cold only."""
  arrays = os.path.join(tmp, "protocol.npz")
  if not os.path.exists(arrays):
    write_arrays("cifar10n_cpu", "worst", data_dir, arrays)
  label = f" (turn {turn + 1})" if FLAGS.rounds > 1 else ""
  speeds = {} if speeds is None else speeds
  n_train, epochs = 45000, FLAGS.epochs
  for method in methods:
    variant = "worst" if method == "ce" else f"worst,{method}"
    # the method's own work in its steps (ARNet's Sinkhorn over its cache, ...), by XLA's
    # count; CE's within 3% of the matmuls counted by hand (MLP_TRAIN: the rest is Adam's
    # and the loss's elementwise work)
    if (method, "step") not in work:
      work[method, "step"] = step_flops(variant, data_dir)
    flops = work[method] = protocol_flops(n_train, epochs, step_flops=work[method, "step"])
    cache = os.path.join(tmp, f"cache_{method}_{turn}")
    torch_wall = None
    if with_others and FLAGS.torch_python:
      before = load()
      wall, out = timed([FLAGS.torch_python, os.path.join(HERE, "bench_run_torch.py"),
                         "--run=protocol", f"--method={method}", f"--data={arrays}",
                         f"--epochs={epochs}"])
      torch_wall = wall
      table.add(f"protocol {method}{label}", "PyTorch", wall, last_json(out)["accuracy"], before,
                torch_wall=wall, flops=flops, cpu=timed.cpu)
    if with_others:
      before = load()
      wall, out = timed([sys.executable, os.path.join(HERE, "bench_run_jax.py"),
                         f"--method={method}", f"--data={arrays}", f"--epochs={epochs}"])
      table.add(f"protocol {method}{label}", "plain JAX", wall, last_json(out)["accuracy"],
                before, torch_wall=torch_wall, flops=flops, cpu=timed.cpu)
      if torch_wall:
        speeds.setdefault((method, "plain JAX"), []).append(torch_wall / wall)
    run_kinds = kinds or (("cold", "warm") if with_others else ("cold",))
    for kind in run_kinds:
      walls.pop((method, kind), None)  # an earlier turn's wall is not this turn's
      if kind == "warm" and "cold" in run_kinds and (method, "cold") not in walls:
        # its cold run, which fills the cache, failed
        table.rows.append({"run": f"protocol {method}{label}", "side": "nlx (warm)",
                           "wall_s": "", "accuracy": None, "load": "",
                           "note": "not run: the cold run, which fills its cache, failed"})
        continue
      wd = os.path.join(tmp, f"wd_{method}_{kind}_{turn}")
      before = load()
      try:
        wall, _ = timed(nlx_config(f"configs/cifar10n_cpu.py:{variant}", data_dir, wd),
                        env={"NLX_COMPILE_CACHE": cache})
      except RuntimeError as e:  # one failing run is a row saying so, not the end
        table.rows.append({"run": f"protocol {method}{label}", "side": f"nlx ({kind})",
                           "wall_s": "",
                           "accuracy": None, "load": before,
                           "note": "failed: " + str(e).splitlines()[-1][:200]})
        print(e, flush=True)
        continue
      walls[(method, kind)] = wall
      if torch_wall:
        speeds.setdefault((method, f"nlx ({kind})"), []).append(torch_wall / wall)
      table.add(f"protocol {method}{label}", f"nlx ({kind} compile cache)", wall, accuracy(wd),
                before, torch_wall=torch_wall, flops=flops, cpu=timed.cpu,
                note="" if method == "ce" or ("ce", kind) not in walls else
                f"{wall / walls[('ce', kind)]:.2f}x CE's wall time, "
                f"{work[method] / work['ce']:.2f}x CE's work (a step: "
                f"{work[method, 'step'] / work['ce', 'step']:.2f}x)")


def quickstart(table: Table, tmp: str, turn: int = 0, speeds: dict | None = None):
  """PyTorch's run, then nlx's with an empty compile cache (cold) and again with what that
  run cached (warm); each turn with a cache and workdirs of its own. `speeds[side]` (when
  given) gets each nlx side's speed over PyTorch's, one per turn."""
  arrays = os.path.join(tmp, "digits.npz")
  if not os.path.exists(arrays):
    write_arrays("quickstart", "", None, arrays)
  label = f" (turn {turn + 1})" if FLAGS.rounds > 1 else ""
  torch_wall = None
  if FLAGS.torch_python:
    before = load()
    wall, out = timed([FLAGS.torch_python, os.path.join(HERE, "bench_run_torch.py"),
                       "--run=quickstart", f"--data={arrays}"])
    torch_wall = wall
    table.add(f"quickstart{label}", "PyTorch", wall, last_json(out)["accuracy"], before,
              torch_wall=wall, cpu=timed.cpu)
  cache = os.path.join(tmp, f"cache_quickstart{turn}")
  for kind in ("cold", "warm"):
    wd = os.path.join(tmp, f"wd_quickstart{turn}_{kind}")
    before = load()
    wall, _ = timed([sys.executable, "-m", "nlx.main", f"--workdir={wd}",
                     "--config.train.progress_bar=False"], env={"NLX_COMPILE_CACHE": cache})
    side = f"nlx ({kind} compile cache)"
    table.add(f"quickstart{label}", side, wall, accuracy(wd), before, torch_wall=torch_wall,
              cpu=timed.cpu)
    if speeds is not None and torch_wall:
      speeds.setdefault(side, []).append(torch_wall / wall)


def turns_summary(table: Table, run: str, speeds: dict,
                  what: str = "speed over PyTorch", fastest: dict | None = None) -> None:
  """One row per side: the median and range of its `what` (a ratio per turn: by default
  its speed over PyTorch's) over the turns; `fastest[key]` (optional): the same ratio of
  the side's fastest run over the other's fastest, added to its note (noise from other
  work on the machine only adds time, so the fastest runs are the least disturbed)."""
  for key, values in speeds.items():
    note = (f"{what}: median {np.median(values):.2f}x, range "
            f"{min(values):.2f}-{max(values):.2f}x (per turn: "
            f"{', '.join(f'{v:.2f}' for v in values)})")
    if fastest and key in fastest:
      note += f"; fastest over fastest: {fastest[key]:.2f}x"
    table.rows.append({"run": f"{run}, {len(values)} turns",
                       "side": key if isinstance(key, str) else key[1],
                       "wall_s": "", "accuracy": None, "load": "", "note": note})


def methods_over_ce(table: Table, tmp: str, data_dir: str, walls: dict, work: dict) -> None:
  """`methods`: nlx's ARNet and SINet runs of the protocol (cold, and with `--methods_warm`
  again warm), each over the CE run's wall time of its turn and kind: after `protocol`'s
  turns, one turn over its last CE runs; alone, `--rounds` turns of CE, ARNet and SINet
  (caches of their own), then the median and range of each method's ratios per kind (a
  method with one ratio, e.g. failing in the other turns, has no summary row; its rows
  say so)."""
  kinds = ("cold", "warm") if FLAGS.methods_warm else ("cold",)
  ratios, runs = {}, {}
  # after the protocol's turns 0..rounds-1: a turn of its own (its caches and workdirs)
  turns = [FLAGS.rounds] if walls else range(FLAGS.rounds)
  for turn in turns:
    turn_walls = walls if walls else {}
    protocol(table, tmp, data_dir, ["arnet", "sinet"] if turn_walls else ["ce", "arnet", "sinet"],
             False, turn_walls, work, turn, kinds=kinds)
    for method in ("arnet", "sinet"):
      for kind in kinds:
        if (method, kind) in turn_walls and ("ce", kind) in turn_walls:
          key = f"nlx {method} ({kind})"
          ratios.setdefault(key, []).append(turn_walls[method, kind] / turn_walls["ce", kind])
          # (the method's wall, CE's) of the turns the method ran in: its fastest over
          # CE's fastest of those turns, whatever the other method did
          runs.setdefault(key, []).append((turn_walls[method, kind], turn_walls["ce", kind]))
  turns_summary(table, "protocol methods", {k: v for k, v in ratios.items() if len(v) > 1},
                what="wall time over CE's",
                fastest={k: min(w for w, _ in runs[k]) / min(c for _, c in runs[k])
                         for k in ratios})


def several(table: Table, tmp: str, data_dir: str, runs: list[str]) -> None:
  """`replicas`: the protocol's CE run for one seed, then 3 seeds as one program
  (`--config.train.replicas=3`); `folds`: the same run
  with out-of-fold label issues (`--config.label_issues.folds=5`) against cleanlab's
  5-fold logistic regression on the same features (experiments/label_issues_benchmark.py
  --scorers=cleanlab_logreg, seed 0). Every nlx run with its own empty compile cache."""
  one_seed = protocol_flops(45000, FLAGS.epochs)

  def nlx_run(name, extra):
    wd = os.path.join(tmp, f"wd_{name}")
    before = load()
    wall, _ = timed(nlx_config("configs/cifar10n_cpu.py:worst", data_dir, wd) + extra,
                    env={"NLX_COMPILE_CACHE": os.path.join(tmp, f"cache_{name}")})
    return wall, wd, before

  wall1, wd, before = nlx_run("seed1", [])
  table.add("one seed", "nlx", wall1, accuracy(wd), before, flops=one_seed)
  if "replicas" in runs:
    wall, wd, before = nlx_run("replicas3", ["--config.train.replicas=3"])
    with open(os.path.join(wd, "summary.json")) as f:
      acc = json.load(f)["test"]["accuracy"]["mean"]
    table.add("3 seeds, one program", "nlx train.replicas=3", wall, acc, before,
              flops=3 * one_seed, note=f"{wall / wall1:.2f}x one seed's wall time")
  if "folds" in runs:
    fold_flops = one_seed * 4  # 5 runs on 4/5 of the data
    wall, wd, before = nlx_run("folds5", ["--config.label_issues.folds=5"])
    with open(os.path.join(wd, "label_issues.json")) as f:
      li = json.load(f)
    table.add("label issues, 5 folds", "nlx label_issues.folds=5", wall, None, before,
              flops=fold_flops, note=f"F1 {100 * li['f1']:.1f}, AUROC {100 * li['auroc']:.1f}")
    before = load()
    w, _ = timed([sys.executable, os.path.join(HERE, "label_issues_benchmark.py"),
                  "--suite=cifar10n_cpu", "--settings=worst", "--seeds=0",
                  "--scorers=cleanlab_logreg", f"--data_dir={data_dir}",
                  f"--workroot={os.path.join(tmp, 'cleanlab')}", f"--out={tmp}"])
    table.add("label issues, 5 folds", "cleanlab logistic regression (whole command)", w,
              None, before, note=f"nlx {w / wall:.2f}x faster")


def startup(table: Table, tmp: str):
  """What a run pays before training: the imports, then (cold and warm compile cache) a
  quickstart run stopped after its first step (data, model, compile, one checkpoint)."""
  before = load()
  wall, _ = timed([sys.executable, "-c", "import nlx.main, nlx.train"])
  table.add("start-up", "import nlx.main, nlx.train", wall, None, before)
  cache = os.path.join(tmp, "cache_startup")
  for kind in ("cold", "warm"):
    wd = os.path.join(tmp, f"wd_startup_{kind}")
    before = load()
    wall, _ = timed([sys.executable, "-m", "nlx.main", f"--workdir={wd}",
                     "--config.train.progress_bar=False", "--config.train.stop_after_steps=1"],
                    env={"NLX_COMPILE_CACHE": cache})
    table.add("start-up", f"quickstart to its first step ({kind} compile cache)", wall, None,
              before, note="data, model, compile, one step, one checkpoint")


def steps(table: Table):
  if not FLAGS.torch_python:
    return
  before = load()
  _, out = timed([sys.executable, os.path.join(HERE, "bench_step.py"), "--models=",
                  "--methods=", "--pipeline=false", f"--torch_python={FLAGS.torch_python}",
                  "--torch_models=small_cnn,resnet18", "--steps=10"])
  for line in out.splitlines():
    if line.startswith("train step,") and "PyTorch" in line:
      print(line)
      table.rows.append({"run": line.split(":")[0], "side": "step", "wall_s": "",
                         "accuracy": None, "load": before, "note": line.split(": ", 1)[1]})


# forward FLOPs of one 224x224 image through ResNet-50 (4.09 G multiply-adds, 2 per MAC)
RESNET50_FORWARD = 2 * 4.09e9


def photos(folder: str, n: int) -> None:
  """`n` smooth 320x240 RGB JPEG files (quality 90), seeded: photo-like to decode."""
  from PIL import Image
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(0)
  yy, xx = np.mgrid[0:240, 0:320] / 40.0
  for i in range(n):
    f = rng.uniform(0.2, 1.5, (3, 2))
    img = np.stack([np.sin(f[c, 0] * xx + i) * np.cos(f[c, 1] * yy) for c in range(3)], -1)
    img = 127.5 * (1 + img) + rng.normal(0, 8, img.shape)
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(
        os.path.join(folder, f"{i:05d}.jpg"), quality=90)


def extract(table: Table, tmp: str):
  images, n = os.path.join(tmp, "photos"), FLAGS.extract_images
  photos(images, n)
  weights, torch_wall, ref = "none", None, None
  flops = n * RESNET50_FORWARD
  if FLAGS.torch_python:
    weights = os.path.join(tmp, "resnet50.pth")
    timed([FLAGS.torch_python, os.path.join(HERE, "bench_run_torch.py"), "--run=write_resnet50",
           f"--weights={weights}"])
    before = load()
    ref = os.path.join(tmp, "torch_features.npy")
    wall, out = timed([FLAGS.torch_python, os.path.join(HERE, "bench_run_torch.py"),
                       "--run=extract", f"--images={images}", f"--weights={weights}",
                       f"--features_out={ref}"])
    torch_wall, again = wall, last_json(out)["again_s"]
    table.add("extract ResNet-50", "torchvision", wall, None, before, torch_wall=wall,
              flops=flops, note=f"{n / wall:.1f} images/s whole; a second pass "
                                f"{n / again:.1f} images/s ({again:.1f} s)")
  before = load()
  ours = os.path.join(tmp, "nlx_features.npy")
  wall, out = timed([sys.executable, "-m", "nlx.benchmarks.image_features", images,
                     f"--out={ours}", f"--weights={weights}", "--again"])
  again = last_json(out)["again_s"]
  note = f"{n / wall:.1f} images/s whole; a second pass {n / again:.1f} images/s ({again:.1f} s)"
  if ref:
    a, b = np.load(ours), np.load(ref)
    note += (f"; features: largest difference {np.abs(a - b).max():.2g} "
             f"(largest value {np.abs(b).max():.3g})")
  table.add("extract ResNet-50", "nlx", wall, None, before, torch_wall=torch_wall, flops=flops,
            note=note)


@output.one_line_errors
def main(argv):
  del argv
  import jax

  from nlx.benchmarks.timing import matmul_rate
  if FLAGS.features_dir and not os.path.isfile(os.path.join(FLAGS.features_dir,
                                                             "features.npz")):
    raise DataError(f"--features_dir={FLAGS.features_dir} holds no features.npz (write it "
                    "with python experiments/protocols.py --out=DIR)")
  rate = matmul_rate()
  print(f"devices: {jax.devices()}; cpu count {os.cpu_count()}; float32 matmul rate "
        f"{rate / 1e9:.1f} GFLOP/s (bfloat16: {matmul_rate(dtype='bfloat16') / 1e9:.1f}); "
        f"load {load()}", flush=True)
  table = Table(rate)
  with tempfile.TemporaryDirectory() as tmp:
    data_dir, what = (features_dir(tmp) if {"protocol", "methods", "replicas", "folds"}
                      & set(FLAGS.runs) else ("", ""))
    walls, work = {}, {}
    if "protocol" in FLAGS.runs:
      speeds = {}
      for turn in range(FLAGS.rounds):
        protocol(table, tmp, data_dir, FLAGS.protocol_methods, True, walls, work, turn, speeds)
      if FLAGS.rounds > 1:
        for method in dict.fromkeys(m for m, _ in speeds):
          turns_summary(table, f"protocol {method}",
                        {k: v for k, v in speeds.items() if k[0] == method})
    if "methods" in FLAGS.runs:
      methods_over_ce(table, tmp, data_dir, walls, work)
    if {"replicas", "folds"} & set(FLAGS.runs):
      several(table, tmp, data_dir, FLAGS.runs)
    if "startup" in FLAGS.runs:
      startup(table, tmp)
    if "quickstart" in FLAGS.runs:
      speeds = {}
      for turn in range(FLAGS.rounds):
        quickstart(table, tmp, turn, speeds)
      if FLAGS.rounds > 1:
        turns_summary(table, "quickstart", speeds)
    if "steps" in FLAGS.runs:
      steps(table)
    if "extract" in FLAGS.runs:
      extract(table, tmp)
  text = (f"float32 matmul rate {rate / 1e9:.1f} GFLOP/s (the floor's denominator); "
          f"protocol data: {what or 'none'}; {os.cpu_count()} CPUs\n\n{table.markdown()}\n")
  print(text)
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      f.write(text)


if __name__ == "__main__":
  app.run(main)
