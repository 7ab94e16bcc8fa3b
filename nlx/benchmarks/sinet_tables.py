"""SINet on the CIFAR-10N CPU protocol: Model-A/B/C, the alpha/beta ablation (the
paper's Tables 4-5), graph and prototype variants (Tables 2-3), and how well the noise
weights w find the mislabelled training examples.

The cells are the cifar10n_cpu suite's (`cells.Cells`); the side information is the
bundled WordNet-style hierarchy of the CIFAR-10 classes (HW) and, for the CD variants,
TF-IDF embeddings of the bundled class descriptions.
"""

import os

from nlx.benchmarks import output
from nlx.benchmarks.cells import Cells
from nlx.report import tables

SUITE = "cifar10n_cpu"
MODELS = {"Model-A (CE)": "sinet+method.variant=A",
          "Model-B (high-weight images)": "sinet+method.variant=B",
          "Model-C (weighted CE)": "sinet"}
# Eq. 5's prototypes (`nlx.ops.class_relations.PROTOTYPES`): nlx's default and the paper's Table 3
PROTOTYPES = {
    "every example labelled c, weighted by p_i (nlx's default)": "sinet",
    "constant: mean of the top-k by classifier confidence": "sinet+method.prototypes=constant",
    "Table 3: top-k by matching score, weighted": "sinet+method.prototypes=topk_weighted",
    "Table 3: top-k by matching score, constant": "sinet+method.prototypes=topk_constant",
}
ABLATION = {
    "Model-C, HW graph, alpha 1.2, beta 1.5": "sinet",
    **{f"alpha {a}": f"sinet+method.alpha={a}" for a in ("0.8", "1.0", "1.4")},
    **{f"beta {b}": f"sinet+method.beta={b}" for b in ("1.0", "2.0", "2.5")},
    "CD graph (descriptions only)": "sinet+method.hierarchy=+method.descriptions=cifar10",
    "HW + CD graph": "sinet+method.descriptions=cifar10",
    **dict(list(PROTOTYPES.items())[1:]),  # the other prototypes (the first is the default)
    "Model-C + top-2 label smoothing": "sinet+method.smoothing_topk=2",
}
METRICS = (("accuracy", "Accuracy"), ("macro_f1", "Macro-F1"), ("auroc", "AUROC of w"),
           ("kept_share", "Share of examples kept (w > 0)"),
           ("dropped_precision", "Mislabelled share of the dropped examples (w = 0)"))
DETECTION = ("auroc", "kept_share", "dropped_precision")


def collect(cells: Cells, rows: dict, settings, seeds) -> dict:
  """`{metric: {(row title, setting): [value per seed]}}` of `METRICS`, each cell run or
  reused; `rows` maps titles to method specs."""
  values = {key: {} for key, _ in METRICS}
  for setting in settings:
    for title, method in rows.items():
      for seed in seeds:
        r = cells.run(method, setting, seed)
        for key, _ in METRICS:
          v = r["noise_detection"][key] if key in DETECTION else r["test"][key]
          values[key].setdefault((title, setting), []).append(v)
  return values


def write(path: str, heading: str, values: dict, rows, settings, *, command: str) -> str:
  """Writes one markdown table per metric of `values` to `path`; returns the text."""
  text = f"# {heading}\n\nCommand: `{command}`\n"
  for key, title in METRICS:
    md, _ = tables.table(values[key], list(rows), list(settings))
    text += f"\n## {title}\n\n{md}"
  output.write_text(path, text)
  return text


def write_tables(cells: Cells, which, *, out: str, seeds, settings, ablation_seeds,
                 prototype_seeds, command: str) -> list[str]:
  """Writes the tables named in `which` (models, ablation, prototypes) to `out`:
  `sinet_cifar10n_cpu.md` (A/B/C on `settings`, default worst and aggre),
  `sinet_ablation.md` (`worst`) and `sinet_prototypes.md` (the four Eq. 5 readings on
  `settings`, default `worst`). Returns their texts."""
  texts = []
  if "models" in which:
    s = settings or ["worst", "aggre"]
    texts.append(write(
        os.path.join(out, "sinet_cifar10n_cpu.md"),
        f"SINet, CIFAR-10N CPU protocol: clean-test accuracy, macro-F1 and the AUROC "
        f"of the noise weights (%), mean ± std over seeds {seeds}",
        collect(cells, MODELS, s, seeds), MODELS, s, command=command))
  if "ablation" in which:
    texts.append(write(
        os.path.join(out, "sinet_ablation.md"),
        f"SINet ablations on CIFAR-10N `worst` (CPU protocol), seeds {ablation_seeds}",
        collect(cells, ABLATION, ["worst"], ablation_seeds), ABLATION, ["worst"],
        command=command))
  if "prototypes" in which:
    s = settings or ["worst"]
    texts.append(write(
        os.path.join(out, "sinet_prototypes.md"),
        f"SINet's Eq. 5 prototypes on CIFAR-10N {', '.join(s)} (CPU "
        f"protocol, Model-C), mean ± std over seeds {prototype_seeds}",
        collect(cells, PROTOTYPES, s, prototype_seeds), PROTOTYPES, s, command=command))
  return texts
