"""The examples in raysha.searchers' and raysha.space's docstrings pass, and every public searcher class has one."""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import raysha.searchers

MODULES = ["raysha.searchers"] + [f"raysha.searchers.{m.name}"
                                  for m in pkgutil.iter_modules(raysha.searchers.__path__)]


@pytest.mark.parametrize("name", MODULES + ["raysha.space"])
def test_docstring_examples_pass(name):
    if name.endswith("optuna_adapter"):
        pytest.importorskip("optuna")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             raise_on_error=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples in {name} failed"
    assert result.attempted > 0


@pytest.mark.parametrize("name", MODULES)
def test_every_public_class_has_a_runnable_example(name):
    module = importlib.import_module(name)
    classes = [c for n, c in vars(module).items()
               if inspect.isclass(c) and c.__module__ == module.__name__ and not n.startswith("_")]
    missing = [c.__name__ for c in classes if ">>>" not in (c.__doc__ or "")]
    assert not missing, f"{name}: public classes without a docstring example: {missing}"
