"""Failed jobs: a retry from the trial's last checkpoint, a FAILED trial with its tracebacks, worker replacement.

A job fails when its trainable raises or its trial actor dies. The trial runs
again (on any free trial actor, before new work) up to ``max_failures`` times,
from the scheduler's `retry_job`: a RESUME up to the same level, starting past
the levels the scheduler has seen (those reports are never sent twice). A
trial failing more often is FAILED and its tracebacks go to
``<experiment>/errors/trial_<id>.txt``. A dead trial actor is replaced, up to
three times the number of actors in all.
"""

from __future__ import annotations

import math
import os
import traceback
from typing import Optional

from raysha.runtime.jobs import RunningJob
from raysha.schedulers.base import Job


class FailureHandler:
    """Today's failure rules: retry up to ``max_failures`` times per trial, replace dead actors.

    >>> from raysha.schedulers.fifo import RandomSearch
    >>> from raysha.runtime.jobs import JobTable
    >>> sched = RandomSearch({"x": 0.5}, metric="loss", max_t=3)
    >>> rj = JobTable().add(0, sched.next_job(0.0), 0.0)
    >>> rj.reached = 1                                   # the scheduler saw epoch 1, then the trainable raised
    >>> fh = FailureHandler(max_failures=1, n_workers=1, folder=None)
    >>> fh.on_failed_job(sched, rj, {"error": "ValueError: nan", "status": "failed"}, stopping=False)
    True
    >>> job, attempt = fh.next_retry(); job.kind.value, job.start, job.until, attempt
    ('resume', 1, 3, 1)
    """

    def __init__(self, max_failures: int, n_workers: int, folder: Optional[str]):
        self.max_failures = int(max_failures)
        self.n_workers = n_workers
        self.folder = folder
        self.n_failures: dict[int, int] = {}   # trial_id -> failed jobs so far
        self.retry_queue: list[tuple[Job, int]] = []   # (job to run again, attempt number)
        self.failed_trials: list[int] = []     # trials marked FAILED (more than max_failures)
        self.failures: list[dict] = []         # every failed job: trial, worker, error, attempt
        self.replacements = 0

    def on_failed_job(self, scheduler, rj: RunningJob, info: dict, stopping: bool) -> bool:
        """A job failed: True when it is queued to run again; False: the trial has failed."""
        tid = rj.trial_id
        n = self.n_failures.get(tid, 0) + 1
        self.n_failures[tid] = n
        if stopping or n > self.max_failures:
            return False
        job = rj.job
        start = max(job.start, rj.reached) if math.isfinite(rj.reached) else job.start
        retry = scheduler.retry_job(tid, start)
        if retry is None:
            return False
        self.retry_queue.append((retry, rj.attempt + 1))
        return True

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

    def may_replace(self, idx: int) -> bool:
        """May dead trial actor `idx` be replaced (at most 3 × n_workers replacements in a run)?"""
        if self.replacements >= 3 * self.n_workers:
            print(f"raysha: worker {idx} died; too many worker deaths, not replacing it", flush=True)
            return False
        self.replacements += 1
        return True

    def trial_failed(self, tid: int) -> None:
        """The trial failed more than max_failures times: save its tracebacks in errors/trial_<id>.txt."""
        self.failed_trials.append(tid)
        if self.folder is None:
            return
        errors = [f for f in self.failures if f["trial_id"] == tid]
        try:
            folder = os.path.join(self.folder, "errors")
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, f"trial_{tid}.txt"), "w") as f:
                f.write(f"trial {tid} failed {self.n_failures.get(tid, 1)} time(s) "
                        f"(max_failures={self.max_failures})\n")
                for e in errors:
                    f.write(f"\n--- attempt {e['attempt'] + 1} on worker {e['worker']}"
                            f"{' (the trial actor died)' if e.get('worker_died') else ''} ---\n")
                    f.write(str(e.get("error")) + "\n")
        except Exception:
            traceback.print_exc()
