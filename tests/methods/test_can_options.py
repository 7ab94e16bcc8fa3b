"""CAN's options and latent-label metrics (issue 20), against hand-worked values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from nlx.data.types import Dataset, Split
from nlx.errors import ConfigError
from nlx.methods import can


def test_latent_label_metrics_by_hand():
  # two examples, three classes; q logits > 0 mark the latent label
  q = jnp.array([[2.0, -1.0, 3.0], [-2.0, 1.0, -0.5]])   # latent: [1, 0, 1], [0, 1, 0]
  noisy = jnp.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
  clean = jnp.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
  mu = jnp.array([[0.0, 1.0], [2.0, 1.0]])               # std over the batch: (1, 0) -> mean 0.5
  m = can.latent_label_metrics(q, noisy, clean, mu)
  # example 0: adds class 0 (clean 1: right), removes class 1 (clean 1: wrong), keeps 2
  # example 1: adds class 1 (clean 0: wrong), removes class 0 (clean 0: right)
  np.testing.assert_array_equal(m["latent_added_right"], [1, 0])
  np.testing.assert_array_equal(m["latent_added_wrong"], [0, 1])
  np.testing.assert_array_equal(m["latent_removed_right"], [0, 1])
  np.testing.assert_array_equal(m["latent_removed_wrong"], [1, 0])
  np.testing.assert_array_equal(m["latent_positives"], [2, 1])
  np.testing.assert_array_equal(m["noisy_positives"], [2, 1])
  # latent positives: (0,0) clean, (0,2) not, (1,1) not -> precision 1/3; clean positives
  # (0,0), (0,1) -> recall 1/2
  assert float(m["latent_precision"]) == pytest.approx(1 / 3)
  assert float(m["latent_recall"]) == pytest.approx(1 / 2)
  assert float(m["mu_std"]) == pytest.approx(0.5)


def test_jang_temperature_schedule():
  cfg = can.default_config()
  cfg.tau_schedule, cfg.tau_start, cfg.tau_end, cfg.tau_rate = "jang", 1.0, 0.5, 0.01
  # tau = max(0.5, exp(-0.01 step)): exp(-0.5) = 0.6065 at step 50, floor 0.5 from step 70
  assert float(can.anneal(jnp.asarray(50), 10, cfg)[1]) == pytest.approx(np.exp(-0.5), rel=1e-6)
  assert float(can.anneal(jnp.asarray(200), 10, cfg)[1]) == pytest.approx(0.5)
  cfg.tau_schedule = "geometric"  # 1 * (0.5 / 1) ** t, t = 50 / 100
  assert float(can.anneal(jnp.asarray(50), 10, cfg)[1]) == pytest.approx(0.5 ** 0.5, rel=1e-6)


def _dataset(num_classes):
  split = Split(np.zeros((2, 4), np.float32), np.zeros((2, num_classes), np.float32),
                np.zeros((2, num_classes), np.float32))
  return Dataset("toy", split, split, num_classes, None, mean=(0.0,), std=(1.0,))


@pytest.mark.parametrize("init", ["identity", "balanced"])
def test_start_lets_q_add_a_label_only_when_balanced(init):
  cfg = can.default_config()
  cfg.init = init
  params, _ = can.init_state(cfg, dataset=_dataset(3), model=None, rng=jax.random.key(0))
  # prior says class 0 (logit +6: p = 0.9975), noisy label says class 1
  prior_logits = jnp.array([[6.0, -6.0, -6.0]])
  noisy = jnp.array([[0.0, 1.0, 0.0]])
  q = np.asarray(can.encode(params, prior_logits, noisy)[2])[0]
  g = cfg.init_gain
  if init == "identity":  # q follows y~: logit 2g y~ - g (up to the small random weights)
    np.testing.assert_allclose(q, [-g, g, -g], atol=0.3)
  else:  # 2g (p + y~ - 1): disagreeing entries near 0 (q = 1/2), agreeing ones at -2g
    p = 1 / (1 + np.exp(-6.0))
    np.testing.assert_allclose(q, [2 * g * (p - 1), 2 * g * (1 / (1 + np.exp(6.0))),
                                   2 * g * (1 / (1 + np.exp(6.0)) - 1)], atol=0.3)
  cfg.init = "other"
  with pytest.raises(ConfigError, match="method.init"):
    can.init_state(cfg, dataset=_dataset(3), model=None, rng=jax.random.key(0))


def test_jang_schedule_needs_a_positive_rate():
  cfg = can.default_config()
  cfg.tau_schedule, cfg.tau_rate = "jang", 0.0
  with pytest.raises(ConfigError, match="tau_rate must be > 0"):
    can.init_state(cfg, dataset=_dataset(3), model=None, rng=jax.random.key(0))


def test_temperature_schedules_from_a_start_other_than_one():
  # tau_start = 2 (the default 1 hides a lost factor tau_start); 10 steps an epoch
  cfg = can.default_config()
  cfg.tau_start, cfg.tau_end, cfg.anneal_epochs = 2.0, 0.5, 10
  tau = lambda step: float(can.anneal(jnp.asarray(step), 10, cfg)[1])
  # geometric: 2 * (0.5 / 2) ** t, t = step / 100, held at t = 1
  assert tau(25) == pytest.approx(2 * 0.25 ** 0.25, rel=1e-6)  # sqrt 2
  assert tau(100) == pytest.approx(0.5, rel=1e-6) and tau(300) == pytest.approx(0.5, rel=1e-6)
  cfg.anneal_epochs = 5  # t = step / 50
  assert float(can.anneal(jnp.asarray(25), 10, cfg)[0]) == pytest.approx(0.5)
  assert tau(25) == pytest.approx(2 * 0.25 ** 0.5, rel=1e-6)
  # jang: max(0.5, 2 exp(-0.01 step)); the floor is reached at ln(4) / 0.01 = 138.6 steps
  cfg.tau_schedule, cfg.tau_rate = "jang", 0.01
  assert tau(50) == pytest.approx(2 * np.exp(-0.5), rel=1e-6)
  assert tau(138) == pytest.approx(2 * np.exp(-1.38), rel=1e-6) and tau(138) > 0.5
  assert tau(139) == pytest.approx(0.5, rel=1e-6)


def test_identity_start_follows_the_init_gain():
  cfg = can.default_config()
  cfg.init_gain = 5.0  # not the default 3
  params, _ = can.init_state(cfg, dataset=_dataset(3), model=None, rng=jax.random.key(0))
  prior_logits = jnp.array([[6.0, -6.0, -6.0]])
  noisy = jnp.array([[0.0, 1.0, 0.0]])
  # q logit 2g y~ - g, up to the small random weights
  np.testing.assert_allclose(can.encode(params, prior_logits, noisy)[2][0], [-5, 5, -5], atol=0.3)
  # and the decoder at s = 0 gives back the latent label: logit 2g y - g
  np.testing.assert_allclose(can.decode(params, noisy, jnp.zeros((1, cfg.quality_dim)))[0],
                             [-5, 5, -5], atol=0.5)


def test_can_defaults_are_the_documented_ones():
  """The module docstring's "Defaults" line, value by value (a changed default is a
  changed result: it must change the documentation too)."""
  doc = " ".join(can.__doc__.split())
  line = doc.split("Defaults (`default_config`;", 1)[1].split("Trust score", 1)[0]
  shown = ["quality_dim d = 16,", "hidden = 128,", "mi_weight = 0.3,", "tau_start = 1.0 ",
           "tau_end = 0.5 ", "anneal_epochs = 10,", "init_gain g = 3.0,",
           'tau_schedule "geometric"', "tau_rate 1e-4 ", 'init "identity".']
  assert [s for s in shown if s not in line] == []
  assert can.default_config("can").to_dict() == {
      "name": "can", "quality_dim": 16, "hidden": 128, "mi_weight": 0.3, "tau_start": 1.0,
      "tau_end": 0.5, "anneal_epochs": 10, "init_gain": 3.0, "tau_rate": 1e-4,
      "tau_schedule": "geometric", "init": "identity"}


def test_latent_precision_and_recall_are_zero_without_positives():
  """No latent label above 1/2 (and no clean positive): precision and recall are 0, not
  0/0; one latent positive that is clean: precision 1."""
  q = jnp.full((2, 3), -1.0)
  noisy = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
  m = can.latent_label_metrics(q, noisy, jnp.zeros((2, 3)), jnp.zeros((2, 2)))
  assert float(m["latent_precision"]) == 0.0 and float(m["latent_recall"]) == 0.0
  q = q.at[1, 2].set(2.0)
  clean = jnp.zeros((2, 3)).at[1, 2].set(1.0)
  m = can.latent_label_metrics(q, noisy, clean, jnp.zeros((2, 2)))
  assert float(m["latent_precision"]) == 1.0 and float(m["latent_recall"]) == 1.0
