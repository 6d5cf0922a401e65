"""EventBuffer (the scheduler actor's side of callbacks): ordered, acknowledged, bounded."""

import pytest

from raysha.runtime.events import EventBuffer


def test_acknowledged_events_are_forgotten_and_the_rest_come_again_in_order():
    b = EventBuffer()
    b.trial_started(0, {"x": 1})
    for e in (1, 2, 3):
        b.reported({"trial_id": 0, "epoch": e})
    first = b.take(ack=0)
    assert first["seq"] == 1 and [ev[0] for ev in first["events"]] == ["start", "report", "report", "report"]
    again = b.take(ack=2)            # the driver handled the first two only
    assert again["seq"] == 3 and [ev[1]["epoch"] for ev in again["events"]] == [2, 3]
    assert b.take(ack=4)["events"] == [] and len(b.events) == 0


def test_limit_returns_the_oldest_and_keeps_the_others():
    b = EventBuffer()
    for e in range(10):
        b.reported({"trial_id": 0, "epoch": e})
    part = b.take(ack=0, limit=4)
    assert [ev[1]["epoch"] for ev in part["events"]] == [0, 1, 2, 3]
    rest = b.take(ack=part["seq"] + 3)
    assert rest["seq"] == 5 and [ev[1]["epoch"] for ev in rest["events"]] == list(range(4, 10))


def test_a_full_buffer_drops_the_oldest_and_counts_them():
    b = EventBuffer(capacity=3)
    for e in range(5):
        b.reported({"trial_id": 0, "epoch": e})
    batch = b.take(ack=0)
    assert batch["missed"] == 2 and batch["seq"] == 3
    assert [ev[1]["epoch"] for ev in batch["events"]] == [2, 3, 4]


def test_a_trial_ends_once_and_only_after_it_started():
    b = EventBuffer()
    b.trial_ended(7, "stopped")                       # never started here: nothing
    b.trial_started(1, {})
    b.trial_started(2, {})
    b.trial_ended(1, "stopped")
    b.end_open_trials([(1, "completed"), (2, "paused")])
    ends = [ev for ev in b.take(ack=0)["events"] if ev[0] == "end"]
    assert ends == [("end", 1, "stopped"), ("end", 2, "paused")]


def test_an_ack_for_another_instance_acknowledges_nothing():
    b = EventBuffer()
    b.reported({"trial_id": 0, "epoch": 1})
    assert len(b.take(ack=50, instance="the-actor-before-its-restart")["events"]) == 1
    assert b.take(ack=1, instance=b.instance)["events"] == []


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity must be >= 1"):
        EventBuffer(capacity=0)
