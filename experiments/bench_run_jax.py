"""The plain-JAX side of experiments/bench_run.py: the CPU protocol's run (see
bench_run_torch.py's `protocol`) written the JAX way in jax + optax alone, no nlx: the
data on the device, one jitted `lax.scan` per epoch over its batches, the training-set
pass and its margin/loss/probability sums in one jitted program, the sums kept on the
device. It is the yardstick for what nlx's trainer could reach on the same machine.

  python experiments/bench_run_jax.py --method=elr --data=DIR/features.npz

Prints one JSON line (wall seconds from the start of this script, clean-test accuracy).
"""

import argparse
import json
import os
import pickle
import tempfile
import time

START = time.time()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402


def init_mlp(rng, sizes):
  params = []
  for a, b in zip(sizes, sizes[1:]):
    rng, k = jax.random.split(rng)
    params.append((jax.random.normal(k, (a, b)) / np.sqrt(a), jnp.zeros(b)))
  return params


def apply_mlp(params, x):
  for w, b in params[:-1]:
    x = jax.nn.relu(x @ w + b)
  w, b = params[-1]
  return x @ w + b


def main():
  p = argparse.ArgumentParser()
  p.add_argument("--method", choices=("ce", "elr"), default="ce")
  p.add_argument("--data", required=True)
  p.add_argument("--epochs", type=int, default=30)
  a = p.parse_args()
  with np.load(a.data) as f:
    x_tr, y_tr = jnp.asarray(f["x_train"]), jnp.asarray(f["y_train"], jnp.int32)
    x_te, y_te = jnp.asarray(f["x_test"]), jnp.asarray(f["y_test"], jnp.int32)
  n, c, batch = len(y_tr), 10, 128
  spe = n // batch
  params = init_mlp(jax.random.PRNGKey(0), (x_tr.shape[1], 256, 256, c))
  tx = optax.adam(1e-3)
  opt_state = tx.init(params)
  targets = jnp.zeros((n, c))

  def loss_fn(params, idx, targets):
    logits = apply_mlp(params, x_tr[idx])
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, y_tr[idx])
    if a.method == "elr":
      prob = jnp.clip(jax.nn.softmax(logits), 1e-4, 1 - 1e-4)
      t = 0.7 * targets[idx] + 0.3 * jax.lax.stop_gradient(prob / prob.sum(-1, keepdims=True))
      targets = targets.at[idx].set(t)
      loss = loss + 3.0 * jnp.log(1 - jnp.sum(t * prob, -1))
    return loss.mean(), targets

  @jax.jit
  def epoch(carry, perm):
    def step(carry, idx):
      params, opt_state, targets = carry
      (loss, targets), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, idx, targets)
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state, targets), loss
    return jax.lax.scan(step, carry, perm[:spe * batch].reshape(spe, batch))

  @jax.jit
  def dynamics(params, sums):
    logits = jax.lax.map(lambda x: apply_mlp(params, x), x_tr.reshape(-1, 1000, x_tr.shape[1]))
    logits = logits.reshape(n, c)
    given = jnp.take_along_axis(logits, y_tr[:, None], -1)[:, 0]
    others = jnp.where(jax.nn.one_hot(y_tr, c, dtype=bool), -jnp.inf, logits).max(-1)
    log_p = jax.nn.log_softmax(logits)
    return (sums[0] + given - others, sums[1] - jnp.take_along_axis(log_p, y_tr[:, None], -1)[:, 0],
            sums[2] + jnp.exp(log_p))

  @jax.jit
  def accuracy(params):
    logits = jax.lax.map(lambda x: apply_mlp(params, x), x_te.reshape(-1, 1000, x_te.shape[1]))
    return jnp.mean(logits.reshape(-1, c).argmax(-1) == y_te)

  carry = (params, opt_state, targets)
  sums = (jnp.zeros(n), jnp.zeros(n), jnp.zeros((n, c)))
  rng = np.random.default_rng(0)
  out_dir = tempfile.mkdtemp()
  acc = float("nan")
  for e in range(1, a.epochs + 1):
    carry, losses = epoch(carry, jnp.asarray(rng.permutation(n), jnp.int32))
    sums = dynamics(carry[0], sums)
    if e % 5 == 0 or e == a.epochs:
      acc = float(accuracy(carry[0]))
      if not np.isfinite(float(losses[-1])):
        raise FloatingPointError("loss is not finite")
    if e % 10 == 0 or e == a.epochs:
      with open(os.path.join(out_dir, "state.pkl"), "wb") as f:
        pickle.dump(jax.device_get((carry, sums)), f)
  print(json.dumps({"side": "jax", "run": "protocol", "method": a.method,
                    "wall_s": time.time() - START, "accuracy": acc}))


if __name__ == "__main__":
  main()
