"""The failure policy, timeouts, checkpoint and resource checks on a real local Ray cluster.

Each test runs a small experiment whose trainable fails in one particular way and checks what
the user gets: `fit()` raises (or not), the summary says why, the errors are named.
"""

import os
import sys
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from raysha import ExperimentFailedError, FailurePolicy, TrialFailedError  # noqa: E402
from raysha.results import load_experiment  # noqa: E402
from raysha.runtime import session  # noqa: E402
from raysha.runtime.tuner import Tuner  # noqa: E402
from raysha.schedulers.asha import ASHA  # noqa: E402
from raysha.schedulers.fifo import RandomSearch  # noqa: E402
from raysha.space import uniform  # noqa: E402
from raysha.stop import StopCriterion  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_2cpu_2gpu")]
ROOT = Path(__file__).resolve().parents[2]


def _random(max_t=3, seed=0):
    return RandomSearch({"x": uniform(0, 1)}, metric="loss", mode="min", resource_attr="epoch", max_t=max_t,
                        random_seed=seed)


def _tuner(trainable, tmp_path, name, sched=None, **kw):
    kw.setdefault("stop", StopCriterion(max_trials=40, max_wallclock_time=120))
    kw.setdefault("n_workers", 2)
    return Tuner(trainable, sched or _random(), storage_path=str(tmp_path), name=name, verbose=0, **kw)


# -- the failure policy ---------------------------------------------------------------------------

def typo(config):
    lr = config["learning_rate"]          # the space calls it "x": KeyError in every trial
    session.report(epoch=1, loss=lr)


def test_a_typo_stops_after_the_first_five_failed_trials_with_the_first_traceback(tmp_path):
    tuner = _tuner(typo, tmp_path, "typo", stop=StopCriterion(max_wallclock_time=60))
    t0 = time.monotonic()
    with pytest.raises(TrialFailedError) as caught:
        tuner.fit()
    assert time.monotonic() - t0 < 40                      # not the whole budget
    err = caught.value
    assert err.reason == ("5 trials in a row failed and no trial reported a result in between "
                          "(max_consecutive_failures=5)")
    assert "KeyError: 'learning_rate'" in err.traceback and 'lr = config["learning_rate"]' in err.traceback
    assert err.trial_id in tuner.summary["failed_trials"] and err.path == tuner.folder
    failed = tuner.summary["failed_trials"]
    assert 5 <= len(failed) <= 5 + 2 - 1                   # the fifth, and what ran beside it
    assert len(os.listdir(os.path.join(tuner.folder, "errors"))) == len(failed)
    assert tuner.summary["stop_reason"] == err.reason
    saved = load_experiment(tuner.folder).summary        # experiment.json says it too
    assert saved["stop_reason"] == err.reason and saved["first_failure"]["trial_id"] == err.trial_id
    # a restore keeps the policy; max_failures given again changes only that
    assert Tuner.restore(tuner.folder).failure_policy == FailurePolicy()
    assert Tuner.restore(tuner.folder, max_failures=2).failure_policy == FailurePolicy(max_failures=2)


def half_fail(config):
    if session.get_trial_id() % 2:
        raise RuntimeError(f"trial {session.get_trial_id()} is odd")
    session.report(epoch=1, loss=config["x"])


def test_trials_that_fail_between_successes_do_not_stop_the_experiment(tmp_path):
    tuner = _tuner(half_fail, tmp_path, "half", n_workers=1, stop=StopCriterion(max_trials=8),
                   failure_policy=FailurePolicy(max_consecutive_failures=2))
    exp = tuner.fit()
    assert sorted(tuner.summary["failed_trials"]) == [1, 3, 5, 7]
    assert sorted(exp.results["trial_id"]) == [0, 2, 4, 6]


def test_fail_fast_ends_the_experiment_at_the_first_failed_trial_after_its_retries(tmp_path):
    tuner = _tuner(half_fail, tmp_path, "fast", n_workers=1, stop=StopCriterion(max_trials=8),
                   failure_policy=FailurePolicy(max_failures=1, fail_fast=True))
    with pytest.raises(TrialFailedError, match="trial 1 failed and the failure policy has fail_fast=True") as caught:
        tuner.fit()
    assert caught.value.trial_id == 1 and "RuntimeError: trial 1 is odd" in caught.value.traceback
    assert [f["trial_id"] for f in tuner.summary["failures"]] == [1, 1]       # one retry, then the end


def silent(config):
    pass


def test_an_experiment_without_any_result_raises(tmp_path):
    tuner = _tuner(silent, tmp_path, "silent", stop=StopCriterion(max_trials=2))
    with pytest.raises(ExperimentFailedError, match=r"the experiment produced no result: no trial reported "
                                                    r"\(stop reason: "):
        tuner.fit()
    assert tuner.summary["n_results"] == 0 and not tuner.summary["failed_trials"]


def dies_on_even_trials(config):
    if session.get_trial_id() % 2 == 0:
        os._exit(1)
    session.report(epoch=1, loss=config["x"])


def test_dead_trial_actors_are_replaced_as_long_as_the_policy_allows(tmp_path):
    # 6 deaths with 1 worker: twice the old cap of 3 x n_workers; successes in between keep it going
    tuner = _tuner(dies_on_even_trials, tmp_path, "deaths", n_workers=1, stop=StopCriterion(max_trials=12),
                   failure_policy=FailurePolicy(max_consecutive_failures=2))
    exp = tuner.fit()
    assert sorted(tuner.summary["failed_trials"]) == [0, 2, 4, 6, 8, 10]
    assert all(f["worker_died"] for f in tuner.summary["failures"])
    assert sorted(exp.results["trial_id"]) == [1, 3, 5, 7, 9, 11]
    assert tuner.summary["stop_reason"] != "no trial actor could start"


# -- timeouts -------------------------------------------------------------------------------------

def hangs_in_trial_0(config):
    time.sleep(0.5)      # an epoch longer than the report batching interval (0.25 s): its report goes at once
    session.report(epoch=1, loss=config["x"])
    if session.get_trial_id() == 0:
        time.sleep(600)                   # hung: no report comes
    session.report(epoch=2, loss=config["x"] / 2)


def test_a_trial_that_stops_reporting_is_ended_failed_and_its_actor_replaced(tmp_path):
    tuner = _tuner(hangs_in_trial_0, tmp_path, "hung", n_workers=1, stop=StopCriterion(max_trials=3),
                   report_timeout_s=3, sched=_random(max_t=2))
    t0 = time.monotonic()
    exp = tuner.fit()
    assert time.monotonic() - t0 < 60
    assert tuner.summary["failed_trials"] == [0]
    (failure,) = tuner.summary["failures"]
    assert "trial 0 sent no report for" in failure["error"] and "report_timeout_s=3" in failure["error"]
    assert sorted(exp.results.groupby("trial_id")["epoch"].max().items()) == [(0, 1), (1, 2), (2, 2)]


def reports_slowly(config):
    for epoch in range(1, 1000):
        time.sleep(0.5)
        session.report(epoch=epoch, loss=config["x"])


def test_a_trial_past_its_time_budget_is_failed_and_never_retried(tmp_path):
    tuner = _tuner(reports_slowly, tmp_path, "slow", n_workers=2, stop=StopCriterion(max_trials=2),
                   trial_timeout_s=3, failure_policy=FailurePolicy(max_failures=3), sched=_random(max_t=1000))
    exp = tuner.fit()
    assert sorted(tuner.summary["failed_trials"]) == [0, 1]
    assert len(tuner.summary["failures"]) == 2                      # not retried
    assert all("past trial_timeout_s=3" in f["error"] for f in tuner.summary["failures"])
    assert exp.results.groupby("trial_id")["epoch"].max().between(2, 8).all()


# -- checkpoints and resource levels ------------------------------------------------------------------

def _promotion():
    return ASHA({"x": uniform(0, 1), "max_epochs": 4}, metric="loss", mode="min", resource_attr="epoch",
                max_resource_attr="max_epochs", grace_period=1, reduction_factor=2, type="promotion",
                random_seed=0)


def lock_checkpoint(config):
    for epoch in range(1, config["max_epochs"] + 1):
        session.report(epoch=epoch, loss=config["x"], checkpoint={"lock": threading.Lock()})


def test_an_unpicklable_checkpoint_fails_its_trial_at_the_report_that_made_it(tmp_path):
    tuner = _tuner(lock_checkpoint, tmp_path, "lock", sched=_promotion())
    with pytest.raises(TrialFailedError) as caught:
        tuner.fit()
    tb = caught.value.traceback
    assert f"trial {caught.value.trial_id}'s checkpoint at epoch=1 (dict) cannot be pickled (TypeError: cannot " \
           f"pickle '_thread.lock' object)" in tb
    assert "session.report(epoch=epoch, loss=config[\"x\"], checkpoint=" in tb     # the user's line
    assert not os.path.exists(os.path.join(tuner.folder, "checkpoints"))  # nothing was stored


def big_checkpoint(config):
    for epoch in range(1, config["max_epochs"] + 1):
        session.report(epoch=epoch, loss=config["x"], checkpoint=b"x" * 50_000)


def test_an_oversized_checkpoint_fails_its_trial_naming_size_and_limit(tmp_path):
    tuner = _tuner(big_checkpoint, tmp_path, "big", sched=_promotion(), max_checkpoint_bytes=10_000,
                   failure_policy=FailurePolicy(fail_fast=True))
    with pytest.raises(TrialFailedError) as caught:
        tuner.fit()
    assert "checkpoint at epoch=1 (bytes) is 50,0" in caught.value.traceback
    assert "over max_checkpoint_bytes=10,000" in caught.value.traceback


def nan_epoch(config):
    session.report(epoch=1, loss=config["x"])
    session.report(epoch=float("nan"), loss=config["x"])


def test_a_nan_resource_level_fails_the_trial_and_never_reaches_the_results(tmp_path):
    tuner = _tuner(nan_epoch, tmp_path, "nan", stop=StopCriterion(max_trials=3),
                   failure_policy=FailurePolicy(max_consecutive_failures=None))
    exp = tuner.fit()
    assert sorted(tuner.summary["failed_trials"]) == [0, 1, 2]
    assert all("reported epoch=nan; the resource attribute 'epoch' must be a finite number" in f["error"]
               for f in tuner.summary["failures"])
    assert exp.results["epoch"].tolist() == [1, 1, 1]
    with open(os.path.join(tuner.folder, "scheduler_state.json")) as f:
        assert "NaN" not in f.read()
