"""Writes the Colab notebooks of this folder (run it after editing a notebook's cells here).

  python colab/build_notebooks.py

Every notebook: a TINY switch (True: small data, about a minute on a CPU, what CI
executes; False: the paper's configuration on the real data), a first cell that finds
and installs nlx on Colab without editing (already installed; else a checkout in
MyDrive/nlx; else the git URL given once as the Colab secret NLX_URL, cloned onto Drive),
keeps the workdirs on Drive when it is mounted (a recycled runtime resumes), and cells
that only call nlx functions. On a GPU runtime the runtime's jax, jaxlib and CUDA plugins
are kept: pip installs nlx under a constraint on their installed versions, and the cell
stops with a message when that jax is older than the oldest one nlx supports (setup.cfg).
"""

import configparser
import os
import re

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))
SETUP_CFG = os.path.join(os.path.dirname(HERE), "setup.cfg")


def minimum_versions(setup_cfg: str = SETUP_CFG) -> dict:
  """`{"jax": "0.7.1", "flax": "0.12.0"}`: setup.cfg's oldest supported jax and flax."""
  cfg = configparser.ConfigParser()
  cfg.read(setup_cfg)
  pins = re.findall(r"^\s*(jax|flax)>=([0-9.]+)", cfg["options"]["install_requires"],
                    re.MULTILINE)
  return dict(pins)


# The first cell's install logic: a notebook must carry it, nlx is not there yet.
# tests/test_notebooks.py executes it against made-up Drive folders and versions.
INSTALL = '''import importlib.metadata
import importlib.util
import os
import re
import subprocess
import sys
import tempfile

MIN_VERSIONS = MIN_VERSIONS_FROM_SETUP_CFG
DRIVE = "/content/drive/MyDrive"


def version_tuple(v):
    return tuple(int(p) for p in re.split(r"[.+]", v)[:3] if p.isdigit())


def jax_pins():
    """`name==version` of every installed jax distribution (jax, jaxlib, the CUDA plugins):
    pip adds nlx around them and never replaces them."""
    pins = sorted({f"{d.metadata['Name'].lower()}=={d.version}"
                   for d in importlib.metadata.distributions()
                   if (d.metadata["Name"] or "").lower().startswith("jax")})
    jax = [p.split("==")[1] for p in pins if p.startswith("jax==")]
    if jax and version_tuple(jax[0]) < version_tuple(MIN_VERSIONS["jax"]):
        raise SystemExit(f"this runtime has jax {jax[0]}; nlx needs jax >= "
                         f"{MIN_VERSIONS['jax']}: choose a newer runtime version")
    return pins


def find_source(drive=DRIVE, url=None):
    """Where nlx comes from: a checkout on Drive (MyDrive/nlx, a clone or an unpacked
    source archive), else the git URL given once (NLX_URL: a Colab secret or an
    environment variable). A checkout, not a wheel: the notebooks read its configs/."""
    checkout = os.path.join(drive, "nlx")
    if os.path.isfile(os.path.join(checkout, "setup.cfg")):
        return checkout
    if url:
        return url
    raise SystemExit("nlx is not installed: put a checkout of it in MyDrive/nlx, or give "
                     "its git URL once as the Colab secret (or environment variable) NLX_URL")


def install_nlx(source, drive=DRIVE, pip_options=()):
    """pip-installs the checkout `source` (editable) under a constraint on the runtime's
    jax versions; a git URL is cloned first, onto Drive when it is mounted (so the next
    runtime finds it there). Returns the checkout."""
    if not os.path.isdir(source):
        checkout = os.path.join(drive if os.path.isdir(drive) else "/content", "nlx")
        if not os.path.isfile(os.path.join(checkout, "setup.cfg")):  # cloned before
            subprocess.run(["git", "clone", "-q", source, checkout], check=True)
        source = checkout
    constraints = os.path.join(tempfile.gettempdir(), "nlx_constraints.txt")
    with open(constraints, "w") as f:
        f.write("".join(p + "\\n" for p in jax_pins()))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", constraints,
                    *pip_options, "-e", source], check=True)
    return source


def workdir_root(tiny, drive=DRIVE):
    """Where runs write: a temporary folder for TINY, else Drive when it is mounted, so a
    recycled runtime resumes from the last checkpoint."""
    if tiny:
        return tempfile.mkdtemp()
    return os.path.join(drive, "nlx_workdirs") if os.path.isdir(drive) else "workdirs"


def nlx_importable(name="nlx"):
    """nlx as a package (a checkout folder named nlx in the working folder is not one)."""
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.origin is not None


def url_given_once():
    url = os.environ.get("NLX_URL")
    if not url and "google.colab" in sys.modules:
        from google.colab import userdata
        try:
            url = userdata.get("NLX_URL")
        except (userdata.SecretNotFoundError, userdata.NotebookAccessError):
            url = None
    return url
'''

SETUP = ('TINY = True  # True: small data, about a minute on a CPU; '
         'False: the full reproduction\n' +
         INSTALL.replace("MIN_VERSIONS_FROM_SETUP_CFG", repr(minimum_versions())) +
         '''

if "google.colab" in sys.modules:  # Drive keeps nlx, the data and the workdirs
    from google.colab import drive
    drive.mount("/content/drive")
if not nlx_importable():
    source = install_nlx(find_source(url=url_given_once()))
    sys.path.insert(0, source)
    os.chdir(source)  # experiments/ is read from the checkout

from IPython.display import Markdown, display

from nlx import train
from nlx.config_base import load_file
from nlx.report import tables

WORK = workdir_root(TINY)


def run(config, name):
    """Trains (or resumes) one config in WORK/name; returns its results."""
    config.train.progress_bar = False
    return train.train_and_evaluate(config, os.path.join(WORK, name))


def show_table(cells, rows, columns, **kw):
    display(Markdown(tables.table(cells, rows, columns, **kw)[0]))''')

DATA = '''# Where the real data lives (used when TINY is False; the first cell mounts Drive):
# {what}
DATA_DIR = "{path}"'''

# The image notebooks' full runs read DATA_DIR and start from torchvision's ResNet weights.
IMAGE_DATA = DATA + '''
WEIGHTS = "/content/drive/MyDrive/nlx_data/resnet34.safetensors"  # torchvision ImageNet weights


def tiny_or_full(tiny_variant, name, variant=""):
    """configs/baselines.py:<tiny_variant> for TINY, else configs/<name>.py:<variant> on
    DATA_DIR from WEIGHTS."""
    if TINY:
        return load_file("baselines", tiny_variant)
    config = load_file(name, variant)
    config.data.data_dir, config.model.pretrained = DATA_DIR, WEIGHTS
    return config'''


def notebook(title: str, intro: str, cells: list, data: str = "") -> nbformat.NotebookNode:
  """A markdown title + intro, the first cell (SETUP), the `data` cell if any, then `cells`.
  Cell ids are set by `with_stable_ids`."""
  nb = new_notebook()
  nb.cells = [new_markdown_cell(f"# {title}\n\n{intro}"), new_code_cell(SETUP)]
  nb.cells += [new_code_cell(c) for c in ([data] if data else []) + cells]
  nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
  return nb


def with_stable_ids(name: str, nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
  """Cell ids `<name>-<index>` instead of nbformat's random ones, so that rebuilding an
  unchanged notebook changes no byte of it."""
  for i, cell in enumerate(nb.cells):
    cell.id = f"{name}-{i}"
  return nb


QUICKSTART = notebook(
    "nlx quickstart: CE vs ELR vs ARNet on digits with 40% noise",
    """Trains three methods on scikit-learn's digits with 40% symmetric label noise and
compares their clean-test accuracy and training curves. `TINY = True` trains 2 epochs on
a subset; `False` runs the full 30-epoch configs (`configs/baselines.py`), about 30 s
each on a CPU.""",
    ['''from IPython.display import Image

from nlx.report import plots
from nlx.report.report import read_metrics

results, curves = {}, {}
for method in ("ce", "elr", "arnet"):
    r = run(load_file("baselines", f"{method},tiny" if TINY else method), f"quickstart_{method}")
    results[(method, "sym40")] = [r["test"]["accuracy"]]
    curves[method] = read_metrics(os.path.join(WORK, f"quickstart_{method}"))
show_table(results, ["ce", "elr", "arnet"], ["sym40"])''',
     '''plots.compare_curves(curves, os.path.join(WORK, "compare.png"))
display(Image(os.path.join(WORK, "compare.png")))'''])

ARNET = notebook(
    "Reproduce ARNet (visual sentiment with label noise)",
    """ARNet's prototype memory with Sinkhorn writes against CE. Full run:
`configs/arnet_fi.py` (F&I, ResNet-34, 50 epochs; a GPU and the official F&I release
plus torchvision's ResNet-34 weights). TINY: digits with 40% noise, then the paper's
Fig. 3, a t-SNE of the test embeddings with the prototypes as stars. The benchmark
tables over all methods and noise settings: `experiments/sentiment_benchmark.py`.""",
    ['''import numpy as np
from IPython.display import Image

from nlx.report import plots

results, panels = {}, []
for method in ("ce", "arnet"):
    config = tiny_or_full(f"{method},tiny", "arnet_fi", f"sym20,{method}")
    r = run(config, f"arnet_{method}")
    results[(method, "test")] = [r["test"]["accuracy"]]
    trainer, state = train.restore(config, os.path.join(WORK, f"arnet_{method}"))
    _, feats = trainer.predict_outputs(state, trainer.dataset.test)
    protos = np.asarray(state.params["method"]["prototypes"]) if method == "arnet" else None
    panels.append({"title": method, "features": feats, "labels": trainer.dataset.test.clean_labels,
                   "prototypes": protos})
show_table(results, ["ce", "arnet"], ["test"])''',
     '''plots.tsne_panels(panels, os.path.join(WORK, "tsne.png"))
display(Image(os.path.join(WORK, "tsne.png")))'''],
    IMAGE_DATA.format(what="the F&I release, DIR/<emotion>/*.jpg",
                      path="/content/drive/MyDrive/nlx_data/FI"))

CAN = notebook(
    "Reproduce CAN (quality embedding, multi-label)",
    """CAN against BCE and ICNM on multi-label data, scored by mAP, and the quality embedding's
transition heatmaps. Full run: the CPU protocol of experiments/results/README.md (2x2
CIFAR-10 mosaics with CIFAR-10N `worst` labels; the feature cache needs CIFAR-10 and
`CIFAR-10_human.pt` in DATA_DIR), or `configs/can_voc2007.py` on a GPU. TINY: a generated
stand-in for the feature cache.""",
    ['''from IPython.display import Image

from nlx.data.datasets import features
from nlx.methods import can
from nlx.report import plots

cache = os.path.join(WORK, "features_cache")
if TINY:
    features.write_synthetic_cache(cache)
else:
    subprocess.run([sys.executable, "experiments/protocols.py", "--cifar10_dir", DATA_DIR,
                    "--label_file", os.path.join(DATA_DIR, "CIFAR-10_human.pt"), "--out", cache],
                   check=True)
results = {}
for method in ("bce", "icnm", "can"):
    config = load_file("can_cifar10n_mosaic", f"{method},worst" + (",tiny" if TINY else ""))
    config.data.data_dir = cache
    r = run(config, f"can_{method}")
    results[(method, "worst")] = [r["test"]["map"]]
show_table(results, ["bce", "icnm", "can"], ["worst"])''',
     '''from sklearn.cluster import KMeans

trainer, state = train.restore(config, os.path.join(WORK, "can_can"))
q = can.quality_embedding(trainer, state, trainer.dataset.train)
groups = KMeans(2, n_init=10, random_state=0).fit_predict(q["mu"])
t = can.conditional_transitions(q["posterior"] > 0.5, trainer.dataset.train.labels > 0.5, groups, 2)
plots.heatmaps(list(t), ["quality cluster 0", "quality cluster 1"], os.path.join(WORK, "can.png"),
               tick_labels=trainer.dataset.class_names, xlabel="noisy label", ylabel="latent label")
display(Image(os.path.join(WORK, "can.png")))'''],
    DATA.format(what="CIFAR-10 (cifar-10-batches-py/) and CIFAR-10_human.pt",
                path="/content/drive/MyDrive/nlx_data/cifar10"))

SINET = notebook(
    "Reproduce SINet (side information, visual prototypes, noise weights)",
    """SINet's Model-C (CE weighted by the noise weights w) against Model-A (plain CE), and w
as a detector of wrong labels (rank-precision curve). Full run:
`configs/sinet_clothing1m.py` on Clothing1M (a GPU and the release in DATA_DIR); the
CPU-protocol tables of experiments/results/README.md come from
`experiments/sinet_benchmark.py`. TINY: digits with 40% noise and the bundled digit-shape
hierarchy.""",
    ['''import numpy as np
from IPython.display import Image

from nlx.report import plots

results, curves = {}, {}
for variant in ("A", "C"):
    config = tiny_or_full("sinet,tiny", "sinet_clothing1m", variant)
    config.method.variant = variant  # the tiny config's is C
    r = run(config, f"sinet_{variant}")
    results[(f"Model-{variant}", "accuracy")] = [r["test"]["accuracy"]]
    results[(f"Model-{variant}", "AUROC of w")] = [r["noise_detection"]["auroc"]]
    ds = train.restore(config, os.path.join(WORK, f"sinet_{variant}"))[0].dataset.train
    curves[f"w, Model-{variant}"] = (np.asarray(r["state"].method_state["weights"]),
                                     ds.labels != ds.clean_labels)
show_table(results, ["Model-A", "Model-C"], ["accuracy", "AUROC of w"])''',
     '''plots.rank_precision(curves, os.path.join(WORK, "sinet_rank.png"))
display(Image(os.path.join(WORK, "sinet_rank.png")))'''],
    IMAGE_DATA.format(what="the Clothing1M release",
                      path="/content/drive/MyDrive/nlx_data/clothing1m"))

NOISE_MODEL = notebook(
    "Reproduce the noise-type model (Xiao et al., CVPR 2015)",
    """Latent true label and noise type, EM posteriors, and the closed-form estimate of the
confusion matrix C from the clean subset. Full run: `configs/noise_model_clothing1m.py`
(a GPU and Clothing1M in DATA_DIR). TINY: digits with 40% noise and 10% of the labels
known clean. Shows the estimated C and the rank-precision curve of p(z = confusing | x).""",
    ['''import numpy as np
from IPython.display import Image

from nlx.methods import noise_model
from nlx.report import plots

config = tiny_or_full("noise_model,tiny", "noise_model_clothing1m")
r = run(config, "noise_model")
show_table({("noise model", "test"): [r["test"]["accuracy"]]}, ["noise model"], ["test"])
trainer, state = train.restore(config, os.path.join(WORK, "noise_model"))
c = np.asarray(state.method_state["confusion"])
plots.heatmaps([c], ["estimated C[noisy, true]"], os.path.join(WORK, "confusion.png"),
               tick_labels=trainer.dataset.class_names, xlabel="true", ylabel="noisy")
display(Image(os.path.join(WORK, "confusion.png")))''',
     '''split = trainer.dataset.train
p_conf = noise_model.confusing_probability(trainer, state, split)
plots.rank_precision({"1 - p(confusing)": (-p_conf, split.labels != split.clean_labels)},
                     os.path.join(WORK, "noise_rank.png"))
display(Image(os.path.join(WORK, "noise_rank.png")))'''],
    IMAGE_DATA.format(what="the Clothing1M release",
                      path="/content/drive/MyDrive/nlx_data/clothing1m"))

MULTIMODAL = notebook(
    "Reproduce the multimodal sentiment study (image + caption)",
    """Image-only, text-only (BiLSTM) and the study's mixed gated fusion (GL2 on the image,
GL1 on the text), and the mean gate of each branch.
Full run: your posts in the MVSO format in DATA_DIR (`posts.csv` + `features.npy`,
labels from ANP scores; `experiments/multimodal_table.py --dataset=anp` fills the
study's Table 8/9 layout). TINY: generated posts whose captions decide the label.""",
    ['''import numpy as np

from nlx.models.multimodal import mean_gates

results = {}
for fusion in ("image", "text", "mixed"):
    variant = ("anp," if not TINY else "") + fusion + (",tiny" if TINY else "")
    config = load_file("multimodal", variant)
    if not TINY:
        config.data.data_dir = DATA_DIR
    r = run(config, f"multimodal_{fusion}")
    results[(fusion, "validation accuracy")] = [r["test"]["accuracy"]]
show_table(results, ["image", "text", "mixed"], ["validation accuracy"])
trainer, state = train.restore(config, os.path.join(WORK, "multimodal_mixed"))
x = trainer.dataset.test.model_inputs(np.arange(min(512, len(trainer.dataset.test))))
gates = mean_gates(trainer.graphdef, state.params["model"], state.model_state, x)
print(f"mean gate: image branch {gates['image']:.3f}, text branch {gates['text']:.3f}")'''],
    DATA.format(what="posts.csv and features.npy", path="/content/drive/MyDrive/nlx_data/mvso"))

NOTEBOOKS = {name: with_stable_ids(name, nb) for name, nb in {
    "quickstart": QUICKSTART, "reproduce_arnet": ARNET, "reproduce_can": CAN,
    "reproduce_sinet": SINET, "reproduce_noise_model": NOISE_MODEL,
    "reproduce_multimodal": MULTIMODAL}.items()}


def main():
  for name, nb in NOTEBOOKS.items():
    nbformat.write(nb, os.path.join(HERE, f"{name}.ipynb"))
    print(f"colab/{name}.ipynb")


if __name__ == "__main__":
  main()
