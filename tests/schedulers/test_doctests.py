"""The examples in raysha.schedulers' docstrings run and pass (as Optuna checks its docs), and every
public class has one."""

import pkgutil

import pytest
from doctest_checks import classes_without_example, public_classes, run_examples

import raysha.schedulers

MODULES = ["raysha.schedulers"] + [f"raysha.schedulers.{m.name}"
                                   for m in pkgutil.iter_modules(raysha.schedulers.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name):
    result = run_examples(name)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples in {name} failed"


@pytest.mark.parametrize("name", MODULES)
def test_every_public_class_has_a_runnable_example(name):
    missing = classes_without_example(name)
    assert not missing, f"{name}: public classes without a docstring example: {missing}"


def test_the_examples_are_found():
    classes = [c for name in MODULES for c in public_classes(name)]
    assert {"ASHA", "PASHA", "AdaptiveASHA", "SyncHyperband", "SyncSuccessiveHalving", "RandomSearch",
            "Scheduler", "Job", "Preview", "RungSystem", "Rung", "OrderStatistic", "Entry"} <= {c.__name__
                                                                                               for c in classes}
