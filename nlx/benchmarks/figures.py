"""The papers' figures, drawn from finished benchmark cells (each trained when missing).

- `arnet_tsne`: ARNet paper's Fig. 3, t-SNE of test embeddings for CE, ELR and ARNet.
- `can_quality`: CAN's quality embedding and per-cluster transitions (cifar10n_mosaic).
- `noise_model_figures`: Xiao et al.'s estimated confusion C and Fig. 8's rank-precision.
"""

import os

import numpy as np

from nlx.benchmarks.cells import Cells
from nlx.data import noise
from nlx.methods import can, noise_model
from nlx.report import plots


def arnet_tsne(cells: Cells, setting: str, seed: int, out: str) -> str:
  """t-SNE panels of CE's, ELR's and ARNet's test features (ARNet's prototypes as stars),
  each titled with its clean-test accuracy; writes `out/tsne_SUITE_SETTING.png`."""
  panels = []
  for method, title in (("ce", "CE"), ("elr", "ELR"), ("arnet", "ARNet")):
    r = cells.run(method, setting, seed)
    trainer, state = cells.restore(method, setting, seed)
    _, feats = trainer.predict_outputs(state, trainer.dataset.test)
    own = state.params["method"]  # a method with a memory (ARNet) draws its prototypes
    protos = np.asarray(own["prototypes"]) if "prototypes" in own else None
    panels.append({"title": f"{title} ({100 * r['test']['accuracy']:.1f}%)", "features": feats,
                   "labels": trainer.dataset.test.clean_labels, "prototypes": protos})
  os.makedirs(out, exist_ok=True)
  path = os.path.join(out, f"tsne_{cells.suite}_{setting}.png")
  plots.tsne_panels(panels, path)
  return path


def can_quality(cells: Cells, setting: str, seed: int, out: str) -> tuple[str, str]:
  """CAN's quality embedding mu of q(s | x, y~) on the training mosaics.

  Writes `out/can_quality_tsne_SETTING.png` (t-SNE of mu coloured trustworthy or not, and
  by whether the noisy label is in fact wrong) and `out/can_transitions_SETTING.png` (mu
  binarised by 2-means; per cluster, T[i, j] = P(noisy label j | latent label i)); prints
  the clusters' sizes, trustworthy fractions and true noise rates. Returns both paths."""
  from sklearn.cluster import KMeans
  cells.run("can", setting, seed)
  trainer, state = cells.restore("can", setting, seed)
  split = trainer.dataset.train
  q = can.quality_embedding(trainer, state, split)
  wrong = np.any(split.labels != split.clean_labels, axis=1)
  os.makedirs(out, exist_ok=True)
  tsne_path = os.path.join(out, f"can_quality_tsne_{setting}.png")
  plots.tsne_panels([
      {"title": "mu: trustworthy (prior = noisy label)", "features": q["mu"],
       "labels": (~q["trustworthy"]).astype(int), "names": ["trustworthy", "not"]},
      {"title": "mu: noisy label in fact wrong", "features": q["mu"],
       "labels": wrong.astype(int), "names": ["correct", "wrong"]}], tsne_path)
  clusters = KMeans(2, n_init=10, random_state=0).fit_predict(q["mu"])
  if q["trustworthy"][clusters == 0].mean() < q["trustworthy"][clusters == 1].mean():
    clusters = 1 - clusters  # cluster 0: the more trustworthy one
  latent = q["posterior"] > 0.5
  t = can.conditional_transitions(latent, split.labels > 0.5, clusters, 2)
  titles = []
  for g in range(2):
    m = clusters == g
    print(f"cluster {g}: {m.sum()} mosaics, trustworthy {100 * q['trustworthy'][m].mean():.1f}%, "
          f"noisy label wrong {100 * wrong[m].mean():.1f}%")
    titles.append(f"cluster {g} (n={m.sum()}, wrong {100 * wrong[m].mean():.0f}%)")
  heat_path = os.path.join(out, f"can_transitions_{setting}.png")
  plots.heatmaps(list(t), titles, heat_path, tick_labels=trainer.dataset.class_names,
                 xlabel="noisy label", ylabel="latent label (q > 1/2)")
  return tsne_path, heat_path


def noise_model_figures(cells: Cells, setting: str, seed: int, out: str) -> None:
  """From the noise-type model's cell: `out/noise_model_confusion.png` (the C estimated
  from D_c beside the true confusion of D_n's wrong labels) and
  `out/noise_model_rank_precision.png` (p(z = confusing | x) ranking D_n's wrong labels);
  prints the precision of the 10% most confusing D_n examples."""
  trainer, state = cells.restore("noise_model", setting, seed)
  ds = trainer.dataset
  names = ds.class_names
  estimated = np.asarray(state.method_state["confusion"])  # C[noisy, true]
  d_n = ds.train.extras["known_label"] < 0
  true_t = noise.realized_transition(ds.train.clean_labels[d_n], ds.train.labels[d_n],
                                     ds.num_classes)  # T[true, noisy]
  off_diagonal = true_t * (1 - np.eye(ds.num_classes))
  true_c = (off_diagonal / np.maximum(off_diagonal.sum(1, keepdims=True), 1e-12)).T
  plots.heatmaps([estimated, true_c], ["C estimated from D_c (Eq. 8-14)",
                                       "confusion of D_n's wrong labels (truth)"],
                 os.path.join(out, "noise_model_confusion.png"), tick_labels=names,
                 xlabel="true label", ylabel="noisy label")
  p_conf = noise_model.confusing_probability(trainer, state, ds.train)
  wrong = ds.train.labels != ds.train.clean_labels
  plots.rank_precision({"p(z = confusing | x)": (-p_conf[d_n], wrong[d_n])},
                       os.path.join(out, "noise_model_rank_precision.png"),
                       title="D_n, CIFAR-10N worst")
  k = int(0.1 * d_n.sum())
  top = np.argsort(-p_conf[d_n])[:k]
  print(f"precision of the 10% most 'confusing' D_n examples: {100 * wrong[d_n][top].mean():.1f}% "
        f"(noise rate of D_n {100 * wrong[d_n].mean():.1f}%)")
