"""The function API's report forms and `Session.finish`, on a Session with no Ray (reports stay buffered)."""

import warnings

import pytest

from raysha.runtime import session as ss
from raysha.runtime.session import Session, get_checkpoint, report


def _session(trial_id=7, start=0, milestones=()):
    job = {"key": (trial_id, 0), "trial_id": trial_id, "config": {"lr": 0.1}, "start": start,
           "until": 10, "milestones": list(milestones)}
    # no milestones and a flush interval of an hour: every report stays in the buffer, nothing is sent
    return Session(None, job, "epoch", {}, None, flush_interval=3600.0)


@pytest.fixture
def session():
    s = _session()
    ss._set_session(s)
    yield s
    ss._set_session(None)


def _rows(s):
    return [{k: v for k, v in r.items() if k != "worker_time"} for r in s.tail()[1]]


def test_dict_and_keyword_forms_record_the_same_row(session):
    report({"epoch": 1, "loss": 0.5})
    report(epoch=2, loss=0.4)
    assert _rows(session) == [{"epoch": 1, "loss": 0.5}, {"epoch": 2, "loss": 0.4}]


def test_dict_and_keywords_merge(session):
    report({"loss": 0.5}, epoch=1, acc=0.9)
    assert _rows(session) == [{"loss": 0.5, "epoch": 1, "acc": 0.9}]


def test_a_name_in_both_is_refused(session):
    with pytest.raises(TypeError, match="'epoch' is given both in the dict and as a keyword"):
        report({"epoch": 1}, epoch=2)
    assert _rows(session) == []


def test_checkpoint_is_keyword_only_and_kept_with_its_report(session):
    report({"epoch": 1, "loss": 0.5}, checkpoint={"w": 1})
    assert session.last_checkpoint == {"w": 1}
    assert _rows(session) == [{"epoch": 1, "loss": 0.5}]          # the checkpoint is not a metric


@pytest.mark.parametrize("bad, name", [([1, 2], "list"), (0.5, "float"), ("loss", "str"), ((1,), "tuple")])
def test_a_non_dict_positional_is_a_type_error_naming_the_form(session, bad, name):
    with pytest.raises(TypeError, match=rf"must be a dict of metric name -> value.*got {name} "
                                        r"\(a checkpoint goes in checkpoint=\.\.\.\)"):
        report(bad)


def test_metric_names_must_be_strings(session):
    with pytest.raises(TypeError, match="metric names must be strings, got 3"):
        report({3: 0.1})


def test_a_metric_may_be_called_metrics(session):
    report(metrics=1.0, epoch=1)                                   # the positional is positional-only
    assert _rows(session) == [{"metrics": 1.0, "epoch": 1}]


def test_outside_a_trial_report_says_where_it_works():
    ss._set_session(None)
    with pytest.raises(RuntimeError, match="only be called inside a trial"):
        report({"loss": 1.0})
    with pytest.raises(RuntimeError, match="only be called inside a trial"):
        get_checkpoint()


def test_missing_resource_is_numbered_from_the_job_start():
    s = _session(start=4)
    s.report({"loss": 1.0})
    s.report({"loss": 0.9})
    assert [r["epoch"] for r in _rows(s)] == [5, 6]


def test_a_returned_dict_is_the_last_report_of_a_silent_trial():
    s = _session()
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # no warning for this form
        s.finish({"epoch": 1, "loss": 0.3})
    assert _rows(s) == [{"epoch": 1, "loss": 0.3}]


def test_a_returned_dict_without_the_resource_gets_the_next_level():
    s = _session(start=2)
    s.finish({"loss": 0.3})
    assert _rows(s) == [{"loss": 0.3, "epoch": 3}]


def test_a_returned_dict_past_the_last_report_is_recorded():
    s = _session()
    s.report({"epoch": 1, "loss": 0.5})
    s.finish({"epoch": 2, "loss": 0.4})
    assert [r["epoch"] for r in _rows(s)] == [1, 2]


def test_a_returned_dict_that_repeats_a_level_is_not_recorded_and_says_so():
    s = _session()
    s.report({"epoch": 1, "loss": 0.5})
    with pytest.warns(UserWarning, match=r"trial 7 returned a dict after reporting up to epoch=1; "
                                         r"it is not recorded"):
        s.finish({"loss": 0.4})
    assert _rows(s) == [{"epoch": 1, "loss": 0.5}]


def test_a_trial_that_never_reports_is_warned_about_by_id():
    s = _session(trial_id=12)
    with pytest.warns(UserWarning, match=r"trial 12 ended without calling raysha.report\(\)"):
        s.finish(None)
    assert _rows(s) == []


def test_a_returned_non_dict_is_named_and_the_silent_trial_warned_about():
    s = _session()
    with pytest.warns(UserWarning) as caught:
        s.finish(0.25)
    text = " ".join(str(w.message) for w in caught)
    assert "returned a float" in text and "ended without calling raysha.report()" in text


def test_a_trial_that_reported_and_returned_none_is_quiet():
    s = _session()
    s.report({"epoch": 1, "loss": 0.5})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.finish(None)


def test_a_bad_returned_value_names_the_return():
    s = _session()
    with pytest.raises(TypeError, match="metric names must be strings, got 1 in the returned value"):
        s.finish({1: 2})


@pytest.mark.parametrize("value, error, message", [
    (float("nan"), ValueError, "trial 7 reported epoch=nan; the resource attribute 'epoch' must be a finite number"),
    (float("inf"), ValueError, "trial 7 reported epoch=inf; the resource attribute 'epoch' must be a finite"),
    ("3", TypeError, "trial 7 reported epoch='3'; the resource attribute 'epoch' must be a number"),
    (True, TypeError, "trial 7 reported epoch=True; the resource attribute 'epoch' must be a number"),
    (11, ValueError, "trial 7 reported epoch=11, past the end of its job at epoch=10"),
])
def test_a_bad_resource_level_is_an_error_naming_the_trial_and_the_value(value, error, message):
    s = _session()
    s.report({"epoch": 1, "loss": 0.5})
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        s.report({"epoch": value, "loss": 0.4})
    assert _rows(s) == [{"epoch": 1, "loss": 0.5}]        # nothing of it reaches the results


def test_a_numpy_resource_level_is_a_number():
    np = pytest.importorskip("numpy")
    s = _session()
    s.report({"epoch": np.int64(2), "loss": np.float32(0.5)})
    assert _rows(s)[0]["epoch"] == 2


def test_a_level_that_does_not_increase_is_dropped_with_a_warning_naming_the_trial():
    s = _session()
    s.report({"epoch": 3, "loss": 0.5})
    with pytest.warns(UserWarning, match=r"trial 7 reported epoch=2 but is at epoch=3 already"):
        s.report({"epoch": 2, "loss": 0.4})
    assert [r["epoch"] for r in _rows(s)] == [3]


def test_the_checkpoint_of_the_jobs_last_report_is_pickled_and_kept_as_bytes():
    from raysha.runtime import checkpoints as ck

    s = _session()
    s.report({"epoch": 9, "loss": 0.5}, checkpoint={"w": 9})
    assert s.last_checkpoint_data is None                 # not the job's last report: not pickled
    s.report({"epoch": 10, "loss": 0.4}, checkpoint={"w": 10})
    assert ck.decode(s.last_checkpoint_data) == {"w": 10}


def test_an_unpicklable_checkpoint_fails_the_report_that_made_it():
    import threading

    from raysha.runtime.checkpoints import CheckpointError

    s = _session(trial_id=3)
    s.report({"epoch": 9, "loss": 0.5}, checkpoint={"lock": threading.Lock()})   # never stored: no check
    with pytest.raises(CheckpointError, match=r"trial 3's checkpoint at epoch=10 \(dict\) cannot be pickled "
                                              r"\(TypeError: cannot pickle '_thread.lock' object\)"):
        s.report({"epoch": 10, "loss": 0.4}, checkpoint={"lock": threading.Lock()})
    assert [r["epoch"] for r in _rows(s)] == [9]          # the failing report is not recorded


def test_an_oversized_checkpoint_fails_the_report_that_made_it():
    from raysha.runtime.checkpoints import CheckpointError

    job = {"key": (3, 0), "trial_id": 3, "config": {}, "start": 0, "until": 2, "milestones": []}
    s = Session(None, job, "epoch", {}, None, flush_interval=3600.0, max_checkpoint_bytes=1000)
    s.report({"epoch": 2, "loss": 0.4}, checkpoint=b"x" * 500)
    s = Session(None, job, "epoch", {}, None, flush_interval=3600.0, max_checkpoint_bytes=1000)
    with pytest.raises(CheckpointError, match=r"trial 3's checkpoint at epoch=2 \(bytes\) is [\d,]+ bytes, over "
                                              r"max_checkpoint_bytes=1,000"):
        s.report({"epoch": 2, "loss": 0.4}, checkpoint=b"x" * 5000)


# -- end to end on Ray ------------------------------------------------------------------

def _dict_reporting_trainable(config):
    from raysha import report as report_

    for epoch in range(1, config["max_epochs"] + 1):
        report_({"epoch": epoch, "loss": config["x"] + 1.0 / epoch})     # Ray Tune 2.x style


@pytest.mark.ray
def test_report_with_a_dict_records_the_metric_on_ray(ray_2cpu_2gpu, tmp_path):
    import sys

    from raysha.runtime.tuner import Tuner
    from raysha.schedulers.asha import ASHA
    from raysha.space import uniform
    from raysha.stop import StopCriterion

    ray_2cpu_2gpu.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    sched = ASHA({"x": uniform(0, 1), "max_epochs": 3}, metric="loss", mode="min", resource_attr="epoch",
                 max_resource_attr="max_epochs", grace_period=1, reduction_factor=3, random_seed=0)
    tuner = Tuner(_dict_reporting_trainable, sched, n_workers=2, stop=StopCriterion(max_trials=4),
                  storage_path=str(tmp_path), name="dict_reports", verbose=0)
    exp = tuner.fit()
    rows = exp.results
    assert rows["trial_id"].nunique() == 4 and rows["loss"].notna().all()
    first = rows[rows["epoch"] == 1].set_index("trial_id")
    assert (first["loss"] - (first["config_x"] + 1.0)).abs().max() < 1e-9
    assert not tuner.summary.get("warnings", {}).get("metric_missing")
    assert exp.best()["loss"] == rows["loss"].min()


def _returning_trainable(config):
    return {"epoch": 1, "loss": config["x"]}          # Ray Tune 1.x style: the metrics are returned


@pytest.mark.ray
def test_a_returned_dict_is_recorded_on_ray(ray_2cpu_2gpu, tmp_path):
    import sys

    from raysha.runtime.tuner import Tuner
    from raysha.schedulers.fifo import RandomSearch
    from raysha.space import uniform
    from raysha.stop import StopCriterion

    ray_2cpu_2gpu.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", mode="min", resource_attr="epoch", max_t=1,
                         random_seed=0)
    exp = Tuner(_returning_trainable, sched, n_workers=2, stop=StopCriterion(max_trials=3),
                storage_path=str(tmp_path), name="returned", verbose=0).fit()
    rows = exp.results
    assert len(rows) == 3 and (rows["loss"] == rows["config_x"]).all()
