"""Writes the Colab notebooks of this folder (run it after editing a notebook's cells here).

  python colab/build_notebooks.py

Every notebook: a TINY switch (True: small data, about a minute on a CPU, what CI
executes; False: the paper's configuration on the real data), an install cell that
clones and installs nlx on Colab, and cells that only call nlx functions.
"""

import os

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = os.path.dirname(os.path.abspath(__file__))

SETUP = '''TINY = True  # True: small data, about a minute on a CPU; False: the full reproduction
import os
import subprocess
import sys
import tempfile

if "google.colab" in sys.modules and not os.path.isdir("nlx"):
    REPO_URL = ""  # the git URL of your copy of nlx
    if not REPO_URL:
        raise SystemExit("set REPO_URL to the git URL of your copy of nlx")
    subprocess.run(["git", "clone", "-q", REPO_URL, "nlx"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "nlx"], check=True)
    sys.path.insert(0, "nlx")

from IPython.display import Markdown, display

from nlx import train
from nlx.config_base import load_file
from nlx.report import tables

WORK = tempfile.mkdtemp() if TINY else "workdirs/colab"


def run(config, name):
    """Trains (or resumes) one config in WORK/name; returns its results."""
    config.train.progress_bar = False
    return train.train_and_evaluate(config, os.path.join(WORK, name))


def show_table(cells, rows, columns, **kw):
    display(Markdown(tables.table(cells, rows, columns, **kw)[0]))'''

DATA = '''# Where the real data lives (used when TINY is False): {what}
DATA_DIR = "{path}"
if not TINY and "google.colab" in sys.modules:
    from google.colab import drive
    drive.mount("/content/drive")'''


def notebook(title: str, intro: str, cells: list) -> nbformat.NotebookNode:
  nb = new_notebook()
  nb.cells = [new_markdown_cell(f"# {title}\n\n{intro}"), new_code_cell(SETUP)]
  nb.cells += [new_code_cell(c) for c in cells]
  nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
  return nb


QUICKSTART = notebook(
    "nlx quickstart: CE vs ELR vs ARNet on digits with 40% noise",
    "Trains three methods on scikit-learn's digits with 40% symmetric label noise and "
    "compares their clean-test accuracy and training curves. `TINY = True` trains 2 epochs "
    "on a subset; `False` runs the full 30-epoch configs (`configs/baselines.py`), about "
    "30 s each on a CPU.",
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
    "ARNet's prototype memory with Sinkhorn writes against CE. Full run: "
    "`configs/arnet_fi.py` (F&I, ResNet-34, 50 epochs; a GPU and the official F&I release "
    "plus torchvision's ResNet-34 weights). TINY: digits with 40% noise, then the paper's "
    "Fig. 3, a t-SNE of the test embeddings with the prototypes as stars. The benchmark "
    "tables over all methods and noise settings: `experiments/sentiment_benchmark.py`.",
    [DATA.format(what="the F&I release, DIR/<emotion>/*.jpg", path="/content/drive/MyDrive/nlx_data/FI"),
     '''import numpy as np
from IPython.display import Image

from nlx.report import plots

WEIGHTS = "/content/drive/MyDrive/nlx_data/resnet34.safetensors"  # torchvision ImageNet weights
results, panels = {}, []
for method in ("ce", "arnet"):
    if TINY:
        config = load_file("baselines", f"{method},tiny")
    else:
        config = load_file("arnet_fi", f"sym20,{method}")
        config.data.data_dir, config.model.pretrained = DATA_DIR, WEIGHTS
    r = run(config, f"arnet_{method}")
    results[(method, "test")] = [r["test"]["accuracy"]]
    trainer, state = train.restore(config, os.path.join(WORK, f"arnet_{method}"))
    _, feats = trainer.predict_outputs(state, trainer.dataset.test)
    protos = np.asarray(state.params["method"]["prototypes"]) if method == "arnet" else None
    panels.append({"title": method, "features": feats, "labels": trainer.dataset.test.clean_labels,
                   "prototypes": protos})
show_table(results, ["ce", "arnet"], ["test"])''',
     '''plots.tsne_panels(panels, os.path.join(WORK, "tsne.png"))
display(Image(os.path.join(WORK, "tsne.png")))'''])

CAN = notebook(
    "Reproduce CAN (quality embedding, multi-label)",
    "CAN against BCE and ICNM on multi-label data, scored by mAP, and the quality "
    "embedding's transition heatmaps. Full run: the CPU protocol of the README (2x2 "
    "CIFAR-10 mosaics with CIFAR-10N `worst` labels; the feature cache needs CIFAR-10 and "
    "`CIFAR-10_human.pt` in DATA_DIR), or `configs/can_voc2007.py` on a GPU. TINY: a "
    "generated stand-in for the feature cache.",
    [DATA.format(what="CIFAR-10 (cifar-10-batches-py/) and CIFAR-10_human.pt",
                 path="/content/drive/MyDrive/nlx_data/cifar10"),
     '''from IPython.display import Image

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
display(Image(os.path.join(WORK, "can.png")))'''])

SINET = notebook(
    "Reproduce SINet (side information, visual prototypes, noise weights)",
    "SINet's Model-C (CE weighted by the noise weights w) against Model-A (plain CE), and "
    "w as a detector of wrong labels (rank-precision curve). Full run: "
    "`configs/sinet_clothing1m.py` on Clothing1M (a GPU and the release in DATA_DIR); the "
    "CPU-protocol tables of the README come from `experiments/sinet_benchmark.py`. TINY: "
    "digits with 40% noise and the bundled digit-shape hierarchy.",
    [DATA.format(what="the Clothing1M release", path="/content/drive/MyDrive/nlx_data/clothing1m"),
     '''import numpy as np
from IPython.display import Image

from nlx.report import plots

WEIGHTS = "/content/drive/MyDrive/nlx_data/resnet34.safetensors"
results, curves = {}, {}
for variant in ("A", "C"):
    if TINY:
        config = load_file("baselines", "sinet,tiny")
        config.method.variant = variant
    else:
        config = load_file("sinet_clothing1m", variant)
        config.data.data_dir, config.model.pretrained = DATA_DIR, WEIGHTS
    r = run(config, f"sinet_{variant}")
    results[(f"Model-{variant}", "accuracy")] = [r["test"]["accuracy"]]
    results[(f"Model-{variant}", "AUROC of w")] = [r["noise_detection"]["auroc"]]
    ds = train.restore(config, os.path.join(WORK, f"sinet_{variant}"))[0].dataset.train
    curves[f"w, Model-{variant}"] = (np.asarray(r["state"].method_state["weights"]),
                                     ds.labels != ds.clean_labels)
show_table(results, ["Model-A", "Model-C"], ["accuracy", "AUROC of w"])''',
     '''plots.rank_precision(curves, os.path.join(WORK, "sinet_rank.png"))
display(Image(os.path.join(WORK, "sinet_rank.png")))'''])

NOISE_MODEL = notebook(
    "Reproduce the noise-type model (Xiao et al., CVPR 2015)",
    "Latent true label and noise type, EM posteriors, and the closed-form estimate of the "
    "confusion matrix C from the clean subset. Full run: `configs/noise_model_clothing1m.py` "
    "(a GPU and Clothing1M in DATA_DIR). TINY: digits with 40% noise and 10% of the labels "
    "known clean. Shows the estimated C and the rank-precision curve of p(z = confusing | x).",
    [DATA.format(what="the Clothing1M release", path="/content/drive/MyDrive/nlx_data/clothing1m"),
     '''import numpy as np
from IPython.display import Image

from nlx.methods import noise_model
from nlx.report import plots

WEIGHTS = "/content/drive/MyDrive/nlx_data/resnet34.safetensors"
if TINY:
    config = load_file("baselines", "noise_model,tiny")
else:
    config = load_file("noise_model_clothing1m")
    config.data.data_dir, config.model.pretrained = DATA_DIR, WEIGHTS
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
display(Image(os.path.join(WORK, "noise_rank.png")))'''])

MULTIMODAL = notebook(
    "Reproduce the multimodal sentiment study (image + caption)",
    "Image-only, text-only (BiLSTM) and gated-fusion (GL2) classifiers, and the fusion gate. "
    "Full run: your posts in the MVSO format in DATA_DIR (`posts.csv` + `features.npy`, "
    "labels from ANP scores; `experiments/multimodal_table.py --dataset=anp` fills the "
    "study's Table 8/9 layout). TINY: generated posts whose captions decide the label.",
    [DATA.format(what="posts.csv and features.npy", path="/content/drive/MyDrive/nlx_data/mvso"),
     '''import numpy as np

from nlx.models.multimodal import gate_of

results = {}
for fusion in ("image", "text", "gl2"):
    variant = ("anp," if not TINY else "") + fusion + (",tiny" if TINY else "")
    config = load_file("multimodal", variant)
    if not TINY:
        config.data.data_dir = DATA_DIR
    r = run(config, f"multimodal_{fusion}")
    results[(fusion, "validation accuracy")] = [r["test"]["accuracy"]]
show_table(results, ["image", "text", "gl2"], ["validation accuracy"])
trainer, state = train.restore(config, os.path.join(WORK, "multimodal_gl2"))
gate = gate_of(trainer.graphdef, state.params["model"], state.model_state)
print(f"GL2 gate on the image branch: {float(np.mean(gate)):.3f} (text: 1 - that)")'''])

NOTEBOOKS = {"quickstart": QUICKSTART, "reproduce_arnet": ARNET, "reproduce_can": CAN,
             "reproduce_sinet": SINET, "reproduce_noise_model": NOISE_MODEL,
             "reproduce_multimodal": MULTIMODAL}


def main():
  for name, nb in NOTEBOOKS.items():
    nbformat.write(nb, os.path.join(HERE, f"{name}.ipynb"))
    print(f"colab/{name}.ipynb")


if __name__ == "__main__":
  main()
