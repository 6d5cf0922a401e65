"""Rung levels, the two-heap order statistic and the rungs ASHA decides on (raysha/schedulers/rungs.py)."""

import json
import math

import numpy as np
import pytest

from raysha.schedulers.base import SchedulerError
from raysha.schedulers.rungs import (
    OrderStatistic, Rung, RungSystem, check_rung_levels, geometric_rung_levels, hyperband_bracket_sizes,
    rung_levels_and_eta,
)

TARGETS = {
    "lower median": lambda n: (n + 1) // 2,
    "top third": lambda n: math.floor(n / 3 + 1e-9),
    "stopping q=1/3": lambda n: math.floor((n - 1) / 3 + 1e-9) + 1,
    "all": lambda n: n,
}


@pytest.mark.parametrize("target", TARGETS, ids=list(TARGETS))
def test_order_statistic_matches_a_sorted_copy_after_every_insert(target):
    rng = np.random.default_rng(1)
    fn = TARGETS[target]
    stat, seen = OrderStatistic(fn), []
    values = list(rng.integers(0, 20, 300).astype(float)) + [math.inf] * 5 + list(rng.normal(size=200))
    for v in values:
        stat.add(v)
        seen.append(v)
        ordered = sorted(seen)
        k = fn(len(seen))
        assert len(stat.low) == k
        if k:
            assert stat.at_target() == ordered[k - 1]
        if k < len(seen):
            assert stat.above_target() == ordered[k]


@pytest.mark.parametrize("q", [1 / 2, 1 / 3, 1 / 4, 0.37])
def test_stopping_rule_on_distinct_values_is_value_below_numpys_linear_quantile(q):
    rng = np.random.default_rng(2)
    rung = Rung(level=1, quantile=q)
    for tid, v in enumerate(rng.normal(size=200)):
        rung.add(tid, float(v))
        if len(rung) >= rung.min_entries:
            assert rung.continues(float(v)) == (v <= np.quantile(rung.values, q))


def test_stopping_rule_for_each_value_just_recorded():
    rung = Rung(level=1, quantile=1 / 3)
    assert rung.min_entries == 3
    decisions = []
    for tid, loss in enumerate([0.9, 0.5, math.inf, 0.6, 0.95, 0.1]):
        assert rung.add(tid, loss)
        decisions.append(rung.continues(loss))
    # fewer than η values: continue; inf never; then value <= np.quantile(values, 1/3)
    assert decisions == [True, True, False, True, False, True]
    assert not rung.add(0, 0.1), "a trial is recorded once"
    assert len(rung) == 6


def test_infinite_values_never_continue():
    rung = Rung(level=1, quantile=1 / 2)
    for tid, v in enumerate([0.1, math.inf, math.inf]):
        rung.add(tid, v)
    assert not rung.continues(math.inf)


def _brute_promotable(losses, paused, q):
    """The best paused trial if fewer than floor(n q) values are better than it (for distinct values)."""
    k = math.floor(len(losses) * q + 1e-9)
    if not paused:
        return None
    loss, tid = min((losses[t], t) for t in paused)
    if loss == math.inf:
        return None
    better = sum(1 for v in losses.values() if v < loss)
    return tid if better < k else None


@pytest.mark.parametrize("q", [1 / 2, 1 / 3, 1 / 4])
def test_promotable_matches_brute_force(q):
    # distinct finite values (tie rules are the semantics tests' business) and some infinities
    rng = np.random.default_rng(3)
    values = rng.permutation(300).astype(float)
    rung = Rung(level=1, quantile=q, promotion=True)
    losses, paused = {}, set()
    for tid in range(300):
        v = math.inf if tid % 17 == 0 else float(values[tid])
        rung.add(tid, v)
        losses[tid] = v
        rung.pause(tid)
        paused.add(tid)
        got = rung.promotable()
        assert got == _brute_promotable(losses, paused, q)
        if got is not None and rng.random() < 0.7:
            rung.unpause(got)
            paused.discard(got)


def test_rung_system_state_round_trips_through_strict_json():
    a = RungSystem([1, 3, 9], 27, promotion=True)
    rng = np.random.default_rng(4)
    for tid in range(40):
        for i, rung in enumerate(a.rungs[: 1 + tid % 3]):
            rung.add(tid, math.inf if tid % 9 == 0 else float(np.round(rng.random(), 1)))  # ties too
            if i == tid % 3:
                rung.pause(tid)
    text = json.dumps(a.state(), allow_nan=False)
    b = RungSystem([1, 3, 9], 27, promotion=True)
    b.load(json.loads(text))
    assert b.sizes() == a.sizes() == [40, 26, 13]
    for ra, rb in zip(a.rungs, b.rungs):
        assert rb.losses == ra.losses and rb.paused_ids() == ra.paused_ids()
        assert rb.stat.low and rb.stat.at_target() == ra.stat.at_target()
        while ra.promotable() is not None:
            assert rb.promotable() == ra.promotable()
            t = ra.promotable()
            ra.unpause(t)
            rb.unpause(t)
        assert rb.promotable() is None


def test_levels():
    assert geometric_rung_levels(1, 3, 81) == [1, 3, 9, 27]
    assert geometric_rung_levels(1, 2, 10) == [1, 2, 4, 8]
    assert geometric_rung_levels(0.5, 2, 3.0) == [0.5, 1.0, 2.0]
    assert rung_levels_and_eta([2, 4], 1, 3, 8) == ([2, 4], pytest.approx(2.0))
    with pytest.raises(SchedulerError, match="reduction_factor must be a number >= 2"):
        geometric_rung_levels(1, 1.5, 10)
    with pytest.raises(SchedulerError, match="grace_period"):
        geometric_rung_levels(20, 3, 10)
    with pytest.raises(SchedulerError, match="strictly increasing"):
        check_rung_levels([1, 1], 10)
    with pytest.raises(SchedulerError, match="below max_t"):
        check_rung_levels([1, 10], 10)


def test_hyperband_bracket_sizes_match_syne_tune():
    assert hyperband_bracket_sizes(6, 3) == [243, 98, 41, 18, 9, 6]   # grace 1, max 200, η 3
    assert hyperband_bracket_sizes(5, 3) == [81, 34, 15, 8, 5]        # Li et al.'s table for R = 81
