"""A method owns its knowledge: the hooks that stand for what other modules used to
switch on by method name, and a check that no module outside nlx/methods switches so."""

import ast
import glob
import os
import pathlib
import types

import pytest
from conftest import load_config

from nlx import config_presets, methods
from nlx.config_base import base_config, make_tiny
from nlx.errors import ConfigError

REPO = pathlib.Path(__file__).resolve().parents[2]


def _switches_on_a_method_name(path: pathlib.Path) -> list[str]:
  """`path:line: code` of every comparison with a method's name (`==`, `!=`, `in`, `not in`
  against a string that names a method, or a tuple/list/set of them) and every dict keyed
  by method names: the switches a method's hooks replace."""
  names = set(methods.NAMES)

  def names_a_method(node):
    if isinstance(node, ast.Constant):
      return node.value in names
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)) and node.elts:
      return all(isinstance(e, ast.Constant) and e.value in names for e in node.elts)
    return False

  found = []
  for node in ast.walk(ast.parse(path.read_text())):
    if isinstance(node, ast.Compare):
      parts = [node.left, *node.comparators]
      if any(names_a_method(p) for p in parts):
        found.append(node)
    elif isinstance(node, ast.Dict) and node.keys and all(
        isinstance(k, ast.Constant) and k.value in names for k in node.keys) and not all(
        isinstance(v, ast.Constant) and isinstance(v.value, float) for v in node.values):
      found.append(node)  # (a dict of numbers by method is a table of published results)
  rel = path.relative_to(REPO) if path.is_relative_to(REPO) else path.name
  return [f"{rel}:{n.lineno}: {ast.unparse(n)[:80]}"
          for n in sorted(found, key=lambda n: (n.lineno, n.col_offset))]


def test_no_module_outside_nlx_methods_switches_on_a_method_name():
  files = [pathlib.Path(p) for p in glob.glob(str(REPO / "nlx" / "**" / "*.py"), recursive=True)
           if os.sep + os.path.join("nlx", "methods") + os.sep not in p]
  files += [pathlib.Path(p) for p in glob.glob(str(REPO / "configs" / "*.py"))]
  assert len(files) > 40
  found = [hit for f in files for hit in _switches_on_a_method_name(f)]
  assert not found, ("switch on a method's name outside nlx/methods (use a hook):\n"
                     + "\n".join(found))


def test_the_switch_finder_finds_each_kind_of_switch(tmp_path):
  """The check above must see a switch written each way (else it could pass on nothing)."""
  path = tmp_path / "_switch_example.py"
  path.write_text('if c.method.name == "sinet":\n  pass\n'
                  'x = name in ("noise_model", "bottom_up")\n'
                  'y = "forward" != m\n'
                  'SCORE = {"noise_model": "posterior"}\n'
                  'PAPER = {"ce": 77.69}\n'
                  'ok = name == "sinetx" or {"width": 1}\n')
  hits = _switches_on_a_method_name(path)
  assert [h.split(":")[1] for h in hits] == ["1", "3", "4", "5"]  # not lines 6 and 7


@pytest.mark.parametrize("epochs, phase", [(30, 5), (11, 1), (5, 1), (1, 1), (60, 10)])
def test_phases_scale_with_the_epoch_count(epochs, phase):
  keys = {"sinet": "warmup_epochs", "coteaching_plus": "init_epochs",
          "forward": "estimate_after_epochs"}
  for name, key in keys.items():
    c = base_config()
    c.train.num_epochs = epochs
    config_presets.set_method(c, name)
    config_presets.scale_method_epochs(c, "digits")
    assert c.method[key] == phase, name
  c = base_config()
  c.train.num_epochs = epochs
  config_presets.set_method(c, "noise_model")
  config_presets.scale_method_epochs(c, "digits")
  assert c.method.to_dict() == methods.default_config("noise_model").to_dict()


def test_only_a_method_that_reads_a_hierarchy_gets_one():
  c = config_presets.set_method(base_config(), "sinet")
  config_presets.scale_method_epochs(c, "cifar10")
  assert c.method.hierarchy == "cifar10"
  c = config_presets.set_method(base_config(), "elr")
  config_presets.scale_method_epochs(c, "cifar10")
  assert "hierarchy" not in c.method


def test_tiny_runs_shrink_what_each_method_says():
  want = {"arnet": {"num_prototypes": 8, "cache_size": 16}, "sinet": {"topk": 2},
          "can": {"anneal_epochs": 1}, "noise_model": {"pretrain_epochs": 1}}
  for name in ("arnet", "sinet", "can", "noise_model", "ce", "elr"):
    c = config_presets.set_method(base_config(), name)
    before = c.method.to_dict()
    make_tiny(c)
    changed = {k: v for k, v in c.method.to_dict().items() if before[k] != v}
    assert changed == want.get(name, {}), name
  # a memory already smaller than the tiny one is kept
  c = config_presets.set_method(base_config(), "arnet", prototypes=4)
  make_tiny(c)
  assert c.method.num_prototypes == 4


def test_baselines_give_a_clean_subset_to_the_methods_that_need_one():
  need = {n for n in methods.MULTI_CLASS_NAMES if methods.get(n).needs_clean_subset}
  assert need == {"noise_model", "ce_clean_subset", "ce_clean_and_noisy", "bottom_up"}
  for name in ("noise_model", "bottom_up", "ce", "sinet"):
    c = load_config("baselines", name)
    assert c.data.clean_fraction == (0.1 if name in need else 0.0), name


def test_readings_and_model_variants_come_from_the_method():
  from nlx.methods import arnet
  assert methods.get("arnet").readings == dict(arnet.READINGS)
  assert methods.reading_names() == tuple(arnet.READINGS)
  c = config_presets.sentiment("face_sentiment", "sample", "arnet,swav")
  for key, value in arnet.READINGS["swav"].items():
    assert c.method[key] == value
  first = next(iter(arnet.READINGS))
  c = config_presets.sentiment("face_sentiment", "sample", "arnet")
  for key, value in arnet.READINGS[first].items():
    assert c.method[key] == value
  c = config_presets.sentiment("face_sentiment", "sample", "elr,swav")
  assert c.method.to_dict() == methods.default_config("elr").to_dict()
  c = config_presets.set_method(base_config(), "arnet")  # a name ARNet lacks: one line
  with pytest.raises(ConfigError, match="method 'arnet' has no reading 'sawv'; its readings: "
                                        + ", ".join(arnet.READINGS)):
    config_presets.use_reading(c, "sawv")
  assert methods.get("sinet").variants == ("A", "B", "C")
  c, _ = config_presets.web_images("clothing1m", "A", method="sinet", lr=0.1, epochs=9,
                                   step_epochs=(5,))
  assert (c.method.variant, c.method.warmup_epochs) == ("A", 1)
  c, _ = config_presets.web_images("clothing1m", "", method="sinet", lr=0.1, epochs=9,
                                   step_epochs=(5,))
  assert c.method.variant == "C"
  with pytest.raises(Exception, match="unknown config variant .A."):
    config_presets.web_images("clothing1m", "A", method="noise_model", lr=0.1, epochs=9,
                              step_epochs=(5,))


def test_a_module_gives_constants_in_upper_case_and_hooks_by_name():
  def scale_phases(config, epochs):
    config.phase = epochs

  module = types.SimpleNamespace(
      default_config=lambda name: None, loss_fn=lambda *a, **k: None, TASKS=("multi_label",),
      NEEDS_CLEAN_SUBSET=True, READINGS={"a": {"x": 1}}, VARIANTS=("p", "q"),
      LABEL_ISSUE_SCORE="trust", scale_phases=scale_phases,
      readings="a lower-case name is not the constant")
  method = methods.Method.from_module(module)
  assert (method.tasks, method.needs_clean_subset, method.variants,
          method.label_issue_score) == (("multi_label",), True, ("p", "q"), "trust")
  assert dict(method.readings) == {"a": {"x": 1}}
  assert method.scale_phases is scale_phases
  plain = methods.Method.from_module(types.SimpleNamespace(default_config=None, loss_fn=None))
  assert (plain.needs_clean_subset, dict(plain.readings), plain.variants,
          plain.label_issue_score) == (False, {}, (), "aum")
  assert plain.shrink_for_tiny(None) is None and plain.scale_phases(None, 3) is None
  assert methods.get("noise_model").label_issue_score == "noise_free_posterior"
  assert methods.get("elr").label_issue_score == "aum"


def test_a_method_offers_its_own_label_issue_score_under_its_name():
  from nlx import label_issue_scores
  from nlx.methods import noise_model
  own = methods.get("noise_model")
  assert own.score_labels is noise_model.noise_free_posterior
  assert set(label_issue_scores.scores_for(own)) == {*label_issue_scores.SCORES,
                                                      "noise_free_posterior"}
  assert label_issue_scores.scores_for(methods.get("elr")) is label_issue_scores.SCORES
  assert "noise_free_posterior" not in label_issue_scores.SCORES
  assert label_issue_scores.score_name("noise_model") == "noise_free_posterior"
  assert label_issue_scores.score_name("sinet") == "aum"


def test_the_readmes_worked_example_is_one_module_and_a_registry_line(tmp_path, monkeypatch):
  """The README's "Adding a method" module, put on nlx.methods' path with its registry
  line: configs scale its phase, one step runs, and a tiny run trains with it."""
  import re

  import jax
  import numpy as np

  from nlx import train
  text = (REPO / "README.md").read_text()
  section = text.split("## Adding a method", 1)[1].split("\n## ", 1)[0]
  (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
  (tmp_path / "capped_ce.py").write_text(code)
  monkeypatch.setattr(methods, "__path__", [*methods.__path__, str(tmp_path)])
  monkeypatch.setitem(methods.REGISTRY, "capped_ce", "capped_ce")
  assert '`"capped_ce": "capped_ce",` in `REGISTRY`' in " ".join(section.split())
  method = methods.get("capped_ce")
  c = load_config("quickstart", "tiny")
  c.method = methods.default_config("capped_ce")
  c.train.num_epochs = 12
  config_presets.scale_method_epochs(c)
  assert c.method.warmup_epochs == 2 and method.needs_clean_subset is False
  c.method.max_loss = 1e-3  # after the warm-up every example's CE is above this cap
  c.model.name, c.model.hidden = "mlp", (16,)
  from nlx import data as data_lib
  trainer = train.Trainer(c, data_lib.load_dataset(c), train.make_mesh(jax.devices()[:1]))
  batch = trainer.shard(next(trainer.train_iterator(1)))
  state = trainer.initial_state
  late = jax.tree.map(lambda x: x.copy(), state)  # the step donates its input state
  late = late.replace(step=late.step + 2 * trainer.steps_per_epoch)
  _, metrics = trainer.train_step(state, batch)  # step 0: warm-up, every example kept
  assert float(metrics["kept"]) == 1.0 and float(metrics["loss"]) > 1e-3
  _, metrics = trainer.train_step(late, batch)  # past the warm-up: none kept, loss 0
  assert float(metrics["kept"]) == 0.0 and float(metrics["loss"]) == 0.0
  assert np.isfinite(float(metrics["loss"]))
