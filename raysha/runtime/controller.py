"""The scheduler actor: one asyncio actor that owns the scheduler, the checkpoints and the results.

It dispatches jobs to the trial actors (``worker.run.remote(job)``), so the
values the jobs return, paused trials' checkpoints among them, are owned by this
actor and outlive the trial actors. While jobs run it serves their reports.

`Controller` is the dispatch loop over parts with one job each (`raysha.runtime`
lists them): trial actors, the job table, report sequencing, the ledger, the
checkpoint lifecycle, failure handling, the journal writer, and its base `RunEnd`
(`raysha.runtime.finish`): the run's stop and end, its status and summary.

Every call into the scheduler (`next_job`, `on_report`, `on_trial_end`) happens in
synchronous code that never awaits midway, so on the single asyncio thread two
decisions can never interleave. The only awaits are before processing (waiting
for an earlier batch of the same job that arrived late) and for job results.
The runtime never builds a job itself and reads nothing of the scheduler but
its contract (`raysha.schedulers.base`).

It is the only writer of results: one row per report, flushed as a parquet part
every ``flush_every`` seconds and at the end, each flush followed by a snapshot
of its state in the experiment's journal (`raysha.runtime.journal`), so results
and state always agree; on start it loads the journal it finds in its folder
(``Tuner.restore``, or Ray restarting this actor after a crash).
"""

from __future__ import annotations

import asyncio
import time
import traceback
from typing import Optional

from raysha.ledger import Ledger, plain_scalars, result_row
from raysha.runtime.actors import WorkerPool
from raysha.runtime import trial_logs
from raysha.runtime.checkpoint_lifecycle import CheckpointLifecycle
from raysha.runtime.events import EventBuffer
from raysha.runtime.failures import FailureHandler
from raysha.runtime.finish import RunEnd
from raysha.runtime.jobs import EndedJobs, JobTable, RunningJob, job_message, job_span, raised_job_info
from raysha.runtime.journal_writer import JournalWriter
from raysha.runtime.redo import Redo
from raysha.runtime.reports import ReportSequencer
from raysha.runtime.resume import Continued, continue_from
from raysha.runtime.settings import ControllerSettings
from raysha.schedulers.base import Decision, Job, JobKind

_TICK_S = 0.5   # the dispatch loop looks at the clock at least this often


class Controller(RunEnd):
    """The scheduler actor (``ray.remote(Controller)``, an asyncio actor); `run` drives the experiment.

    Without Ray it serves reports for jobs it knows, which is how its report path is tested:

    >>> from raysha.schedulers.fifo import RandomSearch
    >>> c = Controller(RandomSearch({"x": 0.5}, metric="loss", max_t=2), None, ControllerSettings())
    >>> c.status()["n_results"], c.status()["stopping"]
    (0, False)
    """

    def __init__(self, scheduler, trainable, settings: ControllerSettings):
        self.scheduler = scheduler
        self.settings = s = settings
        self.attr = scheduler.resource_attr
        self.metric = scheduler.metric
        self.stop = s.stop
        self.pool = WorkerPool(trainable, self.attr, s)
        self.jobs = JobTable()
        self.reports = ReportSequencer(self._process, self._answer, self._wake_up)
        self.ckpts = CheckpointLifecycle(s.checkpoint_dir, s.journaling, s.keep_checkpoints)
        self.failures = FailureHandler(s.failure_policy, s.folder, s.trial_timeout_s, s.report_timeout_s)
        self.journal = JournalWriter(s.folder, s.metadata, s.flush_every, self._journal_state, self.ckpts.after_journal,
                                     s.storage_timeout_s, s.lease)
        self.last_loss: dict[int, float] = {}            # trial_id -> loss of its latest report
        self.deferred: dict[int, tuple[int, Job]] = {}   # trial_id -> (reserved worker, its RESUME job)
        self.ledger = Ledger(scheduler, self.stop)       # rows, best, stop criteria, warnings
        # trial events for the driver's callbacks (poll_events), kept only when it has callbacks
        self.events: Optional[EventBuffer] = EventBuffer() if s.events else None
        self.tally = dict.fromkeys(("reports", "report_calls", "dropped", "duplicates"), 0)
        self.ended = EndedJobs()                         # the job log, checkpoint sources
        # the run
        self.stopping = self.done = self.started = self.finished = False
        self.stop_reason: Optional[str] = None
        self.stop_t = self.startup_s = self.elapsed = None
        self._wake = asyncio.Event()
        state = self.journal.found() or s.resume_state   # a restore, or Ray restarted this actor
        self.resumed = continue_from(state, scheduler, self.ledger, self.ckpts, self.journal, s.checkpoint_dir) \
            if state else Continued()
        self.t0 = time.monotonic() - self.resumed.elapsed   # a continued run counts the time already spent
        self.redo = Redo((state or {}).get("redo"))      # rows of lost parts, produced again first
        self.redo_keys: set[int] = set()                 # the jobs doing that

    # -- the main loop ---------------------------------------------------------------------
    async def run(self, trainable=None, shared_refs: Optional[dict] = None) -> dict:
        """Run the experiment to its end; the summary.

        The `Tuner` passes the trainable and the shared objects' refs here rather than to the
        constructor: Ray keeps an actor's constructor arguments for its restarts, and refs or
        large objects among them make it warn that a restart could fail (the driver calls `run`
        again after a restart, with the same arguments).
        """
        if self.started:
            raise RuntimeError("this scheduler actor already ran")
        self.started = True
        if trainable is not None:
            self.pool.trainable = trainable
        if shared_refs is not None:
            self.settings.shared_refs = shared_refs
        self._wake = asyncio.Event()
        self.t0 = time.monotonic() - self.resumed.elapsed
        self.journal.restart_clock(self.resumed.elapsed)
        try:
            self._start_workers()
            while True:
                now = self._now()
                if self._step(now):
                    break
                await self._sleep(now)
        finally:
            self._finish()
            while not self.journal.done:   # storage failing at the end: retry until it works or times out
                await asyncio.sleep(self.journal.retry_in())
                self.journal.complete()
            await self.ckpts.wait_deletes()   # durable copies of freed checkpoints are gone first
        return self.summary()

    def _step(self, now: float) -> bool:
        """One turn of the dispatch loop; True when the run is over."""
        retries = bool(self.failures.retry_queue)
        self._stop_if_due(now)
        if not self.stopping and (not self.done or retries):
            self._dispatch()
        if not len(self.jobs) and self._over_when_idle():
            return True
        if self.stopping and len(self.jobs) and now - self.stop_t > self.settings.stop_grace_s:
            for rj in self.jobs:
                self.pool.kill(rj.worker)
        elif not self.stopping:
            self._end_overdue(now)
        mark = (self.tally["reports"], self.jobs.n_launched, len(self.ended.log), self.stopping)
        self.journal.periodic(now, mark, force=self.ckpts.deletes_pending)
        return False

    def _end_overdue(self, now: float) -> None:
        """Kill the actors of jobs past a timeout; each job then fails (`_await_job`) and its actor is replaced."""
        for rj in self.failures.newly_overdue(self.jobs, now):
            print(f"raysha: {rj.timed_out[1]}; ending it (its trial actor is replaced)", flush=True)
            self.pool.kill(rj.worker)

    async def _sleep(self, now: float) -> None:
        self._wake.clear()
        timeout = _TICK_S
        if self.stop.max_wallclock_time is not None and not self.stopping:
            timeout = max(0.01, min(_TICK_S, self.stop.max_wallclock_time - now))
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except asyncio.TimeoutError:
            pass

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _wake_up(self) -> None:
        self._wake.set()

    def _start_workers(self) -> None:
        """Create the trial actors; each one takes jobs as soon as it is up (none waits for the others)."""
        self.pool.create_all()
        loop = asyncio.get_running_loop()
        for i in range(self.pool.n):
            loop.create_task(self._hello(i))
        # while the worker processes start: the results writer (imports pandas), a first journal
        self.journal.open()
        self.journal.save()   # a journal from the start: a restore or an actor restart always finds one

    async def _hello(self, idx: int) -> None:
        info = await self.pool.hello(idx, quiet=self.finished or self.stopping)
        if info is not None:
            if self.startup_s is None:
                self.startup_s = self._now()
            if not self.finished:
                self.pool.release(idx)
        self._wake.set()

    def _dispatch(self) -> None:
        pool = self.pool
        if self.redo.active:   # a repaired restore: the lost rows first, nothing else meanwhile
            while pool.free and self.redo.queue:
                self._launch_redo(pool.take())
            return
        while pool.free and self.failures.retry_queue:   # failed jobs first, on any free trial actor
            job, attempt = self.failures.next_retry()
            self._launch(pool.take(), job, attempt)
        while pool.free and self.resumed.relaunch:   # restore: trials that were running come first
            self._launch(pool.take(), self.resumed.relaunch.pop(0))
        while pool.free and not self.done:
            job = self.scheduler.next_job(self._now(), self.ledger.may_start())
            if job.kind == JobKind.WAIT:
                return
            if job.kind == JobKind.DONE:
                self.done = True
                return
            idx = pool.take()
            if job.kind == JobKind.RESUME and self.jobs.for_trial(job.trial_id) is not None:
                # the trial was just paused but its job has not returned the checkpoint yet
                self.deferred[job.trial_id] = (idx, job)
                continue
            self._launch(idx, job)

    def _launch(self, idx: int, job: Job, attempt: int = 0) -> None:
        if job.kind != JobKind.RESUME:   # (a trial whose checkpoint was freed restarts from 0)
            if self.events is not None and job.trial_id not in self.ledger.started_ids:
                self.events.trial_started(job.trial_id, self.scheduler.trial_config(job.trial_id) or job.config)
            self.ledger.start(job.trial_id)
        rj = self.jobs.add(idx, job, self._now(), attempt)
        entry = self.ckpts.entry(job.trial_id) if job.kind == JobKind.RESUME else None
        info_ref, ckpt_ref = self.pool.run(idx, job_message(rj.key, job, entry))
        asyncio.get_running_loop().create_task(self._await_job(rj, info_ref, ckpt_ref))

    def _launch_redo(self, idx: int) -> None:
        job = self.redo.next_job(self.scheduler.trial_config, getattr(self.scheduler, "max_resource_attr", None))
        rj = self.jobs.add(idx, job, self._now())
        self.redo_keys.add(rj.key)
        info_ref, ckpt_ref = self.pool.run(idx, job_message(rj.key, job, None))   # from scratch
        asyncio.get_running_loop().create_task(self._await_job(rj, info_ref, ckpt_ref))

    # -- reports ---------------------------------------------------------------------------
    async def report(self, key: int, seq: int, rows: list, want: bool) -> str:
        """A batch of reports from job ``key`` (the trial's session calls it): continue / pause / stop / interrupt."""
        self.tally["report_calls"] += 1
        rj = self.jobs.get(key)
        if rj is None:
            return "interrupt"
        return await self.reports.report(rj, seq, rows, want)

    def _answer(self, rj: RunningJob) -> str:
        if rj.final is not None:
            return rj.final
        return "interrupt" if self.stopping else "continue"

    def _process(self, rj: RunningJob, rows: list) -> str:
        """Hand a batch of reports to the scheduler and log them. Synchronous: never awaits."""
        if rj.key in self.redo_keys:
            return self._process_redo(rj, rows)
        sched = self.scheduler
        tid = rj.trial_id
        now = self._now()
        config = sched.trial_config(tid) or rj.job.config or {}
        node = self.pool.node(rj.worker)
        if rows:
            rj.last_report = now
        for row in rows:
            if rj.final is not None:
                self.tally["dropped"] += 1
                continue
            worker_time = row.pop("worker_time", None)
            plain_scalars(row)
            resource = row[self.attr]
            decision = sched.on_report(tid, resource, row, now)
            self.tally["reports"] += 1
            self.last_loss[tid] = sched.loss(row)
            warning = self.ledger.check_metric(tid, row, resource)
            if warning:
                print(warning, flush=True)
            rj.reached = max(rj.reached, resource)
            if self.ledger.is_new(tid, resource):
                out = result_row(tid, self.attr, row, config, tuner_time=now, worker_time=worker_time, node=node,
                                 worker=rj.worker, decision=decision.value, bracket=rj.job.bracket)
                self.journal.append(out)
                if self.events is not None:
                    self.events.reported(out)
                reason = self.ledger.record(tid, resource, row, now)
                self.failures.reported()
                if reason is not None:
                    self._begin_stop(reason)
            else:
                # a trial restarted from 0 (its checkpoint was freed) retrains levels it has: log each once
                self.tally["duplicates"] += 1
            if decision != Decision.CONTINUE:
                rj.final = decision.value
        return self._answer(rj)

    def _process_redo(self, rj: RunningJob, rows: list) -> str:
        """A redo job's reports: the lost levels are logged (the scheduler decided them already)."""
        tid, now = rj.trial_id, self._now()
        config = self.scheduler.trial_config(tid) or {}
        for row in rows:
            worker_time = row.pop("worker_time", None)
            plain_scalars(row)
            resource = row[self.attr]
            if self.redo.take(tid, resource):
                self.journal.append(result_row(tid, self.attr, row, config, tuner_time=now, worker_time=worker_time,
                                               node=self.pool.node(rj.worker), worker=rj.worker, decision="redo",
                                               bracket=rj.job.bracket))
                self.ledger.record_again(tid, resource, row, now)
        if self.redo.answer(tid) == "stop":
            rj.final = "stop"
        return self._answer(rj)

    # -- job ends --------------------------------------------------------------------------
    async def _await_job(self, rj: RunningJob, info_ref, ckpt_ref) -> None:
        import ray

        try:
            info = await info_ref
        except Exception as e:  # the worker died (or was killed when stopping), or run() itself raised
            info = raised_job_info(e, rj, self.stopping, actor_died=isinstance(e, ray.exceptions.RayActorError))
        if rj.timed_out is not None:
            info["worker_died"] = True     # killed for a timeout (even if the job ended just before): replace it
        try:
            await self.reports.finish(rj, info.get("tail"), info.get("tail_seq"))
            self._end_job(rj, info, ckpt_ref)
        except Exception:
            traceback.print_exc()
            self.jobs.remove(rj)
        finally:
            self._wake.set()

    def _end_job(self, rj: RunningJob, info: dict, ckpt_ref) -> None:
        """Synchronous: the job's result reaches the scheduler, the checkpoints and the failure handler."""
        tid = rj.trial_id
        status = info.get("status") or "failed"
        self.jobs.remove(rj)
        self.failures.job_ended(rj, self._now())
        self._log_job(rj, info, status)
        if rj.key in self.redo_keys:       # the scheduler never knew this job
            self.redo_keys.discard(rj.key)
            self.redo.ended(tid)
            self._next_for_worker(rj, info)
            return
        end = None   # how the trial ended, when the job ended without a decision and is not retried
        if status == "paused" and rj.final == "pause":
            self.ckpts.on_pause(tid, info.get("resource", rj.job.until), ckpt_ref, info.get("durable"), rj.worker)
        elif rj.final is None:
            end = self._ended_without_decision(rj, info, status)
        if status == "failed":
            self.failures.record(rj, info, self.stopping)
        if end == "failed":
            self.failures.trial_failed(tid)
            if self.failures.stop_reason is not None:   # the failure policy ends the experiment
                self._begin_stop(self.failures.stop_reason)
        if rj.final == "stop" or end in ("completed", "failed"):   # the trial is finished
            self.ckpts.release([tid])
            self.ckpts.offer_final(tid, info.get("last_resource"), info.get("final_durable"),
                                   self.last_loss.get(tid, float("inf")))
            if self.events is not None:   # (a STOP at max_t is a completed trial: the scheduler says which)
                rec = self.scheduler.trials.get(tid)
                self.events.trial_ended(tid, rec.status.value if rec is not None else end or "stopped")
        for t in self.scheduler.removable_checkpoints():
            self.ckpts.release([t])
            running = self.jobs.for_trial(t)
            if running is not None and running.final == "pause" and t not in self.deferred:
                self.ckpts.release_on_return(t)   # paused by a report, its job not back yet
        self._next_for_worker(rj, info)

    def _log_job(self, rj: RunningJob, info: dict, status: str) -> None:
        """The job log (summary) and the job span (results)."""
        came_from = self.ended.add(rj, info, status)
        self.journal.append_job(job_span(rj, info, status, came_from, self._now(), self.pool.node(rj.worker)))

    def _next_for_worker(self, rj: RunningJob, info: dict) -> None:
        """The job's actor is free again (or replaced when it died); a RESUME deferred for its trial runs."""
        deferred = self.deferred.pop(rj.trial_id, None)
        if deferred is not None and self.stopping:
            self.scheduler.on_trial_end(rj.trial_id, "interrupted")
            self.pool.release(deferred[0])
            deferred = None
        if info.get("worker_died") and not self.stopping:
            # always: a death is a failed job, so the failure policy bounds the replacements
            self.pool.replace(rj.worker)
            asyncio.get_running_loop().create_task(self._hello(rj.worker))
            if deferred is not None:
                self._launch(*deferred)
        elif deferred is not None:
            # resume right here, where the trial's live state still is; the reserved worker is free again
            self._launch(rj.worker, deferred[1])
            self.pool.release(deferred[0])
        else:
            self.pool.release(rj.worker)

    def _ended_without_decision(self, rj: RunningJob, info: dict, status: str) -> Optional[str]:
        """The job ended with no PAUSE/STOP: how the trial ended (None: a failed job runs again)."""
        end = status if status in ("completed", "failed", "interrupted") else "interrupted"
        if end == "failed" and self.failures.on_failed_job(self.scheduler, rj, info, self.stopping):
            return None
        self.scheduler.on_trial_end(rj.trial_id, end)
        return end

    # -- what the trial actors and the driver call ------------------------------------------
    def trial_log(self, trial_id: int, text: str) -> None:
        """A trial's captured output (sent by its trial actor): appended to ``trials/<id>/log.txt``."""
        if self.settings.journaling:
            trial_logs.append(self.settings.folder, trial_id, text)

    def ping(self) -> bool:
        return True

    def worker_handle(self, idx: int):
        """The actor handle of trial actor `idx` (None when there is none)."""
        return self.pool.handle(idx)
