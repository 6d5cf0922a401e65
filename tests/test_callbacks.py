"""CallbackRunner: polled batches become hook calls; a raising callback is reported once, not fatal."""

import io

import pytest

from raysha.callbacks import Callback, CallbackRunner, ExperimentInfo

INFO = ExperimentInfo(name="exp", folder="/nowhere", metric="loss", mode="min", resource_attr="epoch")


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_experiment_start(self, info):
        self.calls.append(("experiment_start", info.name))

    def on_trial_start(self, trial_id, config):
        self.calls.append(("start", trial_id, config))

    def on_report(self, trial_id, row):
        self.calls.append(("report", trial_id, row["epoch"]))

    def on_trial_end(self, trial_id, status, last_row):
        self.calls.append(("end", trial_id, status, last_row and last_row["epoch"]))

    def on_experiment_end(self, experiment):
        self.calls.append(("experiment_end", experiment))


def row(tid, epoch, loss, x):
    return {"trial_id": tid, "epoch": epoch, "loss": loss, "config_x": x, "decision": "continue"}


def test_batches_become_hooks_in_order_each_trial_started_and_ended_once():
    rec = Recorder()
    r = CallbackRunner([rec], INFO)
    r.feed(rows=[row(0, 1, 0.9, 0.1), row(1, 1, 0.8, 0.2)],
           trials={0: {"status": "running", "config": {"x": 0.1}}, 1: {"status": "running", "config": {"x": 0.2}},
                   2: {"status": "running", "config": {"x": 0.3}}})
    r.feed(rows=[row(0, 2, 0.7, 0.1)], trials={0: {"status": "completed"}, 1: {"status": "stopped"}})
    r.feed(trials={0: {"status": "completed"}, 1: {"status": "stopped"}})      # no repeated ends
    r.end("EXP", trials={"2": {"status": "paused"}})
    assert rec.calls == [
        ("experiment_start", "exp"),
        ("start", 0, {"x": 0.1}), ("report", 0, 1), ("start", 1, {"x": 0.2}), ("report", 1, 1),
        ("start", 2, {"x": 0.3}),
        ("report", 0, 2), ("end", 0, "completed", 2), ("end", 1, "stopped", 1),
        ("end", 2, "paused", None),
        ("experiment_end", "EXP"),
    ]


def test_a_raising_callback_is_reported_once_and_the_others_still_run():
    class Broken(Callback):
        def on_report(self, trial_id, row):
            raise RuntimeError("logger down")

    rec, err = Recorder(), io.StringIO()
    r = CallbackRunner([Broken(), rec], INFO, err=err)
    r.feed(rows=[row(0, e, 1.0 / e, 0.5) for e in range(1, 6)])
    r.end(None)
    text = err.getvalue()
    assert text.count("RuntimeError: logger down") == 1          # one traceback, not five
    assert "Broken.on_report raised" in text and "Broken (5 calls)" in text
    assert [c for c in rec.calls if c[0] == "report"] == [("report", 0, e) for e in range(1, 6)]


def test_not_a_callback_is_refused_naming_the_argument():
    with pytest.raises(TypeError, match="callbacks: expected raysha.callbacks.Callback"):
        CallbackRunner([print], INFO)
