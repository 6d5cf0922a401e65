"""Synchronous successive halving / Hyperband: fixed rung sizes and synchronisation points."""

import numpy as np
import pytest

from raysha.schedulers import Decision, JobKind, SyncHyperband, SyncSuccessiveHalving, TrialStatus
from raysha.schedulers.sync import bracket_rungs
from raysha.space import uniform

SPACE = {"x": uniform(0, 1)}


def make(cls=SyncSuccessiveHalving, **kw):
    return cls(SPACE, metric="loss", mode="min", max_t=9, grace_period=1, reduction_factor=3, **kw)


def test_hyperband_bracket_sizes_match_the_seed():
    assert bracket_rungs([1, 3, 9, 27], 81, 3, 0) == [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)]
    assert bracket_rungs([1, 3, 9, 27], 81, 3, 4) == [(5, 81)]


def test_strict_sync_sh_waits_at_the_rung_and_promotes_the_best_third():
    s = make(strict=True)
    jobs = [s.next_job(0) for _ in range(9)]
    assert all(j.kind == JobKind.START and j.until == 1 for j in jobs)
    assert s.next_job(0).kind == JobKind.WAIT, "rung 0 is full: wait for all nine"
    values = dict(zip(range(9), [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.5, 0.4]))
    for t in range(8):
        assert s.on_report(t, 1, {"loss": values[t]}, 0) == Decision.PAUSE
        assert s.next_job(0).kind == JobKind.WAIT, "synchronisation point: idle worker"
    s.on_report(8, 1, {"loss": values[8]}, 0)
    resumed = [s.next_job(0) for _ in range(3)]
    assert sorted(j.trial_id for j in resumed) == [1, 3, 5]
    assert all(j.kind == JobKind.RESUME and (j.start, j.until) == (1, 3) for j in resumed)
    assert s.trials[0].status == TrialStatus.STOPPED
    assert s.next_job(0).kind == JobKind.WAIT
    for j, v in zip(resumed, (0.3, 0.05, 0.2)):
        s.on_report(j.trial_id, 2, {"loss": v}, 0)
        s.on_report(j.trial_id, 3, {"loss": v}, 0)
    final = s.next_job(0)
    assert (final.trial_id, final.until) == (3, 9)
    for r in range(4, 10):
        d = s.on_report(3, r, {"loss": 0.01}, 0)
    assert d == Decision.STOP and s.trials[3].status == TrialStatus.COMPLETED
    nxt = s.next_job(0)
    assert nxt.kind == JobKind.START and nxt.trial_id == 9, "next bracket iteration begins"


@pytest.mark.parametrize("strict", [True, False])
def test_failed_trial_counts_as_worst_so_the_rung_completes(strict):
    s = make(strict=strict)
    for _ in range(9):
        s.next_job(0)
    for t in range(8):
        s.on_report(t, 1, {"loss": t / 10}, 0)
    s.on_trial_end(8, "failed")
    assert s.next_job(0).kind == JobKind.RESUME


@pytest.mark.parametrize("strict", [True, False])
def test_hyperband_cycles_through_brackets(strict):
    s = make(SyncHyperband, strict=strict)
    assert [p[0] for p in s.plans] == [(9, 1), (5, 3), (3, 9)]
    seen = []
    rng = np.random.default_rng(0)
    running = []
    while len(seen) < 3 * 4 and len(s.trials) < 200:
        j = s.next_job(0)
        if j.runs:
            running.append(j)
            if j.kind == JobKind.START and j.bracket not in seen[-1:]:
                seen.append(j.bracket)
            continue
        j = running.pop(0)
        for r in range(int(j.start) + 1, int(j.until) + 1):
            d = s.on_report(j.trial_id, r, {"loss": float(rng.random())}, 0)
        assert d in (Decision.PAUSE, Decision.STOP)
    assert seen[:6] == [0, 1, 2, 0, 1, 2]


@pytest.mark.parametrize("strict", [True, False])
def test_no_new_trials_finishes_the_partial_rung(strict):
    s = make(strict=strict)
    for _ in range(4):
        s.next_job(0)
    for t in range(4):
        s.on_report(t, 1, {"loss": t}, 0)
    j = s.next_job(0, allow_new=False)
    assert j.kind == JobKind.RESUME and j.trial_id == 0


@pytest.mark.parametrize("strict", [True, False])
def test_trials_not_kept_at_a_rung_free_their_checkpoints_at_once(strict):
    s = make(strict=strict)
    for _ in range(9):
        s.next_job(0)
    for t in range(9):
        s.on_report(t, 1, {"loss": t / 10}, 0)
    assert sorted(s.removable_checkpoints()) == [3, 4, 5, 6, 7, 8]
    assert s.removable_checkpoints() == [], "each trial is reported once"


def report_all(s, job, value):
    d = None
    for r in range(int(job.start) + 1, int(job.until) + 1):
        d = s.on_report(job.trial_id, r, {"loss": value}, 0)
    return d


def test_a_free_worker_at_a_synchronisation_point_opens_the_next_bracket():
    """Syne Tune: the oldest bracket with a free slot first; none: open a new bracket."""
    s = make()
    first = [s.next_job(0) for _ in range(9)]                 # bracket 0's first rung handed out
    j = s.next_job(0)
    assert (j.kind, j.trial_id, j.until) == (JobKind.START, 9, 1), "no WAIT: a new bracket's first trial"
    second = [j] + [s.next_job(0) for _ in range(8)]
    assert all(x.kind == JobKind.START for x in second)
    third = s.next_job(0)
    assert third.kind == JobKind.START and third.trial_id == 18, "both brackets blocked: a third opens"
    values = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3, 0.6, 0.5, 0.4]
    for job, v in zip(first, values):                          # bracket 0's rung completes
        assert report_all(s, job, v) == Decision.PAUSE
    resumed = [s.next_job(0) for _ in range(3)]
    assert [(x.kind, x.trial_id, x.start, x.until) for x in resumed] == \
        [(JobKind.RESUME, t, 1, 3) for t in (1, 3, 5)], "the oldest bracket's promotions come first"
    assert s.next_job(0).trial_id == 19, "then the youngest open bracket's free slot"


def test_sync_hyperband_opens_brackets_in_the_cycle_order_while_others_wait():
    s = make(SyncHyperband)
    jobs = [s.next_job(0) for _ in range(9 + 5 + 3 + 9)]
    starts = [(j.bracket, j.until) for j in jobs]
    assert starts == [(0, 1)] * 9 + [(1, 3)] * 5 + [(2, 9)] * 3 + [(0, 1)] * 9
    assert all(j.kind == JobKind.START for j in jobs)


def busy_fraction(s, workers, rng, horizon=3000.0):
    """A small event loop: each epoch takes a random time; returns busy worker-time / (workers x horizon)."""
    import heapq

    events, busy, now, free = [], 0.0, 0.0, workers
    seq = 0
    while now < horizon:
        while free:
            j = s.next_job(now)
            if not j.runs:
                break
            free -= 1
            dur = float(rng.lognormal(0, 0.75)) * (j.until - j.start)
            heapq.heappush(events, (now + dur, seq, j, dur))
            seq += 1
        if not events:
            break
        now, _, j, dur = heapq.heappop(events)
        busy += dur
        report_all(s, j, float(rng.random()))
        free += 1
    return busy / (workers * max(now, 1e-9))


@pytest.mark.parametrize("cls", [SyncSuccessiveHalving, SyncHyperband])
def test_filling_keeps_every_worker_busy_strict_idles(cls):
    rng = np.random.default_rng(0)
    filled = busy_fraction(make(cls), 8, rng)
    strict = busy_fraction(make(cls, strict=True), 8, rng)
    assert filled > 0.99 > 0.8 > strict


def test_state_round_trip_with_overlapping_brackets():
    import json

    a = make(SyncHyperband)
    jobs = [a.next_job(0) for _ in range(20)]
    for j in jobs[:9]:
        report_all(a, j, j.trial_id / 10)
    state = json.loads(json.dumps(a.state_dict(), allow_nan=False))
    assert len(state["sync"]["brackets"]) == 4
    b = make(SyncHyperband)
    b.load_state_dict(state)
    assert b.state_dict() == a.state_dict()
    for s in (a, b):
        for j in jobs[9:]:
            report_all(s, j, j.trial_id / 10)
    assert [(x.kind, x.trial_id, x.bracket) for x in (a.next_job(0) for _ in range(12))] == \
        [(x.kind, x.trial_id, x.bracket) for x in (b.next_job(0) for _ in range(12))]


def test_strict_must_be_a_bool():
    with pytest.raises(ValueError, match="strict must be True or False"):
        make(strict="yes")
