"""Figures shared by every method.

matplotlib is imported on the first figure (`pyplot`), not with this module: a run
imports it at its end, and a run that stops before (bad input, `--help`) never does.
"""

import functools


@functools.cache
def pyplot():
  """`matplotlib.pyplot` on the Agg backend (files only, no display), imported once."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  return plt


def training_curves(records: list[dict], path: str) -> None:
  """Writes `curves.png` from metrics.jsonl records: train loss per logged step (the
  data term `data_loss` where the method logs one, with the total on a second axis),
  clean-test accuracy (multi-label: mAP) per evaluation and, where the method exposes
  refined labels, the fraction of training examples whose refined label equals the clean
  label."""
  plt = pyplot()
  train = [r for r in records if r.get("kind") == "train"]
  evals = [r for r in records if r.get("kind") == "eval"]
  precision = [r for r in evals if "label_precision" in r]
  panels = 3 if precision else 2
  fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.4))
  steps = [r["step"] for r in train]
  if train and "data_loss" in train[0]:
    # a method with a regulariser: its data term is the readable curve (ELR's total
    # runs far below 0); the total goes on a second axis, in grey
    axes[0].plot(steps, [r["data_loss"] for r in train], label="data term")
    axes[0].set(xlabel="step", ylabel="train data loss (noisy labels)")
    total = axes[0].twinx()
    total.plot(steps, [r["loss"] for r in train], color="grey", lw=0.8, label="total")
    total.set_ylabel("total loss (data + regulariser)", color="grey")
  else:
    axes[0].plot(steps, [r["loss"] for r in train])
    axes[0].set(xlabel="step", ylabel="train loss (noisy labels)")
  key, name = (("test_map", "clean-test mAP (%)") if evals and "test_map" in evals[0]
               else ("test_accuracy", "clean-test accuracy (%)"))
  axes[1].plot([r["epoch"] for r in evals], [100 * r[key] for r in evals], marker="o")
  axes[1].set(xlabel="epoch", ylabel=name)
  if precision:
    axes[2].plot([r["epoch"] for r in precision], [100 * r["label_precision"] for r in precision],
                 marker="o")
    axes[2].set(xlabel="epoch", ylabel="refined label = clean label (%)")
  for ax in axes:
    ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def tsne_panels(panels: list[dict], path: str, *, seed: int = 0, max_points: int = 2000) -> None:
  """t-SNE (scikit-learn) of embeddings, one panel per model, prototypes as stars.

  Each panel: `{"title": str, "features": [N, D], "labels": [N], "prototypes": [L, D] or
  None, "names": optional names of the label values for a legend}`. Features and
  prototypes are L2-normalised and embedded together, so the stars sit among the points
  they attract.
  """
  plt = pyplot()
  import numpy as np
  from sklearn.manifold import TSNE

  fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4.4))
  axes = np.atleast_1d(axes)
  rng = np.random.default_rng(seed)
  for ax, panel in zip(axes, panels):
    feats, labels = np.asarray(panel["features"]), np.asarray(panel["labels"])
    keep = rng.choice(len(feats), min(max_points, len(feats)), replace=False)
    feats, labels = feats[keep], labels[keep]
    protos = panel.get("prototypes")
    stack = feats if protos is None else np.concatenate([feats, np.asarray(protos)])
    stack = stack / np.maximum(np.linalg.norm(stack, axis=1, keepdims=True), 1e-12)
    emb = TSNE(n_components=2, init="pca", random_state=seed, perplexity=30).fit_transform(stack)
    points = ax.scatter(emb[:len(feats), 0], emb[:len(feats), 1], c=labels, cmap="tab10",
                        vmin=0, vmax=9, s=4, alpha=0.7)
    if panel.get("names"):  # a legend naming the label values 0, 1, ...
      handles = points.legend_elements()[0]
      ax.legend(handles, panel["names"][:len(handles)], loc="upper right", fontsize=8)
    if protos is not None:
      ax.scatter(emb[len(feats):, 0], emb[len(feats):, 1], marker="*", s=160, c="black",
                 edgecolors="white", linewidths=0.6, label="prototypes")
      ax.legend(loc="lower right", fontsize=8)
    ax.set_title(panel["title"])
    ax.set_xticks([])
    ax.set_yticks([])
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def heatmaps(matrices: list, titles: list, path: str, *, tick_labels=None, xlabel="",
             ylabel="", vmax: float = 1.0) -> None:
  """Side-by-side heatmaps with their values written in (e.g. transition matrices
  `T[true, noisy]`, one per group of examples)."""
  plt = pyplot()
  import numpy as np

  fig, axes = plt.subplots(1, len(matrices), figsize=(4.8 * len(matrices), 4.4))
  axes = np.atleast_1d(axes)
  for k, (ax, m, title) in enumerate(zip(axes, matrices, titles)):
    m = np.asarray(m, float)
    im = ax.imshow(m, cmap="viridis", vmin=0, vmax=vmax)
    for (i, j), v in np.ndenumerate(m):
      if np.isfinite(v):
        ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                color="white" if v < 0.6 * vmax else "black")
    if tick_labels is not None:
      ax.set_xticks(range(len(tick_labels)), tick_labels, rotation=90, fontsize=7)
      ax.set_yticks(range(len(tick_labels)), tick_labels, fontsize=7)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel if k == 0 else "")
  fig.colorbar(im, ax=list(axes), shrink=0.8)
  fig.savefig(path, dpi=110, bbox_inches="tight")
  plt.close(fig)


def rank_precision(curves: dict, path: str, *, title: str = "") -> None:
  """Rank-precision curves of trust scores: examples ranked from least to most trusted;
  for the first k (x: k as a fraction of all), the precision of "the label is wrong".
  `curves = {name: (trust [N], wrong [N] bool)}`; the dashed line is the noise rate."""
  plt = pyplot()
  import numpy as np

  fig, ax = plt.subplots(figsize=(5, 3.8))
  for name, (trust, wrong) in curves.items():
    wrong = np.asarray(wrong, bool)[np.argsort(np.asarray(trust), kind="stable")]
    k = np.arange(1, len(wrong) + 1)
    ax.plot(k / len(wrong), np.cumsum(wrong) / k, label=name)
    ax.axhline(wrong.mean(), ls="--", lw=0.8, color="grey")
  ax.set(xlabel="fraction of examples flagged (least trusted first)",
         ylabel="precision: flagged label is wrong", title=title, ylim=(0, 1.02))
  ax.grid(alpha=0.3)
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def compare_curves(runs: dict, path: str, *, key: str = "test_accuracy") -> None:
  """One panel per metric of several runs: train loss per step and `key` per
  evaluation, `runs = {name: metrics.jsonl records}`."""
  plt = pyplot()
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
  for name, records in runs.items():
    train = [r for r in records if r.get("kind") == "train"]
    evals = [r for r in records if r.get("kind") == "eval"]
    # the data term where the method logs one (ELR's total runs far below 0)
    axes[0].plot([r["step"] for r in train], [r.get("data_loss", r["loss"]) for r in train],
                 label=name)
    axes[1].plot([r["epoch"] for r in evals], [100 * r[key] for r in evals], marker="o", label=name)
  axes[0].set(xlabel="step", ylabel="train loss (noisy labels; data term if logged)")
  axes[1].set(xlabel="epoch", ylabel=f"clean {key.replace('test_', 'test ')} (%)")
  for ax in axes:
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
