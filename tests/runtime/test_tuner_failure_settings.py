"""Tuner's failure settings and the one-experiment-per-scheduler rule, checked at construction (no Ray)."""

import pytest

from raysha import FailurePolicy, simulate
from raysha.runtime import session
from raysha.runtime.tuner import Tuner, TunerError
from raysha.schedulers.asha import ASHA
from raysha.schedulers.fifo import RandomSearch
from raysha.space import uniform
from raysha.stop import StopCriterion


def _sched():
    return RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=3)


def _fn(config):
    session.report(epoch=1, loss=config["x"])


def test_the_default_policy_retries_nothing_and_stops_after_five_failed_trials_in_a_row():
    assert Tuner(_fn, _sched()).failure_policy == FailurePolicy(max_failures=0, fail_fast=False,
                                                               max_consecutive_failures=5)


def test_max_failures_is_shorthand_for_the_policy():
    t = Tuner(_fn, _sched(), max_failures=2)
    assert t.failure_policy == FailurePolicy(max_failures=2) and t.max_failures == 2


def test_a_policy_is_taken_as_given():
    policy = FailurePolicy(max_failures=1, fail_fast=True, max_consecutive_failures=None)
    assert Tuner(_fn, _sched(), failure_policy=policy).failure_policy is policy


@pytest.mark.parametrize("kwargs, message", [
    ({"failure_policy": {"max_failures": 1}}, "failure_policy must be a raysha.FailurePolicy, got {'max_failures': 1}"),
    ({"failure_policy": FailurePolicy(), "max_failures": 2}, "give max_failures inside failure_policy="),
    ({"max_failures": -1}, "max_failures must be an integer >= 0, got -1"),
    ({"trial_timeout_s": 0}, "trial_timeout_s must be a positive number of seconds or None, got 0"),
    ({"trial_timeout_s": float("inf")}, "trial_timeout_s must be a positive number of seconds or None, got inf"),
    ({"report_timeout_s": "60"}, "report_timeout_s must be a positive number of seconds or None, got '60'"),
    ({"max_checkpoint_bytes": 0}, "max_checkpoint_bytes must be a positive integer or None, got 0"),
    ({"max_checkpoint_bytes": 1e6}, "max_checkpoint_bytes must be a positive integer or None, got 1000000.0"),
])
def test_bad_failure_settings_name_the_field(kwargs, message):
    with pytest.raises(TunerError, match="Tuner: " + message.replace("(", r"\(").replace(")", r"\)")):
        Tuner(_fn, _sched(), **kwargs)


def test_timeouts_and_the_checkpoint_limit_are_kept():
    t = Tuner(_fn, _sched(), trial_timeout_s=600, report_timeout_s=30.5, max_checkpoint_bytes=10**8)
    assert (t.trial_timeout_s, t.report_timeout_s, t.max_checkpoint_bytes) == (600, 30.5, 10**8)


def test_a_scheduler_given_to_a_second_tuner_is_refused():
    sched = _sched()
    Tuner(_fn, sched)
    with pytest.raises(TunerError, match=r"Tuner: this RandomSearch belongs to another experiment already; a "
                                         r"scheduler instance keeps its trials and rungs, so build a new one"):
        Tuner(_fn, sched)


def test_a_refused_tuner_does_not_claim_its_scheduler():
    sched = _sched()
    with pytest.raises(TunerError, match="n_workers"):
        Tuner(_fn, sched, n_workers=0)
    Tuner(_fn, sched)                                     # the first valid Tuner takes it


def test_a_scheduler_that_ran_in_the_simulator_is_refused_naming_its_trials():
    sched = ASHA({"x": uniform(0, 1)}, metric="loss", mode="min", max_t=3, grace_period=1, reduction_factor=3)
    simulate(sched, lambda config, r: {"loss": config["x"] / r, "time": 1.0}, n_workers=2,
             stop=StopCriterion(max_trials=4))
    with pytest.raises(TunerError, match=r"this ASHA belongs to another experiment already \(it holds 4 trials\)"):
        Tuner(_fn, sched)


def test_fit_raises_for_what_the_summary_says():
    from raysha import ExperimentFailedError, TrialFailedError
    from raysha.runtime.tuner import experiment_failure

    assert experiment_failure({"stop_reason": "max_trials", "n_results": 12}, "/r/x") is None
    assert experiment_failure({"stop_reason": "KeyboardInterrupt", "n_results": 0}, "/r/x") is None
    assert experiment_failure({"stop_reason": "requested", "n_results": 0}, "/r/x") is None
    e = experiment_failure({"stop_reason": "no trial actor could start", "n_results": 0}, "/r/x")
    assert type(e) is ExperimentFailedError and str(e).startswith("no trial actor could start") and e.path == "/r/x"
    e = experiment_failure({"stop_reason": "max_wallclock_time", "n_results": 0, "failed_trials": [0, 1]}, "/r/x")
    assert str(e) == "the experiment produced no result: no trial reported (2 trial(s) failed, see /r/x/errors)"
    e = experiment_failure({"stop_reason": "2 in a row", "failure_stop_reason": "2 in a row", "n_results": 3,
                            "first_failure": {"trial_id": 4, "error": "KeyError: 'lr'"}}, "/r/x")
    assert isinstance(e, TrialFailedError) and (e.reason, e.trial_id, e.traceback) == ("2 in a row", 4, "KeyError: 'lr'")
