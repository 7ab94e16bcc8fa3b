"""ARNet: Aggregate and Refine Net, an external memory of prototypes with soft labels.

Features `h = f(x)` (the model's penultimate layer), predictions `r = softmax(logits)`.
Memory: prototypes C `[L, d]` (method params, orthogonal init, trained) and soft labels
G `[L, K]` (method state, uniform init).
- Read (Eq. 1): `p_ij = softmax_j(cos(h_i, c_j))`, `v_i = sum_j p_ij g_j`;
  refined target `t_i = (1 - lam) r_i + lam v_i`, a constant.
- Assignment (Eq. 4): Q = Sinkhorn (`nlx.ops.sinkhorn`, xi = 0.05, 3 iterations) over
  the cosines of the batch's features *and* a cache of the last 1,000 features (method
  state; cache rows first, only the batch's rows kept; empty cache slots excluded).
- Loss (Eq. 6): `CE(r, y~) + alpha log(1 - r^T t) - sum_j q_ij log p_ij`, alpha = 3; the
  middle term is `nlx.losses.elr_regularizer` (prediction clamped to [1e-4, 1 - 1e-4]
  so the log stays finite); gradients reach the network, the classifier and C.
- Write (Eq. 5), after each step: `g_j <- beta g_j + (1 - beta) sum_i q_ij r_i / sum_i q_ij`,
  beta = 0.8. The paper says g_j is "the average of the predictions of the samples
  assigned" to prototype j; we take the Sinkhorn-weighted average of the softmax
  predictions, which keeps every g_j a distribution.
Defaults: lam = 0.8, L = 64 (the paper tries 16-128). Inference uses only the network.
Per example, the refined label `argmax t_i` and the trust score `v_i[y~_i]` (memory's
support for the given label) are kept for the label-precision curve and noise detection.
"""

import jax
import jax.numpy as jnp
import ml_collections

from nlx import losses
from nlx.ops import memory
from nlx.ops.sinkhorn import sinkhorn_assignment


def default_config(name: str = "arnet") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      "name": name, "lam": 0.8, "alpha": 3.0, "beta": 0.8, "num_prototypes": 64,
      "epsilon": 0.05, "sinkhorn_iters": 3, "cache_size": 1000, "temperature": 1.0})


def init_state(config, *, dataset, model, rng, **unused):
  del unused
  n, k, d = len(dataset.train), dataset.num_classes, model.feature_dim
  prototypes = jax.nn.initializers.orthogonal()(rng, (config.num_prototypes, d), jnp.float32)
  labels = jnp.asarray(dataset.train.hard_labels(), jnp.int32)
  state = {"proto_labels": jnp.full((config.num_prototypes, k), 1.0 / k, jnp.float32),
           "cache": jnp.zeros((config.cache_size, d), jnp.float32),
           "cache_count": jnp.zeros((), jnp.int32),
           "refined": labels, "trust": jnp.zeros(n, jnp.float32), "labels": labels}
  return {"prototypes": prototypes}, state


def assign(features, prototypes, cache, cache_count, *, epsilon, num_iters):
  """Sinkhorn assignment of `[cache; batch]` rows; returns the batch's rows `[B, L]`."""
  size = cache.shape[0]
  scores = memory.cosine_scores(jnp.concatenate([cache, features]), prototypes)
  valid = jnp.concatenate([jnp.arange(size) >= size - cache_count,
                           jnp.ones(features.shape[0], bool)])
  return sinkhorn_assignment(scores, epsilon=epsilon, num_iters=num_iters, valid=valid)[size:]


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del rng
  h, logits = outputs.features, outputs.logits
  r = jax.nn.softmax(logits, axis=-1)
  log_p, v = memory.memory_read(h, params["prototypes"], state["proto_labels"],
                                temperature=config.temperature)
  t = memory.refine_targets(r, v, config.lam)
  q = assign(h, params["prototypes"], state["cache"], state["cache_count"],
             epsilon=config.epsilon, num_iters=config.sinkhorn_iters)
  y = losses.as_distribution(batch["label"], ctx.num_classes)
  per_example = (losses.softmax_cross_entropy(logits, y)
                 + config.alpha * losses.elr_regularizer(logits, t)
                 - jnp.sum(q * log_p, axis=-1))
  given = jnp.argmax(y, axis=-1)
  aux = {"q": q, "r": jax.lax.stop_gradient(r), "features": jax.lax.stop_gradient(h),
         "refined": jnp.argmax(t, axis=-1).astype(jnp.int32),
         "trust": jax.lax.stop_gradient(jnp.take_along_axis(v, given[:, None], axis=-1)[:, 0])}
  return per_example, aux


def update_state(state, batch, aux, *, config):
  cache, count = memory.push_to_cache(state["cache"], state["cache_count"], aux["features"])
  idx = batch["index"]
  return {**state,
          "proto_labels": memory.update_prototype_labels(state["proto_labels"], aux["q"],
                                                         aux["r"], beta=config.beta),
          "cache": cache, "cache_count": count,
          "refined": state["refined"].at[idx].set(aux["refined"]),
          "trust": state["trust"].at[idx].set(aux["trust"])}


def refined_labels(state):
  return state["refined"]


def trust_scores(state):
  return state["trust"]
