"""The examples in the runtime parts' and the ledger's docstrings run and pass; every public class has one."""

import pytest
from doctest_checks import classes_without_example, run_examples

MODULES = ["raysha.ledger", "raysha.runtime.settings", "raysha.runtime.jobs", "raysha.runtime.actors",
           "raysha.runtime.reports", "raysha.runtime.checkpoint_lifecycle", "raysha.runtime.failures",
           "raysha.runtime.failure_policy",
           "raysha.runtime.journal_writer", "raysha.runtime.resume", "raysha.runtime.controller",
           "raysha.runtime.finish",
           "raysha.callbacks", "raysha.runtime.events", "raysha.runtime.watch", "raysha.runtime.trial_logs",
           "raysha.runtime.naming"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_pass(name):
    result = run_examples(name)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples in {name} failed"


@pytest.mark.parametrize("name", MODULES)
def test_every_public_class_has_a_runnable_example(name):
    missing = classes_without_example(name)
    assert not missing, f"{name}: public classes without a docstring example: {missing}"
