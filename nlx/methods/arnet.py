"""ARNet: Aggregate and Refine Net, an external memory of prototypes with soft labels.

Features `h = f(x)` (the model's penultimate layer), predictions `r = softmax(logits)`.
Memory: prototypes C `[L, d]` (method params, orthogonal init, trained) and soft labels
G `[L, K]` (method state, uniform init).
- Read (Eq. 1): `p_ij = softmax_j(cos(h_i, c_j) / read_temperature)`, `v_i = sum_j p_ij g_j`;
  refined target `t_i = (1 - lam) r_i + lam v_i`, a constant.
- Assignment (Eq. 4): Q = Sinkhorn (`nlx.ops.sinkhorn`, xi = 0.05, 3 iterations) over
  the cosines of the batch's features *and* a cache of the last 1,000 features (method
  state: L2-normalised, in a ring buffer, `nlx.ops.memory.push_to_cache`; the cache's
  rows take part as SwAV's queue, only the batch's rows kept; empty slots excluded). A
  step's features are written into the ring at the start of the next step
  (`written_cache`), before the ring is read: the same cache at every step.
- Loss (Eq. 6): `CE(r, y~) + alpha log(1 - r^T t) - sum_j q_ij log p'_ij`, alpha = 3, where
  p' is the attention of Eq. 3 at `cluster_temperature`; the middle term is
  `nlx.losses.elr_regularizer` (prediction clamped to [1e-4, 1 - 1e-4] so the log stays
  finite); gradients reach the network, the classifier and C.
- Write (Eq. 5), after each step: `g_j <- beta g_j + (1 - beta) sum_i q_ij r_i / sum_i q_ij`,
  beta = 0.8. The paper says g_j is "the average of the predictions of the samples
  assigned" to prototype j; we take the Sinkhorn-weighted average of the softmax
  predictions, which keeps every g_j a distribution.
Defaults: lam = 0.8, alpha = 3.0, beta = 0.8, L = num_prototypes = 64 (the paper tries
16-128), Sinkhorn epsilon = 0.05 with sinkhorn_iters = 3 (SwAV's), cache_size = 1000,
read and cluster temperatures 1.0, target "current" with target_momentum = 0.7,
cache_full_only False. Inference uses only the network.

Readings (config options; the defaults are the paper as written):
- `read_temperature` (Eq. 1) and `cluster_temperature` (Eq. 3), both 1: the paper's
  softmax over raw cosines in [-1, 1]. SwAV divides by 0.1. With temperature 1 and L = 64
  the read is almost uniform (p_ij within e^{+-2} of 1/L), so v is nearly the same flat
  vector for every example; `read_entropy` and `read_max` in metrics.jsonl show it.
- `target`: "current" (r_i in t_i is this step's prediction, the paper's text) or
  "running" (ELR's per-example running average of predictions, momentum
  `target_momentum`, updated before the term as in ELR): with `lam = 0` this is ELR with
  lambda = alpha plus the prototype term, the end of lambda where the paper says ARNet
  recovers ELR.
- `cache_full_only`: False (the cache's filled rows join the Sinkhorn from the first
  step) or True (SwAV's practice: the cache joins only once it is full).

Slips in the paper's text, as implemented here: Eq. 4's entropy and equipartition sums
run over the L prototypes (the text writes K); "lambda = 1 discards the memory" is
lambda = 0 under Eq. 1's `t = (1 - lam) r + lam v` (lam = 1 keeps only the memory).

Per-step diagnostics (`aux["metrics"]`, logged to metrics.jsonl): each loss term
(`loss_ce`, `loss_elr` = alpha log(1 - r.t), `loss_proto`), `r_dot_t`, `read_entropy`
(H(p) / log L) and `read_max` (largest p_ij), `q_entropy` (H(Q row) / log L),
`proto_label_max` (mean over prototypes of max_k g_jk: the sharpness of G), and
`memory_accuracy` / `target_accuracy` (argmax v / argmax t against `clean_label`; a
dataset without known clean labels carries its given labels there).
Per example, the refined label `argmax t_i` and the trust score `v_i[y~_i]` (memory's
support for the given label) are kept for the label-precision curve and noise detection.
"""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from nlx import losses
from nlx.errors import ConfigError
from nlx.ops import memory
from nlx.ops import targets as targets_ops
from nlx.ops.sinkhorn import sinkhorn_assignment

TARGETS = ("current", "running")
# The smallest Sinkhorn epsilon whose exponentials of cosines, shifted by their bound 1
# (`assign`), stay in float32's normal range: exp(-2 / epsilon) >= its smallest normal.
MIN_EPSILON = 2.0 / float(np.log(1.0 / np.finfo(np.float32).tiny))
# Named readings, the config variants `configs/arnet_*.py:READING` (nlx.config_presets):
# the paper as written (default) and the ones measured in experiments/arnet_ablation.py.
# `running` is the reading chosen on the noisy validation split of CIFAR-10N worst, aggre
# and random1 and of Fashion-MNIST pair40 (experiments/results/arnet_ablation.md).
READINGS = {
    "paper": {},
    "swav": {"read_temperature": 0.1, "cluster_temperature": 0.1, "cache_full_only": True},
    "running": {"target": "running", "lam": 0.2},
}


def default_config(name: str = "arnet") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      "name": name, "lam": 0.8, "alpha": 3.0, "beta": 0.8, "num_prototypes": 64,
      "epsilon": 0.05, "sinkhorn_iters": 3, "cache_size": 1000, "read_temperature": 1.0,
      "cluster_temperature": 1.0, "target": "current", "target_momentum": 0.7,
      "cache_full_only": False})


def shrink_for_tiny(config) -> None:
  """A memory of at most 8 prototypes and a cache of 16 features for a tiny run."""
  config.num_prototypes = min(config.num_prototypes, 8)
  config.cache_size = 16


def check_config(config) -> None:
  """One-line errors for readings that do not exist."""
  if config.target not in TARGETS:
    raise ConfigError(f"method.target={config.target!r}: use one of {', '.join(TARGETS)}")
  for key in ("read_temperature", "cluster_temperature"):
    if not config[key] > 0:
      raise ConfigError(f"method.{key}={config[key]} must be > 0")
  if not 0.0 <= config.target_momentum < 1.0:
    raise ConfigError(f"method.target_momentum={config.target_momentum} must be in [0, 1)")
  if not config.epsilon > 0:
    raise ConfigError(f"method.epsilon={config.epsilon} must be > 0 (the Sinkhorn's "
                      "entropy weight; 0.05 in the paper)")
  if config.epsilon < MIN_EPSILON:
    raise ConfigError(f"method.epsilon={config.epsilon} must be >= {MIN_EPSILON:.4f}: below "
                      "it exp(-2 / epsilon), the weight of a cosine 2 below the bound 1, "
                      "underflows float32 and the assignment silently loses rows and "
                      "prototypes")
  for key, least in (("sinkhorn_iters", 0), ("cache_size", 0), ("num_prototypes", 1)):
    if not config[key] >= least:
      raise ConfigError(f"method.{key}={config[key]} must be >= {least}")


def init_state(config, *, dataset, model, rng, batch_size, **unused):
  """The memory's initial state in numpy (the trainer puts it on the devices in its one
  state program): every array built with jax here would compile a program of its own,
  the orthogonal prototypes alone a quarter of a second of a cold start-up."""
  del unused
  check_config(config)
  n, k, d = len(dataset.train), dataset.num_classes, model.feature_dim
  labels = np.asarray(dataset.train.hard_labels(), np.int32)
  state = {"proto_labels": np.full((config.num_prototypes, k), 1.0 / k, np.float32),
           "cache": np.zeros((config.cache_size, d), np.float32),
           "cache_count": np.zeros((), np.int32), "cache_position": np.zeros((), np.int32),
           "cache_pending": np.zeros((batch_size, d), np.float32),
           "refined": labels, "trust": np.zeros(n, np.float32), "labels": labels}
  if config.target == "running":  # zeros at the start, as ELR's authors' code
    state["running"] = np.zeros((n, k), np.float32)
  return {"prototypes": orthogonal_rows(rng, config.num_prototypes, d)}, state


def orthogonal_rows(rng, rows: int, dim: int) -> np.ndarray:
  """`[rows, dim]` float32, orthonormal rows (columns when rows > dim), drawn from the Haar
  distribution as `jax.nn.initializers.orthogonal` draws it (the Q of a Gaussian matrix's
  QR, its columns' signs fixed by R's diagonal), by numpy's generator seeded with the key's
  bits."""
  bits = np.asarray(jax.random.key_data(rng)).ravel()
  gaussian = np.random.default_rng(bits).standard_normal((max(rows, dim), min(rows, dim)))
  q, r = np.linalg.qr(gaussian)
  q = q * np.sign(np.diag(r))
  return (q.T if rows < dim else q).astype(np.float32)


def assign(scores, cache_scores, cache_count, *, epsilon, num_iters, full_only=False):
  """Sinkhorn assignment of the batch's cosines `[B, L]` with the cache's `[S, L]` (its
  first `cache_count` slots filled) as SwAV's queue; returns the batch's rows `[B, L]`.
  `full_only`: the cache takes part only once all its rows are filled (SwAV). The
  exponentials are shifted by the cosines' bound 1, not their maximum (the same Q:
  `sinkhorn_assignment`'s `bound`); `check_config` refuses an epsilon below
  `MIN_EPSILON` (0.0229), where exp(-2 / epsilon) falls under float32's smallest normal
  number (0.05 in the paper)."""
  size = cache_scores.shape[0]
  cached = jnp.arange(size) < cache_count
  if full_only:
    cached = cached & (cache_count >= size)
  return sinkhorn_assignment(scores, epsilon=epsilon, num_iters=num_iters, queue=cache_scores,
                             queue_valid=cached, bound=1.0)  # cosines: at most 1


def target_predictions(state, batch, logits, *, config):
  """r_i as the refined target reads it: `(r [B, K], running [N, K] or None)`. "current":
  this step's softmax; "running": ELR's running average, updated first with this step."""
  if config.target == "current":
    return jax.nn.softmax(logits, axis=-1), None
  running = targets_ops.ema_update(state["running"], batch["index"], logits,
                                   beta=config.target_momentum)
  return running[batch["index"]], running


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del rng
  h, logits = outputs.features, outputs.logits
  r = jax.nn.softmax(logits, axis=-1)
  prototypes = memory.l2_normalize(params["prototypes"])
  unit = memory.l2_normalize(h.astype(jnp.float32))  # also what the cache keeps
  cos = unit @ prototypes.T  # the batch's cosines, for Eq. 1, 3 and 4
  log_p_read, v = memory.read_scores(cos, state["proto_labels"],
                                     temperature=config.read_temperature)
  log_p = (log_p_read if config.cluster_temperature == config.read_temperature else
           jax.nn.log_softmax(cos / config.cluster_temperature, axis=-1))
  base, running = target_predictions(state, batch, logits, config=config)
  t = memory.refine_targets(base, v, config.lam)
  cache = written_cache(state, held=ctx.step > 0)
  q = assign(cos, cache[0] @ prototypes.T, cache[1], epsilon=config.epsilon,
             num_iters=config.sinkhorn_iters, full_only=config.cache_full_only)
  y = losses.as_distribution(batch["label"], ctx.num_classes)
  terms = {"loss_ce": losses.softmax_cross_entropy(logits, y),
           "loss_elr": config.alpha * losses.elr_regularizer(logits, t),
           "loss_proto": -jnp.sum(q * log_p, axis=-1)}
  given = jnp.argmax(y, axis=-1)
  aux = {"q": q, "r": jax.lax.stop_gradient(r), "features": jax.lax.stop_gradient(unit),
         "cache": cache,
         "target": t, "refined": jnp.argmax(t, axis=-1).astype(jnp.int32),
         "trust": jax.lax.stop_gradient(jnp.take_along_axis(v, given[:, None], axis=-1)[:, 0]),
         "metrics": {**jax.lax.stop_gradient(terms),
                     **diagnostics(jnp.exp(log_p_read), v, t, q, r, state["proto_labels"],
                                   batch.get("clean_label", given))}}
  if running is not None:
    aux["running"] = running
  return terms["loss_ce"] + terms["loss_elr"] + terms["loss_proto"], aux


def diagnostics(p, v, t, q, r, proto_labels, clean_label) -> dict:
  """Whether the memory does anything: `[B]` or scalar values (see the module docstring)."""
  p, v, r = jax.lax.stop_gradient((p, v, r))
  clean = jnp.argmax(clean_label, -1) if clean_label.ndim == 2 else clean_label
  return {"read_entropy": memory.normalized_entropy(p), "read_max": jnp.max(p, axis=-1),
          "q_entropy": memory.normalized_entropy(q), "r_dot_t": jnp.sum(r * t, axis=-1),
          "proto_label_max": jnp.mean(jnp.max(proto_labels, axis=-1)),
          "memory_accuracy": (jnp.argmax(v, -1) == clean).astype(jnp.float32),
          "target_accuracy": (jnp.argmax(t, -1) == clean).astype(jnp.float32)}


def written_cache(state, *, held):
  """`(cache, count, position)`: the ring with the previous step's features
  (`cache_pending`) written in. Held back a step so that the ring is written before it
  is read: XLA then updates it in place, where a read before the write made it copy the
  1,000 x 256 ring twice a step. `held` (a bool, traced or not): whether a step ran
  before this one (`ctx.step > 0`); at the first the ring is empty and nothing is held:
  the count and position stay (the rows written are the initial zeros, in slots no
  count includes)."""
  cache, count, position = memory.push_to_cache(
      state["cache"], state["cache_count"], state["cache_position"], state["cache_pending"])
  return (cache, jnp.where(held, count, state["cache_count"]),
          jnp.where(held, position, state["cache_position"]))


def update_state(state, batch, aux, *, config):
  cache, count, position = aux["cache"]
  idx = batch["index"]
  new = {**state,
         "proto_labels": memory.update_prototype_labels(state["proto_labels"], aux["q"],
                                                        aux["r"], beta=config.beta),
         "cache": cache, "cache_count": count, "cache_position": position,
         "cache_pending": aux["features"],  # L2-normalised, written at the next step
         "refined": state["refined"].at[idx].set(aux["refined"]),
         "trust": state["trust"].at[idx].set(aux["trust"])}
  if "running" in aux:
    new["running"] = aux["running"]
  return new


def refined_labels(state):
  return state["refined"]


def trust_scores(state):
  return state["trust"]
