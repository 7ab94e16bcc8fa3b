"""One command for an accelerator: nlx's train-step speed beside PyTorch's, then the full
CIFAR-10N protocol (worst labels, ResNet-34, 100 epochs: CE, then ARNet, then ELR).

The command is experiments/gpu_check.py (or, from the repo root without installing nlx,
`python -m nlx.benchmarks.gpu_check`); its docstring says how to prepare and run it.
Every result is written to OUT as soon as it is measured (OUT/results.jsonl, one JSON
line each, and OUT/<part>.json), so a run cut off by a time limit still returns the
earlier ones. Protocol runs train in resumable workdirs (--workroot, ignored by git): a
second call continues a cut-off run from its last checkpoint.

Throughput: images/s of one train step (CE, SGD momentum 0.9, weight decay 5e-4) on a
device-resident batch of 512 random 32x32 images, ResNet-18 and ResNet-34, float32 and
bfloat16, with the model FLOPs utilisation: XLA's FLOP count of the compiled step over the
step time, against the chip's bf16 peak (--peak_tflops; H200: 989). PyTorch: the same
networks and step in experiments/bench_torch.py (CUDA, channels_last, autocast bf16), and
bfloat16 with torch.compile as a second row when it compiles within --torch_compile_s.

Protocol (configs/ce_cifar10n.py:worst): the CIFAR-N schedule, SGD 0.1, momentum 0.9,
weight decay 5e-4, cosine, 100 epochs, batch 128, crop + flip (data.on_device), bfloat16
compute. When the measured ResNet-34 speed says 100 epochs at batch 128 cannot fit the
time left, the batch grows (256, 512) with the learning rate scaled linearly (0.1 x B/128),
and the result says so; with no batch fitting, the epochs shrink and the result says that.
The CIFAR-N paper's ResNet-34 on worst: CE 77.69%.

The data: CIFAR-10's JPEG pack, its `materialize.py` and CIFAR-10_human.pt in --data_dir
(copied there by --prepare); the pack is written out once in the official layout under
--workroot and read by nlx's own CIFAR-10N loader (`nlx.data.datasets.cifar10n`). Needs
no tensorflow-datasets. nlx itself is imported only after the dependencies are checked.
"""


import argparse
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np

# the checkout's root (nlx/benchmarks/../..); the real data shared between checkouts beside it
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.path.join(os.path.dirname(REPO), "shared", "data")
PACK, MATERIALIZE, LABELS = "cifar10_jpeg.npz", "materialize.py", "CIFAR-10_human.pt"
PAPER_WORST = {"ce": 77.69}  # CIFAR-N paper (Wei et al., ICLR 2022), ResNet-34, worst
MUST = ("ce", "arnet")       # ELR only with time left


def prepare(data_dir: str) -> None:
  """Copies the CIFAR-10 JPEG pack with its `materialize.py` and the CIFAR-10N label file
  into `data_dir`."""
  os.makedirs(data_dir, exist_ok=True)
  for src in (os.path.join(SHARED, "cifar10", PACK), os.path.join(SHARED, "cifar10", MATERIALIZE),
              os.path.join(SHARED, "cifar10n", LABELS)):
    if not os.path.exists(src):
      sys.exit(f"missing {src} (the shared real data)")
    shutil.copy(src, os.path.join(data_dir, os.path.basename(src)))
    print(os.path.join(data_dir, os.path.basename(src)))


class Results:
  """Appends each record to OUT/results.jsonl and OUT/<part>.json at once."""

  def __init__(self, out: str):
    self.out = out
    os.makedirs(out, exist_ok=True)
    self.parts = {}

  def write(self, part: str, record: dict) -> None:
    record = {"part": part, "time_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
              **record}
    self.parts.setdefault(part, []).append(record)
    with open(os.path.join(self.out, "results.jsonl"), "a") as f:
      f.write(json.dumps(record) + "\n")
    with open(os.path.join(self.out, f"{part}.json"), "w") as f:
      json.dump(self.parts[part], f, indent=2)
    print(json.dumps(record), flush=True)


def rows(n_all: int, n: int) -> np.ndarray:
  """All rows, or `n` of them spread evenly (the test set is grouped by class)."""
  return np.arange(n_all) if n < 0 or n >= n_all else np.linspace(0, n_all - 1, n).astype(int)


def cifar10n(data_dir: str, label_set: str, workroot: str, max_train: int = -1,
             max_test: int = -1):
  """CIFAR-10N by nlx's loader: the pack in `data_dir` written out once in the official
  layout under `workroot/cifar10`, the `label_set` human labels from `data_dir`'s label
  file; the test set with its clean labels (only `max_train` / `max_test` rows of each,
  spread evenly, when >= 0)."""
  from nlx.benchmarks.protocols import materialized_cifar10
  from nlx.config_base import base_config
  from nlx.data.datasets import cifar10n as cifar10n_lib
  config = base_config().data
  config.data_dir = materialized_cifar10(os.path.join(workroot, "cifar10"), pack_dir=data_dir)
  config.label_file = os.path.join(data_dir, LABELS)
  config.label_set = label_set
  dataset = cifar10n_lib.load(config)
  dataset.train = dataset.train.subset(rows(len(dataset.train), max_train))
  dataset.test = dataset.test.subset(rows(len(dataset.test), max_test))
  return dataset


def step_flops(trainer, state, batch) -> float | None:
  """XLA's FLOP count of one compiled train step (None where the backend gives none)."""
  if trainer.device_data is not None:  # the step gathers its batch from the resident set
    lowered = trainer.device_data.jitted.lower(state, batch, trainer.device_data.arrays,
                                               trainer.device_data.key)
  else:
    lowered = trainer.train_step.lower(state, batch)
  cost = lowered.compile().cost_analysis()
  cost = cost[0] if isinstance(cost, (list, tuple)) else cost
  flops = (cost or {}).get("flops")
  return float(flops) if flops and flops > 0 else None


def time_nlx_step(model: str, dtype: str, batch_size: int, steps: int) -> dict:
  """Images/s of nlx's CE step on one device-resident random batch, and its FLOPs."""
  import jax

  from nlx import train
  from nlx.config_base import base_config
  from nlx.data.types import Dataset, Split
  c = base_config()
  c.model.name, c.model.dtype, c.model.width = model, dtype, 16
  c.data.batch_size = c.data.eval_batch_size = batch_size
  c.optimizer.name, c.optimizer.learning_rate = "sgd", 0.1
  c.optimizer.momentum, c.optimizer.weight_decay = 0.9, 5e-4
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (batch_size, 32, 32, 3), dtype=np.uint8)
  labels = rng.integers(0, 10, batch_size)
  split = Split(images, labels, labels.copy())
  ds = Dataset("random", split, split, 10, [str(i) for i in range(10)], (0.5,) * 3, (0.25,) * 3)
  trainer = train.Trainer(c, ds, train.make_mesh(jax.devices()[:1]))
  batch = trainer.shard(next(trainer.train_iterator(1)))
  state = trainer.initial_state
  t0 = time.perf_counter()
  flops = step_flops(trainer, state, batch)
  for _ in range(3):
    state, m = trainer.train_step(state, batch)
  jax.block_until_ready(m)
  compile_s = time.perf_counter() - t0
  t = time.perf_counter()
  for _ in range(steps):
    state, m = trainer.train_step(state, batch)
  jax.block_until_ready((state, m))
  seconds = (time.perf_counter() - t) / steps
  return {"step_ms": 1e3 * seconds, "images_per_s": batch_size / seconds,
          "flops_per_step": flops, "compile_and_warmup_s": compile_s,
          "loss_finite": bool(np.isfinite(float(m["loss"])))}


def throughput(results: Results, args) -> dict:
  """nlx rows, then PyTorch rows; returns {(model, dtype, batch): images/s} of nlx."""
  import jax
  device = jax.devices()[0]
  speeds = {}
  rows = [(m, d, args.batch_size) for m in args.models for d in args.dtypes]
  # ResNet-34 bf16 at the protocol's candidate batches, for planning its batch size
  rows += [(args.protocol_model, "bfloat16", b) for b in (128, 256)
           if (args.protocol_model, "bfloat16", b) not in rows and b < args.batch_size]
  for model, dtype, batch in rows:
    r = time_nlx_step(model, dtype, batch, args.steps)
    if r["flops_per_step"]:
      r["mfu_vs_bf16_peak"] = r["flops_per_step"] / (r["step_ms"] / 1e3) / (args.peak_tflops * 1e12)
    results.write("throughput", {"framework": "nlx", "model": model, "dtype": dtype,
                                 "batch_size": batch, "device": device.device_kind, **r})
    speeds[(model, dtype, batch)] = r["images_per_s"]
  for compiled in (False, True):
    torch_rows(results, args, compiled)
  return speeds


def torch_rows(results: Results, args, compiled: bool) -> None:
  """experiments/bench_torch.py in a subprocess: one row per JSON line it prints."""
  cmd = [args.torch_python, os.path.join(REPO, "experiments", "bench_torch.py"),
         "--models=" + ",".join(args.models), "--methods=ce", "--optimizer=sgd",
         f"--batch_size={args.batch_size}", f"--steps={args.steps}", "--channels_last",
         "--device=" + args.torch_device, "--compile" if compiled else "--no-compile",
         "--dtypes=" + ",".join(["bfloat16"] if compiled else args.dtypes)]
  # compiled: bfloat16 only, each model's compile within --torch_compile_s or no row
  timeout = (args.torch_compile_s + 30) * len(args.models) if compiled else 600
  try:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO,
                          check=False)
  except subprocess.TimeoutExpired:
    results.write("throughput", {"framework": "pytorch", "compiled": compiled,
                                 "skipped": f"did not finish in {timeout} s"})
    return
  lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
  if proc.returncode or not lines:
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    results.write("throughput", {"framework": "pytorch", "compiled": compiled,
                                 "skipped": f"bench_torch.py failed: {tail}"})
  for row in lines:
    if compiled and row.get("compile_s", 0) > args.torch_compile_s:
      row["note"] = f"compiled in {row['compile_s']:.0f} s, over {args.torch_compile_s} s"
    results.write("throughput", {"framework": "pytorch", "compiled": compiled, **row})


def plan_batch(speeds: dict, model: str, seconds: float, epochs: int, n: int) -> tuple:
  """`(batch, epochs, note)`: the smallest batch (128, 256, 512) whose measured bf16 speed
  trains `epochs` epochs of `n` images in `seconds` (with 15% for evaluation and
  start-up); with none, the fastest batch and the epochs that fit."""
  measured = {b: s for (m, d, b), s in speeds.items() if m == model and d == "bfloat16"}
  for b in sorted(measured):
    if epochs * n / measured[b] * 1.15 <= seconds:
      note = "" if b == 128 else (f"batch {b} instead of 128 (linear learning-rate rule): "
                                  f"100 epochs at 128 would not fit {seconds:.0f} s")
      return b, epochs, note
  if not measured:
    return 128, epochs, "no speed measured: the paper's batch 128"
  b = max(measured, key=measured.get)
  fit = max(1, int(seconds / 1.15 * measured[b] / n))
  return b, min(fit, epochs), (f"batch {b} and {min(fit, epochs)} epochs instead of {epochs}: "
                               f"{epochs} epochs would not fit {seconds:.0f} s")


def finished_run(workroot: str, method: str) -> dict | None:
  """The record of a protocol run of `method` that an earlier call finished, if any."""
  paths = sorted(glob.glob(os.path.join(workroot, f"{method}_b*_e*", "gpu_check.json")))
  if not paths:
    return None
  with open(paths[-1]) as f:
    return {**json.load(f), "reused_from_an_earlier_call": True}


def protocol(results: Results, args, speeds: dict, dataset, deadline: float) -> None:
  """CE, then ARNet, then ELR (time allowing) on CIFAR-10N worst."""
  from nlx import train
  from nlx.config_base import load_file
  from nlx.config_presets import set_method
  for i, method in enumerate(args.methods):
    left = deadline - time.time()
    must_left = sum(1 for m in args.methods[i:] if m in MUST) or 1
    share = left / must_left if method in MUST else left
    c = load_file("ce_cifar10n", "worst" + (",tiny" if args.tiny else ""))
    set_method(c, method)
    c.data.on_device, c.model.dtype = True, "bfloat16"
    c.data.eval_batch_size = 1024 if not args.tiny else 64
    c.train.progress_bar = False
    if not args.tiny:
      c.model.name = args.protocol_model
    done = finished_run(args.workroot, method)
    if done and not args.tiny:  # a rerun: report the earlier call's finished run
      results.write("protocol", done)
      continue
    batch, epochs, note = plan_batch(speeds, c.model.name, share, c.train.num_epochs,
                                     len(dataset.train))
    if args.tiny:
      batch, epochs, note = c.data.batch_size, c.train.num_epochs, "tiny"
    elif method not in MUST and epochs < c.train.num_epochs:
      results.write("protocol", {"method": method, "skipped": f"no time left ({left:.0f} s)"})
      continue
    c.optimizer.learning_rate *= batch / c.data.batch_size
    c.data.batch_size, c.train.num_epochs = batch, epochs
    c.train.eval_every_epochs = max(1, epochs // 10)
    workdir = os.path.join(args.workroot, f"{method}_b{batch}_e{epochs}")
    t = time.time()
    r = train.train_and_evaluate(c, workdir, dataset=dataset)
    record = {"method": method, "model": c.model.name, "label_set": "worst", "finished": True,
              "batch_size": batch, "learning_rate": c.optimizer.learning_rate,
              "epochs": epochs, "dtype": c.model.dtype, "note": note,
              "test_accuracy": 100 * r["test"]["accuracy"], "paper": PAPER_WORST.get(method),
              "wall_s_this_call": time.time() - t, "workdir": workdir}
    results.write("protocol", record)
    with open(os.path.join(workdir, "gpu_check.json"), "w") as f:
      json.dump(record, f)
    shutil.copy(os.path.join(workdir, "metrics.jsonl"),
                os.path.join(results.out, f"metrics_{method}.jsonl"))


def parse_args(argv=None):
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--out", default=os.environ.get("OUT") or os.path.join(REPO, "workdirs",
                                                                         "gpu_check_out"))
  ap.add_argument("--data_dir", default=os.path.join(REPO, ".data"))
  ap.add_argument("--workroot", default=os.path.join(REPO, "workdirs", "gpu_check"))
  ap.add_argument("--prepare", action="store_true", help="copy the data into --data_dir")
  ap.add_argument("--tiny", action="store_true", help="a few CPU steps of every part")
  ap.add_argument("--parts", default="throughput,protocol")
  ap.add_argument("--methods", default="ce,arnet,elr")
  ap.add_argument("--models", default="resnet18,resnet34")
  ap.add_argument("--dtypes", default="float32,bfloat16")
  ap.add_argument("--batch_size", type=int, default=512)
  ap.add_argument("--steps", type=int, default=20)
  ap.add_argument("--protocol_model", default="resnet34")
  ap.add_argument("--budget_s", type=float, default=540, help="the whole run's seconds")
  ap.add_argument("--peak_tflops", type=float, default=989.0, help="bf16 dense peak")
  ap.add_argument("--torch_python", default=sys.executable)
  ap.add_argument("--torch_device", default="cuda")
  ap.add_argument("--torch_compile_s", type=float, default=60)
  args = ap.parse_args(argv)
  for k in ("parts", "methods", "models", "dtypes"):
    setattr(args, k, [x for x in getattr(args, k).split(",") if x])
  if args.tiny:  # every part, a few CPU steps: the small CNN stands in for the ResNets
    args.models, args.batch_size, args.steps = ["small_cnn"], 8, 2
    args.protocol_model, args.torch_device = "small_cnn", "cpu"
  return args


def main(argv=None):
  args = parse_args(argv)
  if args.prepare:
    prepare(args.data_dir)
    return
  start = time.time()
  deadline = start + args.budget_s
  for module in ("grain", "ml_collections", "optax", "orbax.checkpoint", "flax"):
    if importlib.util.find_spec(module.split(".")[0]) is None:
      sys.exit(f"{module} is not installed: pip install --no-deps .whl/*.whl (the wheels "
               "this script's docstring downloads)")
  results = Results(args.out)
  import jax
  # a rerun on the same machine skips XLA's compiles
  jax.config.update("jax_compilation_cache_dir", os.path.join(args.workroot, "jax_cache"))
  results.write("device", {"devices": [d.device_kind for d in jax.devices()],
                           "backend": jax.default_backend(), "jax": jax.__version__,
                           "argv": sys.argv[1:] if argv is None else argv})
  speeds = throughput(results, args) if "throughput" in args.parts else {}
  if "protocol" in args.parts:
    from nlx.errors import NlxError
    try:
      dataset = cifar10n(args.data_dir, "worst", args.workroot,
                         *((256, 128) if args.tiny else (-1, -1)))
    except NlxError as e:  # data missing or inconsistent: one line
      sys.exit(f"gpu_check: {e}")
    results.write("data", {"train": len(dataset.train), "test": len(dataset.test),
                           "noise_rate": float(np.mean(dataset.train.labels
                                                       != dataset.train.clean_labels)),
                           "decoded_after_s": time.time() - start})
    dataset.info["noise_rate"] = results.parts["data"][-1]["noise_rate"]
    protocol(results, args, speeds, dataset, deadline)
  results.write("done", {"wall_s": time.time() - start})


if __name__ == "__main__":  # python -m nlx.benchmarks.gpu_check, from the repo root
  main()
