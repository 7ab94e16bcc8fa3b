import dataclasses
import types

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


@dataclasses.dataclass(frozen=True)
class FakeState:
  method_state: dict

  def replace(self, **kw):
    return dataclasses.replace(self, **kw)


def test_end_of_epoch_weights_from_the_given_label_confidence_fast():
  """Fast twin of the slow digits run: after warm-up, end_of_epoch embeds the training set
  and sets w, the prototypes and (smoothing_topk > 0) the targets. Worked by hand with
  `prototypes="constant"` (v_c = the top-k mean by the confidence in the GIVEN label),
  k = 1, alpha = 1.2, beta = 2."""
  f = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
  labels = jnp.array([0, 0, 0, 1, 1])
  # p(given label): 0.88, 0.0067 (but 0.993 for class 1), 0.73 | 0.73, 0.95
  logits = np.array([[2.0, 0.0], [0.0, 5.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
  train_split = object()
  calls = []

  def predict_on_device(state, split):
    calls.append(split)
    return jnp.asarray(logits, jnp.float32), jnp.asarray(f, jnp.float32)

  ctx = types.SimpleNamespace(dataset=types.SimpleNamespace(train=train_split),
                              predict_on_device=predict_on_device, replicate=lambda x: x)
  cfg = sinet.default_config()
  cfg.update(prototypes="constant", topk=1, alpha=1.2, beta=2.0, warmup_epochs=2,
             smoothing_topk=1)
  ms = {"relation": jnp.eye(2), "weights": jnp.ones(5), "prototypes": jnp.zeros((2, 2)),
        "targets": jax.nn.one_hot(labels, 2), "labels": labels}
  state = FakeState(ms)
  assert sinet.end_of_epoch(ctx, state, 1, config=cfg) is state and not calls  # warm-up
  new = sinet.end_of_epoch(ctx, state, 2, config=cfg).method_state
  assert calls == [train_split]
  # top-1 by given-label confidence: example 0 for class 0, example 4 for class 1
  np.testing.assert_allclose(new["prototypes"], [[1, 0], [0, -1]], atol=1e-6)
  # distances to the prototype: 0, sqrt2, |(1, 0) - (1, 1)/sqrt2|, sqrt2, 0
  d = np.array([0, np.sqrt(2), np.sqrt((1 - 2 ** -0.5) ** 2 + 0.5), np.sqrt(2), 0])
  np.testing.assert_allclose(new["weights"], np.maximum(1.2 - d, 0) ** 2, rtol=1e-5, atol=1e-7)
  # w = 0 for examples 1 and 3: uniform over {given} + top-1 predicted ({0, 1} and {1})
  np.testing.assert_allclose(new["targets"], [[1, 0], [0.5, 0.5], [1, 0], [0, 1], [0, 1]],
                             atol=1e-7)
  np.testing.assert_array_equal(new["relation"], ms["relation"])


def test_sinet_defaults_are_the_documented_ones():
  """The module docstring's "Defaults" line, value by value."""
  from nlx.methods import sinet
  doc = " ".join(sinet.__doc__.split())
  line = doc.split("Defaults (`default_config`):", 1)[1]
  shown = ['variant "C",', "alpha = 1.2,", "beta = 1.5 ", "gamma = 1.0,", "eps = 1e-3 ",
           "topk = 100,", "warmup_epochs = 5,", 'prototypes "weighted",', "smoothing_topk = 0 ",
           'text_encoder "tfidf",', "no side information set"]
  assert [s for s in shown if s not in line] == []
  assert sinet.default_config().to_dict() == {
      "name": "sinet", "variant": "C", "alpha": 1.2, "beta": 1.5, "gamma": 1.0, "eps": 1e-3,
      "topk": 100, "warmup_epochs": 5, "prototypes": "weighted", "smoothing_topk": 0,
      "hierarchy": "", "descriptions": "", "embeddings": "", "text_encoder": "tfidf"}


def test_with_top_k_smoothing_a_dropped_example_trains_at_weight_one():
  """w = (0.5, 0): Model-C drops example 1; with smoothing_topk > 0 it trains at weight 1
  on its smoothed target: per-example (0.5 ce_0, ce_1) * 2 / 1.5."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from nlx.methods import sinet
  logits = jnp.array([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
  targets = jnp.array([[1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
  state = {"targets": targets, "weights": jnp.array([0.5, 0.0])}
  batch = {"index": jnp.array([0, 1])}
  ce = -(targets * jax.nn.log_softmax(logits)).sum(1)
  outputs = type("O", (), {"logits": logits})
  for topk, want in ((0, [0.5 * ce[0] * 2 / 0.5, 0.0]),
                     (2, [0.5 * ce[0] * 2 / 1.5, ce[1] * 2 / 1.5])):
    config = sinet.default_config()
    config.smoothing_topk = topk
    got, _ = sinet.loss_fn({}, state, outputs, batch, None, config=config, ctx=None)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6)


def test_side_information_names_a_bundled_file_or_a_path_of_any_kind():
  """A bare name is the bundled `NAME_SUFFIX.txt`; a path with a folder, or any `.txt`, is
  the user's file as given, whatever its extension; "" stays "" (no side information)."""
  import os
  bundled = sinet._resolve("cifar10", "hierarchy")
  assert os.path.basename(bundled) == "cifar10_hierarchy.txt" and os.path.isfile(bundled)
  assert sinet._resolve("mine/hier.csv", "hierarchy") == "mine/hier.csv"
  assert sinet._resolve("hier.txt", "hierarchy") == "hier.txt"
  assert sinet._resolve("", "descriptions") == ""


def test_class_embeddings_holding_pickled_objects_are_refused(tmp_path):
  path = str(tmp_path / "emb.npy")
  np.save(path, np.array([{"not": "numbers"}, None], dtype=object), allow_pickle=True)
  with pytest.raises(Exception, match="emb.npy"):
    sinet.read_embeddings(path)
  np.save(path, np.eye(3, dtype=np.float32))
  np.testing.assert_array_equal(sinet.read_embeddings(path), np.eye(3))


@pytest.mark.parametrize("key,value,bound", [("topk", 0, ">= 1"), ("topk", -3, ">= 1"),
                                             ("smoothing_topk", -1, r"in \[0, 10\]"),
                                             ("smoothing_topk", 11, r"in \[0, 10\]"),
                                             ("warmup_epochs", -1, ">= 0")])
def test_a_setting_out_of_range_is_a_one_line_error(key, value, bound):
  # (topk 0 gave zero prototypes and the same w for every example, silently)
  config = sinet_config(**{key: value})
  with pytest.raises(ConfigError, match=f"method.{key}={value} must be {bound}"):
    train.Trainer(config, data_lib.load_dataset(config))


def test_the_initial_state_is_built_in_numpy_without_a_compile(caplog):
  config = sinet_config(smoothing_topk=10)  # the boundary: every class
  dataset = data_lib.load_dataset(config)
  model = types.SimpleNamespace(feature_dim=7)
  with jax.log_compiles(True), caplog.at_level("WARNING"):
    params, state = sinet.init_state(config.method, dataset=dataset, model=model, rng=None)
  assert not [r for r in caplog.records if "Compiling" in r.getMessage()]
  labels = dataset.train.hard_labels()
  np.testing.assert_array_equal(state["targets"], np.eye(10)[labels])
  assert state["targets"].dtype == np.float32 and state["labels"].dtype == np.int32
  assert state["prototypes"].shape == (10, 7) and params == {}
  np.testing.assert_array_equal(state["weights"], np.ones(len(labels)))
