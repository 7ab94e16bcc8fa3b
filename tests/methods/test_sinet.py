import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config, override

from nlx import data as data_lib
from nlx import losses, train
from nlx.errors import ConfigError
from nlx.methods import sinet


def test_smoothed_targets_by_hand():
  probs = jnp.array([[0.1, 0.6, 0.3], [0.5, 0.2, 0.3]])
  t = sinet.smoothed_targets(probs, jnp.array([0, 0]), jnp.array([0.0, 0.7]), 2)
  # dropped example: {given 0} + top-2 {1, 2} -> uniform over 3; kept: one-hot
  np.testing.assert_allclose(t, [[1 / 3, 1 / 3, 1 / 3], [1, 0, 0]], rtol=1e-6)
  t = sinet.smoothed_targets(probs[1:], jnp.array([0]), jnp.array([0.0]), 1)
  np.testing.assert_allclose(t, [[1, 0, 0]])  # the top-1 is the given label


@pytest.mark.parametrize("variant", ["A", "B", "C"])
def test_loss_variants_by_hand(variant):
  cfg = sinet.default_config()
  cfg.variant = variant
  logits = jnp.array([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
  targets = jax.nn.one_hot(jnp.array([0, 0, 1]), 2)
  state = {"weights": jnp.array([0.5, 0.0, 1.5]), "targets": targets}
  out = type("O", (), {"logits": logits})
  got, _ = sinet.loss_fn({}, state, out, {"index": jnp.arange(3)}, None, config=cfg, ctx=None)
  ce = np.asarray(losses.softmax_cross_entropy(logits, targets))
  want = {"A": ce, "B": np.array([1, 0, 1]) * ce * 3 / 2,
          "C": np.array([0.5, 0, 1.5]) * ce * 3 / 2}[variant]
  np.testing.assert_allclose(got, want, rtol=1e-6)


def sinet_config(**method):
  config = load_config("baselines", "sinet,tiny", **{"model.name": "mlp", "model.hidden": (32,)})
  override(config.method, **method)
  return config


def test_needs_side_information():
  config = sinet_config(hierarchy="")
  with pytest.raises(ConfigError, match="side information"):
    train.Trainer(config, data_lib.load_dataset(config))


@pytest.mark.slow
def test_weights_flag_mislabelled_digits(tmp_path):
  """Digits with 40% symmetric noise: after CE warm-up, w is a trust score far better
  than chance at finding the flipped labels (AUROC), and Model-C runs to the end."""
  config = sinet_config(warmup_epochs=3, topk=20)
  config.data.max_train_examples = -1
  config.train.num_epochs = 4
  result = train.train_and_evaluate(config, str(tmp_path))
  state = result["state"].method_state
  assert result["noise_detection"]["auroc"] > 0.75, result["noise_detection"]
  w = np.asarray(state["weights"])
  # ReLU features: cos >= 0, so ||v - g|| <= sqrt(2); w in [0, alpha^beta], not constant
  assert np.all(np.isfinite(w)) and w.min() >= 0 and w.max() <= 1.2 ** 1.5 + 1e-6
  assert w.std() > 0.05
  protos = np.asarray(state["prototypes"])
  np.testing.assert_allclose(np.linalg.norm(protos, axis=1) <= 1 + 1e-5, True)
