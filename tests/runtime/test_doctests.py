"""The examples in the runtime parts' and the ledger's docstrings run and pass; every public class has one."""

import doctest
import importlib
import inspect

import pytest

MODULES = ["raysha.ledger", "raysha.runtime.settings", "raysha.runtime.jobs", "raysha.runtime.actors",
           "raysha.runtime.reports", "raysha.runtime.checkpoint_lifecycle", "raysha.runtime.failures",
           "raysha.runtime.failure_policy",
           "raysha.runtime.journal_writer", "raysha.runtime.resume", "raysha.runtime.controller",
           "raysha.runtime.finish",
           "raysha.callbacks", "raysha.runtime.events", "raysha.runtime.watch", "raysha.runtime.trial_logs",
           "raysha.runtime.naming"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                             raise_on_error=False, report=True)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples in {name} failed"


@pytest.mark.parametrize("name", MODULES)
def test_every_public_class_has_a_runnable_example(name):
    module = importlib.import_module(name)
    classes = [c for n, c in vars(module).items()
               if inspect.isclass(c) and c.__module__ == name and not n.startswith("_")]
    missing = [c.__name__ for c in classes if ">>>" not in (c.__doc__ or "")]
    assert not missing, f"{name}: public classes without a docstring example: {missing}"
