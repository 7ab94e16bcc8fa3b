import numpy as np
import pytest
from ml_collections import ConfigDict
from sklearn.datasets import load_digits

from nlx.data import noise
from nlx.errors import ConfigError


def balanced_labels(n_per_class=1000, c=10):
  return np.repeat(np.arange(c), n_per_class)


def test_symmetric_changes_exactly_the_requested_fraction_to_other_classes():
  y = balanced_labels(100)
  r = noise.symmetric_noise(y, 10, 0.4, seed=0)
  changed = r.labels != y
  assert changed.sum() == 400
  assert r.rate == 0.4
  assert r.labels.min() >= 0 and r.labels.max() < 10
  np.testing.assert_allclose(r.transition.sum(1), 1.0)
  # Diagonal of the realised matrix = per-class fraction kept, counted by hand.
  for k in range(10):
    assert r.transition[k, k] == pytest.approx(np.mean(r.labels[y == k] == k))


def test_symmetric_off_diagonal_is_uniform_over_other_classes():
  y = balanced_labels(10000)
  r = noise.symmetric_noise(y, 10, 0.4, seed=1)
  off = r.transition[~np.eye(10, dtype=bool)]
  np.testing.assert_allclose(off, 0.4 / 9, atol=0.006)
  np.testing.assert_allclose(np.diag(r.transition), 0.6, atol=0.015)


def test_symmetric_uniform_convention_keeps_some_true_labels():
  y = balanced_labels(10000)
  r = noise.symmetric_noise(y, 10, 0.4, seed=2, include_true_class=True)
  # A fraction 0.4 is redrawn over all 10 classes: 1/10 of those keep their class.
  assert r.rate == pytest.approx(0.4 * 9 / 10, abs=0.005)
  np.testing.assert_allclose(np.diag(r.transition), 1 - 0.36, atol=0.015)


def test_noise_is_seeded():
  y = balanced_labels(50)
  a = noise.symmetric_noise(y, 10, 0.3, seed=5).labels
  b = noise.symmetric_noise(y, 10, 0.3, seed=5).labels
  c = noise.symmetric_noise(y, 10, 0.3, seed=6).labels
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, c)


def test_pair_noise_flips_exact_fraction_to_next_class():
  y = np.concatenate([np.full(n, k) for k, n in enumerate([10, 20, 30, 40])])
  r = noise.pair_noise(y, 4, 0.4, seed=0)
  expected = np.zeros((4, 4))
  for k, n in enumerate([10, 20, 30, 40]):
    flipped = round(0.4 * n)
    expected[k, k] = (n - flipped) / n
    expected[k, (k + 1) % 4] = flipped / n
  np.testing.assert_allclose(r.transition, expected)
  assert r.rate == pytest.approx(sum(round(0.4 * n) for n in [10, 20, 30, 40]) / 100)


def test_pair_noise_custom_target_and_bad_target():
  y = balanced_labels(10, 3)
  r = noise.pair_noise(y, 3, 0.5, seed=0, target=[2, 0, 1])
  assert set(r.labels[(y == 0) & (r.labels != 0)]) == {2}
  with pytest.raises(ConfigError):
    noise.pair_noise(y, 3, 0.5, seed=0, target=[0, 2, 1])


def test_transition_noise_realises_any_row_stochastic_matrix():
  rng = np.random.default_rng(0)
  t = rng.dirichlet(np.ones(5), size=5)
  y = balanced_labels(40000, 5)
  r = noise.transition_noise(y, t, seed=3)
  np.testing.assert_allclose(r.transition, t, atol=0.01)
  with pytest.raises(ConfigError, match="row-stochastic"):
    noise.transition_noise(y, t * 2, seed=0)


def test_virtual_agent_labels_are_a_weak_classifier_predictions():
  d = load_digits()
  images = np.round(d.images * 255 / 16).astype(np.uint8)[..., None]
  y = d.target
  r = noise.virtual_agent_noise(images, y, 10, seed=0, clean_fraction=0.1)
  # A weak but better-than-chance annotator: noisy, far from random (90% for 10 classes).
  assert 0.05 < r.rate < 0.6
  # Structured noise: its errors concentrate on a few confusions, unlike uniform noise.
  off = r.transition[~np.eye(10, dtype=bool)]
  assert off.max() > 3 * r.rate / 9
  np.testing.assert_array_equal(r.labels, noise.virtual_agent_noise(images, y, 10, seed=0).labels)


def test_multilabel_shuffle_rate_and_label_count_preserved():
  rng = np.random.default_rng(0)
  y = np.zeros((20000, 20), np.int64)
  y[np.arange(20000), rng.integers(0, 20, 20000)] = 1
  noisy = noise.multilabel_shuffle_noise(y, 0.5, seed=0)
  np.testing.assert_array_equal(noisy.sum(1), 1)
  # A shuffled one-hot vector moves its 1 with probability 19/20.
  assert np.mean((noisy != y).any(1)) == pytest.approx(0.5 * 19 / 20, abs=0.01)


def test_bad_rates_and_labels_are_errors():
  with pytest.raises(ConfigError, match="rate"):
    noise.symmetric_noise(np.zeros(10, int), 3, 1.5, seed=0)
  with pytest.raises(ConfigError, match="range"):
    noise.symmetric_noise(np.array([0, 5]), 3, 0.1, seed=0)


def test_random_transition_has_the_given_diagonal_and_random_seeded_rows():
  t = noise.random_transition(10, 0.5, seed=3)
  np.testing.assert_allclose(np.diag(t), 0.5)
  np.testing.assert_allclose(t.sum(1), 1.0)
  off = t[~np.eye(10, dtype=bool)]
  assert (off >= 0).all() and off.std() > 0.01  # not the uniform 0.5 / 9
  np.testing.assert_array_equal(t, noise.random_transition(10, 0.5, seed=3))
  assert not np.allclose(t, noise.random_transition(10, 0.5, seed=4))
  labels = balanced_labels(4000)
  realised = noise.apply(ConfigDict({"type": "random_transition", "rate": 0.5, "seed": 3}),
                         labels, None, 10)
  np.testing.assert_allclose(realised.transition, t, atol=0.03)
  assert abs(realised.rate - 0.5) < 0.01
