"""The two docstring checks every package's test_doctests.py runs (as Optuna checks its docs)."""

import doctest
import importlib
import inspect


def run_examples(name: str) -> doctest.TestResults:
    """Run the docstring examples of module `name`; the result counts failed and attempted ones."""
    module = importlib.import_module(name)
    return doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                           raise_on_error=False, report=True)


def public_classes(name: str) -> list:
    """The public classes defined in module `name` (not imported into it)."""
    module = importlib.import_module(name)
    return [c for n, c in vars(module).items()
            if inspect.isclass(c) and c.__module__ == name and not n.startswith("_")]


def classes_without_example(name: str) -> list[str]:
    """Names of the public classes of module `name` whose docstring has no ``>>>`` example."""
    return [c.__name__ for c in public_classes(name) if ">>>" not in (c.__doc__ or "")]
