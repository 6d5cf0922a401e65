"""Every searcher's state survives JSON and restore: a restored scheduler proposes what the original does."""

import json

import pytest

from raysha import space as sp
from raysha.searchers import GPSearcher, GridSearcher, KDESearcher, RandomSearcher

from .helpers import SPACE, Driver, asha

NUMERIC = SPACE
MIXED = {"x0": sp.uniform(0, 1), "x1": sp.loguniform(1e-3, 1), "x2": sp.qrandint(0, 100, 10),
         "x3": sp.choice({"a": {"y": sp.uniform(0, 1)}, "b": None}), "max_epochs": 27}


def mixed_objective(config, epoch):
    loss = (config["x0"] - 0.3) ** 2 + config["x2"] / 1000 + (config.get("y", 0.5) - 0.5) ** 2
    return {"loss": loss + 0.5 / epoch, "time": 1.0}


def searchers():
    """(id, factory, space): small min_points so the model is asked from rung 3 within the run."""
    out = [("random", RandomSearcher, MIXED), ("grid", lambda: GridSearcher(num_samples=2), MIXED),
           ("kde", KDESearcher, MIXED), ("gp", lambda: GPSearcher(num_candidates=100), MIXED)]
    try:
        import optuna  # noqa: F401
    except ImportError:
        return [pytest.param(*s, id=s[0]) for s in out]
    from raysha.searchers import OptunaSearcher

    out += [("optuna-tpe", lambda: OptunaSearcher("tpe", min_points=4), MIXED),
            ("optuna-gp", lambda: OptunaSearcher("gp", min_points=4), MIXED),
            ("optuna-cmaes", lambda: OptunaSearcher("cmaes", min_points=4), NUMERIC)]
    # GPSampler refits a GP for every proposal: seconds per run
    return [pytest.param(*s, id=s[0], marks=[pytest.mark.slow] if s[0] == "optuna-gp" else []) for s in out]


SEARCHERS = searchers()


def scheduler(factory, space, seed=3):
    return asha(factory(), seed, space=space)


def objective_for(space):
    return mixed_objective if space is MIXED else None


@pytest.mark.parametrize("name, factory, space", SEARCHERS)
def test_state_dict_round_trips_through_json(name, factory, space):
    sched = scheduler(factory, space)
    Driver(sched, objective_for(space)).run(30)
    state = sched.searcher.state_dict()
    assert state["name"] == name
    again = json.loads(json.dumps(state))
    fresh = scheduler(factory, space)
    fresh.searcher.load_state_dict(again)
    assert json.loads(json.dumps(fresh.searcher.state_dict())) == again


@pytest.mark.parametrize("how", ["json", "pickle"])
@pytest.mark.parametrize("name, factory, space", SEARCHERS)
def test_a_scheduler_restored_mid_run_continues_with_identical_proposals(name, factory, space, how):
    objective = objective_for(space)
    original = scheduler(factory, space)
    first = Driver(original, objective).run(45)
    if name.startswith("optuna"):   # the model is in use: configs asked from a level above the first, in flight
        state = original.searcher.state_dict()
        asked = [level for level, rows in state["levels"] for row in rows if row[1] == "RUNNING"]
        assert asked and max(asked) > 1
    if how == "json":
        restored = scheduler(factory, space)
        restored.load_state_dict(json.loads(json.dumps(original.state_dict())))
    else:                      # how the Ray runtime ships a scheduler to its actor
        cloudpickle = pytest.importorskip("ray").cloudpickle
        restored = cloudpickle.loads(cloudpickle.dumps(original))
    a = Driver(original, objective, now=1000.0).run(60)
    b = Driver(restored, objective, now=1000.0).run(60)
    assert a == b
    new = [cfg for kind, _, cfg in a if kind == "start"]
    assert len(new) >= 10 and len({repr(c) for c in new}) == len(new)
    assert len(first) == 45


@pytest.mark.parametrize("name, factory, space", SEARCHERS)
def test_the_same_seed_gives_the_same_run(name, factory, space):
    a = Driver(scheduler(factory, space), objective_for(space)).run(50)
    b = Driver(scheduler(factory, space), objective_for(space)).run(50)
    assert a == b
    c = Driver(scheduler(factory, space, seed=4), objective_for(space)).run(50)
    if name != "grid":
        assert a != c
