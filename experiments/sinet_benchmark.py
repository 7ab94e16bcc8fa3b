"""SINet on the CIFAR-10N CPU protocol: Model-A/B/C, the alpha/beta ablation (the
paper's Tables 4-5), graph and prototype variants (Tables 2-3), and the AUROC of the
noise weights w at finding the mislabelled training examples.

  python experiments/sinet_benchmark.py [--seeds=0,1,2] [--ablation_seeds=0]
  python experiments/sinet_benchmark.py --tables=prototypes --prototype_seeds=0,1,2

Cells are noisy_benchmark.py cells (suite cifar10n_cpu, cached in --workroot); the
side information is the bundled WordNet-style hierarchy of the CIFAR-10 classes (HW)
and, for the CD variants, TF-IDF embeddings of the bundled class descriptions.
Writes to --out (--tables picks which): `sinet_cifar10n_cpu.md` (A/B/C on worst and
aggre, accuracy, macro-F1 and AUROC), `sinet_ablation.md` (`worst`, --ablation_seeds)
and `sinet_prototypes.md` (the four Eq. 5 prototype readings on --settings, default
`worst`, --prototype_seeds).
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noisy_benchmark as nb

from nlx.report import tables

flags.DEFINE_list("ablation_seeds", ["0"], "Seeds of the ablation cells.")
flags.DEFINE_list("prototype_seeds", ["0", "1", "2"], "Seeds of the prototype cells.")
flags.DEFINE_multi_enum("tables", ["models", "ablation", "prototypes"],
                        ["models", "ablation", "prototypes"], "Which tables to write.")
FLAGS = flags.FLAGS
SUITE = "cifar10n_cpu"
MODELS = {"Model-A (CE)": "sinet@variant=A", "Model-B (high-weight images)": "sinet@variant=B",
          "Model-C (weighted CE)": "sinet"}
# Eq. 5's prototypes (`nlx.ops.side_info.PROTOTYPES`): nlx's default and the paper's Table 3
PROTOTYPES = {
    "every example labelled c, weighted by p_i (nlx's default)": "sinet",
    "constant: mean of the top-k by classifier confidence": "sinet@prototypes=constant",
    "Table 3: top-k by matching score, weighted": "sinet@prototypes=topk_weighted",
    "Table 3: top-k by matching score, constant": "sinet@prototypes=topk_constant",
}
ABLATION = {
    "Model-C, HW graph, alpha 1.2, beta 1.5": "sinet",
    **{f"alpha {a}": f"sinet@alpha={a}" for a in ("0.8", "1.0", "1.4")},
    **{f"beta {b}": f"sinet@beta={b}" for b in ("1.0", "2.0", "2.5")},
    "CD graph (descriptions only)": "sinet@hierarchy=,descriptions=cifar10",
    "HW + CD graph": "sinet@descriptions=cifar10",
    **{title: spec for title, spec in PROTOTYPES.items() if spec != "sinet"},
    "Model-C + top-2 label smoothing": "sinet@smoothing_topk=2",
}
METRICS = (("accuracy", "Accuracy"), ("macro_f1", "Macro-F1"), ("auroc", "AUROC of w"),
           ("kept_share", "Share of examples kept (w > 0)"),
           ("dropped_precision", "Mislabelled share of the dropped examples (w = 0)"))
DETECTION = ("auroc", "kept_share", "dropped_precision")


def collect(rows: dict, settings, seeds, data_dir) -> dict:
  values = {key: {} for key, _ in METRICS}
  for setting in settings:
    for title, method in rows.items():
      for seed in seeds:
        r = nb.run_cell(SUITE, method, setting, seed, data_dir)
        for key, _ in METRICS:
          v = r["noise_detection"][key] if key in DETECTION else r["test"][key]
          values[key].setdefault((title, setting), []).append(v)
  return values


def write(name: str, heading: str, values: dict, rows, settings) -> str:
  cmd = "python " + " ".join([os.path.relpath(sys.argv[0])] + sys.argv[1:])
  text = f"# {heading}\n\nCommand: `{cmd}`\n"
  for key, title in METRICS:
    md, _ = tables.table(values[key], list(rows), list(settings))
    text += f"\n## {title}\n\n{md}"
  with open(os.path.join(FLAGS.out, f"{name}.md"), "w") as f:
    f.write(text)
  return text


def main(argv):
  del argv
  nb.setup_cache()
  data_dir = nb.data_dir_for(SUITE)
  os.makedirs(FLAGS.out, exist_ok=True)
  seeds = [int(s) for s in FLAGS.seeds]
  settings = FLAGS.settings or ["worst", "aggre"]
  if "models" in FLAGS.tables:
    print(write("sinet_cifar10n_cpu",
                f"SINet, CIFAR-10N CPU protocol: clean-test accuracy, macro-F1 and the AUROC "
                f"of the noise weights (%), mean ± std over seeds {seeds}",
                collect(MODELS, settings, seeds, data_dir), MODELS, settings))
  if "ablation" in FLAGS.tables:
    ab_seeds = [int(s) for s in FLAGS.ablation_seeds]
    print(write("sinet_ablation",
                f"SINet ablations on CIFAR-10N `worst` (CPU protocol), seeds {ab_seeds}",
                collect(ABLATION, ["worst"], ab_seeds, data_dir), ABLATION, ["worst"]))
  if "prototypes" in FLAGS.tables:
    pr_seeds = [int(s) for s in FLAGS.prototype_seeds]
    pr_settings = FLAGS.settings or ["worst"]
    print(write("sinet_prototypes",
                f"SINet's Eq. 5 prototypes on CIFAR-10N {', '.join(pr_settings)} (CPU "
                f"protocol, Model-C), mean ± std over seeds {pr_seeds}",
                collect(PROTOTYPES, pr_settings, pr_seeds, data_dir), PROTOTYPES, pr_settings))


if __name__ == "__main__":
  app.run(main)
