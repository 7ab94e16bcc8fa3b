"""Image + text sentiment models: image MLP, text BiLSTM, concatenation and gated fusion,
with a class or a label-embedding output.

Inputs are packed as one float vector per example, `[image features (D) | token ids (L)]`
(`nlx.data.datasets.multimodal` writes them; ids below 2^24 are exact in float32), so
the shared trainer and input pipeline carry them unchanged. Branches:
- image: `Dense(image_compress) + ReLU` on the features (the study's optional 600-d
  compression; with `image_compress=0` the raw features, projected linearly to the text
  width where a gated fusion needs equal widths);
- text: a 200-d embedding and a bidirectional LSTM (hidden 300 each way) over the
  unpadded tokens (padding id 0 is masked through the sequence lengths); the text
  vector is [last forward state, last backward state] (600-d);
- fusion, as `model.fusion`:
  - `image` | `text`: one branch; the image-only model is an MLP of `image_layers`
    Dense + ReLU layers before the output layer (the study's image-only model has 4
    layers: `image_layers=3`);
  - `concat`: [image, text] then the output layer;
  - `gl1` | `gl2` | `mixed` (the study's gated layers): each modality's features pass
    their own element-wise gated layer, then are concatenated:
    GL1 `y = (W x + b) * sigmoid(V x + c)` (a gated linear unit, Dauphin et al. 2017),
    GL2 `y = tanh(W x + b) * sigmoid(V x + c)` (a gated tanh unit, van den Oord et al.
    2016); `mixed` is GL1 on the text and GL2 on the image, the study's best model.
    These two formulas are nlx's reading of the study's GL1 and GL2 (the study's text
    was not at hand to check them against);
  - `convex` | `convex_free` (nlx's own, not the study's): one gate over a shared
    projected space, `h = g * image + (1 - g) * text`, with `g = sigmoid(a)` in [0, 1]
    (`convex`) or a free element-wise `g` initialised at 1/2 (`convex_free`).
  Dropout 0.3 before the output layer.
Output: `output_dim=0`: class logits. Otherwise a `output_dim` vector f and, as logits,
its cosine with each label embedding: the prediction is the nearest label embedding.
The study uses fixed 50-d GloVe vectors of the class names (`model.label_embeddings=PATH`
to a GloVe-format file); without a file nlx falls back to fixed, equiangular vectors
(`simplex_embeddings`: every pair at cosine -1/(K-1), so no class is nearer another),
and `model.label_embeddings="learned"` trains them instead (nlx's earlier default: the
three sentiment vectors end near pairwise cosine 0.2, a cosine classifier). `Outputs.vector` and
`Outputs.label_embeddings` feed the embedding losses (`nlx.methods.label_embedding`).
"""

import itertools

import jax
import jax.numpy as jnp
from flax import nnx

from nlx.errors import ConfigError
from nlx.models.outputs import Outputs

FUSIONS = ("image", "text", "concat", "gl1", "gl2", "mixed", "convex", "convex_free")
# the study's gated fusions: (gate on the image branch, gate on the text branch)
GATED = {"gl1": ("gl1", "gl1"), "gl2": ("gl2", "gl2"), "mixed": ("gl2", "gl1")}
CONVEX = ("convex", "convex_free")


class FixedEmbedding(nnx.Variable):
  """Label embeddings read from a file (or the simplex fallback): model state, never trained."""


def simplex_embeddings(num_classes: int, dim: int) -> jax.Array:
  """`[K, dim]` unit vectors with every pair at cosine -1/(K-1) (a regular simplex),
  in the first K coordinates: fixed label vectors when no GloVe file is given."""
  if dim < num_classes:
    raise ConfigError(f"model.output_dim={dim} is below the {num_classes} classes that the "
                      "fixed simplex label vectors need; give a GloVe file or a larger output_dim")
  centred = jnp.eye(num_classes) - 1.0 / num_classes
  centred = centred / jnp.linalg.norm(centred, axis=-1, keepdims=True)
  return jnp.pad(centred, ((0, 0), (0, dim - num_classes)))


def _l2n(x):
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


class GatedLayer(nnx.Module):
  """GL1 `(W x + b) * sigmoid(V x + c)` or GL2 `tanh(W x + b) * sigmoid(V x + c)`,
  element-wise, same width in and out."""

  def __init__(self, width: int, kind: str, *, dtype=jnp.float32, rngs: nnx.Rngs):
    self.kind = kind
    self.value = nnx.Linear(width, width, dtype=dtype, rngs=rngs)
    self.gate = nnx.Linear(width, width, dtype=dtype, rngs=rngs)

  def gate_of(self, x: jax.Array) -> jax.Array:
    return jax.nn.sigmoid(self.gate(x))

  def __call__(self, x: jax.Array) -> jax.Array:
    v = self.value(x)
    return (jnp.tanh(v) if self.kind == "gl2" else v) * self.gate_of(x)


class TextBiLSTM(nnx.Module):
  def __init__(self, vocab_size: int, *, embed_dim: int = 200, hidden: int = 300, dtype=jnp.float32,
               rngs: nnx.Rngs):
    self.embed = nnx.Embed(vocab_size, embed_dim, dtype=dtype, rngs=rngs)
    self.forward = nnx.RNN(nnx.LSTMCell(embed_dim, hidden, dtype=dtype, rngs=rngs),
                           return_carry=True, rngs=False)
    self.backward = nnx.RNN(nnx.LSTMCell(embed_dim, hidden, dtype=dtype, rngs=rngs),
                            return_carry=True, reverse=True, keep_order=True, rngs=False)
    self.hidden = hidden
    self.out_dim = 2 * hidden

  def __call__(self, ids: jax.Array) -> jax.Array:
    """`ids [B, L]` int (0 = padding, trailing) -> `[B, 2 * hidden]`."""
    lengths = jnp.sum(ids != 0, axis=-1)
    x = self.embed(ids)
    zeros = jnp.zeros((ids.shape[0], self.hidden), x.dtype)
    (_, h_fwd), _ = self.forward(x, seq_lengths=lengths, initial_carry=(zeros, zeros))
    (_, h_bwd), _ = self.backward(x, seq_lengths=lengths, initial_carry=(zeros, zeros))
    return jnp.concatenate([h_fwd, h_bwd], axis=-1)


class MultimodalNet(nnx.Module):
  def __init__(self, image_dim: int, text_len: int, vocab_size: int, num_classes: int, *,
               fusion: str = "concat", image_compress: int = 600, image_layers: int = 1,
               embed_dim: int = 200, lstm_hidden: int = 300, dropout: float = 0.3,
               output_dim: int = 0, label_embeddings=None, dtype=jnp.float32, rngs: nnx.Rngs):
    """`label_embeddings`: a `[K, output_dim]` array (fixed), "learned", or None (the fixed
    simplex fallback); used only with `output_dim > 0`."""
    if fusion not in FUSIONS:
      raise ConfigError(f"model.fusion must be one of {FUSIONS}, got {fusion!r}")
    uses_image, uses_text = fusion != "text", fusion != "image"
    if uses_image and image_dim <= 0:
      raise ConfigError(f"fusion {fusion!r} needs image features; the inputs have none")
    if image_layers < 1 or (image_layers > 1 and image_compress <= 0):
      raise ConfigError(f"model.image_layers={image_layers} needs >= 1 layer and, above 1, "
                        f"model.image_compress > 0 (got {image_compress})")
    self.fusion, self.image_dim, self.text_len = fusion, image_dim, text_len
    text_width = image_width = 0
    if uses_text:
      self.text = TextBiLSTM(vocab_size, embed_dim=embed_dim, hidden=lstm_hidden, dtype=dtype,
                             rngs=rngs)
      text_width = self.text.out_dim
    if uses_image:
      image_width = image_compress or image_dim
      widths = [image_dim] + [image_compress] * image_layers if image_compress > 0 else []
      self.image_mlp = nnx.List([nnx.Linear(a, b, dtype=dtype, rngs=rngs)
                                 for a, b in itertools.pairwise(widths)])
    # convex: both branches in the text's width, mixed by one gate
    self.project = (nnx.Linear(image_width, text_width, dtype=dtype, rngs=rngs)
                    if fusion in CONVEX and image_width != text_width else None)
    if fusion in CONVEX:
      self.gate = nnx.Param(jnp.full((text_width,), 0.5 if fusion == "convex_free" else 0.0,
                                     jnp.float32))
    if fusion in GATED:
      image_kind, text_kind = GATED[fusion]
      self.image_gate = GatedLayer(image_width, image_kind, dtype=dtype, rngs=rngs)
      self.text_gate = GatedLayer(text_width, text_kind, dtype=dtype, rngs=rngs)
    width = {"image": image_width, "text": text_width}.get(
        fusion, text_width if fusion in CONVEX else image_width + text_width)
    self.dropout = nnx.Dropout(dropout)
    self.feature_dim = width
    self.output_dim = output_dim
    self.head = nnx.Linear(width, output_dim or num_classes, dtype=dtype, rngs=rngs)
    if output_dim:
      if isinstance(label_embeddings, str) and label_embeddings == "learned":
        init = jax.random.normal(rngs.params(), (num_classes, output_dim), jnp.float32)
        self.label_embeddings = nnx.Param(init)
      else:
        e = (simplex_embeddings(num_classes, output_dim) if label_embeddings is None
             else jnp.asarray(label_embeddings, jnp.float32))
        if e.shape != (num_classes, output_dim):
          raise ConfigError(f"label embeddings have shape {e.shape}; model.output_dim="
                            f"{output_dim} and {num_classes} classes need "
                            f"{(num_classes, output_dim)}")
        self.label_embeddings = FixedEmbedding(e)

  def gate_value(self) -> jax.Array:
    """The convex fusion's gate on the image branch (1 - it on the text branch)."""
    if self.fusion not in CONVEX:
      raise ConfigError(f"fusion {self.fusion!r} has no single gate (see `gates`)")
    return jax.nn.sigmoid(self.gate[...]) if self.fusion == "convex" else self.gate[...]

  def branches(self, x: jax.Array) -> tuple[jax.Array | None, jax.Array | None]:
    """`(image branch [B, .], text branch [B, .])` before fusion (None where unused)."""
    x = x.reshape(x.shape[0], -1)
    v = t = None
    if self.fusion != "text":
      v = x[:, :self.image_dim]
      for layer in self.image_mlp:
        v = nnx.relu(layer(v))
      if self.project is not None:
        v = self.project(v)
    if self.fusion != "image":
      t = self.text(x[:, self.image_dim:].astype(jnp.int32))
    return v, t

  def gates(self, x: jax.Array) -> dict:
    """Mean gate activation per example of each branch: `{"image": [B], "text": [B]}`
    (GL1 / GL2 / mixed: sigmoid(V x + c) averaged over features; convex: g and 1 - g)."""
    v, t = self.branches(x)
    if self.fusion in GATED:
      return {"image": jnp.mean(self.image_gate.gate_of(v), -1),
              "text": jnp.mean(self.text_gate.gate_of(t), -1)}
    g = jnp.broadcast_to(jnp.mean(self.gate_value()), (x.shape[0],))
    return {"image": g, "text": 1.0 - g}

  def __call__(self, x: jax.Array, *, train: bool, rngs: nnx.Rngs | None = None) -> Outputs:
    v, t = self.branches(x)
    if self.fusion == "image":
      h = v
    elif self.fusion == "text":
      h = t
    elif self.fusion == "concat":
      h = jnp.concatenate([v, t], axis=-1)
    elif self.fusion in GATED:
      h = jnp.concatenate([self.image_gate(v), self.text_gate(t)], axis=-1)
    else:
      g = self.gate_value()
      h = g * v + (1.0 - g) * t
    out = self.head(self.dropout(h, deterministic=not train, rngs=rngs)).astype(jnp.float32)
    if not self.output_dim:
      return Outputs(logits=out, features=h.astype(jnp.float32))
    e = self.label_embeddings[...]
    return Outputs(logits=_l2n(out) @ _l2n(e).T, features=h.astype(jnp.float32), vector=out,
                   label_embeddings=e)


def gate_of(graphdef, params, state) -> jax.Array:
  """The image-branch gate of a trained convex-fusion model's parameters."""
  return nnx.merge(graphdef, params, state).gate_value()


def mean_gates(graphdef, params, state, x) -> dict:
  """Mean over the examples `x` of each branch's gate activation (see `MultimodalNet.gates`)."""
  return {k: float(jnp.mean(v)) for k, v in nnx.merge(graphdef, params, state).gates(x).items()}
