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


def test_sync_sh_waits_at_the_rung_and_promotes_the_best_third():
    s = make()
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


def test_failed_trial_counts_as_worst_so_the_rung_completes():
    s = make()
    for _ in range(9):
        s.next_job(0)
    for t in range(8):
        s.on_report(t, 1, {"loss": t / 10}, 0)
    s.on_trial_end(8, "failed")
    assert s.next_job(0).kind == JobKind.RESUME


def test_hyperband_cycles_through_brackets():
    s = make(SyncHyperband)
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


def test_no_new_trials_finishes_the_partial_rung():
    s = make()
    for _ in range(4):
        s.next_job(0)
    for t in range(4):
        s.on_report(t, 1, {"loss": t}, 0)
    j = s.next_job(0, allow_new=False)
    assert j.kind == JobKind.RESUME and j.trial_id == 0


def test_trials_not_kept_at_a_rung_free_their_checkpoints_at_once():
    s = make()
    for _ in range(9):
        s.next_job(0)
    for t in range(9):
        s.on_report(t, 1, {"loss": t / 10}, 0)
    assert sorted(s.removable_checkpoints()) == [3, 4, 5, 6, 7, 8]
    assert s.removable_checkpoints() == [], "each trial is reported once"
