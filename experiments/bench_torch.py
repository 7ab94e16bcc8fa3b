"""The PyTorch side of the speed comparison in experiments/bench_step.py: the same train
steps written in plain PyTorch, timed on the same CPU. Run it with a Python that has
torch (never an nlx dependency), e.g. a separate venv:

  python3 -m venv .torchvenv && .torchvenv/bin/pip install torch numpy   # a venv of its own
  .torchvenv/bin/python experiments/bench_torch.py --models=small_cnn,resnet18

Prints one JSON line per (model, method): the median seconds of a train step (forward,
backward, Adam) at batch 128 on random 32x32x3 inputs, after 3 warm-up steps. Models:
`resnet18` (CIFAR stem: 3x3 conv, no max-pool, as nlx's `resnet18`), `small_cnn` (nlx's:
three 3x3 conv-BN-ReLU-maxpool blocks 32-64-128, global average pool, linear). Methods:
`ce`, and `elr` (CE + lambda log(1 - <p, t>) with the per-example EMA target update).
On a GPU (experiments/gpu_check.py runs it so):

  python experiments/bench_torch.py --device=cuda --models=resnet18,resnet34 --methods=ce \\
      --optimizer=sgd --batch_size=512 --dtypes=float32,bfloat16 --channels_last [--compile]

times the step on a device-resident batch with `--optimizer=sgd` (momentum 0.9, weight
decay 5e-4, as the CIFAR-N schedule), bfloat16 as `torch.autocast` (float32 weights),
`--compile` through `torch.compile` (the first step's seconds reported as `compile_s`),
synchronising the device around each timed step; each line then also has `images_per_s`.
Standalone on purpose: it imports nothing from nlx.
"""

import argparse
import itertools
import json
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F


class BasicBlock(nn.Module):
  def __init__(self, cin, cout, stride):
    super().__init__()
    self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(cout)
    self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
    self.bn2 = nn.BatchNorm2d(cout)
    self.downsample = None
    if stride != 1 or cin != cout:
      self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

  def forward(self, x):
    h = F.relu(self.bn1(self.conv1(x)))
    h = self.bn2(self.conv2(h))
    return F.relu(h + (x if self.downsample is None else self.downsample(x)))


class ResNet18(nn.Module):
  def __init__(self, num_classes=10, blocks=(2, 2, 2, 2)):
    super().__init__()
    self.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    self.bn1 = nn.BatchNorm2d(64)
    layers, cin = [], 64
    for i, n in enumerate(blocks):
      cout = 64 * 2 ** i
      for j in range(n):
        layers.append(BasicBlock(cin, cout, 2 if (j == 0 and i > 0) else 1))
        cin = cout
    self.layers = nn.Sequential(*layers)
    self.fc = nn.Linear(cin, num_classes)

  def forward(self, x):
    h = self.layers(F.relu(self.bn1(self.conv1(x))))
    return self.fc(h.mean((2, 3)))


class SmallCNN(nn.Module):
  def __init__(self, num_classes=10, width=32):
    super().__init__()
    chans = (3, width, 2 * width, 4 * width)
    self.blocks = nn.Sequential(*[nn.Sequential(nn.Conv2d(a, b, 3, 1, 1, bias=False),
                                                nn.BatchNorm2d(b), nn.ReLU(), nn.MaxPool2d(2))
                                  for a, b in itertools.pairwise(chans)])
    self.head = nn.Linear(chans[-1], num_classes)

  def forward(self, x):
    return self.head(self.blocks(x).mean((2, 3)))


MODELS = {"resnet18": ResNet18, "resnet34": lambda: ResNet18(blocks=(3, 4, 6, 3)),
          "small_cnn": SmallCNN}


def time_step(model_name, method, batch_size, steps, channels_last, *, device="cpu",
              dtype="float32", optimizer="adam", compile_model=False):
  """Median seconds of one train step, and the first step's seconds (compile time)."""
  torch.manual_seed(0)
  model = MODELS[model_name]().to(device)
  opt = (torch.optim.Adam(model.parameters(), lr=1e-3) if optimizer == "adam" else
         torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4))
  n = batch_size * 4
  images = torch.randn(n, 3, 32, 32, device=device)
  labels = torch.randint(0, 10, (n,), device=device)
  if channels_last:
    model = model.to(memory_format=torch.channels_last)
    images = images.contiguous(memory_format=torch.channels_last)
  forward = torch.compile(model) if compile_model else model
  targets = torch.full((n, 10), 0.1, device=device)
  lam, beta = 3.0, 0.7
  sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
  times = []
  for i in range(steps + 3):
    idx = torch.arange(i % 4 * batch_size, (i % 4 + 1) * batch_size, device=device)
    sync()
    t = time.perf_counter()
    with torch.autocast(device.split(":")[0], torch.bfloat16, enabled=dtype == "bfloat16"):
      logits = forward(images[idx])
    logits = logits.float()
    loss = F.cross_entropy(logits, labels[idx])
    if method == "elr":  # the authors' order: update the targets, then the regulariser
      p = F.softmax(logits, 1).clamp(1e-4, 1 - 1e-4)
      with torch.no_grad():
        targets[idx] = beta * targets[idx] + (1 - beta) * p / p.sum(1, keepdim=True)
      loss = loss + lam * torch.log(1 - (targets[idx] * p).sum(1)).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    sync()
    times.append(time.perf_counter() - t)
  return statistics.median(times[3:]), times[0]


def conv_parts(steps, shapes=((128, 32, 64), (128, 16, 128), (128, 8, 256), (128, 4, 512))):
  """Forward / input-gradient / kernel-gradient seconds of one 3x3 conv, summed over
  ResNet-18's stage shapes (as experiments/bench_xla_cpu.py times them in XLA)."""
  out = {"forward": 0.0, "input gradient": 0.0, "kernel gradient": 0.0}

  def median(fn, *args):
    for _ in range(3):
      fn(*args)
    times = []
    for _ in range(steps):
      t = time.perf_counter()
      fn(*args)
      times.append(time.perf_counter() - t)
    return statistics.median(times)

  def forward(x, w):
    with torch.no_grad():
      return F.conv2d(x, w, padding=1)

  def grad(y, wrt, g):
    return torch.autograd.grad(y, wrt, g, retain_graph=True)

  for b, hw, c in shapes:
    x = torch.randn(b, c, hw, hw, requires_grad=True)
    w = (0.05 * torch.randn(c, c, 3, 3)).requires_grad_()
    g = torch.randn(b, c, hw, hw)
    out["forward"] += median(forward, x, w)
    y = F.conv2d(x, w, padding=1)
    out["input gradient"] += median(grad, y, x, g)
    out["kernel gradient"] += median(grad, y, w, g)
  return out


def main():
  ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  ap.add_argument("--models", default="small_cnn,resnet18")
  ap.add_argument("--methods", default="ce,elr")
  ap.add_argument("--batch_size", type=int, default=128)
  ap.add_argument("--steps", type=int, default=20)
  ap.add_argument("--channels_last", action="store_true")
  ap.add_argument("--device", default="cpu", help="cpu | cuda")
  ap.add_argument("--dtypes", default="float32", help="float32,bfloat16 (autocast)")
  ap.add_argument("--optimizer", default="adam", help="adam | sgd")
  ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=False)
  ap.add_argument("--conv_parts", action="store_true", help="time conv parts instead")
  args = ap.parse_args()
  if args.conv_parts:
    print(json.dumps(conv_parts(args.steps)))
    return
  for model, method, dtype in itertools.product(args.models.split(","),
                                                args.methods.split(","), args.dtypes.split(",")):
    t, first = time_step(model, method, args.batch_size, args.steps, args.channels_last,
                         device=args.device, dtype=dtype, optimizer=args.optimizer,
                         compile_model=args.compile)
    print(json.dumps({"model": model, "method": method, "dtype": dtype, "seconds": t,
                      "images_per_s": args.batch_size / t, "batch_size": args.batch_size,
                      "compile_s": first, "device": args.device,
                      "channels_last": args.channels_last, "optimizer": args.optimizer,
                      "threads": torch.get_num_threads(), "torch": torch.__version__}),
          flush=True)


if __name__ == "__main__":
  main()
