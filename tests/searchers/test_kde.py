"""The "kde" searcher (BOHB's model): fitted on the highest rung with enough results; beats random search."""

import numpy as np
import pytest

from raysha import space as sp
from raysha.searchers import KDESearcher

from . import helpers
from .helpers import assert_valid_conditional, conditional_loss, conditional_space, simulated_regret


def fed(results, space=None, **options):
    """A KDE searcher over x in [0, 1] (or `space`) told `results`: {level: [(x, loss), ...]}."""
    s, tid, _ = helpers.fed(KDESearcher(**options), results, space)
    return s, tid


def median_x(searcher, first_id, n=40):
    return float(np.median([searcher.suggest(first_id + i)["x"] for i in range(n)]))


XS = np.linspace(0, 1, 30)


def test_it_fits_on_the_highest_rung_with_enough_results():
    low = [(x, abs(x - 0.8)) for x in XS]        # rung 1 says: 0.8 is best
    high = [(x, abs(x - 0.2)) for x in XS]       # rung 3 says: 0.2 is best
    s, n = fed({1: low, 3: high}, random_fraction=0)
    assert abs(median_x(s, n) - 0.2) < 0.1
    # rung 3 with too few results (the good and the bad set need more rows than dimensions)
    s, n = fed({1: low, 3: high[::10]}, random_fraction=0)
    assert abs(median_x(s, n) - 0.8) < 0.1


def test_before_any_rung_has_enough_results_it_draws_at_random():
    s, n = fed({1: [(0.5, 1.0), (0.6, 2.0)]}, random_fraction=0)
    picks = [s.suggest(n + i)["x"] for i in range(200)]
    assert np.std(picks) > 0.25                   # uniform on [0, 1]: std 0.29


def test_random_fraction_of_proposals_ignore_the_model():
    low = [(x, abs(x - 0.5)) for x in XS]
    s, n = fed({1: low}, random_fraction=1.0)
    assert np.std([s.suggest(n + i)["x"] for i in range(200)]) > 0.25
    s, n = fed({1: low}, random_fraction=0.0)
    assert np.std([s.suggest(n + i)["x"] for i in range(200)]) < 0.2


def test_failed_results_count_as_worst():
    rows = [(x, abs(x - 0.3)) for x in XS] + [(0.9, float("inf"))] * 10
    s, n = fed({1: rows}, random_fraction=0)
    assert abs(median_x(s, n) - 0.3) < 0.1


def test_conditional_quantized_and_log_spaces_give_valid_configs_and_learn_the_branch():
    space, rng = conditional_space(), np.random.default_rng(1)
    rows = [(c, conditional_loss(c)) for c in (sp.sample_config(space, rng) for _ in range(60))]
    s, n = fed({1: rows}, space=space, random_fraction=0)
    picks = [s.suggest(n + i) for i in range(40)]
    for c in picks:
        assert_valid_conditional(c)
    assert sum(c["opt"] == "adam" for c in picks) >= 30
    assert np.median([c["layers"] for c in picks]) == 6


@pytest.mark.slow
def test_kde_beats_random_search_on_the_noisy_quadratic_under_the_simulator():
    # promotion ASHA, 4 workers, 1200 simulated seconds, 8 seeds (measured: median kde 0.0049, random 0.0145)
    seeds = range(8)
    random_regret = [simulated_regret("random", s, budget=1200) for s in seeds]
    kde_regret = [simulated_regret("kde", s, budget=1200) for s in seeds]
    assert np.median(kde_regret) < 0.5 * np.median(random_regret)
    assert sum(k < r for k, r in zip(kde_regret, random_regret)) >= 5      # measured: 6 of 8
