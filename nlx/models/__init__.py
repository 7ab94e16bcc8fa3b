"""Models as pure functions: `create` splits an NNX module into (graphdef, params, state).

`apply(graphdef, params, state, x, train=..., rng=...)` merges them inside jit and
returns `(Outputs(logits, features), new_state)`; `state` holds BatchNorm statistics.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from flax import nnx

from nlx.errors import ConfigError
from nlx.models.cnn import Cifar10Quick, SmallCNN
from nlx.models.mlp import MLP
from nlx.models.multimodal import MultimodalNet
from nlx.models.outputs import Outputs
from nlx.models.resnet import ResNet18, ResNet34, ResNet50
from nlx.ops import conv as conv_ops

RESNETS = {"resnet18": ResNet18, "resnet34": ResNet34, "resnet50": ResNet50}
NAMES = ("mlp", "small_cnn", "cifar10_quick", *RESNETS, *(f"{n}_imagenet" for n in RESNETS),
         "multimodal")


def run_once_options(config=None) -> dict | None:
  """XLA options for a program that runs once (a model's initialisation, the initial
  train state): the CPU backend's lightest optimisation level that still gives the values
  of the default one bit for bit (level 0 does not: 1 ulp here and there), where the
  optimiser is most of such a program's compile time (`JAX_LOG_COMPILES=1
  NLX_COMPILE_CACHE=off python -m nlx.main` on the 2-core CPU, 2026-12-04: the small CNN's
  initialisation compiled in 6.7 s at the default level, load about 2, and in 1.3 s at
  level 1, load 1.2); with `model.compile=fast` (`config`: `config.model`) also
  `fast_options` (the same bits: tests/models/test_models.py); None (XLA's defaults) elsewhere."""
  if jax.default_backend() != "cpu":
    return None
  return {"xla_backend_optimization_level": 1, **(fast_options(config) or {})}


COMPILE_MODES = ("full", "fast")
FAST_OPTIONS = {"xla_cpu_use_fusion_emitters": False}


def fast_options(config) -> dict | None:
  """`FAST_OPTIONS` where `config.model.compile` (`config`: `config.model`, or None) is
  `fast` on a CPU backend that takes them: XLA's older loop-fusion emitters, which compile
  a program in about half the time of the default ones and run it somewhat slower
  (`experiments/bench_run.py --runs=quickstart`; experiments/results/README.md, Speed):
  for runs whose compute is a few seconds, where compiling is most of the wall time
  (configs/quickstart.py). None for `full` (XLA's defaults), on other backends, and where
  this jaxlib refuses them (logged). A ConfigError for another value."""
  mode = "full" if config is None else check_compile_mode(config.get("compile", "full"))
  if mode == "full" or jax.default_backend() != "cpu" or not _fast_accepted():
    return None
  return dict(FAST_OPTIONS)


def check_compile_mode(mode):
  """`mode` if it is one of `COMPILE_MODES`, else a ConfigError naming `model.compile`
  (also checked before a run loads its data: `nlx.config_check.check_values`)."""
  if mode not in COMPILE_MODES:
    raise ConfigError(f"model.compile must be {' or '.join(COMPILE_MODES)}, got {mode!r}")
  return mode


@functools.cache
def _fast_accepted() -> bool:
  """Whether this jaxlib compiles with `FAST_OPTIONS` (once per process)."""
  try:
    jax.jit(lambda x: x + 1, compiler_options=FAST_OPTIONS).lower(
        jax.ShapeDtypeStruct((), jnp.float32)).compile()
  except Exception as e:  # noqa: BLE001 (a jaxlib without the option)
    logging.info("model.compile=fast: XLA's defaults kept, this jaxlib refuses %s (%s)",
                 FAST_OPTIONS, e)
    return False
  return True


CONVOLUTION_FREE = ("mlp", "multimodal")  # models without a convolution


def compiler_options(config) -> dict | None:
  """XLA options for the programs that run the model of `config` (`config.model`): its
  convolutions' (`nlx.ops.conv.compiler_options`) and `model.compile`'s (`fast_options`);
  None: XLA's defaults (a model without convolutions, whose programs would compile the
  same, has no convolution options: nothing to probe)."""
  fast = fast_options(config)
  conv = (None if config.get("name") in CONVOLUTION_FREE
          else conv_ops.compiler_options(config.get("conv", "auto")))
  return conv if fast is None else {**(conv or {}), **fast}


class Model(NamedTuple):
  graphdef: Any
  params: Any      # nnx.State of nnx.Param
  state: Any       # nnx.State of everything else (BatchNorm statistics)
  feature_dim: int


def build_module(config, num_classes: int, input_shape, rng: jax.Array, *,
                 data_info: dict | None = None, class_names=None) -> nnx.Module:
  """The NNX module for `config.model` (a ConfigDict) and inputs `[H, W, C]` or `[D]`.
  `data_info` / `class_names` (the dataset's) serve models that need facts of the data
  (the multimodal model: text length, vocabulary size, label names for GloVe)."""
  name = config.name
  dtype = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}.get(config.dtype)
  if dtype is None:
    raise ConfigError(f"model.dtype must be float32 or bfloat16, got {config.dtype!r}")
  conv_fn = {"auto": conv_ops.conv_general_dilated,
             "xla": jax.lax.conv_general_dilated}.get(config.get("conv", "auto"))
  if conv_fn is None:
    raise ConfigError(f"model.conv must be auto or xla, got {config.conv!r}")
  rngs = nnx.Rngs(params=rng)
  grid = config.get("feature_grid", 1)
  if not isinstance(grid, int) or grid < 1:
    raise ConfigError(f"model.feature_grid (data.backbone_grid for a backbone) must be a "
                      f"positive integer, got {grid!r}")
  if grid != 1 and name not in ("small_cnn", *RESNETS,
                                                *(f"{n}_imagenet" for n in RESNETS)):
    raise ConfigError(f"model.feature_grid pools a convolutional map; {name!r} has none "
                      f"(got {grid}; use 1)")
  if name == "mlp":
    in_features = int(np.prod(input_shape))
    return MLP(in_features, tuple(config.hidden), num_classes, dropout=config.dropout,
               dtype=dtype, rngs=rngs)
  if name == "multimodal":
    return _multimodal(config, num_classes, input_shape, data_info or {}, class_names, dtype, rngs)
  if len(input_shape) != 3:
    raise ConfigError(f"model {name!r} needs images [H, W, C], got inputs of shape {input_shape}")
  cin = input_shape[-1]
  if name == "small_cnn":
    return SmallCNN(cin, num_classes, width=config.width, dropout=config.dropout,
                    feature_grid=grid, dtype=dtype, conv_fn=conv_fn, rngs=rngs)
  if name == "cifar10_quick":
    return Cifar10Quick(tuple(input_shape), num_classes, dtype=dtype, conv_fn=conv_fn,
                        rngs=rngs)
  if name.removesuffix("_imagenet") in RESNETS:
    stem = "imagenet" if name.endswith("_imagenet") else "cifar"
    return RESNETS[name.removesuffix("_imagenet")](cin, num_classes, stem=stem,
                                                   feature_grid=grid,
                                                   dtype=dtype, conv_fn=conv_fn, rngs=rngs)
  raise ConfigError(f"unknown model {name!r}; known models: {', '.join(NAMES)}")


def _multimodal(config, num_classes, input_shape, info, class_names, dtype, rngs):
  if "text_len" not in info or "vocab_size" not in info:
    raise ConfigError("model 'multimodal' needs a multimodal dataset (data.name=multimodal_*)")
  embeddings = None  # the fixed simplex fallback (nlx.models.multimodal)
  if config.output_dim and config.label_embeddings == "learned":
    embeddings = "learned"
  elif config.output_dim and config.label_embeddings:
    from nlx.data.text import read_glove
    embeddings = read_glove(config.label_embeddings, list(class_names))
  image_dim = int(input_shape[-1]) - info["text_len"]
  return MultimodalNet(image_dim, info["text_len"], info["vocab_size"], num_classes,
                       fusion=config.fusion, image_compress=config.image_compress,
                       image_layers=config.image_layers, dropout=config.dropout,
                       output_dim=config.output_dim, label_embeddings=embeddings, dtype=dtype,
                       embed_dim=config.embed_dim, lstm_hidden=config.lstm_hidden, rngs=rngs)


def create(config, num_classes: int, input_shape, rng: jax.Array, *, data_info=None,
           class_names=None) -> Model:
  """The model of `config` (`config.pretrained`: its weights from that file), randomly
  initialised from `rng` where no file gives the values."""
  def build(r):
    return build_module(config, num_classes, input_shape, r, data_info=data_info,
                        class_names=class_names)
  if config.get("pretrained"):
    return _pretrained(config.pretrained, build, rng, run_once_options(config))
  # built in one compiled program, not op by op: the same values (tests/models/test_models.py),
  # about a second less at start-up on the CPU, and kept by the persistent compile cache;
  # compiled at the CPU's light optimisation level (`run_once_options`)
  static = {}

  def init(r):
    module = build(r)
    graphdef, params, state = nnx.split(module, nnx.Param, ...)
    static["graphdef"], static["feature_dim"] = graphdef, module.feature_dim  # traced once
    return params, state
  params, state = jax.jit(init, compiler_options=run_once_options(config))(rng)
  return Model(static["graphdef"], params, state, static["feature_dim"])


def _pretrained(path: str, build, rng: jax.Array, options: dict | None) -> Model:
  """The model with the file's weights, built without computing the random values the
  file replaces: shapes first (`nnx.eval_shape`), then the file's arrays; a leaf the file
  does not give (a head of another class count) gets the random value `build(rng)` gives
  it, from a program that computes only those leaves (ResNet-50's full initialisation
  takes 10 s to compile on the CPU)."""
  from nlx.models import pretrained
  module = nnx.eval_shape(lambda: build(rng))
  graphdef, params, state = nnx.split(module, nnx.Param, ...)
  load = (pretrained.load_backbone if pretrained.backbone_record(path)
          else pretrained.load_torchvision_resnet)
  loaded = load(params, state, path)
  trees = [loaded["params"].to_pure_dict(), loaded["state"].to_pure_dict()]
  is_abstract = lambda x: isinstance(x, jax.ShapeDtypeStruct)  # noqa: E731
  missing = [[i for i, x in enumerate(jax.tree.leaves(t)) if is_abstract(x)] for t in trees]
  if any(missing):
    @functools.partial(jax.jit, compiler_options=options)
    def fresh(r):  # XLA drops every other leaf's initialisation
      _, p, s = nnx.split(build(r), nnx.Param, ...)
      return [[jax.tree.leaves(t.to_pure_dict())[i] for i in m]
              for t, m in zip((p, s), missing)]
    values = fresh(rng)
    for k, (t, m) in enumerate(zip(trees, missing)):
      leaves, treedef = jax.tree.flatten(t)
      for i, v in zip(m, values[k]):
        leaves[i] = v
      trees[k] = jax.tree.unflatten(treedef, leaves)
  nnx.replace_by_pure_dict(params, trees[0])
  nnx.replace_by_pure_dict(state, trees[1])
  return Model(graphdef, params, state, module.feature_dim)


def apply(graphdef, params, state, x: jax.Array, *, train: bool,
          rng: jax.Array | None = None) -> tuple[Outputs, Any]:
  """Runs the model functionally. Returns `(Outputs, new_state)`; pure, jit-safe."""
  # copy=True: fresh Variables at the current trace level, so BatchNorm may update them
  # inside jax.grad (merging the caller's Variables would mutate across trace levels).
  module = nnx.merge(graphdef, params, state, copy=True)
  rngs = nnx.Rngs(dropout=rng) if rng is not None else None
  outputs = module(x, train=train, rngs=rngs)
  _, _, new_state = nnx.split(module, nnx.Param, ...)
  return outputs, new_state




def count_params(params) -> int:
  return sum(int(x.size) for x in jax.tree.leaves(params))
