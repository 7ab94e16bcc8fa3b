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
- fusion `image` | `text` (one branch), `concat` ([image, text] then the output layer),
  `gl1` (h = g * image + (1 - g) * text with a free element-wise gate g, initialised at
  1/2) or `gl2` (the same with g = sigmoid(a) in [0, 1]); dropout 0.3 before the output.
Output: `output_dim=0`: class logits. Otherwise a `output_dim` vector f and, as logits,
its cosine with each label embedding (learned, or fixed from a GloVe file of the class
names): the prediction is the nearest label embedding; `Outputs.vector` and
`Outputs.label_embeddings` feed the embedding losses (`nlx.methods.label_embedding`).
"""

import jax
import jax.numpy as jnp
from flax import nnx

from nlx.errors import ConfigError
from nlx.models.outputs import Outputs

FUSIONS = ("image", "text", "concat", "gl1", "gl2")


class FixedEmbedding(nnx.Variable):
  """Label embeddings read from a file: model state, never trained."""


def _l2n(x):
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-8)


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
               fusion: str = "concat", image_compress: int = 600, embed_dim: int = 200,
               lstm_hidden: int = 300, dropout: float = 0.3, output_dim: int = 0,
               label_embeddings=None, dtype=jnp.float32, rngs: nnx.Rngs):
    if fusion not in FUSIONS:
      raise ConfigError(f"model.fusion must be one of {FUSIONS}, got {fusion!r}")
    uses_image, uses_text = fusion != "text", fusion != "image"
    if uses_image and image_dim <= 0:
      raise ConfigError(f"fusion {fusion!r} needs image features; the inputs have none")
    self.fusion, self.image_dim, self.text_len = fusion, image_dim, text_len
    width = 0
    if uses_text:
      self.text = TextBiLSTM(vocab_size, embed_dim=embed_dim, hidden=lstm_hidden, dtype=dtype,
                             rngs=rngs)
      width = self.text.out_dim
    if uses_image:
      if image_compress > 0:
        self.compress = nnx.Linear(image_dim, image_compress, dtype=dtype, rngs=rngs)
        image_width = image_compress
      else:
        self.compress = None
        image_width = image_dim
      if fusion in ("gl1", "gl2") and image_width != width:
        self.project = nnx.Linear(image_width, width, dtype=dtype, rngs=rngs)
      else:
        self.project = None
        width = image_width if fusion == "image" else width
    if fusion == "concat":
      width = (image_compress or image_dim) + self.text.out_dim
    if fusion in ("gl1", "gl2"):
      self.gate = nnx.Param(jnp.full((width,), 0.5 if fusion == "gl1" else 0.0, jnp.float32))
    self.dropout = nnx.Dropout(dropout)
    self.feature_dim = width
    self.output_dim = output_dim
    self.head = nnx.Linear(width, output_dim or num_classes, dtype=dtype, rngs=rngs)
    if output_dim:
      if label_embeddings is None:
        init = jax.random.normal(rngs.params(), (num_classes, output_dim), jnp.float32)
        self.label_embeddings = nnx.Param(init)
      else:
        e = jnp.asarray(label_embeddings, jnp.float32)
        if e.shape != (num_classes, output_dim):
          raise ConfigError(f"label embeddings have shape {e.shape}; model.output_dim="
                            f"{output_dim} and {num_classes} classes need {(num_classes, output_dim)}")
        self.label_embeddings = FixedEmbedding(e)

  def gate_value(self) -> jax.Array:
    """The fusion gate on the image branch (1 - it on the text branch)."""
    return jax.nn.sigmoid(self.gate[...]) if self.fusion == "gl2" else self.gate[...]

  def __call__(self, x: jax.Array, *, train: bool, rngs: nnx.Rngs | None = None) -> Outputs:
    x = x.reshape(x.shape[0], -1)
    image = x[:, :self.image_dim]
    ids = x[:, self.image_dim:].astype(jnp.int32)
    v = t = None
    if self.fusion != "text":
      v = nnx.relu(self.compress(image)) if self.compress is not None else image
      if self.project is not None:
        v = self.project(v)
    if self.fusion != "image":
      t = self.text(ids)
    if self.fusion == "image":
      h = v
    elif self.fusion == "text":
      h = t
    elif self.fusion == "concat":
      h = jnp.concatenate([v, t], axis=-1)
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
  """The fusion gate on the image branch of a trained GL1/GL2 model's parameters."""
  return nnx.merge(graphdef, params, state).gate_value()
