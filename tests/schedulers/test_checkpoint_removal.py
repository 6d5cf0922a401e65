"""Early checkpoint removal: finished and never-promotable trials, the max_num_checkpoints cap, restarts."""

import json

import numpy as np
import pytest

from raysha.objectives import CURVES_SPACE, CurvesObjective
from raysha.schedulers import ASHA, PASHA, Decision, JobKind, SchedulerError, TrialStatus
from raysha.simulate import simulate
from raysha.space import uniform
from raysha.stop import StopCriterion

SPACE = {"x": uniform(0, 1)}


def promo(**kw):
    args = dict(space=SPACE, metric="err", mode="min", resource_attr="epoch", type="promotion")
    args.update(kw)
    return ASHA(**args)


def rep(s, t, r, v):
    return s.on_report(t, r, {"err": v}, 0.0)


def test_finished_trials_with_a_checkpoint_are_reported_once():
    s = promo(max_t=4, grace_period=1, reduction_factor=2)
    for t, v in ((0, 0.1), (1, 0.2)):
        assert s.next_job(0).trial_id == t
        assert rep(s, t, 1, v) == Decision.PAUSE
    assert s.removable_checkpoints() == []
    j = s.next_job(0)
    assert (j.kind, j.trial_id) == (JobKind.RESUME, 0)
    assert rep(s, 0, 2, 0.05) == Decision.PAUSE
    j = s.next_job(0)  # alone at rung 2: not promotable (floor(1/2) = 0): a new trial
    s.on_trial_end(j.trial_id, "failed")  # never paused: no checkpoint, nothing to free
    assert s.removable_checkpoints() == []
    s.next_job(0)
    s2 = promo(max_t=2, grace_period=1, reduction_factor=2)
    for t, v in ((0, 0.1), (1, 0.2)):
        s2.next_job(0)
        rep(s2, t, 1, v)
    j = s2.next_job(0)
    assert rep(s2, j.trial_id, 2, 0.01) == Decision.STOP  # completed at max_t
    assert s2.removable_checkpoints() == [0]
    assert s2.removable_checkpoints() == [], "each trial is reported once"


def test_paused_trials_that_can_never_be_promoted_with_known_max_trials():
    s = promo(max_t=9, grace_period=1, reduction_factor=3, max_trials=3)
    jobs = [s.next_job(0) for _ in range(3)]
    assert s.next_job(0).kind == JobKind.WAIT, "max_trials reached: no new trial"
    rep(s, 0, 1, 0.1)
    assert s.removable_checkpoints() == []
    # only floor(3 / 3) = 1 trial of rung 1 is ever promoted, and trial 0 is better than trial 1
    rep(s, 1, 1, 0.2)
    assert s.removable_checkpoints() == [1]
    assert s.trials[1].status == TrialStatus.STOPPED
    rep(s, 2, 1, 0.05)  # trial 2 is better still: trial 0 can no longer make it
    assert s.removable_checkpoints() == [0]
    j = s.next_job(0)
    assert (j.kind, j.trial_id, j.until) == (JobKind.RESUME, 2, 3)
    # without max_trials nothing can be ruled out
    u = promo(max_t=9, grace_period=1, reduction_factor=3)
    for t, v in ((0, 0.1), (1, 0.2), (2, 0.05)):
        u.next_job(0)
        rep(u, t, 1, v)
    assert u.removable_checkpoints() == []


def test_a_promoted_trial_whose_checkpoint_was_freed_restarts_from_scratch():
    s = promo(max_t=4, grace_period=1, reduction_factor=2,
              early_checkpoint_removal_kwargs={"max_num_checkpoints": 1})
    for t, v in ((0, 0.5), (1, 0.4)):
        s.next_job(0)
        rep(s, t, 1, v)
    # two paused, cap 1: the worse one (trial 0) gives its checkpoint up at once
    assert s.removable_checkpoints() == [0]
    assert s.checkpoints.num_checkpoints() == 1
    j = s.next_job(0)
    assert (j.kind, j.trial_id, j.start) == (JobKind.RESUME, 1, 1)
    for t, v in ((2, 0.9), (3, 0.8)):
        assert s.next_job(0).trial_id == t
        rep(s, t, 1, v)
    # rung 1 has 4 values: floor(4 / 2) = 2 may go on; trial 0 (0.5) is second and has no checkpoint
    j = s.next_job(0)
    assert (j.kind, j.trial_id, j.start, j.until) == (JobKind.START, 0, 0, 2), "from scratch, same trial"
    assert s.checkpoints.restarts == [(0, 0)]
    assert rep(s, 0, 1, 0.5) == Decision.CONTINUE, "a replayed rung level needs no decision"
    assert rep(s, 0, 2, 0.3) == Decision.PAUSE


class Watched:
    """Delegates to a scheduler; after every call checks the runner's checkpoints against the cap."""

    def __init__(self, scheduler, cap):
        self._s, self.cap = scheduler, cap
        self.held: set = set()
        self.peak = 0
        self.restarts = 0
        self.removed = 0

    def __getattr__(self, name):
        return getattr(self._s, name)

    def _settle(self):
        for t in self._s.removable_checkpoints():
            assert t in self.held, f"trial {t} reported removable without a checkpoint"
            self.held.discard(t)
            self.removed += 1
        assert len(self.held) <= self.cap
        assert len(self.held) == self._s.checkpoints.num_checkpoints()
        self.peak = max(self.peak, len(self.held))

    def next_job(self, now, allow_new=True):
        j = self._s.next_job(now, allow_new)
        if j.kind == JobKind.START and j.trial_id in self.held:
            raise AssertionError("a START for a trial that still has a checkpoint")
        if j.kind == JobKind.RESUME:
            assert j.trial_id in self.held, "a RESUME needs the checkpoint"
        if j.kind == JobKind.START and self._s.trials[j.trial_id].resource > 0:
            self.restarts += 1
        self._settle()
        return j

    def on_report(self, trial_id, resource, metrics, now):
        d = self._s.on_report(trial_id, resource, metrics, now)
        if d == Decision.PAUSE:
            self.held.add(trial_id)
        self._settle()
        return d

    def on_trial_end(self, trial_id, status):
        self._s.on_trial_end(trial_id, status)
        self._settle()


@pytest.mark.parametrize("cls, kw, cap", [
    (ASHA, dict(type="promotion", max_trials=400), 6),
    (ASHA, dict(type="promotion"), 6),
    (PASHA, dict(type="promotion", max_trials=400), 6),
    (PASHA, dict(type="stopping"), 2),
])
def test_cap_is_respected_at_every_moment_of_a_simulated_run(cls, kw, cap):
    s = cls(CURVES_SPACE, "loss", "min", "epoch", max_t=27, grace_period=1, reduction_factor=3,
            early_checkpoint_removal_kwargs={"max_num_checkpoints": cap}, random_seed=1, **kw)
    w = Watched(s, cap)
    exp = simulate(w, CurvesObjective(), n_workers=4, stop=StopCriterion(max_results=3000), seed=0)
    assert exp.metadata["summary"]["n_results"] > 500
    assert w.peak == cap, "the cap was reached, and held"
    assert w.removed > 0
    if kw.get("type") == "promotion":
        assert w.restarts > 0 and len(s.checkpoints.restarts) == w.restarts
        # a restarted trial trains its early epochs again: the results show it
        counts = exp.results.groupby(["trial_id", "epoch"]).size()
        assert (counts > 1).any()


def test_state_round_trip_keeps_the_ledger():
    kw = dict(max_t=27, grace_period=1, reduction_factor=3, max_trials=120,
              early_checkpoint_removal_kwargs={"max_num_checkpoints": 4}, random_seed=2)
    a = promo(**kw)
    rng = np.random.default_rng(0)

    def drive(s, rng, n, running):
        log = []
        for _ in range(n):
            if len(running) < 3:
                j = s.next_job(0)
                log.append((j.kind.value, j.trial_id, j.start, j.until))
                if j.runs:
                    running.append([j, j.start])
                continue
            i = int(rng.integers(len(running)))
            j, r = running[i]
            running[i][1] = r = r + 1
            d = s.on_report(j.trial_id, r, {"err": float(rng.random())}, 0)
            log.append((j.trial_id, r, d.value, tuple(s.removable_checkpoints())))
            if d != Decision.CONTINUE or r >= j.until:
                running.pop(i)
        return log

    running = []
    drive(a, rng, 250, running)
    b = promo(**dict(kw, random_seed=77))
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    state = rng.bit_generator.state
    copy = [list(x) for x in running]
    log_a = drive(a, rng, 400, running)
    rng.bit_generator.state = state
    log_b = drive(b, rng, 400, copy)
    assert log_a == log_b
    assert any(x[-1] for x in log_a if len(x) == 4 and isinstance(x[-1], tuple))


@pytest.mark.parametrize("kw, fragment", [
    (dict(early_checkpoint_removal_kwargs={"max_num_checkpoints": 0}), "max_num_checkpoints must be a positive"),
    (dict(early_checkpoint_removal_kwargs={"cap": 3}), "unknown keys"),
    (dict(max_trials=0), "max_trials must be a positive integer"),
])
def test_bad_options_are_named(kw, fragment):
    with pytest.raises(SchedulerError, match=fragment):
        promo(max_t=9, **kw)


def test_on_a_plateau_the_later_arrivals_beyond_the_top_are_never_promotable():
    """14 equal values, η 2, max_trials 14: the first 7 arrivals take the promotions, the other 7 go at once."""
    s = promo(max_t=8, grace_period=1, reduction_factor=2, max_trials=14)
    jobs = []
    while len(jobs) < 14:
        j = s.next_job(0)
        if j.kind == JobKind.START:
            jobs.append(j.trial_id)
            rep(s, j.trial_id, 1, 0.9)
        else:   # a promotion: run it to its next rung
            for r in range(int(j.start) + 1, int(j.until) + 1):
                rep(s, j.trial_id, r, 0.9)
    freed = set(s.removable_checkpoints())   # also the promoted ones that finished higher up
    assert set(jobs[7:]) <= freed, "later arrivals at the plateau can never reach the top floor(14 / 2)"
    assert all(s.trials[t].status == TrialStatus.STOPPED for t in jobs[7:])
