"""Continuing an experiment on the scheduler actor: its journal loaded into the parts, running trials re-run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from raysha.schedulers.base import Job


@dataclass
class Continued:
    """What a journal gives a continued run besides the parts' state (a fresh run: the defaults).

    >>> Continued().n_restarts, Continued(elapsed=40.0, n_restarts=1).elapsed
    (0, 40.0)
    """

    elapsed: float = 0.0                               # seconds the experiment ran before
    n_restarts: int = 0                                # continuations so far, this one included
    reconciled: list = field(default_factory=list)     # parts and durable copies removed (newer than it)
    relaunch: list = field(default_factory=list)       # jobs of the trials that were running, to run first


def continue_from(state: dict, scheduler, ledger, ckpts, journal, checkpoint_dir: Optional[str]) -> Continued:
    """Load a journal ``state`` (``scheduler_state.json``) into the scheduler and the runner's parts.

    Results and state agree afterwards: parts and durable copies written after the
    snapshot are removed (their reports come again). Paused trials keep their durable
    checkpoints; the trials that were running get their jobs again (`relaunch_job`).
    """
    ckpts.load(state.get("checkpoints"), state.get("finals"))
    reconciled = journal.reconcile(state, checkpoint_dir)
    if state.get("scheduler"):
        scheduler.load_state_dict(state["scheduler"])
    ledger.load(state)
    relaunch = [relaunch_job(scheduler, ledger, t) for t in scheduler.running_trial_ids()]
    return Continued(float(state.get("elapsed") or 0.0), int(state.get("n_restarts") or 0) + 1, reconciled,
                     [job for job in relaunch if job is not None])


def relaunch_job(scheduler, ledger, trial_id: int) -> Optional[Job]:
    """The job of a trial that was running when the run was interrupted.

    The scheduler's RESUME up to the same ``until``, starting at the level the results
    hold (reports up to it are dropped by the trial's session, never logged twice); the
    worker loads the trial's last checkpoint and replays the levels between it and
    ``start`` silently, or trains from scratch when the trial has none.

    >>> from raysha.ledger import Ledger
    >>> from raysha.schedulers.fifo import RandomSearch
    >>> from raysha.stop import StopCriterion
    >>> sched = RandomSearch({"x": 0.5}, metric="loss", max_t=4)
    >>> led = Ledger(sched, StopCriterion())
    >>> _ = sched.next_job(0.0); _ = sched.on_report(0, 1, {"loss": 0.3}, 1.0); _ = led.record(0, 1, {"loss": 0.3})
    >>> job = relaunch_job(sched, led, 0); job.kind.value, job.start, job.until
    ('resume', 1, 4)
    """
    start = ledger.max_recorded.get(trial_id, 0)
    return scheduler.retry_job(trial_id, start) or scheduler.retry_job(trial_id, 0)
