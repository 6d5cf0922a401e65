"""The scheduler actor's stop, its end, and its account of the run (`RunEnd`, a base of `Controller`).

A stop (time up, a stop criterion, the failure policy, storage, Ctrl-C) ends the
dispatch of new jobs; running trials end at their next report. The end writes
the final journal with the run's summary. While and after it runs, the driver
reads `status` (the progress display), `summary` (everything the run did) and
`poll_events` (the trial events for its callbacks). The state these read lives
in the controller's parts; `RunEnd` only gathers it.
"""

from __future__ import annotations

from typing import Optional

from raysha.ledger import EXHAUSTED, STALLED


class RunEnd:
    """How the scheduler actor's run stops and ends, and what it tells the driver.

    >>> from raysha.runtime.controller import Controller
    >>> from raysha.runtime.settings import ControllerSettings
    >>> from raysha.schedulers.fifo import RandomSearch
    >>> c = Controller(RandomSearch({"x": 0.5}, metric="loss", max_t=2), None, ControllerSettings())
    >>> c.request_stop("requested")
    >>> c.status()["stopping"], c.status()["stop_reason"]
    (True, 'requested')
    """

    def request_stop(self, reason: str = "requested") -> None:
        """Stop the experiment: no new jobs, running trials end at their next report."""
        self._begin_stop(reason)

    def _stop_if_due(self, now: float) -> None:
        """Stop when storage failed too long (or the lease was lost), or when the time is up."""
        if not self.stopping and self.journal.broken:
            self._begin_stop("storage failed")
        if not self.stopping and self.stop.time_up(now):
            self._begin_stop("max_wallclock_time")

    def _over_when_idle(self) -> bool:
        """No job runs: True when the run is over (all done, stopped, stuck, or no trial actor could start)."""
        if self.stopping or (self.done and not self.failures.retry_queue):
            return True
        if self.pool.free:  # nothing runs and the scheduler waits for nothing: it is stuck
            self._begin_stop(STALLED)
            return True
        if not self.pool.starting:
            self._begin_stop("no trial actor could start")
            return True
        return False

    def _begin_stop(self, reason: str) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.stop_reason = reason
        self.stop_t = self._now()
        # the journal keeps the state at the stop (time up, Ctrl-C, ...): a restore re-runs the trials
        # running now from their checkpoints; what they report until they end is in the results of
        # this run, and a restore drops and re-produces it
        if not self.finished and self.journal.keep_at_stop():
            self.ckpts.freeze()
        self._wake.set()

    def _journal_state(self) -> dict:
        return {"elapsed": self._now() if not self.finished else self.elapsed, "finished": self.finished,
                "n_restarts": self.resumed.n_restarts, "scheduler": self.scheduler.state_dict(),
                "checkpoints": self.ckpts.index(), "finals": self.ckpts.finals, "redo": self.redo.remaining(),
                **self.ledger.state(),
                "running": {str(rj.trial_id): {"start": rj.job.start, "until": rj.job.until} for rj in self.jobs}}

    def _finish(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.elapsed = self._now()
        if self.stop_reason is None and self.done:
            self.stop_reason = EXHAUSTED
        for tid in self.failures.drop_retries():   # failed jobs never run again: the run stopped first
            self.scheduler.on_trial_end(tid, "interrupted")
        self.pool.kill_all()
        if self.events is not None:   # trials left paused or running end with the status they have
            self.events.end_open_trials((t, self.scheduler.trials[t].status.value)
                                        for t in sorted(self.events.open) if t in self.scheduler.trials)
        self.journal.finish(self.ledger.summary(
            self.scheduler, elapsed=self.elapsed, stop_reason=self.stop_reason,
            n_failed_jobs=len(self.failures.failures), best_checkpoints=self.ckpts.best_finals(),
            **self._failure_summary()))
        # trials still paused keep their durable copies (for restore); object refs go with this actor

    # -- what the driver reads ----------------------------------------------------------------
    def status(self) -> dict:
        """What the progress display shows: counts, results, running trials, best, rungs."""
        sched = self.scheduler
        try:
            rungs = sched.rung_sizes()
        except Exception:   # a progress display, never worth failing the run for
            rungs = None
        return {
            "elapsed": self._now() if not self.finished else self.elapsed,
            "counts": sched.counts(), "n_results": self.ledger.n_results, "n_started": self.ledger.n_started,
            "running": self.jobs.running(), "best": self.ledger.best.as_dict(), "metric": self.metric, "mode": sched.mode,
            "rungs": rungs, "n_workers": self.settings.n_workers, "stopping": self.stopping,
            "stop_reason": self.stop_reason, "finished": self.finished, "n_paused_checkpoints": len(self.ckpts),
        }

    def summary(self) -> dict:
        """`status` plus everything the run did: job log, failures, checkpoints, counters, warnings."""
        out = self.status()
        out.update(scheduler_state=self.scheduler.state_dict(), worker_info=self.pool.info,
                   failures=self.failures.failures, job_log=self.ended.log, ckpt_sources=self.ended.ckpt_sources,
                   n_dropped=self.tally["dropped"], n_reports=self.tally["reports"],
                   n_report_calls=self.tally["report_calls"], n_duplicates=self.tally["duplicates"],
                   checkpoints=self.ckpts.index(), n_checkpoints_freed=self.ckpts.n_freed,
                   startup_s=self.startup_s, n_restarts=self.resumed.n_restarts, reconciled=self.resumed.reconciled,
                   warnings=dict(self.ledger.warnings), storage_error=self.journal.broken,
                   storage_failures=self.journal.n_failed_writes, best_checkpoints=self.ckpts.best_finals(),
                   **self._failure_summary())
        return out

    def _failure_summary(self) -> dict:
        """failed_trials; failure_stop_reason and first_failure when the failure policy ended the run."""
        reason = self.failures.stop_reason
        return self.failures.summary(ended_the_run=reason is not None and self.stop_reason == reason)

    def poll_events(self, ack: int, limit: Optional[int] = None, instance: Optional[str] = None) -> dict:
        """The trial events since the driver's last poll (`raysha.runtime.events.EventBuffer.take`)."""
        if self.events is None:
            return {"instance": None, "seq": 1, "events": [], "missed": 0}
        return self.events.take(ack, limit, instance)
