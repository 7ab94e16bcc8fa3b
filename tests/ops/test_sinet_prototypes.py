"""SINet's prototype readings (issue 20: the paper's Table 3 beside nlx's Eq. 5 reading)
and the dropped-set figures of `noise_detection`, against hand-worked values."""

import jax.numpy as jnp
import numpy as np
import pytest

from nlx import metrics
from nlx.ops import class_relations


def _unit(v):
  v = np.asarray(v, float)
  return v / np.linalg.norm(v, axis=-1, keepdims=True)


def test_topk_prototypes_rank_by_score_and_weight():
  # class 0: three examples along e1, e2 and (e1 + e2)/sqrt2; class 1: one along -e1
  f = jnp.array([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [-1.0, 0.0]])
  labels = jnp.array([0, 0, 0, 1])
  score = jnp.array([0.9, 0.1, 0.5, 0.7])
  # k = 2: class 0 keeps examples 0 and 2 (scores 0.9, 0.5)
  plain = class_relations.topk_prototypes(f, labels, score, 2, 2)
  np.testing.assert_allclose(plain[0], (np.array([1, 0]) + _unit([1, 1])) / 2, rtol=1e-6)
  np.testing.assert_allclose(plain[1], [-1, 0], rtol=1e-6)
  weighted = class_relations.topk_prototypes(f, labels, score, 2, 2, weights=score)
  np.testing.assert_allclose(weighted[0], (0.9 * np.array([1, 0]) + 0.5 * _unit([1, 1])) / 1.4,
                             rtol=1e-6)


def test_sinet_prototype_readings_differ_as_documented():
  rng = np.random.default_rng(0)
  f = jnp.asarray(rng.standard_normal((12, 3)), jnp.float32)
  labels = jnp.asarray([0] * 6 + [1] * 6)
  confidence = jnp.asarray(rng.random(12), jnp.float32)
  relation = jnp.array([[1.0, 0.2], [0.2, 1.0]])
  kw = {"k": 3, "gamma": 1.0, "eps": 1e-3, "alpha": 1.2, "beta": 1.5}
  got = {m: class_relations.sinet_weights(f, labels, confidence, relation, prototypes=m, **kw)[1]
         for m in class_relations.PROTOTYPES}
  # the same by hand: v0 = top-3 mean by confidence; p from Eq. 4; then each reading
  init = class_relations.topk_prototypes(f, labels, confidence, 2, 3)
  s_v = class_relations.l2_normalize(f) @ class_relations.l2_normalize(init).T
  p = np.asarray(class_relations.consistency(relation[labels], s_v, gamma=1.0, eps=1e-3))
  g = _unit(np.asarray(f))
  for c in (0, 1):
    members = np.flatnonzero(np.asarray(labels) == c)
    top = members[np.argsort(-p[members])[:3]]
    np.testing.assert_allclose(got["constant"][c], init[c], rtol=1e-5)
    np.testing.assert_allclose(got["weighted"][c], (p[members, None] * g[members]).sum(0)
                               / p[members].sum(), rtol=1e-5)
    np.testing.assert_allclose(got["topk_constant"][c], g[top].mean(0), rtol=1e-5)
    np.testing.assert_allclose(got["topk_weighted"][c], (p[top, None] * g[top]).sum(0)
                               / p[top].sum(), rtol=1e-5)


def test_noise_detection_reports_the_dropped_set():
  labels, clean = np.array([0, 1, 1, 0, 1]), np.array([0, 1, 0, 1, 1])  # 2 and 3 mislabelled
  r = metrics.noise_detection(np.array([0.5, 0.0, 0.0, 0.0, 0.9]), labels, clean)
  assert r["kept_share"] == pytest.approx(2 / 5)
  assert r["dropped_precision"] == pytest.approx(2 / 3)  # of 1, 2, 3 dropped, 2 and 3 wrong
  assert np.isnan(metrics.noise_detection(np.ones(5), labels, clean)["dropped_precision"])
