"""The closed-form multi-fidelity objectives (BOCA's Hartmann-6 and Branin): optimum, fidelity, noise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from raysha.objectives import OBJECTIVES, MFBranin, MFHartmann6
from raysha.schedulers import ASHA
from raysha.simulate import simulate
from raysha.space import sample_config
from raysha.stop import StopCriterion

CLASSES = (MFHartmann6, MFBranin)


def _configs(cls, n, seed=0):
    rng = np.random.default_rng(seed)
    return [sample_config(cls.space, rng) for _ in range(n)]


def test_hartmann6_known_value_and_minimum():
    f = MFHartmann6()
    assert f.value(dict(zip(f.names, f.argmin))) == pytest.approx(-3.32237, abs=1e-5)
    assert f.optimum == pytest.approx(-3.322368, abs=1e-6)


def test_branin_is_the_standard_branin_at_full_fidelity():
    f = MFBranin()
    for x1, x2 in ((-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)):
        assert f.value({"x1": x1, "x2": x2}) == pytest.approx(0.397887, abs=1e-6)
    assert f.value({"x1": 0.0, "x2": 0.0}) == pytest.approx(55.602112642270262, abs=1e-9)


@pytest.mark.parametrize("cls", CLASSES)
def test_optimum_is_below_every_sampled_config(cls):
    f = cls()
    values = [f.value(c) for c in _configs(cls, 5000)]
    assert min(values) > f.optimum
    assert min(values) - f.optimum < (np.median(values) - f.optimum) / 5   # and not absurdly far below


def test_hartmann6_lower_fidelity_is_worse_everywhere():
    f = MFHartmann6()
    for c in _configs(MFHartmann6, 200):
        assert f.value(c, 1 / 27) > f.value(c, 1 / 3) > f.value(c, 1.0)


@pytest.mark.parametrize("cls", CLASSES)
def test_low_fidelity_ranks_like_full_fidelity_but_not_exactly(cls):
    f = cls()
    configs = _configs(cls, 300, seed=1)
    low = np.array([f.value(c, 1 / 27) for c in configs])
    full = np.array([f.value(c) for c in configs])
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    rho = np.corrcoef(rank(low), rank(full))[0, 1]
    assert 0.5 < rho and not np.array_equal(low, full)


@pytest.mark.parametrize("cls", CLASSES)
def test_reports_are_noisy_around_the_value_and_deterministic(cls):
    f = cls(seed=3, noise=0.1)
    configs = _configs(cls, 2000, seed=2)
    resid = np.array([f(c, 27)["loss"] - f.value(c) for c in configs])
    assert abs(resid.mean()) < 0.02 and resid.std() == pytest.approx(0.1, rel=0.1)
    c = configs[0]
    assert f(c, 5) == f(c, 5) == cls(seed=3, noise=0.1)(c, 5)
    assert f.with_seed(4)(c, 5)["loss"] != f(c, 5)["loss"]
    assert cls(noise=0.0)(c, 27)["loss"] == pytest.approx(f.value(c), abs=1e-12)


@pytest.mark.parametrize("cls", CLASSES)
def test_time_and_fidelity_follow_the_configs_max_epochs(cls):
    f = cls(epoch_time=2.0)
    c = dict(_configs(cls, 1)[0], max_epochs=9)
    assert f(c, 9)["loss"] == pytest.approx(f.value(c), abs=1e-12)   # epoch 9 of 9 is full fidelity
    times = [f(c, e)["time"] for e in range(1, 10)]
    assert all(1.9 <= t <= 2.1 for t in times) and len(set(times)) > 1
    with pytest.raises(ValueError, match="epoch 10 outside 1..9"):
        f(c, 10)


@pytest.mark.parametrize("kw, field", [({"noise": -1.0}, "noise"), ({"epoch_time": 0.0}, "epoch_time"),
                                       ({"max_epochs": 0}, "max_epochs"), ({"noise": math.nan}, "noise")])
def test_bad_settings_name_the_field(kw, field):
    with pytest.raises(ValueError, match=field):
        MFBranin(**kw)


@pytest.mark.parametrize("name", ["mf-hartmann6", "mf-branin"])
def test_registered_objective_runs_under_the_simulator(name):
    cls, space, metric, mode = OBJECTIVES[name]
    objective = cls(seed=0, noise=0.01)
    sched = ASHA(dict(space), metric=metric, mode=mode, max_resource_attr="max_epochs", grace_period=1,
                 reduction_factor=3, random_seed=0)
    exp = simulate(sched, objective, 4, StopCriterion(max_wallclock_time=200))
    res = exp.results
    assert res[metric].min() > objective.optimum - 0.1
    assert res["epoch"].max() == 27


def test_docstring_examples_run():
    import doctest

    import raysha.objectives

    result = doctest.testmod(raysha.objectives)
    assert result.attempted >= 3 and result.failed == 0
