"""The full config schema with defaults; every file in `configs/` starts from it.

`base_config()` returns a locked `ml_collections.ConfigDict`, so a config file or a
`--config.key=value` flag that names a key that does not exist is an error naming the
key. Method hyperparameters live under `config.method.*` (see `nlx.methods`).
"""

import os

import ml_collections

from nlx import methods
from nlx.errors import ConfigError, syntax_error_message


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "digits"            # see nlx.data.datasets.NAMES, or tfds:NAME
  c.data.data_dir = ""              # local directory with the official release files
  c.data.label_file = ""            # cifar10n: CIFAR-10_human.pt (default: in data_dir)
  c.data.label_set = ""             # cifar10n: aggre|random1|random2|random3|worst|clean;
                                    # face_sentiment: sample|majority|soft
  c.data.resolution = "small"       # face_sentiment: small (32x30) | large (64x60)
  c.data.csv_file = ""              # image_folder: optional `path,label` CSV
  c.data.test_csv_file = ""         # image_folder: the test set as a second CSV (then all
                                    # of the first listing is trained on and scored)
  c.data.class_names = ()           # image_folder: the classes, in label order; a label
                                    # (folder or CSV) not among them is an error
  c.data.duplicates = "error"       # image_folder: a path listed twice or two files with
                                    # the same pixels: error | drop (keep the first)
  c.data.split = "80/20"            # image_folder / digits: 80/20 or 80/5/15
  c.data.split_seed = 0
  c.data.max_train_examples = -1    # -1: all; tiny configs use a seeded subset
  c.data.max_test_examples = -1
  c.data.augment = "none"           # none | crop_flip | resize_crop_flip
  c.data.image_size = 0             # resize_crop_flip: crop size (224); 0: keep
  c.data.corrupt_images = "error"   # error | skip (with a count)
  c.data.clean_fraction = 0.0       # >0: that fraction of train labels is known clean (D_c)
  c.data.clean_ratio = 0.5          # D_c upsampled to this times |D_n| (Xiao et al.: 0.5)
  c.data.use_noisy = True           # False: train on D_c alone, with its clean labels
  c.data.num_mosaics = (20000, 5000)  # cifar10n_mosaic: (train, test) mosaics
  c.data.imagenet_val_dir = ""      # mini_webvision: ILSVRC 2012 val as <wnid>/ folders
  c.data.text_len = 101             # multimodal: tokens per post (truncate / post-pad)
  c.data.vocab_size = 20000         # multimodal: vocabulary entries (with <pad>, <unk>)
  c.data.anp_thresholds = (0.0,)    # multimodal_anp: ANP score cuts -> 2 (one) or 3 classes
  c.data.tfds_input_field = "image"  # tfds:NAME (nlx.data.datasets.tfds_source): input feature
  c.data.tfds_label_field = "label"  # tfds: the label training sees (cifar10_n: worse_label)
  c.data.tfds_clean_label_field = "label"  # tfds: the clean label (evaluation only)
  c.data.tfds_splits = ("train", "test")  # tfds: (train, test) or (train, val, test) splits
  c.data.anp_drop_between = False   # multimodal_anp: two cuts, the posts between dropped
  c.data.backbone = ""              # image files: a pretrained network (resnet50_imagenet)
                                    # whose pooled features the run trains on (nlx.feature_cache)
  c.data.backbone_weights = ""      # its torchvision state dict (.pth/.safetensors/.npz),
                                    # or a network nlx trained (a .npz written by
                                    # nlx.models.pretrained.save_backbone), which fixes
                                    # its own input size and normalisation
  c.data.backbone_grid = 1          # the backbone's last map average-pooled to grid x grid
                                    # cells per image (1: global pooling, the usual)
  c.data.features_cache = ""        # where extracted features are kept ("": ~/.cache/nlx/features)
  c.data.batch_size = 128
  c.data.eval_batch_size = 256
  c.data.num_threads = 2            # grain read threads
  c.data.prefetch_buffer_size = 4
  c.data.on_device = True           # where it applies (in-memory arrays, augment none or
                                    # crop_flip): train set on the accelerator, batches cut
                                    # and crop_flip-ed in the step, several steps per call
                                    # (train.steps_per_call), in-memory sets predicted in one
                                    # program (nlx.data.on_device); False: grain, step by step

  c.noise = ml_collections.ConfigDict()
  c.noise.type = "none"             # none|symmetric|symmetric_uniform|pair|virtual_agent|
                                    # random_transition;
                                    # multi-label data: none|shuffle
  c.noise.rate = 0.0
  c.noise.seed = 0
  c.noise.agent_clean_fraction = 0.1  # virtual_agent: clean subset the SVM is fitted on

  c.model = ml_collections.ConfigDict()
  c.model.name = "mlp"              # see nlx.models.NAMES
  c.model.hidden = (256, 256)       # mlp
  c.model.width = 32                # small_cnn: channels of the first layer
  c.model.feature_grid = 1          # small_cnn / resnet: `features` = the last map
                                    # average-pooled to grid x grid cells (1: global)
  c.model.dropout = 0.0
  c.model.pretrained = ""           # resnet: torchvision state dict, .pth / .safetensors / .npz
  c.model.dtype = "float32"         # compute dtype: float32 | bfloat16
  c.model.conv = "auto"             # convs on a CPU: auto (stride-1 gradients as matrix
                                    # products; XLA's own convs, not YNNPACK's: nlx.ops.conv)
                                    # | xla (XLA's defaults)
  c.model.compile = "full"          # full (XLA's default pipeline) | fast (on a CPU: XLA's
                                    # older loop-fusion emitters, about half the compile
                                    # time, slower steps: for runs of a few seconds' compute,
                                    # configs/quickstart.py; nlx.models.fast_options)
  c.model.fusion = "concat"         # multimodal: image | text | concat | gl1 | gl2 | mixed
                                    # (the study's gates) | convex | convex_free (nlx's)
  c.model.image_compress = 600      # multimodal: image features -> Dense+ReLU width (0: off)
  c.model.image_layers = 1          # multimodal: Dense+ReLU layers of that width on the image
  c.model.embed_dim = 200           # multimodal: word vectors of the text (the study's 200)
  c.model.lstm_hidden = 300         # multimodal: BiLSTM units each way (the study's 300)
  c.model.output_dim = 0            # multimodal: >0 = label-embedding output of that size
  c.model.label_embeddings = ""     # multimodal: GloVe-format file (fixed class-name
                                    # vectors); "" = fixed simplex vectors; "learned"

  c.method = methods.default_config("ce")

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"         # adam | adamw | sgd
  c.optimizer.learning_rate = 1e-3
  c.optimizer.momentum = 0.9
  c.optimizer.nesterov = False
  c.optimizer.weight_decay = 0.0
  c.optimizer.schedule = "constant"  # constant | cosine | step
  c.optimizer.warmup_epochs = 0
  c.optimizer.step_epochs = (30, 60)  # step: epochs at which lr is multiplied
  c.optimizer.step_factor = 0.1
  c.optimizer.lr_multipliers = ""   # "NAME=F,...": updates of params named NAME times F

  c.train = ml_collections.ConfigDict()
  c.train.num_epochs = 10
  c.train.log_every_steps = 50
  c.train.eval_every_epochs = 1
  c.train.checkpoint_every_epochs = 1
  c.train.max_checkpoints = 2
  c.train.checkpoint_every_steps = 0  # >0: also checkpoint mid-epoch every this many steps
  c.train.steps_per_call = 0        # data on the device: steps per compiled call (a
                                    # fori_loop); 0: up to the next log/epoch/checkpoint;
                                    # 1: one step per call (the grain path's loop)
  c.train.stop_after_steps = -1     # stop (with a checkpoint) once this step is reached
  c.train.progress_bar = True
  c.train.init_from = ""            # workdir of a run whose final model initialises this one
  c.train.init_from_exclude = ""    # comma-separated top-level modules left at their own init
  c.train.allow_more_epochs = False  # True: a rerun with a larger num_epochs trains the
                                     # workdir's run on (recorded in workdir.json)
  c.train.collapse_share = 0.9      # top predicted class share on train = collapse
                                    # (nlx.collapse); 0: off
  c.train.stop_on_collapse = False  # end the run (evaluated, results.json) at a collapse
  # predict the training set after every epoch for the training dynamics (nlx.dynamics)
  # and write label_issues.csv/json/png; False: no such pass (the collapse guard then
  # predicts it at evaluations only)
  c.train.training_dynamics = True
  # K > 1: K independent runs of this config in one program (`nlx.replicas`): replica r
  # has seed + r and noise.seed + r (its own init, noise draw, batch order, dropout) and
  # its own sub-workdir WORKDIR/seed_<seed + r>, exactly the run of that seed alone; the
  # state carries a leading replica axis and the step is vmapped. Data held in memory only
  c.train.replicas = 1

  c.label_issues = ml_collections.ConfigDict()
  # K >= 2: out-of-fold label issues (`nlx.replicas`): K runs in one program, run k not
  # training on fold k of K stratified folds of the training set (seeded by `seed`); every
  # example is judged by the run that never trained on it. 0: the run's own in-sample
  # training dynamics (`nlx.label_issue_scores`)
  c.label_issues.folds = 0
  # set by `folds` in each fold's sub-run: the fold it holds out of training (-1: none)
  c.label_issues.holdout_fold = -1
  c.lock()
  return c


SIZE = ("tiny",)  # the variant group every config has


def parse_variant(variant: str, **groups) -> dict:
  """`get_config` argument -> {group: the word given, or None}, for the groups a config
  declares plus size=("tiny",). E.g. parse_variant("sym40,tiny", noise=("sym20", "sym40"))
  -> {"noise": "sym40", "size": "tiny"}. Two words of one group, or a word of no group, is
  a ConfigError naming them (and the choices); word order does not matter."""
  groups = {**groups, "size": SIZE}
  owner = {}
  for group, words in groups.items():
    for word in words:
      if word in owner:  # a config's own mistake, not the user's
        raise ValueError(f"variant word {word!r} is in groups {owner[word]} and {group}")
      owner[word] = group
  chosen = dict.fromkeys(groups)
  for word in filter(None, (w.strip() for w in variant.split(","))):
    if word not in owner:
      choices = "; ".join(f"{g}: {'|'.join(ws)}" for g, ws in groups.items())
      raise ConfigError(f"unknown config variant {word!r}; choices: {choices}")
    group = owner[word]
    if chosen[group] not in (None, word):
      raise ConfigError(f"config variant gives two {group} words, {chosen[group]!r} and "
                        f"{word!r}; give one")
    chosen[group] = word
  return chosen


def make_tiny(c: ml_collections.ConfigDict, *, train: int = 256, test: int = 128,
              epochs: int = 2) -> ml_collections.ConfigDict:
  """The variant tests run: a seeded subset, few epochs, small batches, no progress bar,
  and what the configured method changes for such a run (its `shrink_for_tiny`)."""
  methods.get(c.method.name).shrink_for_tiny(c.method)
  c.data.max_train_examples = train
  c.data.max_test_examples = test
  c.data.batch_size = 32
  c.data.eval_batch_size = 64
  c.train.num_epochs = epochs
  c.train.log_every_steps = 4
  c.train.progress_bar = False
  return c


def _configs_dir() -> str:
  """The config files: `nlx/configs` in an installed wheel (setup.cfg maps the checkout's
  top-level `configs/` there), else `configs/` next to the `nlx` package (a checkout or an
  editable install)."""
  package = os.path.dirname(os.path.abspath(__file__))
  installed = os.path.join(package, "configs")
  return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(package),
                                                                 "configs")


CONFIGS_DIR = _configs_dir()


def config_path(name: str) -> str:
  """A config name or path -> its file: `NAME` is `CONFIGS_DIR/NAME.py`; a path that exists
  (relative to the working folder) is itself; `configs/NAME.py` that does not exist there
  is the packaged `CONFIGS_DIR/NAME.py`, so commands from the README work from any folder."""
  if not name.endswith(".py"):
    return os.path.join(CONFIGS_DIR, f"{name}.py")
  if os.path.exists(name) or os.path.dirname(os.path.normpath(name)) != "configs":
    return name
  return os.path.join(CONFIGS_DIR, os.path.basename(name))


def load_file(name: str, variant: str = "") -> ml_collections.ConfigDict:
  """`configs/<name>.py:get_config(variant)` (or a path to a config file), as
  `--config=...:variant` loads it, locked (a misspelt key anywhere, `c.method` included, is
  an error); for notebooks and scripts, whatever the working folder. A file that is not
  Python (a syntax error, cut short, garbage) or has no `get_config` is a one-line
  ConfigError naming it."""
  import importlib.util
  path = config_path(name)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no config file {path}")
  spec = importlib.util.spec_from_file_location(f"nlx_config_{os.path.basename(path)[:-3]}", path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except SyntaxError as e:  # also a file with null bytes, or not UTF-8
    raise ConfigError(syntax_error_message(e, path)) from None
  if not callable(getattr(module, "get_config", None)):
    raise ConfigError(f"{path}: defines no get_config(variant); a config file is Python with "
                      "`def get_config(arg=None)` returning the config")
  return lock_all(module.get_config(variant))


def lock_all(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Locks `config` and every sub-dict in it, also one assigned after an earlier lock (such
  as `c.method = methods.default_config(...)`), which `ConfigDict.lock` skips."""
  return config.unlock().lock()
