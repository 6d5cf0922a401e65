"""PASHA: the maximum resource grows only when the ranking in the top two rungs changes."""

import json

import numpy as np
import pytest

from raysha.schedulers import PASHA, Decision, JobKind, SchedulerError, TrialStatus
from raysha.schedulers.pasha import ranking_is_stable
from raysha.space import uniform

SPACE = {"x": uniform(0, 1)}


def pasha(**kw):
    args = dict(space=SPACE, metric="err", mode="min", resource_attr="epoch", max_t=27,
                grace_period=1, reduction_factor=3)
    args.update(kw)
    return PASHA(**args)


def run_job(s, job, values):
    """Report values[r] for r in start+1..until; returns the last decision."""
    for r in range(int(job.start) + 1, int(job.until) + 1):
        d = s.on_report(job.trial_id, r, {"err": values[r]}, float(r))
        if d != Decision.CONTINUE:
            return d
    return d


def test_starts_with_the_first_two_rungs():
    s = pasha()
    assert s.levels == [1, 3, 9] and s.current_max_t == 3
    assert pasha(type="stopping").next_job(0).until == 3
    j = pasha(type="stopping").next_job(0)
    assert j.milestones == (1, 3)


def test_max_grows_only_when_the_top_two_rung_ranking_changes():
    s = pasha(ranking_criterion="soft_ranking", epsilon=0.0)
    # curves with the same order at epochs 1 and 3: no growth, nobody goes beyond 3
    curves = {0: {1: 0.10, 2: 0.09, 3: 0.08}, 1: {1: 0.20, 2: 0.19, 3: 0.18},
              2: {1: 0.30, 2: 0.29, 3: 0.28}, 3: {1: 0.40, 2: 0.39, 3: 0.38},
              4: {1: 0.50, 2: 0.49, 3: 0.48}, 5: {1: 0.60, 2: 0.59, 3: 0.58}}
    for j in [s.next_job(0) for _ in range(6)]:
        assert (j.kind, j.until) == (JobKind.START, 1)
        run_job(s, j, curves[j.trial_id])
    for expected in (0, 1):  # floor(6 / 3) = 2 promotions to rung 3, best first
        j = s.next_job(0)
        assert (j.kind, j.trial_id, j.until) == (JobKind.RESUME, expected, 3)
        assert run_job(s, j, curves[j.trial_id]) == Decision.PAUSE
    j = s.next_job(0)
    assert (j.kind, j.until) == (JobKind.START, 1), "rung 3 is the current maximum: nobody goes on"
    assert len(s.systems[0].rungs[1]) == 2, "trials 0 and 1 reached rung 3"
    assert s.current_max_t == 3 and len(s.max_t_history) == 1

    # the third trial to reach rung 3 ranks third at epoch 1 but first at epoch 3: ranking changed
    s2 = pasha(ranking_criterion="soft_ranking", epsilon=0.0)
    curves = {t: {r: 0.3 + 0.05 * t for r in (1, 2, 3)} for t in range(9)}
    curves[0] = {1: 0.10, 2: 0.09, 3: 0.08}
    curves[1] = {1: 0.12, 2: 0.10, 3: 0.09}
    curves[2] = {1: 0.15, 2: 0.10, 3: 0.05}
    for j in [s2.next_job(0) for _ in range(9)]:
        run_job(s2, j, curves[j.trial_id])
    for expected in (0, 1):
        j = s2.next_job(0)
        assert (j.kind, j.trial_id, j.until) == (JobKind.RESUME, expected, 3)
        run_job(s2, j, curves[expected])
        assert s2.current_max_t == 3, "same order at rungs 1 and 3"
    j = s2.next_job(0)
    assert (j.kind, j.trial_id, j.until) == (JobKind.RESUME, 2, 3)
    assert run_job(s2, j, curves[2]) == Decision.PAUSE
    assert s2.current_max_t == 9 and [m for _, m in s2.max_t_history] == [3, 9]
    # the trials paused at the old maximum are promotable now: the best of rung 3 goes on to 9
    j = s2.next_job(5)
    assert (j.kind, j.trial_id, j.start, j.until) == (JobKind.RESUME, 2, 3, 9)


def test_soft_ranking_ties_within_epsilon():
    # Syne Tune's test_soft_ranking_criterion: swap within the group keeps the budget
    prev = {0: 10.0, 1: 14.2, 2: 14.3, 3: 11.6}
    top = {0: 10.0, 1: 14.6, 2: 14.3, 3: 11.6}
    assert ranking_is_stable(top, prev, 0.3)
    assert not ranking_is_stable(top, prev, 0.03)
    same = {0: 10.1, 1: 19.7, 2: 14.2, 3: 11.5}
    assert ranking_is_stable({0: 10.0, 1: 19.6, 2: 14.3, 3: 11.6}, same, 0.0)


def test_fixed_epsilon_absorbs_a_small_swap():
    for eps, grows in ((0.05, False), (0.001, True)):
        s = pasha(ranking_criterion="soft_ranking", epsilon=eps)
        curves = {0: {1: 0.10, 2: 0.10, 3: 0.11}, 1: {1: 0.11, 2: 0.10, 3: 0.10},
                  2: {1: 0.50, 2: 0.5, 3: 0.5}, 3: {1: 0.6, 2: 0.6, 3: 0.6},
                  4: {1: 0.7, 2: 0.7, 3: 0.7}, 5: {1: 0.8, 2: 0.8, 3: 0.8}}
        for j in [s.next_job(0) for _ in range(6)]:
            run_job(s, j, curves[j.trial_id])
        for _ in range(2):
            j = s.next_job(0)
            assert j.kind == JobKind.RESUME
            run_job(s, j, curves[j.trial_id])
        assert (s.current_max_t > 3) == grows


def test_auto_epsilon_from_pairs_whose_order_flips_and_flips_back():
    s = pasha(type="stopping", grace_period=1, reduction_factor=3, max_t=27)  # soft_ranking_auto
    assert s.epsilon == 0.0
    t0, t1, t2 = (s.next_job(0).trial_id for _ in range(3))  # three jobs to the current maximum 3

    def report(tid, r, v):
        return s.on_report(tid, r, {"err": v}, float(r))

    # the top two rungs are 1 and 3: pairs are examined at epochs 2 and 3
    # trial 0 vs trial 1: order at 3 is (1 < 0); at 2 it was (0 < 1); at 1 again (1 < 0) -> noisy
    report(t0, 1, 0.30)
    report(t1, 1, 0.20)
    report(t0, 2, 0.10)
    report(t1, 2, 0.15)
    assert s.epsilon == 0.0
    assert report(t0, 3, 0.12) == Decision.PAUSE
    assert report(t1, 3, 0.05) == Decision.PAUSE
    assert s.epsilon == pytest.approx(0.07), "the noisy pair's distance at 3"
    # a trial whose order against the others never flips back adds nothing
    report(t2, 1, 0.10)
    report(t2, 2, 0.09)
    report(t2, 3, 0.08)
    assert s.epsilon == pytest.approx(0.07)


def test_auto_epsilon_one_noisy_pair_is_its_distance_at_the_highest_epoch_both_reached():
    """Worked by hand with Syne Tune's _update_epsilon: window (1, 4], the pair is noisy at 3 and at 4.

    Syne Tune looks at the pair once, at epoch 4: ε = |0.41 - 0.40| = 0.01. Counting it at
    every epoch (raysha before) gave percentile_90([0.30, 0.01]) = 0.271.
    """
    s = pasha(type="stopping", max_t=64, grace_period=1, reduction_factor=4)
    assert s.levels == [1, 4, 16] and s.current_max_t == 4
    a, b = s.next_job(0).trial_id, s.next_job(0).trial_id
    curve_a = {1: 0.6, 2: 0.2, 3: 0.7, 4: 0.41}
    curve_b = {1: 0.5, 2: 0.5, 3: 0.4, 4: 0.40}
    seen = []
    for r in (1, 2, 3, 4):
        s.on_report(a, r, {"err": curve_a[r]}, float(r))
        seen.append(s.epsilon)
        s.on_report(b, r, {"err": curve_b[r]}, float(r))
        seen.append(s.epsilon)
    assert seen == pytest.approx([0, 0, 0, 0, 0, 0.30, 0.30, 0.01])
    assert s.current_max_t == 4, "the ranking at 4 (b, a) is the one at 1: no growth"


def syne_tune_epsilon(curves, bottom, top, epsilon, percentile=90):
    """Syne Tune's PASHARungSystem._update_epsilon, transcribed (every trial reports every epoch)."""
    current_max_epoch = max(max(c) for c in curves.values() if c)
    seen, distances = set(), []
    for epoch in range(min(current_max_epoch, top), min(bottom, current_max_epoch), -1):
        there = sorted(t for t, c in curves.items() if epoch in c)
        for i, c1 in enumerate(there):
            for c2 in there[i + 1:]:
                if (c1, c2) in seen:
                    continue
                seen.add((c1, c2))
                p1, p2 = curves[c1][epoch], curves[c2][epoch]
                cond, opposite = p1 > p2, False
                for prev in range(epoch - 1, 0, -1):
                    p_cond = curves[c1][prev] > curves[c2][prev]
                    if p_cond == (not cond):
                        opposite = True
                    if opposite and p_cond == cond:
                        distances.append(abs(p1 - p2))
                        break
    return float(np.percentile(distances, percentile)) if distances else epsilon


@pytest.mark.parametrize("seed", range(6))
def test_auto_epsilon_matches_syne_tunes_rule_on_noisy_random_curves(seed):
    rng = np.random.default_rng(seed)
    s = pasha(type="stopping", max_t=64, grace_period=1, reduction_factor=4, random_seed=seed)
    # noisy curves, six trials at a time, reported one epoch at a time in a random interleaving,
    # until the maximum first grows
    curves, live, window, epsilons = {}, [], [], set()
    while len(curves) < 60 and s.current_max_t == 4:
        while len(live) < 6 and len(curves) < 60:
            j = s.next_job(0)
            assert j.kind == JobKind.START
            curves[j.trial_id] = {}
            live.append(j.trial_id)
        t = live[int(rng.integers(len(live)))]
        r = len(curves[t]) + 1
        curves[t][r] = float(np.round(0.5 + 0.1 * rng.standard_normal(), 3))
        expected = syne_tune_epsilon(curves, s.levels[0], s.current_max_t, s.epsilon)
        d = s.on_report(t, r, {"err": curves[t][r]}, float(r))
        assert s.epsilon == pytest.approx(expected), (t, r)
        epsilons.add(s.epsilon)
        window.append(r)
        if d != Decision.CONTINUE:
            live.remove(t)
    assert window.count(4) >= 2 and len(epsilons) >= 2, "noisy pairs were found"


def test_stopping_variant_pauses_at_the_maximum_and_resumes_after_growth():
    s = pasha(type="stopping", ranking_criterion="soft_ranking")
    # first trial: alone everywhere, continues; pauses at the current maximum 3
    j = s.next_job(0)
    assert (j.until, j.milestones) == (3, (1, 3))
    assert s.on_report(j.trial_id, 1, {"err": 0.2}, 0) == Decision.CONTINUE
    assert s.on_report(j.trial_id, 2, {"err": 0.2}, 0) == Decision.CONTINUE
    assert s.on_report(j.trial_id, 3, {"err": 0.1}, 0) == Decision.PAUSE
    assert s.trials[0].status == TrialStatus.PAUSED
    # second trial: better at 1, worse at 3 -> ranking changed -> max 9
    j = s.next_job(0)
    assert j.kind == JobKind.START and j.trial_id == 1
    s.on_report(1, 1, {"err": 0.1}, 0)
    s.on_report(1, 2, {"err": 0.1}, 0)
    assert s.on_report(1, 3, {"err": 0.15}, 0) == Decision.PAUSE
    assert s.current_max_t == 9
    j = s.next_job(0)
    assert (j.kind, j.trial_id, j.start, j.until, j.milestones) == (JobKind.RESUME, 0, 3, 9, (9,))


def simulate_jobs(s, n_workers, n_trials, seed):
    """A small event loop over the contract; checks no job goes beyond the current maximum."""
    rng = np.random.default_rng(seed)
    running, log = [], []
    while True:
        while len(running) < n_workers:
            j = s.next_job(0, allow_new=len(s.trials) < n_trials)
            if not j.runs:
                break
            assert j.until <= s.current_max_t
            running.append(j)
            log.append(("job", j.kind.value, j.trial_id, j.start, j.until))
        if not running:
            return log
        j = running.pop(int(rng.integers(len(running))))
        x = s.trials[j.trial_id].config["x"]
        for r in range(int(j.start) + 1, int(j.until) + 1):
            d = s.on_report(j.trial_id, r, {"err": x + 0.2 * rng.random() / r}, 0)
            log.append(("report", j.trial_id, r, d.value, s.current_max_t))
            if d != Decision.CONTINUE:
                break


@pytest.mark.parametrize("kind", ["promotion", "stopping"])
def test_simulated_run_never_exceeds_current_max_and_max_only_grows(kind):
    s = pasha(type=kind, random_seed=3)
    simulate_jobs(s, 4, 150, seed=1)
    levels = [m for _, m in s.max_t_history]
    assert levels == sorted(levels) and levels[0] == 3
    assert all(b == [1, 3, 9, 27][[1, 3, 9, 27].index(a) + 1] for a, b in zip(levels, levels[1:]))


@pytest.mark.parametrize("kw", [dict(type="promotion"), dict(type="stopping"),
                                dict(type="promotion", ranking_criterion="soft_ranking_std")])
def test_state_dict_round_trip_makes_the_same_decisions(kw):
    a = pasha(random_seed=5, **kw)
    rng = np.random.default_rng(0)
    running = []

    def drive(s, rng, n, running):
        log = []
        for _ in range(n):
            if len(running) < 3:
                j = s.next_job(0)
                if j.runs:
                    running.append([j, j.start])
                log.append((j.kind.value, j.trial_id, j.until))
                continue
            i = int(rng.integers(len(running)))
            j, r = running[i]
            r += 1
            running[i][1] = r
            d = s.on_report(j.trial_id, r, {"err": float(rng.random())}, 0)
            log.append((j.trial_id, r, d.value, s.current_max_t, s.epsilon))
            if d != Decision.CONTINUE or r >= j.until:
                running.pop(i)
        return log

    drive(a, rng, 300, running)
    b = pasha(random_seed=99, **kw)
    b.load_state_dict(json.loads(json.dumps(a.state_dict())))
    rng_state = rng.bit_generator.state
    copy = [[j, r] for j, r in running]
    log_a = drive(a, rng, 400, running)
    rng.bit_generator.state = rng_state
    log_b = drive(b, rng, 400, copy)
    assert log_a == log_b


def test_a_state_saved_before_noisy_pairs_still_loads():
    """Older states kept the curves in "pasha" and a list of distances; the pairs start empty, ε is kept."""
    a = pasha(type="stopping", max_t=64, grace_period=1, reduction_factor=4)
    t0, t1 = a.next_job(0).trial_id, a.next_job(0).trial_id
    for r, (v0, v1) in enumerate([(0.6, 0.5), (0.2, 0.5), (0.7, 0.4)], start=1):
        a.on_report(t0, r, {"err": v0}, 0)
        a.on_report(t1, r, {"err": v1}, 0)
    state = json.loads(json.dumps(a.state_dict()))
    pairs = state["pasha"].pop("pairs")
    state["pasha"].update(curves=pairs["curves"], at=pairs["at"], noisy=[0.3, 0.3])
    b = pasha(type="stopping", max_t=64, grace_period=1, reduction_factor=4)
    b.load_state_dict(state)
    assert b.epsilon == a.epsilon == pytest.approx(0.3)
    restored = b.state_dict()["pasha"]["pairs"]
    assert restored["curves"] == pairs["curves"] and restored["distances"] == []


def test_bad_options_are_named():
    with pytest.raises(SchedulerError, match="ranking_criterion must be one of"):
        pasha(ranking_criterion="hard")
    with pytest.raises(SchedulerError, match="epsilon must be a finite number"):
        pasha(epsilon=-1)


# -- wall time as the resource: rung levels in seconds, driven by the simulator ----------------

class SecondsAdapter:
    """Runs a seconds-resource scheduler under `simulate` (which counts epochs).

    Each job trains epoch after epoch; the adapter reports the cumulative
    simulated seconds as the resource, so rung levels are crossed by whatever
    epoch first gets there, and it ends the job when the scheduler does.
    """

    def __init__(self, scheduler):
        self.s = scheduler
        self.seconds: dict = {}
        self.epochs: dict = {}
        self.reports: list = []

    def __getattr__(self, name):
        return getattr(self.s, name)

    def next_job(self, now, allow_new=True):
        j = self.s.next_job(now, allow_new)
        if not j.runs:
            return j
        if j.start == 0:
            self.seconds[j.trial_id], self.epochs[j.trial_id] = 0.0, 0
        # the simulator counts epochs: let the job run on until the scheduler ends it
        return type(j)(j.kind, j.trial_id, j.config, self.epochs[j.trial_id], 10 ** 6, (), j.bracket)

    def on_report(self, trial_id, resource, metrics, now):
        self.epochs[trial_id] = resource
        self.seconds[trial_id] += metrics["time"]
        d = self.s.on_report(trial_id, self.seconds[trial_id], metrics, now)
        self.reports.append((trial_id, self.seconds[trial_id], d, metrics["validation_error"]))
        return d


@pytest.mark.parametrize("cls, kind", [("ASHA", "stopping"), ("ASHA", "promotion"), ("PASHA", "promotion")])
def test_wall_time_resource_in_a_simulated_run(cls, kind):
    from raysha.objectives import STRAGGLER_SPACE, StragglerObjective
    from raysha.schedulers import ASHA
    from raysha.simulate import simulate
    from raysha.stop import StopCriterion

    Cls = ASHA if cls == "ASHA" else PASHA
    s = Cls(STRAGGLER_SPACE, "validation_error", "min", resource_attr="seconds", max_t=400.0,
            grace_period=25.0, reduction_factor=2, type=kind, random_seed=0)
    assert s.levels == [25.0, 50.0, 100.0, 200.0]
    a = SecondsAdapter(s)
    simulate(a, StragglerObjective(), n_workers=4, stop=StopCriterion(max_trials=60), seed=0)
    rungs = s.systems[0].rungs
    assert len(rungs[0]) == 60 and len(rungs[1]) > 0
    first_at = {}
    for tid, sec, d, v in a.reports:
        for i, lv in enumerate(s.levels):
            if sec >= lv and (tid, i) not in first_at:
                first_at[tid, i] = v
    for i, rung in enumerate(rungs):
        for tid, loss in rung.losses.items():
            assert loss == first_at[tid, i], "the value of the first report at or past the level"
    # every crossing is recorded, except above a rung where that very report stopped the trial
    stopped_at = {t: max(i for (u, i) in first_at if u == t and t in rungs[i].losses)
                  for t, rec in s.trials.items() if rec.status == TrialStatus.STOPPED}
    for (t, i) in first_at:
        assert t in rungs[i].losses or (t in stopped_at and i > stopped_at[t])
    # a trial stops, pauses or completes only at a report that crossed a level (or max_t)
    last = {}
    for tid, sec, d, _ in a.reports:
        prev = last.get(tid, 0.0)
        hit = any(prev < lv <= sec for lv in s.levels + [s.max_t])
        if d != Decision.CONTINUE:
            assert hit or sec >= s.max_t, (tid, prev, sec, d)
        last[tid] = sec
    done = [rec for rec in s.trials.values() if rec.status == TrialStatus.COMPLETED]
    assert done and all(rec.resource >= 400.0 for rec in done)
