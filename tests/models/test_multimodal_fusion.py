"""The study's gated fusions (GL1, GL2, mixed), the fixed label vectors, the 4-layer image
MLP, ANP's dropped band and the start from a class-output model (issue 20)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load_config
from flax import nnx

from nlx import data as data_lib
from nlx import train
from nlx.checkpointing import load_model_weights
from nlx.data.datasets import multimodal
from nlx.errors import ConfigError
from nlx.models import multimodal as mm


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def _set_linear(layer, w, b):
  layer.kernel[...] = jnp.asarray(w, jnp.float32)
  layer.bias[...] = jnp.asarray(b, jnp.float32)


def test_gated_layers_by_hand():
  # width 2: value W = [[1, 0], [2, 1]], b = [0, -1]; gate V = [[0, 1], [1, 0]], c = [0, 0]
  # x = [1, 2]: W^T x + b = [1 + 4, 0 + 2 - 1] = [5, 1]; V^T x + c = [2, 1]
  x = np.array([[1.0, 2.0]])
  want = {"gl1": np.array([5.0, 1.0]) * _sigmoid(np.array([2.0, 1.0])),
          "gl2": np.tanh([5.0, 1.0]) * _sigmoid(np.array([2.0, 1.0]))}
  for kind, expected in want.items():
    layer = mm.GatedLayer(2, kind, rngs=nnx.Rngs(0))
    _set_linear(layer.value, [[1, 0], [2, 1]], [0, -1])
    _set_linear(layer.gate, [[0, 1], [1, 0]], [0, 0])
    np.testing.assert_allclose(layer(jnp.asarray(x))[0], expected, rtol=1e-6)
    np.testing.assert_allclose(layer.gate_of(jnp.asarray(x))[0], _sigmoid(np.array([2.0, 1.0])),
                               rtol=1e-6)


def _inputs():
  return jnp.concatenate([jnp.linspace(-1, 1, 12).reshape(2, 6),
                          jnp.array([[5.0, 6, 0, 0], [7, 0, 0, 0]])], axis=1)


@pytest.mark.parametrize("fusion,kinds", [("gl1", ("gl1", "gl1")), ("gl2", ("gl2", "gl2")),
                                          ("mixed", ("gl2", "gl1"))])
def test_gated_fusion_gates_each_branch_then_concatenates(fusion, kinds):
  net = mm.MultimodalNet(6, 4, 30, 3, fusion=fusion, image_compress=8, embed_dim=4,
                         lstm_hidden=5, rngs=nnx.Rngs(0))
  assert (net.image_gate.kind, net.text_gate.kind) == kinds
  x = _inputs()
  v, t = net.branches(x)
  assert v.shape == (2, 8) and t.shape == (2, 10)
  # the fused features, computed from the branches with numpy
  def gated(layer, z):
    z = np.asarray(z)
    value = z @ np.asarray(layer.value.kernel[...]) + np.asarray(layer.value.bias[...])
    gate = _sigmoid(z @ np.asarray(layer.gate.kernel[...]) + np.asarray(layer.gate.bias[...]))
    return (np.tanh(value) if layer.kind == "gl2" else value) * gate, gate
  (gv, av), (gt, at) = gated(net.image_gate, v), gated(net.text_gate, t)
  out = net(x, train=False)
  np.testing.assert_allclose(out.features, np.concatenate([gv, gt], -1), rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(out.logits, out.features @ np.asarray(net.head.kernel[...])
                             + np.asarray(net.head.bias[...]), rtol=1e-5, atol=1e-6)
  gates = net.gates(x)
  np.testing.assert_allclose(gates["image"], av.mean(-1), rtol=1e-6)
  np.testing.assert_allclose(gates["text"], at.mean(-1), rtol=1e-6)
  with pytest.raises(ConfigError, match="no single gate"):
    net.gate_value()


@pytest.mark.parametrize("fusion,start", [("convex", 0.5), ("convex_free", 0.5)])
def test_convex_gate_mixes_the_projected_branches(fusion, start):
  net = mm.MultimodalNet(6, 4, 30, 3, fusion=fusion, image_compress=8, embed_dim=4,
                         lstm_hidden=5, rngs=nnx.Rngs(0))
  np.testing.assert_allclose(net.gate_value(), start)
  x = _inputs()
  v, t = net.branches(x)
  assert v.shape == t.shape == (2, 10)  # the image branch projected to the text's width
  np.testing.assert_allclose(net(x, train=False).features, 0.5 * v + 0.5 * t, rtol=1e-6)
  np.testing.assert_allclose(net.gates(x)["text"], [0.5, 0.5])


def test_image_only_model_is_a_four_layer_mlp():
  net = mm.MultimodalNet(6, 4, 30, 3, fusion="image", image_compress=8, image_layers=3,
                         rngs=nnx.Rngs(0))
  assert [layer.kernel.shape for layer in net.image_mlp] == [(6, 8), (8, 8), (8, 8)]
  x = _inputs()
  h = np.asarray(x[:, :6])
  for layer in net.image_mlp:  # ReLU hidden layers by hand, then the output layer
    h = np.maximum(h @ np.asarray(layer.kernel[...]) + np.asarray(layer.bias[...]), 0)
  np.testing.assert_allclose(net(x, train=False).logits, h @ np.asarray(net.head.kernel[...])
                             + np.asarray(net.head.bias[...]), rtol=1e-5, atol=1e-6)
  with pytest.raises(ConfigError, match="image_layers"):
    mm.MultimodalNet(6, 4, 30, 3, fusion="image", image_compress=0, image_layers=3,
                     rngs=nnx.Rngs(0))


def test_simplex_label_vectors_are_fixed_and_equiangular():
  e = np.asarray(mm.simplex_embeddings(3, 5))
  np.testing.assert_allclose(np.linalg.norm(e, axis=-1), 1.0, rtol=1e-6)
  cos = e @ e.T
  np.testing.assert_allclose(cos[~np.eye(3, dtype=bool)], -0.5, rtol=1e-6)  # -1 / (K - 1)
  np.testing.assert_allclose(e[:, 3:], 0.0)
  with pytest.raises(ConfigError, match="output_dim"):
    mm.simplex_embeddings(3, 2)
  fixed = mm.MultimodalNet(6, 4, 30, 3, fusion="concat", output_dim=5, rngs=nnx.Rngs(0))
  learned = mm.MultimodalNet(6, 4, 30, 3, fusion="concat", output_dim=5,
                             label_embeddings="learned", rngs=nnx.Rngs(0))
  fixed_params = nnx.to_pure_dict(nnx.state(fixed, nnx.Param))
  assert "label_embeddings" not in fixed_params  # not trained
  np.testing.assert_allclose(fixed.label_embeddings[...], e)
  assert "label_embeddings" in nnx.to_pure_dict(nnx.state(learned, nnx.Param))


def test_anp_band_between_the_cuts_is_dropped():
  # -0.5 <= -0.035: negative; -0.01 and 0.035 lie in the band (0.035 is not above it); 0.2: positive
  labels, names = multimodal.anp_labels([-0.5, -0.01, 0.035, 0.2], (-0.035, 0.035),
                                        drop_between=True)
  np.testing.assert_array_equal(labels, [0, -1, -1, 1])
  assert names == ("negative", "positive")
  with pytest.raises(ConfigError, match="anp_drop_between"):
    multimodal.anp_labels([0.1], (0.0,), drop_between=True)


def test_paper_protocol_variants():
  c = load_config("multimodal", "mixed,embed,sym40")
  assert (c.model.fusion, c.model.output_dim, c.optimizer.name, c.optimizer.learning_rate) == (
      "mixed", 50, "sgd", 0.01)
  assert (c.noise.type, c.noise.rate) == ("symmetric", 0.4)
  assert load_config("multimodal", "image").model.image_layers == 3
  anp = load_config("multimodal", "anp")
  assert tuple(anp.data.anp_thresholds) == (-0.035, 0.035) and anp.data.anp_drop_between


@pytest.mark.slow
def test_embedding_model_starts_from_the_class_output_model(tmp_path):
  base = load_config("multimodal", "mixed,tiny")
  base.data.text_len = 16
  train.train_and_evaluate(base, str(tmp_path / "class"))
  emb = load_config("multimodal", "mixed,embed,tiny")
  emb.data.text_len = 16
  trainer = train.Trainer(emb, data_lib.load_dataset(emb))
  params = trainer.initial_state.params["model"]
  with pytest.raises(ConfigError, match="head"):  # the class head does not fit a 50-d output
    load_model_weights(str(tmp_path / "class"), params, trainer.initial_state.model_state)
  # the fixed label vectors are model state the class-output model does not have
  loaded, _ = load_model_weights(str(tmp_path / "class"), params,
                                 trainer.initial_state.model_state,
                                 exclude=["head", "label_embeddings"])
  _, src_state = train.restore(base, str(tmp_path / "class"))
  src = nnx.to_pure_dict(src_state.params["model"])
  got, init = nnx.to_pure_dict(loaded), nnx.to_pure_dict(params)
  for name in ("image_gate", "text_gate", "text", "image_mlp"):
    jax.tree.map(np.testing.assert_array_equal, got[name], src[name])
  jax.tree.map(np.testing.assert_array_equal, got["head"], init["head"])  # kept its own init
  # through the config: the run starts from those weights (its step-0 state is `loaded`)
  emb.train.init_from, emb.train.init_from_exclude = (str(tmp_path / "class"),
                                                    "head,label_embeddings")
  started = nnx.to_pure_dict(train.Trainer(emb, data_lib.load_dataset(emb))
                             .initial_state.params["model"])
  jax.tree.map(np.testing.assert_array_equal, started["text"], src["text"])


def test_a_misspelt_init_from_exclude_is_an_error(tmp_path):
  net = mm.MultimodalNet(6, 4, 30, 3, fusion="mixed", image_compress=8, embed_dim=4,
                         lstm_hidden=5, rngs=nnx.Rngs(0))
  params, state = nnx.state(net, nnx.Param), nnx.state(net, nnx.Not(nnx.Param))
  # named before any checkpoint is read: no run in tmp_path is needed
  with pytest.raises(ConfigError, match=r"init_from_exclude: \['haed'\] name no module"):
    load_model_weights(str(tmp_path), params, state, exclude=["haed"])
  with pytest.raises(ConfigError, match="no checkpoint"):  # a real name passes the check
    load_model_weights(str(tmp_path), params, state, exclude=["head"])
