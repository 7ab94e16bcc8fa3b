"""SINet: weakly supervised learning with side information (Cheng et al., ECCV 2020).

Side information is a class relation graph S_t (from a class hierarchy and/or label
description embeddings, `nlx.ops.class_relations`). After `warmup_epochs` of plain CE, at
the end of every epoch the trainer's model embeds the whole training set (features g_i
of its last hidden layer); per class, visual prototypes are formed from the top-k most
confident examples and re-weighted by their consistency with S_t (Eqs. 4-5), and every
example gets the noise weight `w_i = relu(alpha - ||v_{c_i} - g_i||)^beta` (Eq. 6).
- `variant="C"` (Model-C, the paper's): CE weighted by w (Eq. 7); the batch's loss is
  normalised by its total weight (our choice), so its scale stays that of CE.
- `variant="B"` (Model-B): unweighted CE on the examples with w > 0 only.
- `variant="A"` (Model-A): plain CE (weights are still computed, as a trust score).
- `prototypes` (`nlx.ops.class_relations.sinet_weights`): "weighted" (default, nlx's reading of
  Eq. 5: every example labelled c weighted by its matching score p_i), "constant" (the
  ablation without consistency weighting: v_c = the top-k mean by classifier
  confidence), "topk_weighted" (the paper's Table 3: the top-k examples by matching
  score, weighted by it) and "topk_constant" (Table 3's "Constant": their plain mean).
- Schedule: the paper computes the weights before training and updates the prototypes
  as training goes; nlx trains `warmup_epochs` (5) of plain CE, then recomputes
  prototypes and every w at the end of each epoch from the current model.
- `smoothing_topk=k > 0`: top-k label smoothing: an example with w = 0 is not dropped
  but trained (weight 1) on the uniform target over its given label and the model's
  top-k predicted classes, the model having been trained on the high-weight examples.
Side information: `hierarchy` (a `child parent` file, or `cifar10` for the bundled
one) and `descriptions` (a `class: text` file, or `cifar10`) embedded with
`text_encoder` (tfidf or a local sentence-transformers path), or `embeddings` (a `.npy`
`[C, D]`, any text encoder). Exposes w as the trust score.
Defaults (`default_config`): variant "C", alpha = 1.2, beta = 1.5 (Eq. 6), gamma = 1.0,
eps = 1e-3 (Eq. 4's matching score), topk = 100, warmup_epochs = 5, prototypes
"weighted", smoothing_topk = 0 (off), text_encoder "tfidf", no side information set.
"""

import functools
import os

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from nlx import losses
from nlx.data import class_texts
from nlx.errors import ConfigError, DataError
from nlx.io import reading
from nlx.ops import class_relations


def default_config(name: str = "sinet") -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict({
      "name": name, "variant": "C", "alpha": 1.2, "beta": 1.5, "gamma": 1.0, "eps": 1e-3,
      "topk": 100, "warmup_epochs": 5, "prototypes": "weighted", "smoothing_topk": 0,
      "hierarchy": "", "descriptions": "", "embeddings": "", "text_encoder": "tfidf"})


VARIANTS = ("A", "B", "C")  # Model-A, -B, -C of the paper (the `variant` hyperparameter)


def scale_phases(config, epochs: int) -> None:
  """The plain-CE warm-up lasts `epochs`."""
  config.warmup_epochs = epochs


def shrink_for_tiny(config) -> None:
  """Prototypes from the top 2 examples of a class (a tiny run has few per class)."""
  config.topk = 2


def _resolve(path: str, suffix: str) -> str:
  return class_texts.bundled(f"{path}_{suffix}.txt") if path and "/" not in path and \
      not path.endswith(".txt") else path


def read_embeddings(path: str) -> np.ndarray:
  """The class embeddings `[C, D]` of `method.embeddings`, a `.npy` file (np.save)."""
  if not os.path.isfile(path):
    raise ConfigError(f"method.embeddings: no file {path} (expected a .npy array [C, D] of "
                      "class embeddings, one row per class)")
  with reading(path, "NumPy .npy array", "save the class embeddings again with np.save"):
    return np.load(path, allow_pickle=False)


def relation_matrix(config, class_names) -> np.ndarray:
  """S_t of the configured side information."""
  hierarchy = None
  if config.hierarchy:
    path = _resolve(config.hierarchy, "hierarchy")
    hierarchy = class_relations.read_hierarchy(path)
    missing = [c for c in class_names if c not in hierarchy]
    if missing:  # e.g. a file cut short
      raise DataError(f"{path}: no 'child parent' line for the classes {missing[:8]}"
                      f"{'...' if len(missing) > 8 else ''}; add them (method.hierarchy)")
  embeddings = []
  if config.embeddings:
    embeddings.append(read_embeddings(config.embeddings))
  if config.descriptions:
    texts = class_texts.read_descriptions(_resolve(config.descriptions, "descriptions"),
                                        class_names)
    embeddings.append(class_texts.embed_texts(texts, config.text_encoder))
  if hierarchy is None and not embeddings:
    raise ConfigError("method sinet needs side information: set method.hierarchy, "
                      "method.descriptions or method.embeddings")
  return class_relations.relation_graph(list(class_names), hierarchy=hierarchy,
                                        embeddings=embeddings)


def init_state(config, *, dataset, model, rng, **unused):
  """The initial state in numpy (the trainer puts it on the devices in its one state
  program; a jax array built here would compile a program of its own at start-up)."""
  del rng, unused
  if config.variant not in VARIANTS:
    raise ConfigError(f"method.variant must be A, B or C, got {config.variant!r}")
  if config.prototypes not in class_relations.PROTOTYPES:
    raise ConfigError(f"method.prototypes must be one of {class_relations.PROTOTYPES}, got "
                      f"{config.prototypes!r}")
  c = dataset.num_classes
  for key, least, most in (("topk", 1, None), ("smoothing_topk", 0, c),
                           ("warmup_epochs", 0, None)):
    if not config[key] >= least or (most is not None and config[key] > most):
      bound = f">= {least}" if most is None else f"in [{least}, {most}]"
      raise ConfigError(f"method.{key}={config[key]} must be {bound}")
  labels = np.asarray(dataset.train.hard_labels(), np.int32)
  return {}, {
      "relation": np.asarray(relation_matrix(config, dataset.class_names), np.float32),
      "weights": np.ones((len(labels),), np.float32),
      "prototypes": np.zeros((c, model.feature_dim), np.float32),
      "targets": np.eye(c, dtype=np.float32)[labels],
      "labels": labels}


def loss_fn(params, state, outputs, batch, rng, *, config, ctx):
  del params, rng, ctx
  idx = batch["index"]
  ce = losses.softmax_cross_entropy(outputs.logits, state["targets"][idx])
  if config.variant == "A":
    return ce, {}
  w = state["weights"][idx]
  keep = w > 0
  if config.variant == "B":
    w = keep.astype(jnp.float32)
  if config.smoothing_topk > 0:  # dropped examples train on their smoothed target instead
    w = jnp.where(keep, w, 1.0)
  return w * ce * w.shape[0] / jnp.maximum(jnp.sum(w), 1e-6), {}


def smoothed_targets(probs: jax.Array, labels: jax.Array, weights: jax.Array, k: int) -> jax.Array:
  """`[N, C]`: one-hot given label where w > 0; else uniform over {given label} and
  the top-k predicted classes."""
  c = probs.shape[-1]
  top = jax.lax.top_k(probs, k)[1]
  members = jnp.maximum(jax.nn.one_hot(labels, c),
                        jnp.max(jax.nn.one_hot(top, c), axis=1))
  smooth = members / jnp.sum(members, axis=-1, keepdims=True)
  return jnp.where((weights > 0)[:, None], jax.nn.one_hot(labels, c), smooth)


@functools.partial(jax.jit, static_argnames=("k", "gamma", "eps", "alpha", "beta", "prototypes",
                                             "smoothing_topk"))
def _refreshed(logits, feats, labels, relation, *, k, gamma, eps, alpha, beta, prototypes,
               smoothing_topk):
  """An epoch's `(weights [N], prototypes [C, D], smoothed targets [N, C] or None)` from the
  training set's `logits [N, C]` and `feats [N, D]`: one compiled program for every epoch,
  on the device (a jit wrapper made per call would re-trace)."""
  probs = jax.nn.softmax(logits, axis=-1)
  confidence = jnp.take_along_axis(probs, labels[:, None], axis=-1)[:, 0]
  weights, protos = class_relations.sinet_weights(
      feats, labels, confidence, relation, k=k, gamma=gamma, eps=eps, alpha=alpha, beta=beta,
      prototypes=prototypes)
  targets = (smoothed_targets(probs, labels, weights, smoothing_topk) if smoothing_topk > 0
             else None)
  return weights, protos, targets


def end_of_epoch(ctx, state, epoch, *, config):
  if epoch < config.warmup_epochs:
    return state
  ms = state.method_state
  logits, feats = ctx.predict_on_device(state, ctx.dataset.train)
  weights, protos, targets = _refreshed(
      logits, feats, ms["labels"], ms["relation"], k=config.topk, gamma=config.gamma,
      eps=config.eps, alpha=config.alpha, beta=config.beta, prototypes=config.prototypes,
      smoothing_topk=config.smoothing_topk)
  new = {**ms, "weights": weights, "prototypes": protos}
  if targets is not None:
    new["targets"] = targets
  return state.replace(method_state=ctx.replicate(new))


def trust_scores(state):
  return state["weights"]
