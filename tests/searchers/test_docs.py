"""docs/searchers.md: its Python examples run, and the example searcher keeps the contract."""

import json
import re
from pathlib import Path

import pytest

from raysha import space as sp

from .helpers import Driver

DOC = Path(__file__).resolve().parents[2] / "docs" / "searchers.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def run_block(index):
    namespace = {"__name__": "searchers_doc"}
    exec(compile(BLOCKS[index], f"{DOC}:block{index}", "exec"), namespace)
    return namespace


def test_the_doc_has_its_three_examples():
    assert len(BLOCKS) == 3


def test_the_first_example_builds_a_kde_scheduler():
    ns = run_block(0)
    assert ns["scheduler"].searcher.name == "kde"


def test_the_space_example_is_a_valid_conditional_space_that_survives_json():
    ns = run_block(1)
    sp.validate_space(ns["space"])
    assert sp.space_from_json(json.loads(json.dumps(sp.space_to_json(ns["space"])))) == ns["space"]


def test_the_example_searcher_finds_the_optimum_and_restores(capsys):
    ns = run_block(2)
    best = ns["exp"].best_config()
    assert abs(best["x"] - 0.3) < 0.1 and abs(best["y"] - 0.6) < 0.1
    assert str(best["x"])[:4] in capsys.readouterr().out

    def make():
        from raysha.schedulers import ASHA

        return ASHA(ns["space"], metric="loss", max_resource_attr="max_epochs", searcher=ns["LocalSearch"](),
                    random_seed=1)

    def objective(config, epoch):
        return ns["objective"](config, epoch)

    original = make()
    Driver(original, objective).run(30)
    restored = make()
    restored.load_state_dict(json.loads(json.dumps(original.state_dict())))
    assert Driver(original, objective, 100.0).run(30) == Driver(restored, objective, 100.0).run(30)
    with pytest.raises(ValueError, match="saved by 'kde'"):
        make().searcher.load_state_dict({"name": "kde"})
