import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nlx.data import class_texts
from nlx.errors import DataError
from nlx.ops import class_relations as si


def write(tmp_path, name, text):
  p = tmp_path / name
  p.write_text(text)
  return str(p)


def test_tree_distances_by_hand(tmp_path):
  #        root
  #       /    \
  #      a      b
  #     / \      \
  #    x   y      z
  path = write(tmp_path, "h.txt", "x a\ny -> a\nz b\na root\nb root  # comment\n")
  parents = si.read_hierarchy(path)
  d = si.tree_distances(["x", "y", "z", "a"], parents)
  np.testing.assert_array_equal(d, [[0, 2, 4, 1], [2, 0, 4, 1], [4, 4, 0, 3], [1, 1, 3, 0]])
  np.testing.assert_allclose(si.hierarchy_similarity(d)[0], [1, 1 / 3, 1 / 5, 1 / 2])
  with pytest.raises(DataError, match="'w' is not in the hierarchy"):
    si.tree_distances(["x", "w"], parents)
  with pytest.raises(DataError, match="two parents"):
    si.read_hierarchy(write(tmp_path, "bad.txt", "x a\nx b\n"))


def test_bundled_cifar10_side_information_is_sensible():
  classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
             "truck"]
  parents = si.read_hierarchy(class_texts.bundled("cifar10_hierarchy.txt"))
  d = si.tree_distances(classes, parents)
  k = classes.index
  assert d[k("cat"), k("dog")] == 4  # cat-feline-carnivore-canine-dog
  assert d[k("automobile"), k("truck")] == 2
  assert d[k("cat"), k("dog")] < d[k("cat"), k("frog")] < d[k("cat"), k("truck")]
  texts = class_texts.read_descriptions(class_texts.bundled("cifar10_descriptions.txt"), classes)
  s_l = si.cosine_similarity_matrix(class_texts.embed_texts(texts))
  np.testing.assert_allclose(np.diag(s_l), 1.0, atol=1e-6)
  assert s_l[k("cat"), k("dog")] > s_l[k("cat"), k("truck")]
  s_t = si.relation_graph(classes, hierarchy=parents, embeddings=[class_texts.embed_texts(texts)])
  np.testing.assert_allclose(s_t, s_l + 1 / (1 + d), rtol=1e-5)


def slow_weights(g, labels, conf, relation, k, gamma, eps, alpha, beta):
  """Eqs. 4-6 with Python loops, from the equations."""
  g = g / np.linalg.norm(g, axis=1, keepdims=True)
  c = relation.shape[0]
  init = np.zeros((c, g.shape[1]))
  for cls in range(c):
    idx = np.flatnonzero(labels == cls)
    top = idx[np.argsort(-conf[idx], kind="stable")[:k]]
    init[cls] = g[top].mean(0)
  init_n = init / np.linalg.norm(init, axis=1, keepdims=True)
  softmax = lambda v: np.exp(v - v.max()) / np.exp(v - v.max()).sum()
  p = np.zeros(len(g))
  for i in range(len(g)):
    t, v = softmax(relation[labels[i]]), softmax(init_n @ g[i])
    p[i] = 1.0 / (np.sum(t * np.log(t / v)) + eps) ** gamma
  protos = np.zeros_like(init)
  for cls in range(c):
    idx = labels == cls
    protos[cls] = (g[idx] * p[idx, None]).sum(0) / p[idx].sum()
  protos_n = protos / np.linalg.norm(protos, axis=1, keepdims=True)
  w = np.zeros(len(g))
  for i in range(len(g)):
    dist = np.linalg.norm(protos_n[labels[i]] - g[i])
    w[i] = max(alpha - dist, 0.0) ** beta
  return w, protos


# The defaults (k 5, gamma 1, eps 1e-3; gamma = 1 makes p_i a plain inverse), and gamma 2.5
# with eps 0.2 and k 3, which weight the prototypes otherwise (Eq. 4).
@pytest.mark.parametrize("seed,n,c,d,shift,diag,kw", [
    (0, 120, 4, 6, 2.0, 1, {"k": 5, "gamma": 1.0, "eps": 1e-3, "alpha": 1.2, "beta": 1.5}),
    (1, 40, 3, 4, 1.5, 2, {"k": 3, "gamma": 2.5, "eps": 0.2, "alpha": 1.4, "beta": 0.5}),
])
def test_sinet_weights_match_a_loop_implementation(seed, n, c, d, shift, diag, kw):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, c, n)
  g = rng.standard_normal((n, d)) + shift * np.eye(c, d)[labels]
  conf = rng.random(n)
  relation = rng.random((c, c)) + diag * np.eye(c)
  want_w, want_p = slow_weights(g, labels, conf, relation, *kw.values())
  w, protos = si.sinet_weights(jnp.asarray(g, jnp.float32), jnp.asarray(labels),
                               jnp.asarray(conf, jnp.float32), jnp.asarray(relation, jnp.float32),
                               **kw)
  np.testing.assert_allclose(protos, want_p, rtol=2e-4, atol=1e-5)
  np.testing.assert_allclose(w, want_w, rtol=2e-4, atol=1e-5)
  assert (want_w == 0).any() and (want_w > 0).any()  # both sides of alpha are exercised
  if kw["gamma"] != 1.0:  # the default gamma/eps give other prototypes: the options are seen
    default_p = slow_weights(g, labels, conf, relation, kw["k"], 1.0, 1e-3, kw["alpha"],
                             kw["beta"])[1]
    assert np.abs(default_p - want_p).max() > 1e-3


def test_noise_weight_by_hand_and_never_nan_for_fractional_beta():
  g = jnp.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
  protos = jnp.array([[1.0, 0.0]])
  w = si.noise_weights(g, jnp.zeros(3, jnp.int32), protos, alpha=1.2, beta=1.5)
  # distances 0, sqrt(2) (> 1.2), 2
  np.testing.assert_allclose(w, [1.2 ** 1.5, 0.0, 0.0], rtol=1e-6)  # no NaN from 0 ** 1.5


def test_topk_prototypes_pick_the_most_confident():
  g = jnp.array([[1.0, 0], [0, 1.0], [1.0, 1.0], [3.0, 0]])
  labels = jnp.array([0, 0, 0, 1])
  conf = jnp.array([0.9, 0.1, 0.8, 0.5])
  p = si.topk_prototypes(g, labels, conf, 3, 2)
  np.testing.assert_allclose(p[0], (np.array([1, 0]) + np.array([1, 1]) / np.sqrt(2)) / 2,
                             rtol=1e-6)
  np.testing.assert_allclose(p[1], [1, 0])
  np.testing.assert_allclose(p[2], [0, 0])  # a class with no example


def test_text_encoder_must_be_tfidf_or_a_local_model(tmp_path):
  from nlx.errors import ConfigError
  with pytest.raises(ConfigError, match="never downloads"):
    class_texts.embed_texts(["a cat"], "sentence-transformers/all-MiniLM-L6-v2")
  emb = class_texts.embed_texts(["a small cat", "a big dog", "a small dog"])
  # TF-IDF by hand: "a" is an English stop word; columns big, cat, dog, small; smoothed
  # idf = ln((1 + 3) / (1 + df)) + 1 (df 1: big, cat; df 2: dog, small); rows L2-normed.
  rare, common = np.log(4 / 2) + 1, np.log(4 / 3) + 1
  want = np.array([[0, rare, 0, common], [rare, 0, common, 0], [0, 0, common, common]])
  np.testing.assert_allclose(emb, want / np.linalg.norm(want, axis=1, keepdims=True), rtol=1e-6)


def test_hierarchy_errors_name_the_line(tmp_path):
  with pytest.raises(DataError, match=r"bad\.txt:3: 'x' has two parents \('a', 'b'\)"):
    si.read_hierarchy(write(tmp_path, "bad.txt", "# header\nx a\nx b\n"))
  with pytest.raises(DataError, match=r"three\.txt:2: expected 'child parent', got 'y a b'"):
    si.read_hierarchy(write(tmp_path, "three.txt", "x a\ny a b\n"))
  # a comment after the parent, with a second '#': the parent is still 'a'
  assert si.read_hierarchy(write(tmp_path, "ok.txt", "x a # one # two\n")) == {"x": "a"}


def test_a_chain_as_long_as_the_hierarchy_is_no_cycle_and_a_cycle_is_an_error():
  # d -> c -> b -> a: every class's chain of ancestors is at most 4 = len(parents) + 1 long
  parents = {"d": "c", "c": "b", "b": "a"}
  np.testing.assert_array_equal(si.tree_distances(["d", "b"], parents), [[0, 2], [2, 0]])
  with pytest.raises(DataError, match="cycle through 'x'"):
    si.tree_distances(["x"], {"x": "y", "y": "z", "z": "x"})


def test_cosine_similarity_matrix_by_hand_unnormalised_rows():
  e = np.array([[3.0, 4.0], [0.0, 0.5], [0.0, 0.0]])  # norms 5, 0.5 and 0 (stays 0)
  np.testing.assert_allclose(si.cosine_similarity_matrix(e),
                             [[1.0, 0.8, 0.0], [0.8, 1.0, 0.0], [0.0, 0.0, 0.0]], atol=1e-12)


def test_prototypes_of_weights_summing_below_one_and_of_an_empty_class():
  # unit features along e1, e2 (scaled: normalised first); class 1 has no example
  f = jnp.array([[2.0, 0.0], [0.0, 0.5], [0.3, 0.4]])
  labels = jnp.array([0, 0, 2])
  w = jnp.array([0.2, 0.1, 0.05])
  want0 = (0.2 * np.array([1.0, 0.0]) + 0.1 * np.array([0.0, 1.0])) / 0.3
  got = si.weighted_prototypes(f, labels, w, 3)
  np.testing.assert_allclose(got, [want0, [0.0, 0.0], [0.6, 0.8]], rtol=1e-6, atol=1e-7)
  got = si.topk_prototypes(f, labels, w, 3, 2, weights=w)
  np.testing.assert_allclose(got, [want0, [0.0, 0.0], [0.6, 0.8]], rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(si.l2_normalize(jnp.array([0.3, 0.4])), [0.6, 0.8], rtol=1e-6)


def test_hyperparameters_are_keyword_only():
  g, labels = jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.array([0, 1])
  with pytest.raises(TypeError):
    si.consistency(jnp.zeros((2, 2)), jnp.zeros((2, 2)), 1.0, 0.5)
  # identical rows: KL 0, p = eps^-gamma = 0.5^-1 = 2
  np.testing.assert_allclose(si.consistency(relation_rows=jnp.zeros((2, 2)),
                                            visual_similarity=jnp.zeros((2, 2)), gamma=1.0,
                                            eps=0.5),
                             [2.0, 2.0], rtol=1e-6)
  with pytest.raises(TypeError):
    si.noise_weights(g, labels, g, 1.2, 1.0)
  np.testing.assert_allclose(si.noise_weights(features=g, labels=labels, prototypes=g, alpha=1.2,
                                              beta=1.0), [1.2, 1.2], rtol=1e-6)
  with pytest.raises(TypeError):
    si.sinet_weights(g, labels, jnp.ones(2), jnp.eye(2), 1, 1.0, 1e-3, 1.2, 1.0)
  with pytest.raises(TypeError):
    si.relation_graph(["x"], {"x": "r"})
  np.testing.assert_allclose(si.relation_graph(classes=["x", "y"], hierarchy={"x": "r", "y": "r"}),
                             [[1.0, 1 / 3], [1 / 3, 1.0]], rtol=1e-6)


def _slow_topk(g, labels, conf, c, k, weights=None):
  """Per class the k most confident (ties: the earlier example), weighted mean, by loops."""
  g = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12)
  w = np.ones(len(g)) if weights is None else weights
  out = np.zeros((c, g.shape[1]))
  for cls in range(c):
    idx = np.flatnonzero(labels == cls)
    top = idx[np.argsort(-conf[idx], kind="stable")[:k]]
    if len(top) and w[top].sum() > 0:
      out[cls] = (g[top] * w[top, None]).sum(0) / w[top].sum()
  return out


@pytest.mark.parametrize("k", [1, 3, 7, 50])
def test_topk_prototypes_ties_keep_the_earlier_examples_and_short_classes_keep_all(k):
  # confidences from 3 values: most ranks are ties, broken by position; class 3 has 2
  # examples (< k for k > 2), class 4 none; k = 50 exceeds N
  rng = np.random.default_rng(k)
  labels = np.concatenate([rng.integers(0, 3, 38), [3, 3]])
  g = rng.standard_normal((40, 5))
  g[5] = 0.0  # a zero row stays zero when normalised
  conf = rng.integers(0, 3, 40) / 2.0
  w = rng.random(40)
  for weights in (None, w):
    got = si.topk_prototypes(jnp.asarray(g, jnp.float32), jnp.asarray(labels),
                             jnp.asarray(conf, jnp.float32), 5, k,
                             weights=None if weights is None else jnp.asarray(weights, jnp.float32))
    np.testing.assert_allclose(got, _slow_topk(g, labels, conf, 5, k, weights), rtol=1e-5,
                               atol=1e-6)
  # the tie rule decides: the later of two equally confident examples is not kept
  two = si.topk_prototypes(jnp.array([[1.0, 0.0], [0.0, 1.0]]), jnp.array([0, 0]),
                           jnp.array([0.5, 0.5]), 1, 1)
  np.testing.assert_allclose(two, [[1.0, 0.0]])


def test_weighted_prototypes_and_noise_weights_match_loops_with_zero_rows():
  rng = np.random.default_rng(3)
  labels = rng.integers(0, 4, 60)
  f = rng.standard_normal((60, 6)) * rng.uniform(0.01, 50, (60, 1))  # far-apart norms
  f[[2, 9]] = 0.0
  p = rng.random(60)
  g = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
  want = np.stack([(g[labels == c] * p[labels == c, None]).sum(0) / p[labels == c].sum()
                   for c in range(4)])
  protos = si.weighted_prototypes(jnp.asarray(f, jnp.float32), jnp.asarray(labels),
                                  jnp.asarray(p, jnp.float32), 4)
  np.testing.assert_allclose(protos, want, rtol=1e-5, atol=1e-6)
  v = want / np.linalg.norm(want, axis=1, keepdims=True)
  dist = np.linalg.norm(v[labels] - g, axis=1)  # the zero rows: ||v|| = 1
  for alpha, beta in ((1.2, 1.5), (1.05, 0.5), (2.5, 2.0)):
    w = si.noise_weights(jnp.asarray(f, jnp.float32), jnp.asarray(labels),
                         jnp.asarray(want, jnp.float32), alpha=alpha, beta=beta)
    np.testing.assert_allclose(w, np.maximum(alpha - dist, 0.0) ** beta, rtol=1e-5, atol=1e-6)
  # features on their prototypes (40 classes, various scales): distance 0 up to float32's
  # cancellation, never a NaN from a d^2 rounded below 0
  protos40 = rng.standard_normal((40, 6))
  on_f = protos40 / np.linalg.norm(protos40, axis=1, keepdims=True) * rng.uniform(0.1, 9, (40, 1))
  on = np.asarray(si.noise_weights(jnp.asarray(on_f, jnp.float32), jnp.arange(40),
                                   jnp.asarray(protos40, jnp.float32), alpha=1.2, beta=1.5))
  np.testing.assert_allclose(on, 1.2 ** 1.5, rtol=2e-3)


@pytest.mark.parametrize("many", [False, True])
def test_both_paths_match_loops_above_and_below_many_classes(many, monkeypatch):
  """Up to `MANY_CLASSES` classes products and a top_k per class, above a sort and
  scatter-adds: the same values (here both paths on 70 classes, the threshold moved)."""
  monkeypatch.setattr(si, "MANY_CLASSES", 0 if many else 1000)
  rng = np.random.default_rng(11)
  c = 70
  labels = rng.integers(0, c - 3, 400)  # 3 classes without examples
  g = rng.standard_normal((400, 8)) + 2.0 * np.eye(c, 8)[labels]
  conf = rng.integers(0, 4, 400) / 3.0  # ties
  w = rng.random(400)
  for k in (1, 4, 50):
    got = si.topk_prototypes(jnp.asarray(g, jnp.float32), jnp.asarray(labels),
                             jnp.asarray(conf, jnp.float32), c, k,
                             weights=jnp.asarray(w, jnp.float32))
    np.testing.assert_allclose(got, _slow_topk(g, labels, conf, c, k, w), rtol=1e-5, atol=1e-6)
  unit = g / np.linalg.norm(g, axis=1, keepdims=True)
  want = np.zeros((c, 8))
  for cls in set(labels.tolist()):
    want[cls] = (unit[labels == cls] * w[labels == cls, None]).sum(0) / w[labels == cls].sum()
  protos = si.weighted_prototypes(jnp.asarray(g, jnp.float32), jnp.asarray(labels),
                                  jnp.asarray(w, jnp.float32), c)
  np.testing.assert_allclose(protos, want, rtol=1e-5, atol=1e-6)
  v = want / np.maximum(np.linalg.norm(want, axis=1, keepdims=True), 1e-12)
  got_w = si.noise_weights(jnp.asarray(g, jnp.float32), jnp.asarray(labels),
                           jnp.asarray(want, jnp.float32), alpha=1.3, beta=1.5)
  np.testing.assert_allclose(got_w, np.maximum(1.3 - np.linalg.norm(v[labels] - unit, axis=1),
                                               0.0) ** 1.5, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("many", [False, True])
def test_non_finite_confidences_rank_last_and_stay_in_their_class(many, monkeypatch):
  monkeypatch.setattr(si, "MANY_CLASSES", 0 if many else 1000)
  f = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, 4.0]])
  # class 0: a NaN, a -inf and 0.2; class 1: one example at -inf (fewer than k: kept)
  labels, conf = jnp.array([0, 0, 0, 1]), jnp.array([jnp.nan, -jnp.inf, 0.2, -jnp.inf])
  got = np.asarray(si.topk_prototypes(f, labels, conf, 2, 2))
  np.testing.assert_allclose(got[0], (np.array([0.0, 1.0]) + np.array([1, 1]) / np.sqrt(2)) / 2,
                             rtol=1e-6)  # 0.2 first, then -inf, the NaN last
  np.testing.assert_allclose(got[1], [0.6, 0.8], rtol=1e-6)
  # integer confidences (counts, votes) rank as numbers
  np.testing.assert_allclose(si.topk_prototypes(f, labels, jnp.array([1, 5, 3, 0]), 2, 1)[0],
                             [0.0, 1.0], rtol=1e-6)
  # a NaN feature row of another class, picked as padding for a short class (class 0, one
  # example, k = 3; either path pads with class 1's rows), is not summed
  nan_row = f.at[1].set(jnp.nan)
  np.testing.assert_allclose(
      si.topk_prototypes(nan_row, jnp.array([0, 1, 1, 1]), jnp.ones(4), 2, 3)[0], [1.0, 0.0])


def test_an_overflowing_feature_norm_is_a_zero_g_and_the_products_are_full_float32():
  # ||f||^2 overflows float32: g = f / inf = 0 (as l2_normalize), d = ||v|| = 1
  w = si.noise_weights(jnp.array([[3e19, 4e19]]), jnp.array([0]), jnp.array([[1.0, 1.0]]),
                       alpha=1.2, beta=1.5)
  np.testing.assert_allclose(w, [0.2 ** 1.5], rtol=1e-5)
  # GPUs and TPUs round float32 products to TF32 / bfloat16 by default: these ask for float32
  args = (jnp.ones((6, 3)), jnp.array([0, 1, 0, 1, 0, 1]), jnp.ones(6))
  for fn in (lambda f, y, p: si.noise_weights(f, y, f[:2], alpha=1.0, beta=1.0),
             lambda f, y, p: si.weighted_prototypes(f, y, p, 2),
             lambda f, y, p: si.topk_prototypes(f, y, p, 2, 2)):
    dots = str(jax.make_jaxpr(fn)(*args)).split("dot_general[")[1:]
    assert dots and all("precision=(Precision.HIGHEST" in d[:160] for d in dots), dots
