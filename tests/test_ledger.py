"""The runner-agnostic books (`raysha.ledger`): row format, collisions, best so far, stop criteria, summary."""

import math

import pytest

from raysha.ledger import SYSTEM_COLUMNS, Best, Ledger, metric_column, plain_scalars, result_row, stop_reason
from raysha.objectives import STRAGGLER_SPACE, StragglerObjective
from raysha.schedulers.asha import ASHA
from raysha.schedulers.fifo import RandomSearch
from raysha.simulate import simulate
from raysha.stop import StopCriterion


@pytest.mark.parametrize("name", ["worker", "node", "decision", "trial_id", "tuner_time", "bracket", "config_lr"])
def test_a_metric_named_like_a_system_column_is_renamed(name):
    row = result_row(1, "epoch", {"epoch": 2, name: "mine", "loss": 0.5}, {"lr": 0.1}, tuner_time=3.0,
                     worker_time=1.0, node="n", worker=0, decision="continue", bracket=0)
    assert row[f"metric_{name}"] == "mine" and row["loss"] == 0.5
    assert row["config_lr"] == 0.1 and row["trial_id"] == 1 and row["worker"] == 0 and row["decision"] == "continue"
    assert set(SYSTEM_COLUMNS) <= set(row)


def test_other_metric_names_are_kept():
    assert [metric_column(n) for n in ("loss", "epoch_time", "workers", "configuration")] == \
        ["loss", "epoch_time", "workers", "configuration"]


def test_the_simulator_uses_the_same_rule():
    def objective(config, epoch):
        return {"loss": config["x"] / epoch, "worker": "w", "node": 1, "decision": "d", "time": 1.0}

    sched = RandomSearch({"x": 0.5}, metric="loss", max_t=2)
    df = simulate(sched, objective, 2, StopCriterion(max_trials=2)).results
    assert set(df["metric_worker"]) == {"w"} and set(df["metric_node"]) == {1} and set(df["metric_decision"]) == {"d"}
    assert set(df["worker"]) == {0, 1} and set(df["node"]) == {"sim"} and set(df["decision"]) == {"continue", "stop"}


def test_best_keeps_the_lowest_loss_and_the_first_of_ties():
    b = Best("acc", "epoch")
    assert b.as_dict() is None
    b.offer(-0.8, 0.8, 1, 3, time=5.0)
    b.offer(-0.8, 0.8, 2, 3, time=6.0)
    b.offer(-0.7, 0.7, 3, 3)
    assert b.as_dict() == {"value": 0.8, "trial_id": 1, "epoch": 3} and b.time == 5.0


def test_a_best_reloaded_from_a_journal_is_ranked_by_the_scheduler_s_loss():
    sched = RandomSearch({"x": 0.5}, metric="acc", mode="max", max_t=3)
    led = Ledger(sched, StopCriterion())
    led.best.load({"value": 0.9, "trial_id": 4, "epoch": 2}, sched.loss)
    assert led.best.loss == -0.9
    led.record(5, 1, {"acc": 0.95})
    assert led.best.as_dict()["trial_id"] == 5
    led.record(6, 1, {"acc": float("nan")})          # NaN is worst, never best
    assert led.best.as_dict()["trial_id"] == 5


def test_stop_reasons():
    assert stop_reason(StopCriterion(max_results=10), 9, 0.5, "min") is None
    assert stop_reason(StopCriterion(max_results=10), 10, 0.5, "min") == "max_results"
    assert stop_reason(StopCriterion(metric_threshold=0.2), 1, 0.2, "min") == "metric_threshold"
    assert stop_reason(StopCriterion(metric_threshold=0.2), 1, 0.1, "max") is None
    assert stop_reason(StopCriterion(metric_threshold=0.2), 1, None, "min") is None


def test_each_level_of_a_trial_is_recorded_once_and_the_state_round_trips():
    sched = ASHA({"x": 0.5}, metric="loss", max_t=9)
    led = Ledger(sched, StopCriterion(max_trials=2))
    led.start(0)
    led.start(0)                                      # a restart of the same trial is not a new trial
    assert led.n_started == 1 and led.may_start()
    led.record(0, 1, {"loss": 0.4})
    led.record(0, 2, {"loss": 0.3})
    assert not led.is_new(0, 1) and not led.is_new(0, 2) and led.is_new(0, 3) and led.is_new(1, 1)
    again = Ledger(sched, StopCriterion(max_trials=2))
    again.load(led.state())
    assert again.state() == led.state() and again.best.as_dict() == {"value": 0.3, "trial_id": 0, "epoch": 2}


def test_metric_warnings_are_given_once_each():
    led = Ledger(RandomSearch({"x": 0.5}, metric="loss", max_t=3), StopCriterion())
    assert "without the metric 'loss'" in led.check_metric(0, {"epoch": 1}, 1)
    assert led.check_metric(1, {"epoch": 1}, 1) is None
    assert "loss=nan" in led.check_metric(0, {"loss": math.nan}, 1)
    assert led.check_metric(0, {"loss": "bad"}, 1) is None and led.check_metric(0, {"loss": 0.1}, 1) is None
    assert sorted(led.warnings) == ["metric_missing", "metric_not_finite"]


def test_plain_scalars_and_the_summary():
    np = pytest.importorskip("numpy")
    row = plain_scalars({"a": np.float32(0.5), "b": np.int32(2), "c": "s"})
    assert row == {"a": 0.5, "b": 2, "c": "s"} and type(row["a"]) is float and type(row["b"]) is int
    sched = ASHA(STRAGGLER_SPACE, "validation_error", "min", "epoch", max_t=9, random_seed=0)
    s = simulate(sched, StragglerObjective(seed=0), 4, StopCriterion(max_trials=20)).summary
    assert s["n_trials"] == 20 and s["stop_reason"] == "exhausted" and sum(s["counts"].values()) == 20
    assert set(s["rung_sizes"]) == {"0"} and s["best"]["config"] is not None and s["warnings"] == {}
