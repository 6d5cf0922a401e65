"""docs/new-scheduler.md stays true: its module, registry entry and test are run as written."""

import doctest
import re
import sys
import types
from pathlib import Path

import pytest

from raysha.schedulers import registry

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "new-scheduler.md"


def _blocks() -> dict:
    """{file named in the block's first line: code} for every ```python block of the guide."""
    out = {}
    for code in re.findall(r"```python\n(.*?)```", GUIDE.read_text(), flags=re.S):
        first, _, _ = code.partition("\n")
        assert first.startswith("# file: "), f"a python block of the guide names no file: {first!r}"
        out[first[len("# file: "):].strip()] = code
    return out


@pytest.fixture
def median_module(monkeypatch):
    """The guide's module, importable as raysha.schedulers.median for this test only."""
    module = types.ModuleType("raysha.schedulers.median")
    module.__file__ = str(GUIDE)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(_blocks()["raysha/schedulers/median.py"], str(GUIDE), "exec"), module.__dict__)
    return module


def test_the_guide_has_the_three_files():
    assert set(_blocks()) == {"raysha/schedulers/median.py", "raysha/schedulers/registry.py",
                              "tests/schedulers/test_median.py"}


def test_the_guides_example_scheduler_runs_through_simulate(median_module):
    # the registry block, as written, with the entries already there in place of "..."
    ns = {"Entry": registry.Entry}
    exec(_blocks()["raysha/schedulers/registry.py"], ns)
    added = [e for e in ns["ENTRIES"] if isinstance(e, registry.Entry)]
    assert [e.name for e in added] == ["median"]
    extended = registry.Registry(registry.ENTRIES + tuple(added))

    # the guide's test file, with `registry` meaning the registry that has the new entry
    tests = {"__name__": "test_median"}
    exec(compile(_blocks()["tests/schedulers/test_median.py"], str(GUIDE), "exec"), tests)
    tests["registry"] = extended
    names = [n for n in tests if n.startswith("test_")]
    assert len(names) == 3
    for name in names:
        tests[name]()

    # the class example runs too
    result = doctest.testmod(median_module, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0
