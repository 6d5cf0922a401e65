"""ASHA semantics from the seeds: d2l's walk-through, the stopping rule, async Hyperband."""

import json
import math

import numpy as np
import pytest

from raysha.schedulers import ASHA, Decision, JobKind, SchedulerError, TrialStatus
from raysha.space import loguniform, randint

SPACE = {"learning_rate": loguniform(1e-2, 1), "batch_size": randint(32, 256), "max_epochs": 10}


def asha(**kw):
    args = dict(space=SPACE, metric="validation_error", mode="min", resource_attr="epoch")
    args.update(kw)
    return ASHA(**args)


def test_d2l_promotion_walkthrough():
    """d2l 'Asynchronous Successive Halving', two workers, η = 2, rungs at 1, 2 and max 4."""
    s = asha(type="promotion", grace_period=1, reduction_factor=2, max_t=4)
    assert s.levels == [1, 2]
    rep = lambda t, r, v: s.on_report(t, r, {"validation_error": v}, 0.0)

    j0, j1 = s.next_job(0), s.next_job(0)                     # Trial-0, Trial-1 start on rung 0
    assert (j0.kind, j0.trial_id, j0.until) == (JobKind.START, 0, 1)
    assert (j1.kind, j1.trial_id, j1.until) == (JobKind.START, 1, 1)
    assert rep(0, 1, 0.10) == Decision.PAUSE                  # Trial-0 reaches rung 0 first
    j = s.next_job(1)
    assert (j.kind, j.trial_id) == (JobKind.START, 2), "one entry: nothing promotable yet"
    assert rep(1, 1, 0.50) == Decision.PAUSE                  # Trial-1 finishes: promote Trial-0
    j = s.next_job(2)
    assert (j.kind, j.trial_id, j.start, j.until) == (JobKind.RESUME, 0, 1, 2)
    assert rep(0, 2, 0.08) == Decision.PAUSE                  # Trial-0 reaches rung 1, alone there
    j = s.next_job(3)
    assert (j.kind, j.trial_id) == (JobKind.START, 3)
    assert rep(3, 1, 0.30) == Decision.PAUSE                  # Trial-3 worse than Trial-0: no promotion
    j = s.next_job(4)
    assert (j.kind, j.trial_id) == (JobKind.START, 4)
    assert rep(2, 1, 0.40) == Decision.PAUSE                  # Trial-2 (straggler) worse than Trial-3
    j = s.next_job(5)
    assert (j.kind, j.trial_id, j.until) == (JobKind.RESUME, 3, 2), "Trial-3 promoted once Trial-2 finishes"
    assert rep(3, 2, 0.20) == Decision.PAUSE                  # two entries at rung 1: Trial-0 moves up
    j = s.next_job(6)
    assert (j.kind, j.trial_id, j.start, j.until) == (JobKind.RESUME, 0, 2, 4)
    assert j.config["max_epochs"] == 10, "no max_resource_attr given: config untouched"
    j = s.next_job(7)
    assert (j.kind, j.trial_id) == (JobKind.START, 5), "worker 1 goes on with new trials"
    assert rep(0, 3, 0.07) == Decision.CONTINUE
    assert rep(0, 4, 0.06) == Decision.STOP
    assert s.trials[0].status == TrialStatus.COMPLETED


def test_promotion_sets_max_resource_attr_for_the_job():
    s = asha(type="promotion", grace_period=2, reduction_factor=2, max_resource_attr="max_epochs")
    assert s.levels == [2, 4, 8] and s.max_t == 10
    j = s.next_job(0)
    assert j.config["max_epochs"] == 2 and j.milestones == (2,)


def syne_tune_continues(prior, value, q, min_entries):
    """Syne Tune's rule, by brute force: insert, then value <= np.quantile(values, q)."""
    values = prior + [value]
    if len(values) < min_entries:
        return True
    return value <= np.quantile(values, q)


def tie_rule_continues(prior, value, q, min_entries):
    """raysha's documented rule, by brute force: the newcomer ranks after every equal value before it."""
    values = prior + [value]
    if len(values) < min_entries:
        return True
    place = sum(1 for v in prior if v <= value)
    return value < math.inf and place <= math.floor((len(values) - 1) * q + 1e-9)


def run_stopping_stream(eta, mode, values, reference):
    s = asha(mode=mode, grace_period=1, reduction_factor=eta, max_t=eta * eta)
    sign = 1 if mode == "min" else -1
    prior = []
    for i, v in enumerate(values):
        j = s.next_job(0)
        d = s.on_report(j.trial_id, 1, {"validation_error": v}, 0)
        expected = reference(prior, sign * v, 1 / eta, eta)
        assert (d == Decision.CONTINUE) == expected, (i, v)
        prior.append(sign * v)


@pytest.mark.parametrize("eta, mode", [(2, "min"), (3, "min"), (3, "max"), (4, "min")])
def test_stopping_rule_on_distinct_values_is_syne_tunes_quantile_rule(eta, mode):
    rng = np.random.default_rng(eta)
    run_stopping_stream(eta, mode, [float(v) for v in rng.permutation(300) / 300], syne_tune_continues)


@pytest.mark.parametrize("eta, mode", [(2, "min"), (3, "min"), (3, "max"), (4, "min")])
def test_stopping_rule_with_ties_ranks_the_newcomer_after_equal_values(eta, mode):
    rng = np.random.default_rng(eta)
    run_stopping_stream(eta, mode, [float(np.round(rng.random(), 1)) for _ in range(300)], tie_rule_continues)


def test_stopping_plateau_does_not_keep_every_trial_running():
    """14 identical values at the first rung (d2l's diverged LeNets sit at 0.9): only the first η - 1 go on."""
    s = asha(grace_period=1, reduction_factor=2, max_t=8)
    decisions = []
    for _ in range(14):
        j = s.next_job(0)
        decisions.append(s.on_report(j.trial_id, 1, {"validation_error": 0.8999999761581421}, 0))
    assert decisions == [Decision.CONTINUE] + [Decision.STOP] * 13
    j = s.next_job(0)   # a better value still continues
    assert s.on_report(j.trial_id, 1, {"validation_error": 0.5}, 0) == Decision.CONTINUE


def test_promotion_plateau_promotes_exactly_the_top_half():
    """14 equal values at rung 1, η 2, one worker: floor(14 / 2) = 7 promotions, the earliest arrivals."""
    s = asha(type="promotion", grace_period=1, reduction_factor=2, max_t=8, max_trials=14)
    promoted_from_1, entered_1 = [], []
    while True:
        j = s.next_job(0)
        if j.kind == JobKind.DONE:
            break
        if j.kind == JobKind.RESUME and j.start == 1:
            promoted_from_1.append(j.trial_id)
        for r in range(int(j.start) + 1, int(j.until) + 1):
            if r == 1:
                entered_1.append(j.trial_id)
            d = s.on_report(j.trial_id, r, {"validation_error": 0.9}, 0)
        assert d in (Decision.PAUSE, Decision.STOP)
    assert len(entered_1) == 14
    assert sorted(promoted_from_1) == entered_1[:7], "ties go to the earlier arrival"
    assert s.rung_sizes()[0] == {1: 14, 2: 7, 4: 3}


def test_fewer_than_eta_entries_continue():
    s = asha(grace_period=1, reduction_factor=3, max_t=9)
    decisions = []
    for v in (0.9, 0.95, 0.99):  # each worse than the one before
        j = s.next_job(0)
        decisions.append(s.on_report(j.trial_id, 1, {"validation_error": v}, 0))
    assert decisions[:2] == [Decision.CONTINUE, Decision.CONTINUE]
    assert decisions[2] == Decision.STOP


def test_reports_between_rungs_need_no_decision_and_milestones_are_rungs():
    s = asha(grace_period=1, reduction_factor=3, max_t=27)
    j = s.next_job(0)
    assert j.milestones == (1, 3, 9, 27) and j.until == 27
    assert s.on_report(j.trial_id, 1, {"validation_error": 0.5}, 0) == Decision.CONTINUE
    assert s.on_report(j.trial_id, 2, {"validation_error": 0.5}, 0) == Decision.CONTINUE
    assert s.rung_sizes()[0] == {1: 1, 3: 0, 9: 0}


def test_nan_missing_and_infinite_metrics_are_worst():
    s = asha(grace_period=1, reduction_factor=2, max_t=4)
    good = [s.next_job(0).trial_id for _ in range(3)]
    for t, v in zip(good, (0.2, 0.3, 0.4)):
        s.on_report(t, 1, {"validation_error": v}, 0)
    for bad in ({"validation_error": float("nan")}, {}, {"validation_error": float("inf")},
                {"validation_error": "oops"}):
        j = s.next_job(0)
        assert s.on_report(j.trial_id, 1, bad, 0) == Decision.STOP


def test_async_hyperband_bracket_distribution():
    s = asha(grace_period=1, reduction_factor=3, max_t=200, brackets=6)
    assert s.levels == [1, 3, 9, 27, 81]
    expected = np.array([243, 98, 41, 18, 9, 6]) / 415
    np.testing.assert_allclose(s.bracket_probs, expected)
    counts = np.bincount([s.next_job(0).bracket for _ in range(20000)], minlength=6) / 20000
    np.testing.assert_allclose(counts, expected, atol=0.015)


def test_async_hyperband_bracket_skips_lower_rungs():
    s = asha(grace_period=1, reduction_factor=3, max_t=27, brackets=4, random_seed=1)
    jobs = [s.next_job(0) for _ in range(200)]
    for j in jobs:
        assert j.milestones == tuple([1, 3, 9, 27][j.bracket:])
    # a bracket-2 trial enters its first rung at 9, not at 1
    j = next(j for j in jobs if j.bracket == 2)
    s.on_report(j.trial_id, 1, {"validation_error": 0.1}, 0)
    assert j.trial_id not in s.systems[0].rungs[0].losses
    s.on_report(j.trial_id, 9, {"validation_error": 0.1}, 0)
    assert j.trial_id in s.systems[0].rungs[2].losses


def test_rung_system_per_bracket_keeps_brackets_apart():
    s = asha(grace_period=1, reduction_factor=3, max_t=27, brackets=2, rung_system_per_bracket=True,
             random_seed=0)
    assert len(s.systems) == 2
    for _ in range(50):
        j = s.next_job(0)
        s.on_report(j.trial_id, j.milestones[0], {"validation_error": 0.5}, 0)
        rung = s.systems[j.bracket].rungs[j.bracket]
        assert j.trial_id in rung.losses
        other = s.systems[1 - j.bracket].rungs[j.bracket]
        assert j.trial_id not in other.losses


def test_points_to_evaluate_run_first():
    s = asha(points_to_evaluate=[{"learning_rate": 0.1, "batch_size": 128}], max_t=10)
    j = s.next_job(0)
    assert j.config["learning_rate"] == 0.1 and j.config["batch_size"] == 128
    assert s.next_job(0).config["learning_rate"] != 0.1


def drive(s, rng, n_events, jobs=None):
    """Feed a scheduler a random but reproducible stream; return the decisions made."""
    log = []
    running = jobs if jobs is not None else []
    for _ in range(n_events):
        if len(running) < 4:
            j = s.next_job(0)
            if j.runs:
                running.append([j, j.start])
            log.append(("job", j.kind.value, j.trial_id, j.until))
            continue
        i = int(rng.integers(len(running)))
        j, r = running[i]
        r += 1
        running[i][1] = r
        d = s.on_report(j.trial_id, r, {"validation_error": float(rng.random())}, 0)
        log.append(("report", j.trial_id, r, d.value))
        if d != Decision.CONTINUE:
            running.pop(i)
    return log, running


@pytest.mark.parametrize("kw", [dict(type="stopping"), dict(type="promotion"),
                                dict(type="promotion", brackets=3, rung_system_per_bracket=True),
                                dict(type="stopping", brackets=4)])
def test_state_dict_round_trip_makes_the_same_decisions(kw):
    a = asha(grace_period=1, reduction_factor=3, max_t=27, random_seed=7, **kw)
    rng = np.random.default_rng(0)
    _, running = drive(a, rng, 400)
    state = json.loads(json.dumps(a.state_dict()))
    b = asha(grace_period=1, reduction_factor=3, max_t=27, random_seed=123, **kw)
    b.load_state_dict(state)
    rng_state = rng.bit_generator.state
    copy = [[j, r] for j, r in running]
    log_a, _ = drive(a, rng, 400, running)
    rng.bit_generator.state = rng_state
    log_b, _ = drive(b, rng, 400, copy)
    assert log_a == log_b


@pytest.mark.parametrize("kw, fragment", [
    (dict(reduction_factor=1.5, max_t=10), "reduction_factor must be a number >= 2"),
    (dict(grace_period=20, max_t=10), r"grace_period \(20\) must not exceed max_t \(10\)"),
    (dict(type="median", max_t=10), "type must be one of"),
    (dict(mode="minimize", max_t=10), "mode must be 'min' or 'max'"),
    (dict(), "give max_t or max_resource_attr"),
    (dict(max_resource_attr="epochs"), "max_resource_attr='epochs' is not in the search space"),
    (dict(max_resource_attr="learning_rate"), "must name a positive constant"),
    (dict(rung_levels=[1, 3, 3], max_t=10), "strictly increasing"),
    (dict(rung_levels=[1, 30], max_t=10), "below max_t"),
    (dict(max_t=27, brackets=9), "brackets must be an integer from 1 to 4"),
    (dict(max_t=10, points_to_evaluate=[{"lr": 0.1}]), "not in the search space"),
])
def test_bad_input_is_named(kw, fragment):
    with pytest.raises(ValueError, match=fragment):
        asha(**kw)


def test_explicit_rung_levels_use_ratio_quantiles():
    s = asha(rung_levels=[1, 5], max_t=10)
    rungs = s.systems[0].rungs
    assert [r.quantile for r in rungs] == [0.2, 0.5]
    assert [r.min_entries for r in rungs] == [5, 2]


def test_wall_time_resource_levels_are_floats():
    s = asha(resource_attr="seconds", grace_period=0.5, reduction_factor=2, max_t=3.0)
    assert s.levels == [0.5, 1.0, 2.0]
    j = s.next_job(0)
    # a report that jumps over a level enters the rung it crossed
    assert s.on_report(j.trial_id, 0.7, {"validation_error": 0.3}, 0) == Decision.CONTINUE
    assert j.trial_id in s.systems[0].rungs[0].losses
    assert math.isclose(s.trials[j.trial_id].resource, 0.7)


@pytest.mark.parametrize("q", [1 / 2, 1 / 3, 0.8])
def test_promotion_rule_with_ties_matches_brute_force(q):
    from raysha.schedulers.rungs import Rung

    rng = np.random.default_rng(int(q * 100))
    promo = Rung(1, q, promotion=True)
    order, paused = [], []
    for t in range(400):
        v = float(np.round(rng.random(), 1)) if t % 7 else math.inf
        promo.add(t, v)
        order.append((v, t))            # arrival order is trial order here
        if rng.random() < 0.5:
            promo.pause(t)
            paused.append(t)
        if paused and rng.random() < 0.2:
            worst = max(paused, key=lambda p: (promo.losses[p], p))
            promo.unpause(worst)
            paused.remove(worst)
        k = math.floor(len(order) * q + 1e-9)
        top_k = {tid for _, tid in sorted(order)[:k]}
        best = min(paused, key=lambda p: (promo.losses[p], p)) if paused else None
        expected = best if best is not None and promo.losses[best] < math.inf and best in top_k else None
        assert promo.promotable() == expected


def _promotable_brackets(s):
    return {b for b, system in enumerate(s.systems) if any(r.promotable() is not None for r in system.rungs)}


def test_rung_system_per_bracket_promotes_from_the_sampled_bracket_only():
    """Syne Tune: the drawn bracket promotes from its own rungs, else starts a new trial there."""
    s = asha(type="promotion", grace_period=1, reduction_factor=3, max_t=27, brackets=3,
             rung_system_per_bracket=True, random_seed=5)
    rng = np.random.default_rng(5)
    starts_beside_promotable = 0
    for _ in range(400):
        ready = _promotable_brackets(s)
        j = s.next_job(0)
        if j.kind == JobKind.START:
            assert j.bracket not in ready, "a bracket with a promotable trial promotes it"
            starts_beside_promotable += bool(ready)
        else:
            assert j.kind == JobKind.RESUME and j.bracket in ready
        for r in range(int(j.start) + 1, int(j.until) + 1):
            s.on_report(j.trial_id, r, {"validation_error": float(rng.random())}, 0)
    assert starts_beside_promotable > 10, "another bracket's promotable trial waits for its own bracket"


def test_rung_system_per_bracket_promotes_from_any_bracket_once_no_new_trials_may_start():
    s = asha(type="promotion", grace_period=1, reduction_factor=3, max_t=27, brackets=3,
             rung_system_per_bracket=True, random_seed=5)
    rng = np.random.default_rng(5)
    for _ in range(200):
        j = s.next_job(0)
        for r in range(int(j.start) + 1, int(j.until) + 1):
            s.on_report(j.trial_id, r, {"validation_error": float(rng.random())}, 0)
    while _promotable_brackets(s):
        ready = _promotable_brackets(s)
        j = s.next_job(0, allow_new=False)
        assert j.kind == JobKind.RESUME and j.bracket in ready
        for r in range(int(j.start) + 1, int(j.until) + 1):
            s.on_report(j.trial_id, r, {"validation_error": float(rng.random())}, 0)
    assert s.next_job(0, allow_new=False).kind == JobKind.DONE


@pytest.mark.parametrize("seed", range(4))
def test_every_promotion_lies_in_the_top_of_its_rung_at_that_moment(seed):
    """The paper's get_job, checked against the rung's contents at each promotion (many ties, 3 workers)."""
    s = asha(type="promotion", grace_period=1, reduction_factor=2, max_t=16, random_seed=seed)
    rng = np.random.default_rng(seed)
    running, promotions = [], 0
    for _ in range(600):
        while len(running) < 3:
            before = {i: dict(r.losses) for i, r in enumerate(s.systems[0].rungs)}  # in order of arrival
            j = s.next_job(0)
            if j.kind == JobKind.RESUME:
                i = s.levels.index(j.start)
                order = sorted((v, place, t) for place, (t, v) in enumerate(before[i].items()))
                rank = [t for _, _, t in order].index(j.trial_id)
                assert rank < math.floor(len(order) * s.systems[0].rungs[i].quantile + 1e-9)
                promotions += 1
            running.append([j, j.start])
        k = int(rng.integers(len(running)))
        j, r = running[k]
        r += 1
        running[k][1] = r
        if s.on_report(j.trial_id, r, {"validation_error": float(np.round(rng.random(), 1))}, 0) != Decision.CONTINUE:
            running.pop(k)
    assert promotions > 50
