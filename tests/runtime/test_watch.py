"""EventFeed (the driver's side of callbacks): polled events become hook calls, in order, once each."""

import io

from raysha.callbacks import Callback, CallbackRunner, ExperimentInfo
from raysha.runtime import watch
from raysha.runtime.events import EventBuffer

INFO = ExperimentInfo(name="exp", folder="/nowhere", metric="loss", resource_attr="epoch")


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_trial_start(self, trial_id, config):
        self.calls.append(("start", trial_id, config))

    def on_report(self, trial_id, row):
        self.calls.append(("report", trial_id, row["epoch"]))

    def on_trial_end(self, trial_id, status, last_row):
        self.calls.append(("end", trial_id, status, last_row and last_row["epoch"]))

    def on_experiment_end(self, experiment):
        self.calls.append(("experiment_end", experiment))


def row(tid, epoch):
    return {"trial_id": tid, "epoch": epoch, "loss": 1.0 / epoch, "config_x": tid}


def test_events_reach_the_callbacks_in_the_order_the_actor_saw_them():
    buf, rec = EventBuffer(), Recorder()
    feed = watch.EventFeed(CallbackRunner([rec], INFO))
    buf.trial_started(0, {"x": 0})
    buf.reported(row(0, 1))
    buf.trial_started(1, {"x": 1})
    assert feed.poll(buf.take) == 3
    buf.reported(row(1, 1))
    buf.reported(row(0, 2))
    buf.trial_ended(0, "stopped")
    buf.end_open_trials([(1, "paused")])
    feed.drain(buf.take)
    feed.end("EXP")
    assert rec.calls == [("start", 0, {"x": 0}), ("report", 0, 1), ("start", 1, {"x": 1}),
                         ("report", 1, 1), ("report", 0, 2), ("end", 0, "stopped", 2),
                         ("end", 1, "paused", 1), ("experiment_end", "EXP")]
    assert feed.n_events == 7 and feed.ack == buf.next_seq - 1      # every event handled


def test_drain_catches_up_over_several_polls(monkeypatch):
    monkeypatch.setattr(watch, "BATCH", 10)
    buf, rec = EventBuffer(), Recorder()
    feed = watch.EventFeed(CallbackRunner([rec], INFO))
    for e in range(1, 36):
        buf.reported(row(0, e))
    assert feed.drain(buf.take) == 35
    assert [c[2] for c in rec.calls if c[0] == "report"] == list(range(1, 36))


def test_a_restarted_actor_replays_rows_that_are_not_reported_twice():
    old, rec = EventBuffer(), Recorder()
    feed = watch.EventFeed(CallbackRunner([rec], INFO))
    old.trial_started(0, {"x": 0})
    old.reported(row(0, 1))
    old.reported(row(0, 2))
    feed.poll(old.take)
    new = EventBuffer()                      # the actor restarted from its journal (epoch 1 committed)
    new.trial_started(0, {"x": 0})
    new.reported(row(0, 2))
    new.reported(row(0, 3))
    feed.poll(new.take)
    assert [c for c in rec.calls if c[0] != "start"] == [("report", 0, 1), ("report", 0, 2), ("report", 0, 3)]
    assert [c for c in rec.calls if c[0] == "start"] == [("start", 0, {"x": 0})]


def test_missed_events_are_said_once():
    buf, err = EventBuffer(capacity=2), io.StringIO()
    feed = watch.EventFeed(CallbackRunner([Recorder()], INFO), err=err)
    for e in range(1, 6):
        buf.reported(row(0, e))
    feed.poll(buf.take)
    feed.poll(buf.take)
    assert err.getvalue().count("missed 3 event(s)") == 1
