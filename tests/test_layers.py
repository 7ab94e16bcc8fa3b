"""nlx's imports point down its layers (`nlx.LAYERS`) and never form a cycle."""

import ast
import os
import pathlib

import pytest

import nlx

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(nlx.__file__)))
# (importer, imported) edges that break the order, each with why it is still there; the
# test fails once an edge is gone, so the list cannot outlive the problem.
KNOWN = {}  # (lower, higher) imports allowed for now, each with why; none today


def module_names() -> dict:
  """Dotted module name -> source path, for every nlx module."""
  out = {}
  for d, _, files in os.walk(os.path.join(ROOT, "nlx")):
    for f in files:
      if f.endswith(".py"):
        rel = os.path.relpath(os.path.join(d, f), ROOT)[:-3].split(os.sep)
        out[".".join(rel[:-1] if rel[-1] == "__init__" else rel)] = os.path.join(d, f)
  return out


def imports(path: str, modules) -> set:
  """The nlx modules a file imports, at the top or inside functions (lazy imports too):
  `from nlx.a import b` is `nlx.a.b` when that is a module, else `nlx.a`."""
  found = set()
  for node in ast.walk(ast.parse(pathlib.Path(path).read_text())):
    if isinstance(node, ast.Import):
      found |= {a.name for a in node.names}
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                else node.module for a in node.names}
  return {m for m in found if m in modules}


def layer(module: str) -> int:
  best = None
  for i, (_, prefixes) in enumerate(nlx.LAYERS):
    for p in prefixes:
      if (module == p or module.startswith(p + ".")) and (best is None or len(p) > best[1]):
        best = (i, len(p))
  if best is None:
    raise AssertionError(f"{module} is in no layer of nlx.LAYERS: add it there")
  return best[0]


def graph() -> dict:
  modules = module_names()
  return {m: imports(p, modules) - {m} for m, p in modules.items() if m != "nlx"}


def upward_edges(g: dict) -> set:
  return {(a, b) for a, targets in g.items() for b in targets if layer(b) > layer(a)}


def cycle(g: dict) -> list | None:
  """One import cycle `[a, b, ..., a]` of `g`, or None (depth-first search)."""
  state, stack = {}, []

  def visit(m):
    state[m] = "open"
    stack.append(m)
    for n in sorted(g.get(m, ())):
      if state.get(n) == "open":
        return stack[stack.index(n):] + [n]
      if n not in state and (found := visit(n)):
        return found
    stack.pop()
    state[m] = "done"
    return None

  for m in sorted(g):
    if m not in state and (found := visit(m)):
      return found
  return None


def test_every_module_has_a_layer_and_imports_point_down():
  g = graph()
  bad = upward_edges(g) - set(KNOWN)
  assert not bad, "imports up the layers (see nlx.LAYERS): " + ", ".join(
      f"{a} ({nlx.LAYERS[layer(a)][0]}) -> {b} ({nlx.LAYERS[layer(b)][0]})"
      for a, b in sorted(bad))
  stale = set(KNOWN) - {(a, b) for a, t in g.items() for b in t}
  assert not stale, f"fixed: remove {sorted(stale)} from KNOWN"


def test_no_import_cycle():
  g = graph()
  for a, b in KNOWN:
    g[a] = g[a] - {b}
  assert cycle(g) is None, " -> ".join(cycle(g))


def test_the_checks_catch_an_upward_import_and_a_cycle():
  # hand-made graphs: methods -> train goes up; a -> b -> c -> a is a cycle
  assert upward_edges({"nlx.methods.ce": {"nlx.train"}, "nlx.train": {"nlx.methods"}}) == {
      ("nlx.methods.ce", "nlx.train")}
  assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
  assert cycle({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) is None
  assert layer("nlx.train_state") == 0 and layer("nlx.train") == 6  # longest prefix wins
  with pytest.raises(AssertionError, match="nlx.nowhere is in no layer"):
    layer("nlx.nowhere")


def test_lazy_imports_count(tmp_path):
  # nlx.report.report used to import nlx.train inside a function (a hidden cycle)
  src = tmp_path / "m.py"
  src.write_text("import os\nfrom nlx import io\n\ndef f():\n  from nlx.train import Trainer\n")
  assert imports(str(src), module_names()) == {"nlx.io", "nlx.train"}


def test_collecting_the_dynamics_does_not_depend_on_label_issue_analysis():
  # nlx.dynamics needs only the maths (nlx.ops.confident_learning, which imports only
  # nlx.metrics, which imports no nlx module), never the run-facing scores or the files
  # of nlx.label_issues
  g = graph()
  assert "nlx.ops.confident_learning" in g["nlx.dynamics"]
  assert not g["nlx.dynamics"] & {"nlx.label_issues", "nlx.label_issue_scores"}
  assert g["nlx.ops.confident_learning"] == {"nlx.metrics"}
  assert g["nlx.metrics"] == set()
