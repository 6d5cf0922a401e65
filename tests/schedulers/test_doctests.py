"""The examples in raysha.schedulers' docstrings run and pass (as Optuna checks its docs), and every
public class has one."""

import doctest
import importlib
import inspect
import pkgutil

import pytest

import raysha.schedulers

MODULES = ["raysha.schedulers"] + [f"raysha.schedulers.{m.name}"
                                   for m in pkgutil.iter_modules(raysha.schedulers.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             raise_on_error=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples in {name} failed"


def _public_classes(module):
    return [c for n, c in vars(module).items()
            if inspect.isclass(c) and c.__module__ == module.__name__ and not n.startswith("_")]


@pytest.mark.parametrize("name", MODULES)
def test_every_public_class_has_a_runnable_example(name):
    module = importlib.import_module(name)
    missing = [c.__name__ for c in _public_classes(module) if ">>>" not in (c.__doc__ or "")]
    assert not missing, f"{name}: public classes without a docstring example: {missing}"


def test_the_examples_are_found():
    classes = [c for name in MODULES for c in _public_classes(importlib.import_module(name))]
    assert {"ASHA", "PASHA", "AdaptiveASHA", "SyncHyperband", "SyncSuccessiveHalving", "RandomSearch",
            "Scheduler", "Job", "Preview", "RungSystem", "Rung", "OrderStatistic", "Entry"} <= {c.__name__
                                                                                               for c in classes}
