"""Rows a repaired restore produces again: the trials' levels whose results parts were lost.

``Tuner.restore(path, repair=True)`` drops results parts that are missing or
unreadable; the journal says which (trial, level) rows they held
(``part_rows``), and keeps them as ``redo`` until they are in the results again.
Before anything else runs, each such trial is trained again from scratch up to the
highest lost level, on a job of its own that the scheduler never sees (its
decisions at those levels were taken already): only the lost levels are logged, once.

>>> r = Redo({"3": [1.0, 2.0]})
>>> job = r.next_job(lambda t: {"lr": 0.1}, "max_epochs")
>>> job.trial_id, job.start, job.until, job.config
(3, 0, 2.0, {'lr': 0.1, 'max_epochs': 2})
>>> r.take(3, 1.0), r.take(3, 1.0), r.answer(3), r.take(3, 2.0), r.answer(3), r.remaining()
(True, False, 'continue', True, 'stop', {})
"""

from __future__ import annotations

from typing import Callable, Optional

from raysha.schedulers.base import Job, JobKind, with_resource

_ATTEMPTS = 3


class Redo:
    """The lost levels of each trial, and the jobs that produce them again (see the module doc)."""

    def __init__(self, levels: Optional[dict]):
        self.levels = {int(t): {float(v) for v in lv} for t, lv in (levels or {}).items() if lv}
        self.queue = sorted(self.levels)
        self.running: set[int] = set()        # trials whose redo job runs
        self.attempts: dict[int, int] = {}

    @property
    def active(self) -> bool:
        """Redo jobs are waiting or running (nothing else is dispatched meanwhile)."""
        return bool(self.queue or self.running)

    def next_job(self, config_of: Callable[[int], dict], max_resource_attr: Optional[str]) -> Optional[Job]:
        """The next trial's job: from scratch (start 0) up to its highest lost level."""
        if not self.queue:
            return None
        tid = self.queue.pop(0)
        until = max(self.levels[tid])
        self.running.add(tid)
        self.attempts[tid] = self.attempts.get(tid, 0) + 1
        config = with_resource(dict(config_of(tid) or {}), max_resource_attr, until)
        return Job(JobKind.RESUME, tid, config, 0, until, (until,))

    def take(self, trial_id: int, resource) -> bool:
        """Is this row one of the lost ones (then it is logged, and not wanted again)?"""
        lost = self.levels.get(trial_id)
        if not lost or float(resource) not in lost:
            return False
        lost.discard(float(resource))
        return True

    def answer(self, trial_id: int) -> str:
        """What the redo job's trial does next: stop once none of its lost levels is left."""
        return "continue" if self.levels.get(trial_id) else "stop"

    def ended(self, trial_id: int) -> None:
        """The trial's redo job ended; it runs again (a few times at most) when levels are still missing."""
        self.running.discard(trial_id)
        if self.levels.get(trial_id) and self.attempts.get(trial_id, 0) < _ATTEMPTS:
            self.queue.append(trial_id)
        elif not self.levels.get(trial_id):
            self.levels.pop(trial_id, None)

    def remaining(self) -> dict:
        """{trial_id: [levels]} still to produce (the journal keeps it: a crash meanwhile loses nothing)."""
        return {str(t): sorted(lv) for t, lv in self.levels.items() if lv}
