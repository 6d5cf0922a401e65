"""Adaptive ASHA (Determined's adaptive_asha): brackets per search mode, trial split, stopping rule."""

import json

import numpy as np
import pytest

from raysha.schedulers import AdaptiveASHA, Decision, JobKind, SchedulerError
from raysha.schedulers.adaptive import (
    bracket_levels, bracket_max_concurrent, bracket_max_trials, clamp_max_rungs, mode_bracket_rungs,
)
from raysha.space import uniform

SPACE = {"x": uniform(0, 1)}


def adaptive(**kw):
    args = dict(space=SPACE, metric="err", mode="min", resource_attr="epoch", max_t=256, max_trials=1000)
    args.update(kw)
    return AdaptiveASHA(**args)


def test_bracket_lists_for_the_three_modes_divisor_4_max_rungs_5():
    assert mode_bracket_rungs("aggressive", 5) == [5]
    assert mode_bracket_rungs("standard", 5) == [5, 4, 3]
    assert mode_bracket_rungs("conservative", 5) == [5, 4, 3, 2, 1]
    for m, expected in (("aggressive", [5]), ("standard", [5, 4, 3]), ("conservative", [5, 4, 3, 2, 1])):
        s = adaptive(search_mode=m, divisor=4, max_rungs=5)
        assert s.bracket_rungs == expected


def test_bracket_levels_end_at_max_length():
    s = adaptive(search_mode="conservative")
    assert s.bracket_level_lists == [[1, 4, 16, 64, 256], [4, 16, 64, 256], [16, 64, 256], [64, 256], [256]]
    assert bracket_levels(3, 4, 100) == [6, 25, 100]  # Determined floors max_length / divisor**k
    assert bracket_levels(2, 2, 3.0) == [1, 3.0]
    assert bracket_levels(2, 2, 2.5) == [1.25, 2.5]


@pytest.mark.parametrize("n", [1, 2, 5, 7, 10, 37, 100, 500, 1000, 4321])
@pytest.mark.parametrize("m", ["aggressive", "standard", "conservative"])
def test_trial_split_sums_to_max_trials(n, m):
    s = adaptive(search_mode=m, max_trials=n)
    assert sum(s.bracket_trials) == n
    assert all(t >= 1 for t in s.bracket_trials)


def test_trial_split_follows_determined_weights():
    # weights 4**(n-1)/n: 51.2, 16, 5.33 -> floor(705.9), floor(220.6), floor(73.5); remainder 2 to bracket 0
    assert bracket_max_trials(1000, 4, [5, 4, 3]) == [707, 220, 73]
    assert bracket_max_trials(1000, 4, [5]) == [1000]
    assert bracket_max_concurrent(10, 4, [707, 220, 73]) == [4, 3, 3]
    assert bracket_max_concurrent(2, 4, [707, 220, 73]) == [1, 1, 1], "raised to the number of brackets"
    assert bracket_max_concurrent(None, 4, [707, 220, 73]) == [73, 73, 73]


def test_max_rungs_is_clamped_by_length_and_trials():
    assert clamp_max_rungs(5, 4, 256, 1000) == 5
    assert clamp_max_rungs(5, 4, 100, 1000) == 4      # floor(log4 100) + 1
    assert clamp_max_rungs(5, 4, 256, 20) == 3        # floor(log4 20) + 1
    s = adaptive(max_t=100, search_mode="standard")
    assert s.bracket_rungs == [4, 3, 2]


def test_determined_stopping_rule():
    s = adaptive(search_mode="aggressive", max_trials=256, max_concurrent_trials=64)
    jobs = [s.next_job(0) for _ in range(6)]
    assert jobs[0].milestones == (1, 4, 16, 64, 256) and jobs[0].until == 256
    decide = [s.on_report(j.trial_id, 1, {"err": v}, 0) for j, v in zip(jobs, (0.5, 0.6, 0.4, 0.45, 0.3, 0.9))]
    # n < 4: only the best so far continues; n = 4, 5: top floor(n / 4) = 1; ...
    assert decide == [Decision.CONTINUE, Decision.STOP, Decision.CONTINUE, Decision.STOP, Decision.CONTINUE,
                      Decision.STOP]


def run(s, n_workers, seed):
    rng = np.random.default_rng(seed)
    running, log, peak = [], [], [0] * s.brackets
    while True:
        while len(running) < n_workers:
            j = s.next_job(0)
            log.append((j.kind.value, j.trial_id, j.bracket))
            if not j.runs:
                break
            running.append([j, 0])
            per = np.bincount([r[0].bracket for r in running], minlength=s.brackets)
            peak = [max(a, int(b)) for a, b in zip(peak, per)]
        if not running:
            return log, peak
        i = int(rng.integers(len(running)))
        j, r = running[i]
        r += 1
        running[i][1] = r
        x = s.trials[j.trial_id].config["x"]
        d = s.on_report(j.trial_id, r, {"err": x + 0.1 * rng.random() / r}, 0)
        log.append((j.trial_id, r, d.value))
        if d != Decision.CONTINUE:
            running.pop(i)


def test_brackets_get_their_share_and_concurrency_is_respected():
    s = adaptive(max_t=64, search_mode="conservative", max_trials=200, max_concurrent_trials=7, divisor=4)
    assert s.bracket_rungs == [4, 3, 2, 1]
    log, peak = run(s, n_workers=10, seed=0)
    per_bracket = np.bincount([rec.bracket for rec in s.trials.values()], minlength=s.brackets)
    assert list(per_bracket) == s.bracket_trials and sum(per_bracket) == 200
    assert all(p <= c for p, c in zip(peak, s.bracket_concurrency))
    assert log[-1][0] == "done"
    # every bracket-3 trial (one rung) ran to max_t: no early stopping there
    assert all(rec.resource == 64 for rec in s.trials.values() if rec.bracket == 3)


def test_state_dict_round_trip_makes_the_same_decisions():
    a = adaptive(max_t=64, search_mode="standard", max_trials=300, max_concurrent_trials=6, random_seed=3)
    rng = np.random.default_rng(1)
    running = []
    for _ in range(200):  # part of a run
        while len(running) < 6:
            j = a.next_job(0)
            if not j.runs:
                break
            running.append([j, 0])
        i = int(rng.integers(len(running)))
        running[i][1] += 1
        d = a.on_report(running[i][0].trial_id, running[i][1], {"err": float(rng.random())}, 0)
        if d != Decision.CONTINUE:
            running.pop(i)
    b = adaptive(max_t=64, search_mode="standard", max_trials=300, max_concurrent_trials=6, random_seed=99)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))

    def go(s, running, rng):
        out = []
        for _ in range(300):
            while len(running) < 6:
                j = s.next_job(0)
                out.append((j.kind.value, j.trial_id, j.bracket, j.config and j.config["x"]))
                if not j.runs:
                    break
                running.append([j, 0])
            if not running:
                break
            i = int(rng.integers(len(running)))
            running[i][1] += 1
            d = s.on_report(running[i][0].trial_id, running[i][1], {"err": float(rng.random())}, 0)
            out.append(d.value)
            if d != Decision.CONTINUE:
                running.pop(i)
        return out

    state = rng.bit_generator.state
    copy = [list(r) for r in running]
    log_a = go(a, running, rng)
    rng.bit_generator.state = state
    log_b = go(b, copy, rng)
    assert log_a == log_b


@pytest.mark.parametrize("kw, fragment", [
    (dict(search_mode="wild"), "search_mode must be one of"),
    (dict(divisor=1), "divisor must be a number > 1"),
    (dict(max_trials=0), "max_trials must be a positive integer"),
    (dict(max_concurrent_trials=0), "max_concurrent_trials must be a positive integer"),
])
def test_bad_input_is_named(kw, fragment):
    with pytest.raises(SchedulerError, match=fragment):
        adaptive(**kw)


def test_start_jobs_carry_their_bracket():
    s = adaptive(max_t=64, search_mode="standard", max_trials=300, max_concurrent_trials=3)
    assert s.bracket_rungs == [4, 3, 2]
    jobs = [s.next_job(0) for _ in range(3)]
    assert [j.bracket for j in jobs] == [0, 1, 2]
    assert all(j.kind == JobKind.START for j in jobs)
    assert s.next_job(0).kind == JobKind.WAIT, "every bracket at its concurrency limit"


def test_an_errored_trial_counts_as_the_worst_value_in_its_rung():
    """Determined's trialExitedEarly: the rung it was heading for records MaxFloat64 for it."""
    s = adaptive(search_mode="aggressive", divisor=2, max_t=8, max_trials=100)
    assert s.bracket_level_lists == [[1, 2, 4, 8]]
    a, b, c = (s.next_job(0) for _ in range(3))
    assert s.on_report(a.trial_id, 1, {"err": 0.5}, 0) == Decision.CONTINUE   # alone: the best so far
    s.on_trial_end(b.trial_id, "failed")                                       # errs before epoch 1
    assert s.rung_sizes()[0][1] == 2
    assert s.on_report(c.trial_id, 1, {"err": 0.6}, 0) == Decision.STOP          # n 3: top 1, 0.6 is second
    d = s.next_job(0)
    # n = 4 with the errored one: the top floor(4 / 2) = 2 go on and 0.55 is second (dropped: n = 3, top 1: stop)
    assert s.on_report(d.trial_id, 1, {"err": 0.55}, 0) == Decision.CONTINUE
    state = json.loads(json.dumps(s.state_dict(), allow_nan=False))
    restored = adaptive(search_mode="aggressive", divisor=2, max_t=8, max_trials=100)
    restored.load_state_dict(state)
    assert restored.rung_sizes() == s.rung_sizes()


def test_an_errored_trial_past_a_rung_enters_the_next_one():
    s = adaptive(search_mode="aggressive", divisor=2, max_t=8, max_trials=100)
    j = s.next_job(0)
    s.on_report(j.trial_id, 1, {"err": 0.5}, 0)
    s.on_trial_end(j.trial_id, "failed")
    assert s.rung_sizes()[0] == {1: 1, 2: 1, 4: 0}
    s.on_trial_end(j.trial_id, "failed")   # a second end changes nothing
    assert s.rung_sizes()[0] == {1: 1, 2: 1, 4: 0}


def test_ties_follow_determined_equal_values_are_not_better():
    """Determined's insertMetric puts a value before equal ones: on a plateau every trial continues."""
    s = adaptive(search_mode="aggressive", divisor=2, max_t=8, max_trials=100)
    decisions = []
    for _ in range(10):
        j = s.next_job(0)
        decisions.append(s.on_report(j.trial_id, 1, {"err": 0.9}, 0))
    assert decisions == [Decision.CONTINUE] * 10
