"""The examples in raysha.searchers' and raysha.space's docstrings pass, and every public searcher class has one."""

import pkgutil

import pytest
from doctest_checks import classes_without_example, run_examples

import raysha.searchers

MODULES = ["raysha.searchers"] + [f"raysha.searchers.{m.name}"
                                  for m in pkgutil.iter_modules(raysha.searchers.__path__)]


@pytest.mark.parametrize("name", MODULES + ["raysha.space"])
def test_docstring_examples_pass(name):
    if name.endswith("optuna_adapter"):
        pytest.importorskip("optuna")
    result = run_examples(name)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples in {name} failed"
    assert result.attempted > 0


@pytest.mark.parametrize("name", MODULES)
def test_every_public_class_has_a_runnable_example(name):
    missing = classes_without_example(name)
    assert not missing, f"{name}: public classes without a docstring example: {missing}"
