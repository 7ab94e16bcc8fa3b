"""Figures shared by every method."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def training_curves(records: list[dict], path: str) -> None:
  """Writes `curves.png` from metrics.jsonl records: train loss per logged step,
  clean-test accuracy per evaluation and, where the method exposes refined labels, the
  fraction of training examples whose refined label equals the clean label."""
  train = [r for r in records if r.get("kind") == "train"]
  evals = [r for r in records if r.get("kind") == "eval"]
  precision = [r for r in evals if "label_precision" in r]
  panels = 3 if precision else 2
  fig, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.4))
  axes[0].plot([r["step"] for r in train], [r["loss"] for r in train])
  axes[0].set(xlabel="step", ylabel="train loss (noisy labels)")
  axes[1].plot([r["epoch"] for r in evals], [100 * r["test_accuracy"] for r in evals], marker="o")
  axes[1].set(xlabel="epoch", ylabel="clean-test accuracy (%)")
  if precision:
    axes[2].plot([r["epoch"] for r in precision], [100 * r["label_precision"] for r in precision],
                 marker="o")
    axes[2].set(xlabel="epoch", ylabel="refined label = clean label (%)")
  for ax in axes:
    ax.grid(alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
