"""Image + text sentiment: image-only (4-layer MLP), text-only (BiLSTM), concatenation and
the study's gated fusions (GL1, GL2, mixed: GL2 on the image, GL1 on the text), plus nlx's
own convex gate; each with a class output or a label-embedding output.

Command:  python -m nlx.main --config=configs/multimodal.py:mixed
          python -m nlx.main --config=configs/multimodal.py:anp,mixed,embed,hinge \
            --config.data.data_dir=DIR [--config.model.label_embeddings=glove.6B.50d.txt]
          Variants: image | text | concat (default) | gl1 | gl2 | mixed | convex |
          convex_free (nlx.models.multimodal); embed (label-embedding output, 50-d as the
          study: GloVe vectors of the class names from model.label_embeddings, else fixed
          simplex vectors) with cosine (default) | mse | hinge; synthetic (default:
          generated posts, answer known) | anp (DIR/posts.csv + DIR/features.npy, labels
          from ANP scores cut at -0.035 / +0.035 with the band between dropped, as the
          study; see nlx/data/datasets/multimodal.py); sym20 | sym40 (symmetric label
          noise on the generated posts' training labels); tiny.
Protocol (the study's): dropout 0.3 before the output layer; class-output models with
          Adam 1e-3 (nlx's choice: the study does not say); the label-embedding models
          with SGD 0.01 (momentum 0.9), started from the class-output model of the same
          fusion (`train.init_from=<that run>`,
          `train.init_from_exclude=head,label_embeddings`, which experiments/multimodal_table.py
          sets).
Runtime:  synthetic: about a minute per variant on the 2-core CPU (captions of at most
          24 tokens); real posts at 101 tokens want a GPU.
Expected: experiments/results/multimodal_synthetic.md (3 seeds: clean and sym40, every fusion).
"""

from nlx.config_base import base_config, make_tiny, parse_variant
from nlx.config_presets import set_method
from nlx.models.multimodal import FUSIONS

NOISE = {"sym20": 0.2, "sym40": 0.4}
VARIANTS = {"fusion": tuple(FUSIONS), "output": ("embed",), "loss": ("cosine", "mse", "hinge"),
            "data": ("synthetic", "anp"), "noise": tuple(NOISE)}


def get_config(variant: str = ""):
  v = parse_variant(variant, **VARIANTS)
  anp = v["data"] == "anp"
  c = base_config()
  c.data.name = "multimodal_anp" if anp else "multimodal_synthetic"
  c.data.text_len = 101 if anp else 24
  c.data.batch_size = 64
  c.data.eval_batch_size = 256
  if anp:
    c.data.anp_thresholds = (-0.035, 0.035)
    c.data.anp_drop_between = True
  c.model.name = "multimodal"
  c.model.fusion = v["fusion"] or "concat"
  c.model.image_layers = 3 if c.model.fusion == "image" else 1
  c.model.dropout = 0.3
  c.optimizer.learning_rate = 1e-3
  if v["output"] or v["loss"]:  # a loss word implies the label-embedding output
    c.model.output_dim = 50
    set_method(c, "label_embedding")
    c.method.loss = v["loss"] or "cosine"
    c.optimizer.name = "sgd"
    c.optimizer.learning_rate = 0.01
  if v["noise"]:
    c.noise.type = "symmetric"
    c.noise.rate = NOISE[v["noise"]]
  c.train.num_epochs = 8
  c.train.log_every_steps = 20
  c.train.eval_every_epochs = 2
  c.train.checkpoint_every_epochs = 4
  if v["size"]:
    make_tiny(c, train=128, test=64, epochs=1)
  return c
