"""The driver's side of callbacks: poll the scheduler actor's event buffer, feed a `CallbackRunner`.

``fetch(ack, limit, instance)`` asks the scheduler actor for its events after
acknowledging those up to ``ack`` (`raysha.runtime.events.EventBuffer.take`, over
Ray in `Tuner.fit`). All callback work happens here, in the driver: the scheduler
actor only appends to a deque.
"""

from __future__ import annotations

import sys
from typing import Callable, Optional

from raysha.callbacks import CallbackRunner

#: events asked for per poll (a driver that fell behind catches up over several polls)
BATCH = 20_000


class EventFeed:
    """Turns the scheduler actor's events into callback calls, in order, each event once.

    >>> from raysha.callbacks import Callback, CallbackRunner, ExperimentInfo
    >>> from raysha.runtime.events import EventBuffer
    >>> class Print(Callback):
    ...     def on_report(self, trial_id, row):
    ...         print("report", trial_id, row["epoch"])
    ...     def on_trial_end(self, trial_id, status, last_row):
    ...         print("end", trial_id, status)
    >>> buf = EventBuffer()
    >>> feed = EventFeed(CallbackRunner([Print()], ExperimentInfo("demo", "/tmp/demo")))
    >>> buf.trial_started(0, {"x": 1}); buf.reported({"trial_id": 0, "epoch": 1, "config_x": 1})
    >>> feed.poll(buf.take)
    report 0 1
    2
    >>> buf.trial_ended(0, "completed")
    >>> feed.drain(buf.take)
    end 0 completed
    1
    """

    def __init__(self, runner: CallbackRunner, err=None):
        self.runner = runner
        self.err = err or sys.stderr
        self.ack = 0                       # the last event handled
        self.instance: Optional[str] = None
        self.missed = 0
        self.n_events = 0

    def poll(self, fetch: Callable[..., dict]) -> int:
        """One poll: handle the events the scheduler actor has for us; returns how many."""
        batch = fetch(self.ack, BATCH, self.instance)
        # a restarted scheduler actor numbers its events from 1 again (replayed rows are skipped)
        if batch["instance"] != self.instance:
            self.instance, self.missed = batch["instance"], 0
        for event in batch["events"]:
            self._handle(event)
        self.ack = batch["seq"] + len(batch["events"]) - 1
        self.n_events += len(batch["events"])
        if batch["missed"] > self.missed:
            print(f"raysha: callbacks fell behind and missed {batch['missed'] - self.missed} event(s) "
                  f"(the results folder has every row)", file=self.err, flush=True)
            self.missed = batch["missed"]
        return len(batch["events"])

    def drain(self, fetch: Callable[..., dict]) -> int:
        """Poll until the scheduler actor has nothing more (at the experiment's end)."""
        total = 0
        while True:
            n = self.poll(fetch)
            total += n
            if n < BATCH:
                return total

    def _handle(self, event: tuple) -> None:
        kind = event[0]
        if kind == "report":
            self.runner.reported(event[1])
        elif kind == "start":
            self.runner.trial_started(int(event[1]), event[2])
        elif kind == "end":
            self.runner.trial_ended(int(event[1]), event[2])

    def end(self, experiment) -> None:
        """``on_experiment_end`` (trials never ended by an event end as ``paused``)."""
        self.runner.end(experiment)
