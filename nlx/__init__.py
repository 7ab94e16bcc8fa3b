"""nlx: learning with noisy labels in JAX/Flax.

Layers, lowest first: `LAYERS` below defines them and the README's "Code layout" table
says what each holds. A module imports only from its own layer or lower ones, lazily or
not, and no import chain comes back to where it started (`tests/test_layers.py` checks
both; `tests/test_readme.py` checks that the README's table lists exactly these layers).
"""

__version__ = "0.1.0"

# (layer name, module prefixes), lowest first; a module's layer is that of its longest prefix
LAYERS = (
    ("foundation", ("nlx.errors", "nlx.gc_policy", "nlx.io", "nlx.periodic",
                    "nlx.train_state")),
    ("numerics", ("nlx.ops", "nlx.losses", "nlx.metrics", "nlx.optim", "nlx.distributed")),
    ("data and models", ("nlx.data", "nlx.models")),
    ("methods and configs", ("nlx.methods", "nlx.config_base", "nlx.config_presets",
                             "nlx.config_check")),
    ("report", ("nlx.report",)),
    ("run services", ("nlx.collapse", "nlx.dynamics", "nlx.label_issue_scores",
                      "nlx.label_issues", "nlx.checkpointing", "nlx.workdir",
                      "nlx.feature_cache")),
    ("trainer", ("nlx.train", "nlx.replicas")),
    ("entry points", ("nlx.main", "nlx.cli", "nlx.report.__main__")),
    ("benchmarks", ("nlx.benchmarks",)),
)
