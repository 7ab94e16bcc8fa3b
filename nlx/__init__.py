"""nlx: learning with noisy labels in JAX/Flax.

Layers, lowest first (`LAYERS`): a module imports only from its own layer or lower ones,
lazily or not, and no import chain comes back to where it started
(`tests/test_layers.py` checks both).

0. foundation: `errors`, `io` (JSON / JSON-lines files), `periodic` (`itstime`: when a
   periodic action is due), `train_state`.
1. numerics: `ops`, `losses`, `metrics`, `optim`, `distributed`; pure functions of arrays.
2. data and models: `data` (datasets, noise, input pipeline), `models`.
3. methods and configs: `methods` (one module per method; `Method`, `StepContext`,
   `EpochContext`), `config_base`, `config_presets`, `config_check`.
4. report: `report` turns a run's files into tables, figures and pages, and writes them
   (`report.run_files`: metrics.jsonl, results.json, curves.png); it knows nothing of
   how a run trains, so the layers above call it.
5. run services: `collapse`, `dynamics`, `label_issues`, `checkpointing`, `workdir`;
   what the trainer does around the steps.
6. trainer: `train` (`Trainer`, `train_and_evaluate`).
7. entry points: `main` (`python -m nlx.main`), `cli` (`nlx ...`).
"""

__version__ = "0.1.0"

# (layer name, module prefixes), lowest first; a module's layer is that of its longest prefix
LAYERS = (
    ("foundation", ("nlx.errors", "nlx.io", "nlx.periodic", "nlx.train_state")),
    ("numerics", ("nlx.ops", "nlx.losses", "nlx.metrics", "nlx.optim", "nlx.distributed")),
    ("data and models", ("nlx.data", "nlx.models")),
    ("methods and configs", ("nlx.methods", "nlx.config_base", "nlx.config_presets",
                             "nlx.config_check")),
    ("report", ("nlx.report",)),
    ("run services", ("nlx.collapse", "nlx.dynamics", "nlx.label_issues",
                      "nlx.checkpointing", "nlx.workdir")),
    ("trainer", ("nlx.train",)),
    ("entry points", ("nlx.main", "nlx.cli", "nlx.report.__main__")),
)
