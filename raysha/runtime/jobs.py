"""The scheduler actor's job table: which job runs on which trial actor, and the message that launches it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator, Optional

from raysha.schedulers.base import Job, JobKind


@dataclass
class RunningJob:
    """One job running on a trial actor, as the scheduler actor tracks it.

    >>> from raysha.schedulers.base import Job, JobKind
    >>> rj = RunningJob(key=0, worker=1, job=Job(JobKind.START, 7, {}, 0, 3, (1, 3)), t0=0.0)
    >>> rj.trial_id, rj.next_seq, rj.final
    (7, 0, None)
    """

    key: int
    worker: int
    job: Job
    t0: float
    next_seq: int = 0
    pending: dict = field(default_factory=dict)    # seq -> rows that arrived early
    waiters: dict = field(default_factory=dict)    # seq -> future answered once that batch is processed
    final: Optional[str] = None                    # the decision that ended the job ("pause"/"stop")
    reached: float = -math.inf                     # the largest level of this job the scheduler has seen
    attempt: int = 0                               # 0: first run of this job; n: its n-th retry after a failure
    last_report: float = -math.inf                 # when its latest report batch was processed
    timed_out: Optional[tuple] = None              # ("trial"/"report", why) when a timeout ended it

    @property
    def trial_id(self) -> int:
        return self.job.trial_id


class JobTable:
    """The running jobs by key, by trial actor and by trial; keys are never reused.

    >>> from raysha.schedulers.base import Job, JobKind
    >>> table = JobTable()
    >>> rj = table.add(worker=0, job=Job(JobKind.START, 4, {}, 0, 1, (1,)), now=0.0)
    >>> table.get(rj.key) is rj, table.for_trial(4) is rj, table.running()
    (True, True, {0: 4})
    >>> table.remove(rj); len(table), table.n_launched
    (0, 1)
    """

    def __init__(self):
        self._jobs: dict[int, RunningJob] = {}
        self._by_worker: dict[int, int] = {}
        self._by_trial: dict[int, int] = {}
        self.n_launched = 0

    def add(self, worker: int, job: Job, now: float, attempt: int = 0) -> RunningJob:
        rj = RunningJob(self.n_launched, worker, job, now, attempt=attempt)
        self.n_launched += 1
        self._jobs[rj.key] = rj
        self._by_worker[worker] = rj.key
        self._by_trial[job.trial_id] = rj.key
        return rj

    def remove(self, rj: RunningJob) -> None:
        self._jobs.pop(rj.key, None)
        if self._by_worker.get(rj.worker) == rj.key:
            del self._by_worker[rj.worker]
        if self._by_trial.get(rj.trial_id) == rj.key:
            del self._by_trial[rj.trial_id]

    def get(self, key: int) -> Optional[RunningJob]:
        return self._jobs.get(key)

    def for_trial(self, trial_id: int) -> Optional[RunningJob]:
        key = self._by_trial.get(trial_id)
        return None if key is None else self._jobs.get(key)

    def running(self) -> dict[int, int]:
        """{trial actor index: trial id} of the running jobs."""
        return {w: self._jobs[k].trial_id for w, k in self._by_worker.items() if k in self._jobs}

    def __len__(self) -> int:
        return len(self._jobs)

    def __iter__(self) -> Iterator[RunningJob]:
        return iter(list(self._jobs.values()))


def job_message(key: int, job: Job, checkpoint: Any = None) -> dict:
    """What `TrialWorker.run` gets: the job, plus where a RESUME's checkpoint is (a `checkpoints.Entry`).

    >>> from raysha.schedulers.base import Job, JobKind
    >>> msg = job_message(5, Job(JobKind.START, 2, {"lr": 0.1}, 0, 3, (1, 3)))
    >>> msg["key"], msg["kind"], msg["milestones"], "ckpt_ref" in msg
    (5, 'start', (1, 3), False)
    """
    msg = {"key": key, "kind": job.kind.value, "trial_id": job.trial_id, "config": job.config,
           "start": job.start, "until": job.until, "milestones": tuple(job.milestones),
           "bracket": job.bracket}
    if job.kind == JobKind.RESUME and checkpoint is not None:
        msg["ckpt_ref"] = [checkpoint.ref] if checkpoint.ref is not None else None
        msg["ckpt_durable"] = checkpoint.durable
        # older than the job's start when the trial's last pause never returned its checkpoint
        msg["ckpt_resource"] = checkpoint.resource
    return msg


def job_log_entry(rj: RunningJob, info: dict, status: str, restored_from: Optional[str]) -> dict:
    """The summary's record of an ended job: how it ended and where its checkpoint came from."""
    return {"trial_id": rj.trial_id, "kind": rj.job.kind.value, "worker": rj.worker, "start": rj.job.start,
            "status": status, "final": rj.final, "ckpt_source": info.get("ckpt_source"),
            "ckpt_lost": info.get("ckpt_lost"), "ckpt_error": info.get("ckpt_error"), "attempt": rj.attempt,
            "restored_from": restored_from, "ckpt_resource": info.get("ckpt_resource")}


def job_span(rj: RunningJob, info: dict, status: str, restored_from: Optional[str], end: float,
             node: Optional[str]) -> dict:
    """The results' record of an ended job (one row of ``jobs``: the worker timeline)."""
    return {"worker": rj.worker, "trial_id": rj.trial_id, "start": rj.t0, "end": end,
            "start_resource": rj.job.start, "end_resource": info.get("last_resource", rj.job.start),
            "kind": rj.job.kind.value, "end_reason": rj.final or status, "attempt": rj.attempt,
            "restored_from": restored_from, "node": node}


def restored_from(rj: RunningJob, info: dict) -> Optional[str]:
    """Where a resumed job's state came from: memory / object / durable / scratch (unknown: its actor died)."""
    if rj.job.kind != JobKind.RESUME:
        return None
    return info.get("ckpt_source") or ("unknown" if info.get("worker_died") else "scratch")


def raised_job_info(error: BaseException, rj: RunningJob, stopping: bool, actor_died: bool) -> dict:
    """What stands for a job's result when it raised: its actor died (or was killed), or ``run`` itself raised.

    >>> from raysha.schedulers.base import Job, JobKind
    >>> rj = RunningJob(key=0, worker=1, job=Job(JobKind.START, 7, {}, 0, 3, (1, 3)), t0=0.0)
    >>> info = raised_job_info(ValueError("nan"), rj, stopping=False, actor_died=False)
    >>> info["status"], info["error"], "worker_died" in info
    ('failed', 'ValueError: nan', False)
    """
    info = {"status": "interrupted" if stopping else "failed", "tail": [], "tail_seq": None,
            "error": f"{type(error).__name__}: {error}"}
    if actor_died:
        info["worker_died"] = True
    if rj.timed_out is not None:   # the scheduler actor killed it
        info.update(status="failed", error=f"TrialTimeout: {rj.timed_out[1]}", timed_out=rj.timed_out[0])
    return info


class EndedJobs:
    """The summary's log of ended jobs, and how often each checkpoint source served a resume.

    >>> from raysha.schedulers.base import Job, JobKind
    >>> ended = EndedJobs()
    >>> rj = RunningJob(key=0, worker=1, job=Job(JobKind.RESUME, 7, {}, 1, 3, (3,)), t0=0.0)
    >>> ended.add(rj, {"ckpt_source": "memory"}, "completed")
    'memory'
    >>> len(ended.log), ended.ckpt_sources
    (1, {'memory': 1})
    """

    def __init__(self):
        self.log: list[dict] = []
        self.ckpt_sources: dict[str, int] = {}

    def add(self, rj: RunningJob, info: dict, status: str) -> Optional[str]:
        """Log an ended job; where its state came from (`restored_from`)."""
        src = info.get("ckpt_source")
        if src:
            self.ckpt_sources[src] = self.ckpt_sources.get(src, 0) + 1
        came_from = restored_from(rj, info)
        self.log.append(job_log_entry(rj, info, status, came_from))
        return came_from
