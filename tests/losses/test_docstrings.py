"""The public losses document themselves: Google-style Args/Returns on every function of
`nlx.losses.__all__`, and an `Examples:` section on every loss whose doctests run and print
the values worked out by hand in their comments."""

import doctest
import inspect

import pytest

from nlx import losses as nl
from nlx.losses import classification, regularizers, robust

# Doctest statements (`>>>` lines) and docstrings with examples per module, as written:
# removing an example fails the test as surely as a wrong value does.
EXAMPLES = [  # (module, statements, docstrings with examples)
    (classification, 35, 7),
    (robust, 67, 12),
    (regularizers, 4, 1),
]

# Public functions that are helpers, not losses: Args/Returns, no example required.
NOT_LOSSES = {"as_distribution"}

PUBLIC_FUNCTIONS = sorted(name for name in nl.__all__
                          if inspect.isfunction(getattr(nl, name)))


@pytest.mark.parametrize("module,statements,docstrings", EXAMPLES,
                         ids=[m.__name__ for m, _, _ in EXAMPLES])
def test_doctests_run_and_print_the_worked_values(module, statements, docstrings):
  tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
  assert len(tests) >= docstrings, [t.name for t in tests]
  failed, attempted = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE,
                                      report=True, verbose=False)
  assert failed == 0
  assert attempted >= statements


def test_public_api_is_the_expected_functions():
  # 19 losses and `as_distribution`; `LabelShapeError` and `OFFICIAL_LOG_ZERO` are the rest.
  assert len(PUBLIC_FUNCTIONS) == 20
  assert set(nl.__all__) - set(PUBLIC_FUNCTIONS) == {"LabelShapeError", "OFFICIAL_LOG_ZERO"}


@pytest.mark.parametrize("name", PUBLIC_FUNCTIONS)
def test_public_function_has_args_returns_and_examples(name):
  doc = inspect.getdoc(getattr(nl, name))
  assert doc, f"{name} has no docstring"
  assert "\nArgs:\n" in doc and "\nReturns:\n" in doc, name
  returns = doc.split("\nReturns:\n")[1].split("\n\n")[0]
  assert "float32" in returns and "[" in returns, f"{name}: Returns states no dtype/shape"
  # Every public function checks its labels' shape (directly or through `prepare`).
  assert "\nRaises:\n  LabelShapeError: " in doc, name
  if name not in NOT_LOSSES:
    assert "\nExamples:\n  >>> " in doc, f"{name} has no Examples: section"
  args = doc.split("\nArgs:\n")[1].split("\nReturns:\n")[0]
  for arg in inspect.signature(getattr(nl, name)).parameters:
    assert f"\n  {arg}: " in "\n" + args, f"{name}: argument {arg} undocumented"


def test_label_shape_error_is_documented():
  assert inspect.getdoc(nl.LabelShapeError)
