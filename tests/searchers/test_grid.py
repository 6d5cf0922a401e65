"""The "grid" searcher: the whole grid in product order (points_to_evaluate first), then random."""

import itertools

import pytest

from raysha import space as sp
from raysha.schedulers import RandomSearch
from raysha.searchers import GridSearcher
from raysha.simulate import simulate
from raysha.stop import StopCriterion


def proposals(space, n, searcher=None, **options):
    sched = RandomSearch(space, metric="loss", max_t=1, random_seed=0,
                         searcher=searcher or GridSearcher(), **options)
    return [sched.next_job(0.0).config for _ in range(n)]


def test_the_full_grid_comes_in_product_order_first_name_slowest():
    space = {"a": sp.grid([1, 2, 3]), "act": sp.choice(["relu", "tanh"]), "lr": sp.loguniform(1e-3, 1e-1),
             "max_epochs": 5}
    got = proposals(space, 18, GridSearcher(num_samples={"lr": 3}))
    want = [{"a": a, "act": act, "lr": lr, "max_epochs": 5}
            for a, act, lr in itertools.product([1, 2, 3], ["relu", "tanh"], [1e-3, 1e-2, 1e-1])]
    assert [c["a"] for c in got] == [c["a"] for c in want]
    assert [c["act"] for c in got] == [c["act"] for c in want]
    assert [c["lr"] for c in got] == pytest.approx([c["lr"] for c in want])   # log scale, bounds included


def test_integer_and_quantized_domains_give_distinct_allowed_values():
    space = {"k": sp.randint(1, 3), "bs": sp.qrandint(32, 256, 32), "d": sp.quniform(0.0, 0.5, 0.1)}
    got = proposals(space, 3 * 5 * 5, GridSearcher(num_samples=5))
    assert len({tuple(c.values()) for c in got}) == 3 * 5 * 5
    assert {c["k"] for c in got} == {1, 2, 3}                          # 5 asked, 3 exist
    # evenly spaced over the range widened by half a step, each snapped to a multiple of q
    assert sorted({c["bs"] for c in got}) == [32, 64, 128, 192, 256]
    assert sorted({c["d"] for c in got}) == [0.0, 0.1, 0.2, 0.4, 0.5]
    assert all(sp.quniform(0.0, 0.5, 0.1).contains(c["d"]) for c in got)


def test_a_conditional_choice_contributes_each_branch_sub_grid():
    space = {"opt": sp.choice({"sgd": {"momentum": sp.grid([0.0, 0.9])},
                               "adam": {"beta1": sp.grid([0.8, 0.9, 0.99])},
                               "none": None}),
             "wd": sp.grid([0, 1e-4])}
    grid_part = proposals(space, 12)
    want = ([{"opt": "sgd", "momentum": m, "wd": w} for m in (0.0, 0.9) for w in (0, 1e-4)]
            + [{"opt": "adam", "beta1": b, "wd": w} for b in (0.8, 0.9, 0.99) for w in (0, 1e-4)]
            + [{"opt": "none", "wd": w} for w in (0, 1e-4)])
    assert len(want) == 12
    assert sorted(map(repr, grid_part)) == sorted(map(repr, want))
    assert grid_part[0] == {"opt": "sgd", "momentum": 0.0, "wd": 0}


def test_points_to_evaluate_run_first_then_the_grid_then_random_draws():
    space = {"a": sp.grid([1, 2]), "x": sp.uniform(0, 1)}
    got = proposals(space, 8, GridSearcher(num_samples=2), points_to_evaluate=[{"a": 2, "x": 0.25}])
    assert got[0] == {"a": 2, "x": 0.25}
    assert got[1:5] == [{"a": 1, "x": 0.0}, {"a": 1, "x": 1.0}, {"a": 2, "x": 0.0}, {"a": 2, "x": 1.0}]
    # after the grid: random configurations from the space (the scheduler decides how many trials)
    after = got[5:]
    assert all(c["a"] in (1, 2) and 0 < c["x"] < 1 for c in after)
    assert len({c["x"] for c in after}) == 3


def test_a_grid_run_under_the_simulator_covers_the_grid_with_max_trials():
    space = {"a": sp.grid([1, 2, 3]), "b": sp.grid(["p", "q"]), "max_epochs": 3}
    sched = RandomSearch(space, metric="loss", max_resource_attr="max_epochs", searcher="grid")
    exp = simulate(sched, lambda c, e: {"loss": c["a"] / e, "time": 1.0}, n_workers=2,
                   stop=StopCriterion(max_trials=6))
    seen = set(zip(exp.results["config_a"], exp.results["config_b"]))
    assert seen == set(itertools.product([1, 2, 3], ["p", "q"]))
    assert exp.best_config()["a"] == 1


def test_num_samples_one_takes_the_middle():
    assert proposals({"x": sp.uniform(0, 2)}, 1, GridSearcher(num_samples=1)) == [{"x": 1.0}]
