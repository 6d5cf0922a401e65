"""The "random" searcher: exactly the sampling schedulers always did (same seed, same configs)."""

import math

import numpy as np
import pytest

from raysha import space as sp
from raysha.schedulers import ASHA, RandomSearch, SyncHyperband, make
from raysha.searchers import RandomSearcher
from raysha.simulate import simulate
from raysha.stop import StopCriterion

from .helpers import SPACE as QUADRATIC_SPACE
from .helpers import NoisyQuadratic

SPACE = {"lr": sp.loguniform(1e-3, 1), "bs": sp.randint(16, 256), "k": sp.lograndint(1, 64),
         "act": sp.choice(["relu", "tanh", "gelu"]), "max_epochs": 27}


def old_sampling(seed: int, n: int) -> list:
    """What `Scheduler.new_config` drew before searchers existed, written out with numpy alone
    (raysha 0.1's Domain.sample methods, in the space's order, from default_rng(seed))."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        lr = float(math.exp(rng.uniform(math.log(1e-3), math.log(1))))
        bs = int(rng.integers(16, 256 + 1))
        lo, hi = math.log(1 - 0.5 + 1e-12), math.log(64 + 0.5)
        k = int(min(64, max(1, round(math.exp(rng.uniform(lo, hi))))))
        act = ["relu", "tanh", "gelu"][int(rng.integers(3))]
        out.append({"lr": lr, "bs": bs, "k": k, "act": act, "max_epochs": 27})
    return out


@pytest.mark.parametrize("searcher", [None, "random", RandomSearcher])
@pytest.mark.parametrize("seed", [0, 7])
def test_new_trials_get_the_old_samples_bit_for_bit(searcher, seed):
    searcher = searcher() if callable(searcher) else searcher
    sched = RandomSearch(SPACE, metric="loss", max_t=1, random_seed=seed, searcher=searcher)
    configs = [sched.next_job(0.0).config for _ in range(25)]
    assert configs == old_sampling(seed, 25)


def test_points_to_evaluate_come_first_then_the_old_samples():
    sched = RandomSearch(SPACE, metric="loss", max_t=1, random_seed=3, searcher="random",
                         points_to_evaluate=[{"lr": 0.1, "bs": 128, "k": 2, "act": "relu"}])
    first = sched.next_job(0.0).config
    assert first == {"lr": 0.1, "bs": 128, "k": 2, "act": "relu", "max_epochs": 27}
    # completing the point drew a whole config, as it always did; the searcher draws the next ones
    assert [sched.next_job(0.0).config for _ in range(5)] == old_sampling(3, 6)[1:]


@pytest.mark.parametrize("name", ["asha", "asha-promotion", "hyperband", "sync-hyperband", "pasha", "adaptive", "random"])
def test_a_whole_simulated_run_is_the_same_with_and_without_searcher_random(name):
    runs = []
    for searcher in (None, "random"):
        sched = make(name, QUADRATIC_SPACE, "loss", max_resource_attr="max_epochs", seed=5, searcher=searcher)
        exp = simulate(sched, NoisyQuadratic(), n_workers=3, stop=StopCriterion(max_trials=40), seed=5)
        runs.append(exp.results.drop(columns=["tuner_time", "worker_time"], errors="ignore"))
    assert len(runs[0]) > 40
    assert runs[0].equals(runs[1])


def test_hyperband_brackets_and_configs_draw_from_one_stream_as_before():
    # the scheduler's own draws (bracket choice) and the searcher's share self.rng in the same order
    a = SyncHyperband(SPACE, metric="loss", max_t=27, random_seed=1)
    b = SyncHyperband(SPACE, metric="loss", max_t=27, random_seed=1, searcher=RandomSearcher())
    assert [a.next_job(0.0).config for _ in range(12)] == [b.next_job(0.0).config for _ in range(12)]


def test_asha_default_and_random_agree():
    a = ASHA(SPACE, metric="loss", max_t=27, random_seed=2)
    b = ASHA(SPACE, metric="loss", max_t=27, random_seed=2, searcher="random")
    assert [a.next_job(0.0).config for _ in range(10)] == [b.next_job(0.0).config for _ in range(10)]
