"""SINet's side information (Cheng et al., ECCV 2020): the class relation graph, visual
prototypes, and per-example noise weights. All vectorised; no Python loop over examples.

Class relation graph (Eqs. 2-3):
- S_w from a class hierarchy (a tree of `child parent` lines, WordNet-style): the
  shortest-path distance d(i, j) between two classes in the tree becomes the similarity
  `S_w[i, j] = 1 / (1 + d(i, j))` (1 on the diagonal; the paper's text does not fix the
  map, this one is ours);
- S_l = cosine similarities of label-description (or class-name) embeddings (Eq. 2);
- S_t = S_l + S_w (Eq. 3), or whichever of the two is given.
Visual prototypes (Eqs. 4-5), on L2-normalised features g_i with (noisy) labels c_i:
- initial prototype of class c: the mean of its `k` most confident examples;
- s_v^i = cos(g_i, prototypes) `[C]`; consistency
  `p_i = 1 / (KL(psi(s_t^{c_i}) || psi(s_v^i)) + eps)^gamma`, psi = softmax;
- `v_c = sum_i g_i p_i / sum_i p_i` over the examples labelled c.
Noise weights (Eq. 6): `w_i = relu(alpha - ||v_{c_i} - g_i||_2)^beta` on L2-normalised
features and prototypes; the power is taken of the clipped distance, so a fractional
beta never meets a negative number.
"""

import jax
import jax.numpy as jnp
import numpy as np

from nlx.errors import DataError
from nlx.io import reading


def read_hierarchy(path: str) -> dict:
  """`{child: parent}` from lines `child parent`, or `child -> parent` (names may then
  contain spaces); `#` starts a comment."""
  parents = {}
  with reading(path, "text file of 'child parent' lines"), open(path) as f:
    for n, line in enumerate(f, 1):
      line = line.split("#", 1)[0].strip()
      if not line:
        continue
      parts = [p.strip() for p in line.split("->")] if "->" in line else line.split()
      if len(parts) != 2:
        raise DataError(f"{path}:{n}: expected 'child parent', got {line!r}")
      child, parent = parts
      if parents.get(child, parent) != parent:
        raise DataError(f"{path}:{n}: {child!r} has two parents ({parents[child]!r}, {parent!r})")
      parents[child] = parent
  return parents


def _ancestors(node: str, parents: dict) -> list:
  chain = [node]
  while chain[-1] in parents:
    chain.append(parents[chain[-1]])
    if len(chain) > len(parents) + 1:
      raise DataError(f"class hierarchy has a cycle through {node!r}")
  return chain


def tree_distances(classes, parents: dict) -> np.ndarray:
  """`[C, C]` number of edges between classes in the tree (through their lowest common
  ancestor); a class missing from the hierarchy, or two classes with no common
  ancestor, is an error naming them."""
  chains = []
  for c in classes:
    if c not in parents:
      raise DataError(f"class {c!r} is not in the hierarchy (known: {sorted(parents)[:8]}...)")
    chains.append(_ancestors(c, parents))
  out = np.zeros((len(classes), len(classes)), np.int64)
  for i, a in enumerate(chains):
    depth_a = {node: k for k, node in enumerate(a)}
    for j, b in enumerate(chains):
      common = next((k for k, node in enumerate(b) if node in depth_a), None)
      if common is None:
        raise DataError(f"classes {classes[i]!r} and {classes[j]!r} share no ancestor")
      out[i, j] = depth_a[b[common]] + common
  return out


def hierarchy_similarity(distances: np.ndarray) -> np.ndarray:
  """S_w = 1 / (1 + d)."""
  return 1.0 / (1.0 + np.asarray(distances, np.float64))


def cosine_similarity_matrix(embeddings: np.ndarray) -> np.ndarray:
  """S_l[i, j] = cos(e_i, e_j) (Eq. 2)."""
  e = np.asarray(embeddings, np.float64)
  e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
  return e @ e.T


def relation_graph(classes, *, hierarchy: dict | None = None,
                   embeddings: list | tuple = ()) -> np.ndarray:
  """S_t (Eq. 3): the sum of S_w (if `hierarchy`) and S_l of each embedding matrix."""
  parts = [cosine_similarity_matrix(e) for e in embeddings]
  if hierarchy is not None:
    parts.append(hierarchy_similarity(tree_distances(classes, hierarchy)))
  if not parts:
    raise DataError("the class relation graph needs a hierarchy or description embeddings")
  for p in parts:
    if p.shape != (len(classes), len(classes)):
      raise DataError(f"a similarity matrix has shape {p.shape}, expected {len(classes)}^2")
  return np.sum(parts, axis=0).astype(np.float32)


def l2_normalize(x: jax.Array) -> jax.Array:
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


# Up to this many classes, the per-class sums are products with the labels' one-hot rows
# and the top-k a `top_k` per class (N C D work, multithreaded); above it, the set sorted
# once and scatter-added (N D work, serial on a CPU): the products win about 10x at C = 10
# (45,000 x 256: 60 -> 9 ms an epoch) and lose 2x at C = 1,000 (N = 100,000, D = 512).
MANY_CLASSES = 64
# The products in full float32 on every backend: JAX's default precision on GPUs (TF32)
# and TPUs (bfloat16) moved Eq. 6's w by up to 2.5e-3 where the gathers it replaced were
# exact (ignored on a CPU).
_EXACT = jax.lax.Precision.HIGHEST


def _norms(features: jax.Array) -> tuple[jax.Array, jax.Array]:
  """`([N] ||f_i||^2, [N] 1 / max(||f_i||, 1e-12))`: the squared norms and the scale
  `l2_normalize` gives each row."""
  sq_norms = jnp.sum(features * features, axis=-1)
  return sq_norms, 1.0 / jnp.maximum(jnp.sqrt(sq_norms), 1e-12)


def _inverse_norms(features: jax.Array) -> jax.Array:
  """`[N]`: 1 / max(||f_i||, 1e-12), the scale `l2_normalize` gives each row."""
  return _norms(features)[1]


def _ranked(confidence: jax.Array) -> jax.Array:
  """`confidence` with -inf and NaN moved just above -inf, in that order (the masked-out
  examples' value), so that a class's own examples always rank above the others, in the
  order of a sort of -confidence (NaN last). Integer confidences rank as float32."""
  if not jnp.issubdtype(confidence.dtype, jnp.inexact):
    confidence = confidence.astype(jnp.float32)
  lowest = jnp.finfo(confidence.dtype).min
  return jnp.where(jnp.isnan(confidence), lowest,
                   jnp.where(confidence == -jnp.inf, jnp.nextafter(lowest, 0), confidence))


def topk_prototypes(features: jax.Array, labels: jax.Array, confidence: jax.Array,
                    num_classes: int, k: int, weights: jax.Array | None = None) -> jax.Array:
  """`[C, D]`: per class, the mean of the (normalised) features of its `k` examples of
  highest `confidence` (all of them if it has fewer; equal confidences: the earlier
  example first; NaN last), weighted by `weights` when given; zeros for a class with no
  example. The `C k` rows picked (a `top_k` per class up to `MANY_CLASSES`, else one
  sort of the set) are the only ones normalised."""
  n = labels.shape[0]
  k = max(min(k, n), 0)
  classes = jnp.arange(num_classes)
  if num_classes <= MANY_CLASSES:
    mine = labels[None, :] == classes[:, None]  # [C, N]
    idx = jax.lax.top_k(jnp.where(mine, _ranked(confidence)[None, :], -jnp.inf), k)[1]
    member = labels[idx] == classes[:, None]  # a class of fewer than k: others after it
  else:
    order = jnp.lexsort((-confidence, labels))  # by class, then confidence (NaN last)
    counts = jnp.bincount(labels, length=num_classes)
    rank = jnp.arange(k)[None, :]
    member = rank < counts[:, None]
    idx = order[jnp.minimum((jnp.cumsum(counts) - counts)[:, None] + rank, max(n - 1, 0))]
  keep = member.astype(features.dtype)
  if weights is not None:
    keep = keep * weights[idx]
  rows = jnp.where(member[..., None], l2_normalize(features[idx]), 0.0)  # [C, k, D]
  sums = jnp.einsum("ck,ckd->cd", keep, rows, precision=_EXACT)
  return sums / jnp.maximum(jnp.sum(keep, axis=1), 1e-12)[:, None]


def consistency(relation_rows: jax.Array, visual_similarity: jax.Array, *, gamma: float,
                eps: float) -> jax.Array:
  """p_i = 1 / (KL(softmax(s_t^{c_i}) || softmax(s_v^i)) + eps)^gamma (Eq. 4), `[N]`."""
  log_t = jax.nn.log_softmax(relation_rows, axis=-1)
  log_v = jax.nn.log_softmax(visual_similarity, axis=-1)
  kl = jnp.sum(jnp.exp(log_t) * (log_t - log_v), axis=-1)
  return (jnp.maximum(kl, 0.0) + eps) ** (-gamma)


def _class_sums(labels: jax.Array, row_weights: jax.Array, num_classes: int,
                values: jax.Array | None = None) -> jax.Array:
  """`sum_i row_weights_i values_i` over the examples of each class: `[C, D]` for `values
  [N, D]`, `[C]` without (the weights' own sums). Up to `MANY_CLASSES` one product with
  the labels' weighted one-hot rows `[N, C]` (then a NaN row makes every class NaN, where
  a scatter-add keeps it to its own; features are NaN only when training diverged, which
  stops the run); above, a scatter-add."""
  if num_classes > MANY_CLASSES:
    rows = row_weights if values is None else values * row_weights[:, None]
    return jax.ops.segment_sum(rows, labels, num_segments=num_classes)
  onehot = jnp.where(labels[:, None] == jnp.arange(num_classes)[None, :],
                     row_weights[:, None], 0.0)
  return (jnp.sum(onehot, axis=0) if values is None
          else jnp.tensordot(onehot, values, (0, 0), precision=_EXACT))


def weighted_prototypes(features: jax.Array, labels: jax.Array, weights: jax.Array,
                        num_classes: int) -> jax.Array:
  """v_c = sum_i g_i p_i / sum_i p_i over the examples labelled c (Eq. 5), `[C, D]`: the
  features summed per class with weights p_i / ||f_i|| (g is never materialised)."""
  sums = _class_sums(labels, weights * _inverse_norms(features), num_classes, features)
  total = _class_sums(labels, weights, num_classes)
  return sums / jnp.maximum(total, 1e-12)[:, None]


def noise_weights(features: jax.Array, labels: jax.Array, prototypes: jax.Array, *,
                  alpha: float, beta: float) -> jax.Array:
  """w_i = relu(alpha - ||v_{c_i} - g_i||)^beta on normalised g and v (Eq. 6), `[N]`. Up to
  `MANY_CLASSES` the distance is `||v||^2 + ||g||^2 - 2 v.g` from one product of the
  features with the C normalised prototypes (no `[N, D]` copy of g or of v_{c_i}); its
  float32 cancellation moves d by at most about 8e-4 for a g on its prototype, 1e-6 at
  d = 0.1. Above, the difference of the gathered rows."""
  v = l2_normalize(prototypes)
  sq_norms, scale = _norms(features)
  if prototypes.shape[0] > MANY_CLASSES:
    d = jnp.linalg.norm(v[labels] - features * scale[:, None], axis=-1)
    return jnp.maximum(alpha - d, 0.0) ** beta
  products = jnp.matmul(features, v.T, precision=_EXACT)
  dots = jnp.take_along_axis(products, labels[:, None], axis=-1)[:, 0] * scale
  # ||g||^2: 1, or below 1 for a row of norm under 1e-12; 0 where ||f||^2 overflows
  # (scale 0: g = f / inf = 0, as `l2_normalize` gives), not inf * 0
  g_sq = jnp.where(scale > 0, sq_norms * scale * scale, 0.0)
  d_sq = jnp.sum(v * v, axis=-1)[labels] + g_sq - 2.0 * dots
  return jnp.maximum(alpha - jnp.sqrt(jnp.maximum(d_sq, 0.0)), 0.0) ** beta


PROTOTYPES = ("weighted", "constant", "topk_weighted", "topk_constant")


def sinet_weights(features, labels, confidence, relation, *, k: int, gamma: float, eps: float,
                  alpha: float, beta: float, prototypes: str = "weighted"):
  """The whole of Eqs. 4-6 for one epoch: `(weights [N], prototypes [C, D])`.

  Every reading starts from v_c^0, the mean of the class's top-k examples by classifier
  confidence, whose similarities s_v give each example its matching score p_i (Eq. 4).
  `prototypes`: "weighted" (nlx's reading of Eq. 5: every example labelled c, weighted by
  p_i); "constant" (nlx's ablation: v_c^0 itself); "topk_weighted" (the paper's Table 3:
  the k examples of highest matching score, weighted by it); "topk_constant" (Table 3's
  "Constant": the plain mean of those k)."""
  num_classes = relation.shape[0]
  init = topk_prototypes(features, labels, confidence, num_classes, k)
  if prototypes == "constant":
    protos = init
  else:
    s_v = (features @ l2_normalize(init).T) * _inverse_norms(features)[:, None]
    p = consistency(relation[labels], s_v, gamma=gamma, eps=eps)
    if prototypes == "weighted":
      protos = weighted_prototypes(features, labels, p, num_classes)
    else:
      protos = topk_prototypes(features, labels, p, num_classes, k,
                               weights=p if prototypes == "topk_weighted" else None)
  return noise_weights(features, labels, protos, alpha=alpha, beta=beta), protos
