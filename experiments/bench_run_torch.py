"""The PyTorch side of experiments/bench_run.py: whole runs of the same work as nlx's, in a
plain PyTorch loop, timed from the command (start-up included). Standalone on purpose: it
imports nothing from nlx, and runs with a Python that has torch (never an nlx dependency):

  .torchvenv/bin/python experiments/bench_run_torch.py --run=protocol --method=elr \\
      --data=DIR/features.npz

Runs (each prints one JSON line: wall seconds, final clean-test accuracy):
- `protocol`: CIFAR-10N's CPU protocol (configs/cifar10n_cpu.py): an MLP 1024-256-256-10 on
  the feature vectors, Adam 1e-3, batch 128, 30 epochs; after every epoch the training
  set is predicted and the given label's margin and loss summed (nlx's training dynamics),
  the test set every 5 epochs, the state saved every 10. `--method=elr`: CE + 3 log(1 -
  <p, t>) with the per-example targets t <- 0.7 t + 0.3 p (p clamped to [1e-4, 1 - 1e-4]
  and renormalised), as nlx.methods.elr.
- `quickstart`: configs/quickstart.py: the small CNN (3x3 conv-BN-ReLU-maxpool 32-64-128,
  global average pool, linear) on the 8x8 digits, Adam 3e-3 with a cosine schedule, batch
  64, 30 epochs; every epoch: the training-set pass and the test set; the state saved
  every 10 epochs (the config's `train.checkpoint_every_epochs`).
- `extract`: torchvision's ResNet-50 (`--weights`, a state dict `--run=write_resnet50`
  wrote) as a feature extractor over the image files in `--images` (sorted): PIL decode,
  Resize(256), CenterCrop(224), ToTensor, ImageNet's Normalize, batches of 64, the pooled
  2,048-d features (fc = Identity) to `--features_out`; `again_s`: a second pass.
`--data` is the `.npz` bench_run.py writes (`x_train, y_train, x_test, y_test`, and for
the quickstart the normalisation `mean, std`), so every side trains on the same arrays.
"""

import argparse
import json
import math
import os
import tempfile
import time

START = time.time()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402


def mlp(in_features, num_classes):
  return nn.Sequential(nn.Linear(in_features, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                       nn.Linear(256, num_classes))


class SmallCNN(nn.Module):
  def __init__(self, cin, num_classes, width=32):
    super().__init__()
    chans = (cin, width, 2 * width, 4 * width)
    self.convs = nn.ModuleList([nn.Conv2d(a, b, 3, padding=1, bias=False)
                                for a, b in zip(chans, chans[1:])])
    self.norms = nn.ModuleList([nn.BatchNorm2d(b, momentum=0.1) for b in chans[1:]])
    self.head = nn.Linear(chans[-1], num_classes)

  def forward(self, x):
    for conv, norm in zip(self.convs, self.norms):
      x = F.relu(norm(conv(x)))
      if min(x.shape[2:]) >= 2:
        x = F.max_pool2d(x, 2)
    return self.head(x.mean((2, 3)))


def predict(model, x, batch_size):
  model.eval()
  with torch.no_grad():
    out = torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])
  model.train()
  return out


def resnet50_features(a):
  """The `extract` run (and `write_resnet50`, which saves a seeded random ResNet-50)."""
  import torchvision
  from PIL import Image
  from torchvision import transforms as T
  if a.run == "write_resnet50":
    torch.save(torchvision.models.resnet50().state_dict(), a.weights)
    return
  model = torchvision.models.resnet50()
  model.load_state_dict(torch.load(a.weights))
  model.fc = nn.Identity()
  model.eval()
  tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                  T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
  files = sorted(os.path.join(a.images, f) for f in os.listdir(a.images))

  def run():
    out = []
    with torch.inference_mode():
      for i in range(0, len(files), 64):
        batch = torch.stack([tf(Image.open(f).convert("RGB")) for f in files[i:i + 64]])
        out.append(model(batch))
    return torch.cat(out).numpy()
  feats = run()
  np.save(a.features_out, feats)
  wall = time.time() - START
  t0 = time.time()
  run()
  print(json.dumps({"side": "torch", "run": "extract", "images": len(files), "wall_s": wall,
                    "again_s": time.time() - t0, "torch": torch.__version__,
                    "torchvision": torchvision.__version__,
                    "threads": torch.get_num_threads()}))


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--run", choices=("protocol", "quickstart", "extract", "write_resnet50"),
                 required=True)
  p.add_argument("--images", default="")
  p.add_argument("--weights", default="")
  p.add_argument("--features_out", default="")
  p.add_argument("--method", choices=("ce", "elr"), default="ce")
  p.add_argument("--data", default="")
  p.add_argument("--epochs", type=int, default=30)
  p.add_argument("--threads", type=int, default=2)
  a = p.parse_args()
  torch.set_num_threads(a.threads)
  torch.manual_seed(0)
  if a.run in ("extract", "write_resnet50"):
    return resnet50_features(a)
  with np.load(a.data) as f:
    d = {k: f[k] for k in f.files}
  if a.run == "protocol":
    x_tr, x_te = torch.from_numpy(d["x_train"]), torch.from_numpy(d["x_test"])
    model, batch, lr, eval_bs, test_every, save_every = (mlp(x_tr.shape[1], 10), 128, 1e-3,
                                                         1000, 5, 10)
  else:  # uint8 [N, 8, 8, 1] -> standardised NCHW floats, as nlx normalises in the step
    def prep(x):
      return torch.from_numpy(((x.astype(np.float32) / 255.0 - d["mean"]) / d["std"])
                              .transpose(0, 3, 1, 2).copy())
    x_tr, x_te = prep(d["x_train"]), prep(d["x_test"])
    model, batch, lr, eval_bs, test_every, save_every = SmallCNN(1, 10), 64, 3e-3, 256, 1, 10
  y_tr, y_te = torch.from_numpy(d["y_train"]).long(), torch.from_numpy(d["y_test"]).long()
  n, c = len(y_tr), 10
  spe = n // batch
  opt = torch.optim.Adam(model.parameters(), lr=lr)
  total = spe * a.epochs
  if a.run == "quickstart":  # optax's cosine decay over the run's steps, per step
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
  targets = torch.zeros(n, c)
  sum_margin, sum_loss = torch.zeros(n, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
  sum_probs = torch.zeros(n, c)
  out_dir = tempfile.mkdtemp()
  rng = np.random.default_rng(0)
  acc = float("nan")
  for epoch in range(1, a.epochs + 1):
    perm = torch.from_numpy(rng.permutation(n))
    for j in range(spe):
      idx = perm[j * batch:(j + 1) * batch]
      logits = model(x_tr[idx])
      loss = F.cross_entropy(logits, y_tr[idx], reduction="none")
      if a.method == "elr":
        prob = F.softmax(logits, -1).clamp(1e-4, 1 - 1e-4)
        with torch.no_grad():
          t = 0.7 * targets[idx] + 0.3 * prob / prob.sum(-1, keepdim=True)
          targets[idx] = t
        loss = loss + 3.0 * torch.log(1 - (t * prob).sum(-1))
      opt.zero_grad(set_to_none=True)
      loss.mean().backward()
      opt.step()
      if a.run == "quickstart":
        sched.step()
    logits = predict(model, x_tr, eval_bs)  # the training dynamics' pass
    given = logits.gather(1, y_tr[:, None])[:, 0]
    others = logits.masked_fill(F.one_hot(y_tr, c).bool(), -math.inf).amax(-1)
    sum_margin += (given - others).double()
    log_p = F.log_softmax(logits, -1)
    sum_loss -= log_p.gather(1, y_tr[:, None])[:, 0].double()
    sum_probs += log_p.exp()
    if epoch % test_every == 0 or epoch == a.epochs:
      acc = float((predict(model, x_te, eval_bs).argmax(-1) == y_te).float().mean())
    if epoch % save_every == 0 or epoch == a.epochs:
      torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "targets": targets},
                 os.path.join(out_dir, "state.pt"))
  np.savez(os.path.join(out_dir, "dynamics.npz"), sum_margin=sum_margin.numpy(),
           sum_loss=sum_loss.numpy(), sum_probs=sum_probs.numpy())
  print(json.dumps({"side": "torch", "run": a.run, "method": a.method,
                    "wall_s": time.time() - START, "accuracy": acc,
                    "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
  main()
