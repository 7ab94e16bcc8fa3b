"""The full config schema with defaults; every file in `configs/` starts from it.

`base_config()` returns a locked `ml_collections.ConfigDict`, so a config file or a
`--config.key=value` flag that names a key that does not exist is an error naming the
key. Method hyperparameters live under `config.method.*` (see `nlx.methods`).
"""

import os

import ml_collections

from nlx import methods


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict()
  c.data.name = "digits"            # see nlx.data.datasets.NAMES
  c.data.data_dir = ""              # local directory with the official release files
  c.data.label_file = ""            # cifar10n: CIFAR-10_human.pt (default: in data_dir)
  c.data.label_set = ""             # cifar10n: aggre|random1|random2|random3|worst|clean;
                                    # face_sentiment: sample|majority|soft
  c.data.resolution = "small"       # face_sentiment: small (32x30) | large (64x60)
  c.data.csv_file = ""              # image_folder: optional `path,label` CSV
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
  c.data.anp_drop_between = False   # multimodal_anp: two cuts, the posts between dropped
  c.data.batch_size = 128
  c.data.eval_batch_size = 256
  c.data.num_threads = 2            # grain read threads
  c.data.prefetch_buffer_size = 4
  c.data.on_device = False          # True: train set on the accelerator, batches cut and
                                    # crop_flip-ed in the step (nlx.data.on_device)

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
  c.model.dropout = 0.0
  c.model.pretrained = ""           # resnet: torchvision-layout .safetensors / .npz
  c.model.dtype = "float32"         # compute dtype: float32 | bfloat16
  c.model.conv = "auto"             # 3x3 convs: auto (chunked kernel gradient on one CPU
                                    # device, nlx.ops.conv) | xla
  c.model.fusion = "concat"         # multimodal: image | text | concat | gl1 | gl2 | mixed
                                    # (the study's gates) | convex | convex_free (nlx's)
  c.model.image_compress = 600      # multimodal: image features -> Dense+ReLU width (0: off)
  c.model.image_layers = 1          # multimodal: Dense+ReLU layers of that width on the image
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
  c.train.stop_after_steps = -1     # stop (with a checkpoint) once this step is reached
  c.train.progress_bar = True
  c.train.init_from = ""            # workdir of a run whose final model initialises this one
  c.train.init_from_exclude = ""    # comma-separated top-level modules left at their own init
  c.train.allow_more_epochs = False  # True: a rerun with a larger num_epochs trains the
                                     # workdir's run on (recorded in workdir.json)
  c.train.collapse_share = 0.9      # top predicted class share on train = collapse (nlx.collapse); 0: off
  c.train.stop_on_collapse = False  # end the run (evaluated, results.json) at a collapse
  c.lock()
  return c


def parse_variant(variant: str, allowed=()) -> set:
  """`get_config` argument -> set of words, e.g. "worst,tiny" -> {"worst", "tiny"};
  an unknown word is an error naming it."""
  words = {w.strip() for w in variant.split(",") if w.strip()}
  unknown = words - set(allowed) - {"tiny"}
  if unknown:
    raise ValueError(f"unknown config variant(s) {sorted(unknown)}; known: "
                     f"{sorted(set(allowed) | {'tiny'})}")
  return words


def make_tiny(c: ml_collections.ConfigDict, *, train: int = 256, test: int = 128,
              epochs: int = 2) -> ml_collections.ConfigDict:
  """The variant tests run: a seeded subset, few epochs, small batches, no progress bar."""
  c.data.max_train_examples = train
  c.data.max_test_examples = test
  c.data.batch_size = 32
  c.data.eval_batch_size = 64
  c.train.num_epochs = epochs
  c.train.log_every_steps = 4
  c.train.progress_bar = False
  return c


CONFIGS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")


def load_file(name: str, variant: str = "") -> ml_collections.ConfigDict:
  """`configs/<name>.py:get_config(variant)` (or a path to a config file), as
  `--config=...:variant` loads it; for notebooks and scripts, whatever the working folder."""
  import importlib.util
  path = name if name.endswith(".py") else os.path.join(CONFIGS_DIR, f"{name}.py")
  if not os.path.isfile(path):
    raise FileNotFoundError(f"no config file {path}")
  spec = importlib.util.spec_from_file_location(f"nlx_config_{os.path.basename(path)[:-3]}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(variant)
