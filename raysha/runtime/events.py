"""What the scheduler actor keeps for the driver's callbacks: a bounded buffer of trial events.

The scheduler actor only appends (a deque append per event: no I/O, no awaiting
anyone); the driver polls with `EventBuffer.take`, acknowledging what it has
handled, and runs the callbacks in its own process. Events are tuples:

* ``("start", trial_id, config)``  -- a new trial's first job was launched
* ``("report", row)``              -- one result row, exactly as written to the results
* ``("end", trial_id, status)``    -- the trial finished (once per trial), or, at the
  experiment's end, the status it was left in (``paused``, ``running``, ...)

When the driver falls behind by more than ``capacity`` events, the oldest are
dropped and counted (``missed``); the results on disk still have every row.
"""

from __future__ import annotations

import itertools
import uuid
from collections import deque
from typing import Iterable, Optional


class EventBuffer:
    """Trial events since the driver's last acknowledged poll, at most ``capacity`` of them.

    >>> b = EventBuffer(capacity=3)
    >>> b.trial_started(0, {"x": 1})
    >>> b.reported({"trial_id": 0, "epoch": 1})
    >>> batch = b.take(ack=0)
    >>> batch["seq"], batch["events"]
    (1, [('start', 0, {'x': 1}), ('report', {'trial_id': 0, 'epoch': 1})])
    >>> b.trial_ended(0, "completed"); b.trial_ended(0, "completed")   # once per trial
    >>> b.take(ack=2)["events"]
    [('end', 0, 'completed')]
    """

    def __init__(self, capacity: int = 100_000):
        if capacity < 1:
            raise ValueError(f"EventBuffer: capacity must be >= 1, got {capacity!r}")
        self.capacity = capacity
        self.instance = uuid.uuid4().hex     # a restarted scheduler actor has a new one: the driver resets
        self.events: deque = deque()
        self.next_seq = 1                    # the sequence number the next event gets
        self.missed = 0
        self.open: set[int] = set()          # trials started and not ended

    def _add(self, event: tuple) -> None:
        if len(self.events) >= self.capacity:
            self.events.popleft()
            self.missed += 1
        self.events.append(event)
        self.next_seq += 1

    def trial_started(self, trial_id: int, config: dict) -> None:
        self.open.add(trial_id)
        self._add(("start", trial_id, dict(config)))

    def reported(self, row: dict) -> None:
        self._add(("report", row))

    def trial_ended(self, trial_id: int, status: str) -> None:
        if trial_id in self.open:
            self.open.discard(trial_id)
            self._add(("end", trial_id, str(status)))

    def end_open_trials(self, statuses: Iterable[tuple]) -> None:
        """At the experiment's end: ``(trial_id, status)`` for trials still open (paused, running)."""
        for tid, status in statuses:
            self.trial_ended(tid, status)

    def take(self, ack: int, limit: Optional[int] = None, instance: Optional[str] = None) -> dict:
        """Forget the events up to sequence number ``ack``; the rest (at most ``limit``) in order.

        ``seq`` is the sequence number of the first returned event; ``missed`` counts the events
        dropped so far because the buffer was full; ``instance`` identifies this buffer: an ``ack``
        meant for another instance (the actor before a restart) acknowledges nothing here.
        """
        if instance is not None and instance != self.instance:
            ack = 0
        first = self.next_seq - len(self.events)
        for _ in range(min(len(self.events), max(0, ack - first + 1))):
            self.events.popleft()
        first = self.next_seq - len(self.events)
        n = len(self.events) if limit is None else min(limit, len(self.events))
        events = list(itertools.islice(self.events, n))
        return {"instance": self.instance, "seq": first, "events": events, "missed": self.missed}
