"""Failed jobs under the failure policy: a retry, a FAILED trial with its tracebacks, or the experiment's end.

A job fails when its trainable raises (a bad checkpoint or resource level at a
report included), its trial actor dies, or it runs past a timeout. The run's
`FailureLedger` (`raysha.runtime.failure_policy`) decides what follows: the
trial runs again (on any free trial actor, before new work) from the
scheduler's `retry_job` (a RESUME up to the same level, starting past the levels
the scheduler has seen: those reports are never sent twice); or it is FAILED
and its tracebacks go to ``<experiment>/errors/trial_<id>.txt``; or the
experiment ends (`stop_reason`). A dead trial actor is always replaced: its
death is a failed job, so the policy bounds the replacements.

Timeouts: ``trial_timeout_s`` bounds a trial's running time summed over its
jobs (past it, the trial is FAILED without a retry); ``report_timeout_s``
bounds the time a running job goes without a report (from its start, then
between reports; a failed job retried under the policy). The scheduler actor
kills the actor of an overdue job (`overdue`) and replaces it.
"""

from __future__ import annotations

import math
import traceback
from typing import Iterable, Iterator, Optional

from raysha.runtime.failure_policy import FailurePolicy, Verdict
from raysha.runtime.jobs import RunningJob
from raysha.schedulers.base import Job


class FailureHandler:
    """Failed jobs and timeouts, counted under a `FailurePolicy`.

    >>> from raysha.schedulers.fifo import RandomSearch
    >>> from raysha.runtime.jobs import JobTable
    >>> sched = RandomSearch({"x": 0.5}, metric="loss", max_t=3)
    >>> rj = JobTable().add(0, sched.next_job(0.0), 0.0)
    >>> rj.reached = 1                                   # the scheduler saw epoch 1, then the trainable raised
    >>> fh = FailureHandler(FailurePolicy(max_failures=1), folder=None)
    >>> fh.on_failed_job(sched, rj, {"error": "ValueError: nan", "status": "failed"}, stopping=False)
    True
    >>> job, attempt = fh.next_retry(); job.kind.value, job.start, job.until, attempt
    ('resume', 1, 3, 1)
    >>> fh = FailureHandler(FailurePolicy(), folder=None, report_timeout_s=30)
    >>> fh.overdue(rj, now=31.0)
    ('report', 'trial 0 sent no report for 31 s (report_timeout_s=30)')
    """

    def __init__(self, policy: FailurePolicy, folder, trial_timeout_s: Optional[float] = None,
                 report_timeout_s: Optional[float] = None):
        self.policy = policy
        self.ledger = policy.ledger()
        self.folder = folder
        self.trial_timeout_s = trial_timeout_s
        self.report_timeout_s = report_timeout_s
        self.retry_queue: list[tuple[Job, int]] = []   # (job to run again, attempt number)
        self.failures: list[dict] = []         # every failed job: trial, worker, error, attempt
        self.trial_time: dict[int, float] = {}   # trial_id -> seconds its ended jobs ran

    @property
    def failed_trials(self) -> list[int]:
        return self.ledger.failed_trials

    @property
    def stop_reason(self) -> Optional[str]:
        """Why the policy ends the experiment (None: it goes on)."""
        return self.ledger.stop_reason

    def on_failed_job(self, scheduler, rj: RunningJob, info: dict, stopping: bool) -> bool:
        """A job failed: True when it is queued to run again; False: the trial has failed."""
        tid = rj.trial_id
        retry = None
        if not stopping and info.get("timed_out") != "trial":
            job = rj.job
            start = max(job.start, rj.reached) if math.isfinite(rj.reached) else job.start
            retry = scheduler.retry_job(tid, start)
        verdict = self.ledger.job_failed(tid, info.get("error"), can_retry=retry is not None)
        if verdict == Verdict.RETRY:
            self.retry_queue.append((retry, rj.attempt + 1))
            return True
        return False

    def reported(self) -> None:
        """A report was recorded: the streak of failed trials ends."""
        self.ledger.reported()

    def record(self, rj: RunningJob, info: dict, stopping: bool) -> None:
        """Log a failed job (the summary lists it; its error is printed unless the run is stopping)."""
        self.failures.append({"trial_id": rj.trial_id, "worker": rj.worker, "error": info.get("error"),
                              "attempt": rj.attempt, "worker_died": bool(info.get("worker_died"))})
        if not stopping and info.get("error"):
            print(f"raysha: trial {rj.trial_id} failed on worker {rj.worker} (attempt {rj.attempt + 1}):\n"
                  f"{info['error']}", flush=True)

    def next_retry(self) -> Optional[tuple[Job, int]]:
        return self.retry_queue.pop(0) if self.retry_queue else None

    def drop_retries(self) -> list[int]:
        """The run ends: failed jobs never run again; their trials (to mark interrupted)."""
        tids = [job.trial_id for job, _ in self.retry_queue]
        self.retry_queue = []
        return tids

    # -- timeouts ---------------------------------------------------------------------------
    def overdue(self, rj: RunningJob, now: float) -> Optional[tuple[str, str]]:
        """(``"trial"`` or ``"report"``, why) when running job `rj` is past a timeout, else None."""
        tid = rj.trial_id
        if self.trial_timeout_s is not None:
            spent = self.trial_time.get(tid, 0.0) + now - rj.t0
            if spent > self.trial_timeout_s:
                return "trial", f"trial {tid} ran {spent:.0f} s, past trial_timeout_s={self.trial_timeout_s:g}"
        if self.report_timeout_s is not None:
            quiet = now - max(rj.t0, rj.last_report)
            if quiet > self.report_timeout_s:
                return "report", (f"trial {tid} sent no report for {quiet:.0f} s "
                                  f"(report_timeout_s={self.report_timeout_s:g})")
        return None

    def newly_overdue(self, jobs: Iterable[RunningJob], now: float) -> Iterator[RunningJob]:
        """The running jobs that have just gone past a timeout (each once: its ``timed_out`` is set)."""
        for rj in jobs:
            if rj.timed_out is None:
                rj.timed_out = self.overdue(rj, now)
                if rj.timed_out is not None:
                    yield rj

    def job_ended(self, rj: RunningJob, now: float) -> None:
        self.trial_time[rj.trial_id] = self.trial_time.get(rj.trial_id, 0.0) + now - rj.t0

    # -- the record ---------------------------------------------------------------------------
    def trial_failed(self, tid: int) -> None:
        """The trial is FAILED: save its tracebacks in errors/trial_<id>.txt."""
        if self.folder is None:
            return
        errors = [f for f in self.failures if f["trial_id"] == tid]
        lines = [f"trial {tid} failed {self.ledger.failures.get(tid, 1)} time(s) "
                 f"(max_failures={self.policy.max_failures})\n"]
        for e in errors:
            lines.append(f"\n--- attempt {e['attempt'] + 1} on worker {e['worker']}"
                         f"{' (the trial actor died)' if e.get('worker_died') else ''} ---\n{e.get('error')}\n")
        try:
            self.folder.write(f"errors/trial_{tid}.txt", "".join(lines).encode())
        except Exception:
            traceback.print_exc()

    def summary(self, ended_the_run: bool) -> dict:
        """The summary's failure fields; ``failure_stop_reason`` only when the policy ended the run."""
        out = self.ledger.summary()
        if not ended_the_run:
            out.update(failure_stop_reason=None, first_failure=None)
        return out
