"""The failure policy on its own (no Ray): retries per trial, fail_fast, the streak of failed trials."""

import doctest

import pytest

from raysha.runtime import failure_policy
from raysha.runtime.failure_policy import (ExperimentFailedError, FailurePolicy, TrialFailedError,
                                           Verdict)


def test_docstring_examples_pass():
    result = doctest.testmod(failure_policy, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 5 and result.failed == 0


def test_a_trial_is_retried_max_failures_times_then_failed():
    ledger = FailurePolicy(max_failures=2, max_consecutive_failures=None).ledger()
    assert [ledger.job_failed(3, "e") for _ in range(3)] == [Verdict.RETRY, Verdict.RETRY, Verdict.FAIL_TRIAL]
    assert ledger.failed_trials == [3] and ledger.failures == {3: 3} and ledger.stop_reason is None


def test_retries_are_counted_per_trial():
    ledger = FailurePolicy(max_failures=1, max_consecutive_failures=None).ledger()
    assert ledger.job_failed(0, "e") == Verdict.RETRY
    assert ledger.job_failed(1, "e") == Verdict.RETRY
    assert ledger.job_failed(0, "e") == Verdict.FAIL_TRIAL


def test_a_failure_that_cannot_be_retried_fails_the_trial_at_once():
    ledger = FailurePolicy(max_failures=5, max_consecutive_failures=None).ledger()
    assert ledger.job_failed(0, "timed out", can_retry=False) == Verdict.FAIL_TRIAL


def test_the_default_stops_after_five_failed_trials_in_a_row_with_the_first_traceback():
    ledger = FailurePolicy().ledger()
    verdicts = [ledger.job_failed(t, f"Traceback of trial {t}") for t in range(5)]
    assert verdicts == [Verdict.FAIL_TRIAL] * 4 + [Verdict.STOP]
    err = ledger.error("/x/exp")
    assert isinstance(err, TrialFailedError) and isinstance(err, RuntimeError)
    assert isinstance(err, ExperimentFailedError) and err.path == "/x/exp"
    assert err.trial_id == 0 and err.traceback == "Traceback of trial 0"
    assert str(err).startswith("5 trials in a row failed and no trial reported a result in between "
                               "(max_consecutive_failures=5); the first failure (trial 0):\nTraceback of trial 0")


def test_a_recorded_report_resets_the_streak_and_its_first_traceback():
    ledger = FailurePolicy(max_consecutive_failures=2).ledger()
    assert ledger.job_failed(0, "old") == Verdict.FAIL_TRIAL
    ledger.reported()
    assert ledger.job_failed(1, "new") == Verdict.FAIL_TRIAL
    assert ledger.job_failed(2, "newer") == Verdict.STOP
    assert ledger.error().trial_id == 1 and ledger.error().traceback == "new"
    assert ledger.summary() == {"failed_trials": [0, 1, 2], "failure_stop_reason": ledger.stop_reason,
                                "first_failure": {"trial_id": 1, "error": "new"}}


def test_retried_jobs_do_not_count_towards_the_streak():
    ledger = FailurePolicy(max_failures=3, max_consecutive_failures=1).ledger()
    assert [ledger.job_failed(0, "e") for _ in range(3)] == [Verdict.RETRY] * 3
    assert ledger.streak == 0 and ledger.error() is None


def test_fail_fast_stops_at_the_first_failed_trial_after_its_retries():
    ledger = FailurePolicy(max_failures=1, fail_fast=True).ledger()
    assert ledger.job_failed(4, "first") == Verdict.RETRY
    assert ledger.job_failed(4, "second") == Verdict.STOP
    assert "trial 4 failed and the failure policy has fail_fast=True" in str(ledger.error())
    assert ledger.error().traceback == "second"


def test_without_a_streak_limit_the_experiment_goes_on():
    ledger = FailurePolicy(max_consecutive_failures=None).ledger()
    assert {ledger.job_failed(t, "e") for t in range(100)} == {Verdict.FAIL_TRIAL}
    assert ledger.error() is None and ledger.summary()["first_failure"] is None


@pytest.mark.parametrize("kwargs, message", [
    ({"max_failures": -1}, "max_failures must be an integer >= 0, got -1"),
    ({"max_failures": 1.5}, "max_failures must be an integer >= 0, got 1.5"),
    ({"max_failures": True}, "max_failures must be an integer >= 0, got True"),
    ({"fail_fast": "yes"}, "fail_fast must be True or False, got 'yes'"),
    ({"max_consecutive_failures": 0}, "max_consecutive_failures must be an integer >= 1 or None, got 0"),
])
def test_bad_settings_name_the_field(kwargs, message):
    with pytest.raises(ValueError, match=f"FailurePolicy: {message}"):
        FailurePolicy(**kwargs)
