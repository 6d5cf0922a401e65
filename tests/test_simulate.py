"""The discrete-event simulator: timing of reports, determinism, stop criteria, sync vs async idle time."""

import math
import time

import numpy as np
import pandas as pd
import pytest

from raysha.objectives import CURVES_SPACE, STRAGGLER_SPACE, CurvesObjective, StragglerObjective
from raysha.schedulers import ASHA, DONE, WAIT, Decision, Job, JobKind, RandomSearch, Scheduler
from raysha.schedulers.sync import SyncSuccessiveHalving
from raysha.simulate import simulate
from raysha.stop import StopCriterion

METRIC = "validation_error"


def asha(**kw):
    args = dict(space=STRAGGLER_SPACE, metric=METRIC, mode="min", resource_attr="epoch",
                max_resource_attr="max_epochs", grace_period=1, reduction_factor=3)
    args.update(kw)
    return ASHA(**args)


def epoch_time(config, epoch):
    """Known, uneven epoch times: the test recomputes when each report must arrive."""
    return 1.0 + 0.25 * epoch + 3.0 * config["learning_rate"]


def timed_objective(config, epoch):
    return {METRIC: 1.0 / (epoch + 10 * config["learning_rate"]), "time": epoch_time(config, epoch)}


class Recorder:
    """Wraps a scheduler and logs every call the simulator makes."""

    def __init__(self, inner):
        self.inner = inner
        self.reports = []
        self.jobs = []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def next_job(self, now, allow_new=True):
        job = self.inner.next_job(now, allow_new)
        self.jobs.append((now, job))
        return job

    def on_report(self, trial_id, resource, metrics, now):
        d = self.inner.on_report(trial_id, resource, metrics, now)
        self.reports.append((trial_id, resource, now, d))
        return d


def test_each_epoch_reported_when_it_ends():
    """Report time = job start + the epoch times of start+1 .. epoch, for resumed trials too."""
    rec = Recorder(asha(type="promotion", max_resource_attr=None, max_t=9))
    exp = simulate(rec, timed_objective, n_workers=3, stop=StopCriterion(max_trials=30))
    configs = rec.inner.trials
    assert any(j.kind == JobKind.RESUME for _, j in rec.jobs), "the test needs resumed jobs"
    # the job each report belongs to: the span on which it happened
    checked = 0
    for span in exp.jobs.itertuples():
        expected = span.start
        reports = [r for r in rec.reports if r[0] == span.trial_id and span.start_resource < r[1] <= span.end_resource]
        assert [r[1] for r in reports] == list(range(int(span.start_resource) + 1, int(span.end_resource) + 1))
        for tid, epoch, now, _ in reports:
            expected += epoch_time(configs[tid].config, epoch)
            assert now == pytest.approx(expected, abs=1e-9)
            checked += 1
        assert span.end == pytest.approx(expected, abs=1e-9)
    assert checked == len(rec.reports) == len(exp.results)
    # the results' clock is the report clock
    assert np.allclose(exp.results["tuner_time"].to_numpy(), [r[2] for r in rec.reports])
    assert list(exp.results["decision"].astype(str)) == [r[3].value for r in rec.reports]


def test_reports_come_in_time_order_and_workers_never_overlap():
    exp = simulate(asha(), StragglerObjective(), n_workers=5, stop=StopCriterion(max_trials=60))
    t = exp.results["tuner_time"].to_numpy()
    assert np.all(np.diff(t) >= 0)
    for _, g in exp.jobs.sort_values("start").groupby("worker"):
        assert np.all(g["start"].to_numpy()[1:] >= g["end"].to_numpy()[:-1] - 1e-9)


@pytest.mark.parametrize("make", [
    lambda seed: RandomSearch(STRAGGLER_SPACE, METRIC, max_resource_attr="max_epochs", random_seed=seed),
    lambda seed: asha(type="promotion", random_seed=seed),
    lambda seed: asha(type="stopping", brackets=3, random_seed=seed),
])
def test_same_seed_same_results(make):
    stop = StopCriterion(max_trials=40)
    a = simulate(make(1), StragglerObjective(), 4, stop, seed=7)
    b = simulate(make(1), StragglerObjective(), 4, stop, seed=7)
    pd.testing.assert_frame_equal(a.results, b.results)
    pd.testing.assert_frame_equal(a.jobs, b.jobs)
    c = simulate(make(2), StragglerObjective(), 4, stop, seed=7)
    assert not a.results[METRIC].equals(c.results[METRIC])
    d = simulate(make(1), StragglerObjective(), 4, stop, seed=8)  # objective reseeded
    assert not a.results["epoch_time"].equals(d.results["epoch_time"])


def test_results_rows_carry_config_worker_time_and_bracket():
    exp = simulate(asha(type="promotion", brackets=2), StragglerObjective(), 3, StopCriterion(max_trials=30))
    r = exp.results
    for col in ("trial_id", "epoch", METRIC, "epoch_time", "tuner_time", "worker_time", "node", "worker",
                "decision", "bracket", "config_learning_rate", "config_batch_size"):
        assert col in r.columns, col
    sched_trials = exp.metadata["summary"]["n_trials"]
    assert r["trial_id"].nunique() == sched_trials == 30
    # worker_time: cumulative training seconds of the trial
    for _, g in r.groupby("trial_id"):
        assert np.allclose(g["worker_time"].to_numpy(), np.cumsum(g["epoch_time"].to_numpy()))
    assert set(r["bracket"]) == {0, 1}
    assert set(r["decision"].astype(str)) <= {"continue", "pause", "stop"}


def test_stop_max_results_and_max_trials():
    s = asha()
    exp = simulate(s, StragglerObjective(), 4, StopCriterion(max_results=57))
    assert len(exp.results) == 57 and exp.summary["stop_reason"] == "max_results"
    # the jobs cut short are ended as interrupted, both in the spans and in the scheduler:
    # all four workers ran, except the one whose last report ended its job
    last_ended = exp.results["decision"].iloc[-1] != "continue"
    interrupted = (exp.jobs["end_reason"] == "interrupted").sum()
    assert interrupted == 4 - last_ended
    assert s.counts()["interrupted"] == interrupted and s.counts()["running"] == 0
    exp = simulate(asha(), StragglerObjective(), 4, StopCriterion(max_trials=25))
    assert exp.results["trial_id"].nunique() == 25 and exp.summary["stop_reason"] == "exhausted"
    assert (exp.jobs["end_reason"] == "interrupted").sum() == 0


def test_stop_max_wallclock_time():
    exp = simulate(asha(), StragglerObjective(), 4, StopCriterion(max_wallclock_time=500.0))
    assert exp.results["tuner_time"].max() <= 500.0
    assert exp.summary["end_time"] == 500.0 and exp.summary["stop_reason"] == "max_wallclock_time"
    assert exp.jobs["end"].max() == 500.0
    # every worker was busy right to the end: its last job was interrupted at 500
    assert sorted(exp.jobs.loc[exp.jobs["end_reason"] == "interrupted", "worker"]) == [0, 1, 2, 3]


def test_stop_metric_threshold():
    exp = simulate(asha(), StragglerObjective(), 4, StopCriterion(metric_threshold=0.2))
    v = exp.results[METRIC].to_numpy()
    assert exp.summary["stop_reason"] == "metric_threshold"
    assert v[-1] <= 0.2 and np.all(v[:-1] > 0.2)


class AlwaysWait(Scheduler):
    def next_job(self, now, allow_new=True):
        return WAIT

    def on_report(self, trial_id, resource, metrics, now):  # never called: no job ever runs
        raise AssertionError("no trial runs, so nothing reports")


def test_waiting_forever_ends_as_stalled():
    s = AlwaysWait(STRAGGLER_SPACE, METRIC)
    exp = simulate(s, StragglerObjective(), 2, StopCriterion(max_trials=3))
    assert exp.summary["stop_reason"] == "stalled" and len(exp.results) == 0


class ContinueForever(Scheduler):
    """Starts jobs to epoch 3 and always says CONTINUE: the job must end at `until` anyway."""

    def next_job(self, now, allow_new=True):
        if not allow_new:
            return DONE
        rec = self.new_trial()
        return Job(JobKind.START, rec.trial_id, rec.config, 0, 3, (3,))

    def on_report(self, trial_id, resource, metrics, now):
        return Decision.CONTINUE


def test_continue_at_until_ends_the_job():
    exp = simulate(ContinueForever(STRAGGLER_SPACE, METRIC), StragglerObjective(), 2, StopCriterion(max_trials=4))
    assert exp.results.groupby("trial_id")["epoch"].max().tolist() == [3, 3, 3, 3]
    assert set(exp.jobs["end_reason"]) == {"until"}


def test_metric_keys_may_differ_between_trials():
    def obj(config, epoch):
        m = {METRIC: 0.5 / epoch, "time": 1.0}
        if config["batch_size"] % 2:
            m["extra"] = 1.0
        return m
    exp = simulate(RandomSearch(STRAGGLER_SPACE, METRIC, max_t=2), obj, 2, StopCriterion(max_trials=20))
    odd = exp.results["config_batch_size"] % 2 == 1
    assert 0 < odd.sum() < len(odd)
    assert exp.results.loc[odd, "extra"].eq(1.0).all() and exp.results.loc[~odd, "extra"].isna().all()


def test_bad_objective_time_is_a_clear_error():
    with pytest.raises(ValueError, match="'time'"):
        simulate(asha(), lambda c, e: {METRIC: 0.1}, 2, StopCriterion(max_trials=2))
    with pytest.raises(ValueError, match="non-negative"):
        simulate(asha(), lambda c, e: {METRIC: 0.1, "time": -1.0}, 2, StopCriterion(max_trials=2))
    with pytest.raises(ValueError, match="StopCriterion with a limit"):
        simulate(asha(), StragglerObjective(), 2)
    with pytest.raises(ValueError, match="n_workers"):
        simulate(asha(), StragglerObjective(), 0)


def test_record_none_keeps_the_summary():
    full = simulate(asha(), StragglerObjective(), 8, StopCriterion(max_trials=300))
    bare = simulate(asha(), StragglerObjective(), 8, StopCriterion(max_trials=300), record="none")
    assert bare.results.empty and bare.jobs.empty
    for k in ("n_trials", "n_results", "end_time", "busy_fraction"):
        assert bare.summary[k] == full.summary[k]
    best = full.best()
    assert bare.summary["best"]["value"] == best[METRIC]
    assert bare.summary["best"]["trial_id"] == best["trial_id"]
    assert full.summary["busy_fraction"] == pytest.approx(full.busy_fraction())


def busy(exp):
    """Busy fraction measured from the job spans, up to the stop time."""
    spans = exp.jobs
    return float((spans["end"] - spans["start"]).sum()) / (exp.metadata["n_workers"] * exp.summary["end_time"])


def test_sync_sh_waits_at_its_rungs_asha_does_not():
    """Same straggler objective, 4 workers, same simulated hour: strict sync SH idles at rung barriers."""
    stop = StopCriterion(max_wallclock_time=3600.0)
    sync = SyncSuccessiveHalving(STRAGGLER_SPACE, METRIC, max_resource_attr="max_epochs", strict=True)
    rec = Recorder(sync)
    sync_exp = simulate(rec, StragglerObjective(), 4, stop)
    asha_exp = simulate(asha(), StragglerObjective(), 4, stop)
    b_sync, b_asha = busy(sync_exp), busy(asha_exp)
    assert b_asha > 0.999, "ASHA hands every free worker a job at once"
    assert b_sync < 0.8 < b_asha
    assert any(j.kind == JobKind.WAIT for _, j in rec.jobs)
    # idle gaps in the timeline: a worker's next job starts later than its previous one ended
    gaps = []
    for _, g in sync_exp.jobs.sort_values("start").groupby("worker"):
        gaps.extend(g["start"].to_numpy()[1:] - g["end"].to_numpy()[:-1])
    assert max(gaps) > 10.0
    gaps = []
    for _, g in asha_exp.jobs.sort_values("start").groupby("worker"):
        gaps.extend(g["start"].to_numpy()[1:] - g["end"].to_numpy()[:-1])
    assert max(gaps) == 0.0


def test_curves_objective_drives_asha_promotion_to_max_t():
    s = ASHA(CURVES_SPACE, "loss", max_resource_attr="max_epochs", type="promotion", reduction_factor=3)
    exp = simulate(s, CurvesObjective(), 4, StopCriterion(max_trials=81))
    assert exp.results["epoch"].max() == 27
    best = exp.best()
    # ASHA's best at max_t beats the median trial's best
    assert best["loss"] < exp.results.groupby("trial_id")["loss"].min().median()


@pytest.mark.slow
def test_large_simulation_is_fast():
    t0 = time.perf_counter()
    exp = simulate(asha(max_resource_attr=None, max_t=27), StragglerObjective(), 64,
                   StopCriterion(max_trials=100_000), record="none")
    wall = time.perf_counter() - t0
    s = exp.summary
    assert s["n_trials"] == 100_000 and s["n_results"] > 250_000
    assert wall < 30.0, f"100k-trial simulation took {wall:.1f} s"


def test_top_level_simulate_is_callable():
    """`raysha.simulate` is both a module and the function: `from raysha import simulate` must call."""
    import raysha
    from raysha import simulate as top

    exp = top(asha(max_resource_attr=None, max_t=3), StragglerObjective(), 2, StopCriterion(max_trials=4))
    assert exp.results["trial_id"].nunique() == 4
    assert raysha.simulate is top


class Careless(Scheduler):
    """Breaks the contract on purpose: starts trials when told not to, or hands out a running trial."""

    def __init__(self, *a, twice=False, **kw):
        super().__init__(*a, **kw)
        self.twice = twice

    def next_job(self, now, allow_new=True):
        rec = self.trials[0] if self.twice and self.trials else self.new_trial()
        return Job(JobKind.START, rec.trial_id, rec.config, 0, 3, (3,))

    def on_report(self, trial_id, resource, metrics, now):
        return Decision.CONTINUE


def test_contract_violations_are_reported():
    with pytest.raises(ValueError, match="allow_new=False"):
        simulate(Careless(STRAGGLER_SPACE, METRIC), StragglerObjective(), 2, StopCriterion(max_trials=3))
    with pytest.raises(ValueError, match="still running"):
        simulate(Careless(STRAGGLER_SPACE, METRIC, twice=True), StragglerObjective(), 2, StopCriterion(max_trials=3))
