"""The scheduler actor: one asyncio actor that owns the scheduler, the checkpoints and the results.

It dispatches jobs to the trial actors (``worker.run.remote(job)``), so the
values the jobs return, paused trials' checkpoints among them, are owned by this
actor and outlive the trial actors. While jobs run it serves their reports.

Every call into the scheduler (`next_job`, `on_report`, `on_trial_end`) happens in
synchronous code that never awaits midway, so on the single asyncio thread two
decisions can never interleave. The only awaits are before processing (waiting
for an earlier batch of the same job that arrived late) and for job results.

It is the only writer of results: one row per report, appended to a
`raysha.results.ResultsWriter` and flushed as a parquet part every
``flush_every`` seconds and at the end. Each flush is followed, with no await
in between, by a snapshot of its state in the experiment's journal
(`raysha.runtime.journal`: ``scheduler_state.json`` naming the committed parts),
so results and state always agree; on start it loads the journal it finds in
its folder (``Tuner.restore``, or Ray restarting this actor after a crash).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Optional

from raysha.runtime import checkpoints as ck
from raysha.runtime import journal as jn
from raysha.runtime import naming
from raysha.runtime import trial_logs
from raysha.runtime.events import EventBuffer
from raysha.schedulers.base import Decision, Job, JobKind, TrialStatus, with_resource
from raysha.stop import StopCriterion

_SCALARS = (int, float, str, bool, type(None))


@dataclass
class RunningJob:
    key: int
    worker: int
    job: Any                       # raysha.schedulers.base.Job
    t0: float
    next_seq: int = 0
    pending: dict = field(default_factory=dict)    # seq -> rows that arrived early
    waiters: dict = field(default_factory=dict)    # seq -> future answered once that batch is processed
    final: Optional[str] = None                    # the decision that ended the job ("pause"/"stop")
    reached: float = -math.inf                     # the largest level of this job the scheduler has seen
    attempt: int = 0                               # 0: first run of this job; n: its n-th retry after a failure

    @property
    def trial_id(self) -> int:
        return self.job.trial_id


class Controller:
    def __init__(self, scheduler, trainable, n_workers: int, worker_options: dict,
                 stop: Optional[StopCriterion], folder: Optional[str], metadata: dict,
                 checkpoint_dir: Optional[str] = None, shared_refs: Optional[dict] = None,
                 flush_every: float = 1.5, report_flush_interval: float = 0.25,
                 stop_grace_s: float = 3.0, keep_live: bool = True,
                 debug_lose_checkpoints: bool = False, resume_state: Optional[dict] = None,
                 max_failures: int = 0, events: bool = False):
        self.scheduler = scheduler
        self.trainable = trainable
        self.n_workers = n_workers
        self.worker_options = dict(worker_options)
        self.stop = stop or StopCriterion()
        self.folder = folder
        self.metadata = metadata
        self.checkpoint_dir = checkpoint_dir
        self.shared_refs = shared_refs or {}
        self.flush_every = flush_every
        self.report_flush_interval = report_flush_interval
        self.stop_grace_s = stop_grace_s
        self.keep_live = keep_live
        self.debug_lose_checkpoints = debug_lose_checkpoints
        # failed jobs (trainable raised, actor died) are re-run up to max_failures times per trial
        self.max_failures = int(max_failures)
        self.n_failures: dict[int, int] = {}          # trial_id -> failed jobs so far
        self.retry_queue: list[tuple] = []           # (job to run again, attempt number)
        self.failed_trials: list[int] = []           # trials marked FAILED (more than max_failures)
        self.warnings: dict[str, str] = {}           # kind -> the first warning of that kind (logged once)
        self.attr = scheduler.resource_attr
        self.metric = scheduler.metric
        self.sign = 1.0 if scheduler.mode == "min" else -1.0
        self.ckpts = ck.CheckpointStore(checkpoint_dir)
        # trial events for the driver's callbacks (poll_events), kept only when it has callbacks
        self.events: Optional[EventBuffer] = EventBuffer() if events else None
        self.writer = None
        self.workers: list = []
        self.worker_info: list[dict] = []
        self._run_fns: list = []
        self.free: list[int] = []
        self.jobs: dict[int, RunningJob] = {}
        self.by_worker: dict[int, int] = {}
        self.running_trials: dict[int, int] = {}     # trial_id -> key of its running job
        self.deferred: dict[int, tuple] = {}         # trial_id -> (reserved worker, resume job)
        self._next_key = 0
        self.n_started = 0
        self.n_results = 0
        self.n_dropped = 0
        self.n_reports = 0
        self.n_report_calls = 0
        self.n_duplicates = 0
        self.started_ids: set[int] = set()
        self._deletes: list = []
        self._starting: set[int] = set()      # trial actors not up yet
        self.free_on_return: set[int] = set()   # removable checkpoints still on their way back
        self.max_recorded: dict[int, float] = {}
        self.best: Optional[tuple] = None       # (loss, value, trial_id, resource)
        self.stopping = False
        self.stop_reason: Optional[str] = None
        self.stop_t: Optional[float] = None
        self.done = False
        self.t0 = time.monotonic()
        self.started = False
        self.finished = False
        self.failures: list[dict] = []
        self.job_log: list[dict] = []
        self.ckpt_sources: dict[str, int] = {}
        self.replacements = 0
        self._wake: Optional[asyncio.Event] = None
        self._dead_ref = None
        self._last_flush = 0.0
        self._last_state = 0.0
        self.startup_s = None
        self._elapsed0 = 0.0                  # seconds the experiment ran before this run (restore)
        self._relaunch: list[int] = []        # restore: trials that were running, to run again first
        self._pending_deletes: list[str] = []  # durable copies to delete once a journal without them is saved
        self.journal_seq = 0
        self.n_restarts = 0
        self._frozen: Optional[set] = None    # set at a stop: the journal keeps the state of that moment
        self.reconciled: list[str] = []
        found = None
        if folder is not None and "://" not in folder:
            try:
                found = jn.read_state(folder)
            except Exception:
                traceback.print_exc()
        if jn.is_journal(found):
            # the folder's journal is the newest truth: a restore, or Ray restarted this actor
            resume_state = found
        if resume_state:
            self._load_resume_state(resume_state)

    def _load_resume_state(self, state: dict) -> None:
        """Continue an experiment (restore): durable checkpoints of paused trials, what is logged already.

        ``state`` is what ``scheduler_state.json`` holds (``checkpoints``: {trial_id: {resource,
        durable}}, ``started_ids``) plus ``max_recorded``: {trial_id: largest resource level
        already in the results} (read it from the results parts, which may be newer than the
        state snapshot), so replayed levels are not logged twice.
        """
        for t, e in (state.get("checkpoints") or {}).items():
            self.ckpts.put(int(t), e["resource"], None, e.get("durable"), -1)
        self.max_recorded.update({int(t): r for t, r in (state.get("max_recorded") or {}).items()})
        self.started_ids.update(int(t) for t in state.get("started_ids") or [])
        self.n_started = len(self.started_ids)
        if jn.is_journal(state):
            # results and state agree: parts written after the snapshot go (their reports come again)
            self.reconciled = jn.reconcile(self.folder, state)
            for path in jn.stray_checkpoints(self.checkpoint_dir, state):   # written after the snapshot
                ck.delete_durable(path)
                self.reconciled.append(path)
        if state.get("scheduler"):
            self.scheduler.load_state_dict(state["scheduler"])
        self.n_results = int(state.get("n_results") or 0)
        self._elapsed0 = float(state.get("elapsed") or 0.0)
        self.journal_seq = int(state.get("seq") or 0)
        self.n_restarts = int(state.get("n_restarts") or 0) + 1
        b = state.get("best")
        if b and b.get(self.attr) is not None:
            loss = self.scheduler.loss({self.metric: b.get("value")})
            if math.isfinite(loss):
                self.best = (loss, b.get("value"), int(b["trial_id"]), b[self.attr])
        # trials that were running: run again from their last checkpoint (or from scratch)
        self._relaunch = sorted(t for t, r in self.scheduler.trials.items() if r.status == TrialStatus.RUNNING)

    def _relaunch_job(self, tid: int) -> Job:
        """The job of a trial that was running when the run was interrupted (restore).

        A RESUME up to the same ``until``; ``start`` is the level the restored scheduler has seen
        (reports up to it are dropped by the trial's session, never sent twice); the worker loads
        the trial's last checkpoint (its durable copy) and replays the levels between it and
        ``start`` silently, or trains from scratch when the trial has none.
        """
        rec = self.scheduler.trials[tid]
        start = rec.resource if rec.resource < rec.until else 0
        milestones = tuple(m for m in rec.milestones if m > start)
        if not milestones or milestones[-1] < rec.until:
            milestones = milestones + (rec.until,)
        config = with_resource(rec.config, getattr(self.scheduler, "max_resource_attr", None), rec.until)
        return Job(JobKind.RESUME, tid, config, start, rec.until, milestones, rec.bracket)

    # -- set up -------------------------------------------------------------------
    def _make_worker(self, idx: int):
        import ray

        from raysha.runtime.worker import TrialWorker

        me = ray.get_runtime_context().current_actor
        name = naming.actor_name(self.metadata.get("name", "experiment"), f"worker-{idx}")
        return naming.start_named(ray.remote(TrialWorker), self.worker_options, name, idx, me, self.trainable,
                                  self.attr, self.shared_refs, self.checkpoint_dir, self.report_flush_interval,
                                  self.keep_live)

    async def _start_workers(self) -> None:
        """Create the trial actors; each one takes jobs as soon as it is up (none waits for the others)."""
        self.workers = [self._make_worker(i) for i in range(self.n_workers)]
        self._run_fns = [w.run.options(num_returns=2) for w in self.workers]
        self.worker_info = [{} for _ in range(self.n_workers)]
        loop = asyncio.get_running_loop()
        for i in range(self.n_workers):
            self._starting.add(i)
            loop.create_task(self._hello(i))
        # while the worker processes start: the results writer (imports pandas) and test hooks
        self._open_writer()
        if self.debug_lose_checkpoints:
            self._dead_ref = await _dead_owner_ref()

    async def _hello(self, idx: int) -> None:
        worker = self.workers[idx]
        try:
            info = await worker.hello.remote()
        except Exception as e:
            if not (self.finished or self.stopping):
                print(f"raysha: trial actor {idx} did not start: {type(e).__name__}: {e}", flush=True)
            info = None
        self._starting.discard(idx)
        if info is not None and worker is self.workers[idx]:
            self.worker_info[idx] = info
            if self.startup_s is None:
                self.startup_s = self._now()
            if not self.finished:
                self.free.append(idx)
                self.free.sort()
        self._wake.set()

    def _open_writer(self) -> None:
        if self.folder is None:
            return
        from raysha.results import ResultsWriter

        self.writer = ResultsWriter(self.folder, self.metadata)
        self._save_state()   # a journal from the start: a restore or an actor restart always finds one

    # -- the main loop ---------------------------------------------------------------
    async def run(self) -> dict:
        if self.started:
            raise RuntimeError("this scheduler actor already ran")
        self.started = True
        self._wake = asyncio.Event()
        self.t0 = time.monotonic() - self._elapsed0   # a continued run counts the time already spent
        self._last_flush = self._last_state = self._elapsed0
        tick = 0.5
        try:
            await self._start_workers()
            while True:
                now = self._now()
                if not self.stopping and self.stop.time_up(now):
                    self._begin_stop("max_wallclock_time")
                if not self.stopping and (not self.done or self.retry_queue):
                    self._dispatch()
                if not self.jobs:
                    if self.stopping or (self.done and not self.retry_queue):
                        break
                    if self.free:  # nothing runs and the scheduler waits for nothing: it is stuck
                        self._begin_stop("scheduler has nothing to run")
                        break
                    if not self._starting:
                        self._begin_stop("no trial actor could start")
                        break
                if self.stopping and self.jobs and now - self.stop_t > self.stop_grace_s:
                    self._kill_running()
                self._periodic(now)
                self._wake.clear()
                timeout = tick
                if self.stop.max_wallclock_time is not None and not self.stopping:
                    timeout = max(0.01, min(tick, self.stop.max_wallclock_time - now))
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout)
                except asyncio.TimeoutError:
                    pass
        finally:
            self._finish()
            if self._deletes:  # durable copies of freed checkpoints are gone before fit() returns
                await asyncio.wait(self._deletes, timeout=30)
        return self.summary()

    def _now(self) -> float:
        return time.monotonic() - self.t0

    def _dispatch(self) -> None:
        sched = self.scheduler
        while self.free and self.retry_queue:   # failed jobs first, on any free trial actor
            job, attempt = self.retry_queue.pop(0)
            self._launch(self.free.pop(0), job, attempt)
        while self.free and self._relaunch:   # restore: trials that were running come first
            tid = self._relaunch.pop(0)
            rec = self.scheduler.trials.get(tid)
            if rec is not None and rec.status == TrialStatus.RUNNING:
                self._launch(self.free.pop(0), self._relaunch_job(tid))
        while self.free and not self.done:
            allow_new = self.stop.may_start(self.n_started)
            job = sched.next_job(self._now(), allow_new)
            if job.kind == JobKind.WAIT:
                return
            if job.kind == JobKind.DONE:
                self.done = True
                return
            idx = self.free.pop(0)
            if job.kind == JobKind.RESUME and job.trial_id in self.running_trials:
                # the trial was just paused but its job has not returned the checkpoint yet
                self.deferred[job.trial_id] = (idx, job)
                continue
            self._launch(idx, job)

    def _launch(self, idx: int, job, attempt: int = 0) -> None:
        key = self._next_key
        self._next_key += 1
        msg = {"key": key, "kind": job.kind.value, "trial_id": job.trial_id, "config": job.config,
               "start": job.start, "until": job.until, "milestones": tuple(job.milestones),
               "bracket": job.bracket}
        if job.kind == JobKind.RESUME:
            e = self.ckpts.get(job.trial_id)
            if e is not None:
                msg["ckpt_ref"] = [e.ref] if e.ref is not None else None
                msg["ckpt_durable"] = e.durable
                # older than the job's start when the trial's last pause never returned its checkpoint
                msg["ckpt_resource"] = e.resource
        elif job.trial_id not in self.started_ids:  # (a trial whose checkpoint was freed restarts from 0)
            self.started_ids.add(job.trial_id)
            self.n_started += 1
            if self.events is not None:
                rec = self.scheduler.trials.get(job.trial_id)
                self.events.trial_started(job.trial_id, rec.config if rec is not None else job.config)
        rj = RunningJob(key, idx, job, self._now(), attempt=attempt)
        self.jobs[key] = rj
        self.running_trials[job.trial_id] = key
        self.by_worker[idx] = key
        info_ref, ckpt_ref = self._run_fns[idx].remote(msg)
        asyncio.get_running_loop().create_task(self._await_job(rj, info_ref, ckpt_ref))

    # -- reports ------------------------------------------------------------------------
    async def report(self, key: int, seq: int, rows: list, want: bool) -> str:
        self.n_report_calls += 1
        rj = self.jobs.get(key)
        if rj is None:
            return "interrupt"
        if seq == rj.next_seq:
            answer = self._process(rj, rows)
            rj.next_seq += 1
            self._drain(rj)
            self._wake.set()
            return answer
        rj.pending[seq] = rows
        if not want:
            return self._answer(rj)
        fut = asyncio.get_running_loop().create_future()
        rj.waiters[seq] = fut
        try:
            return await asyncio.wait_for(asyncio.shield(fut), 30.0)
        except asyncio.TimeoutError:  # an earlier batch never came: go on without it
            self._drain(rj, skip_gaps=True)
            return await fut

    def _drain(self, rj: RunningJob, skip_gaps: bool = False) -> None:
        while rj.pending:
            if rj.next_seq not in rj.pending:
                if not skip_gaps:
                    return
                rj.next_seq = min(rj.pending)
            seq = rj.next_seq
            answer = self._process(rj, rj.pending.pop(seq))
            rj.next_seq += 1
            fut = rj.waiters.pop(seq, None)
            if fut is not None and not fut.done():
                fut.set_result(answer)
        self._wake.set()

    def _answer(self, rj: RunningJob) -> str:
        if rj.final is not None:
            return rj.final
        return "interrupt" if self.stopping else "continue"

    def _process(self, rj: RunningJob, rows: list) -> str:
        """Hand a batch of reports to the scheduler and log them. Synchronous: never awaits."""
        sched = self.scheduler
        tid = rj.trial_id
        now = self._now()
        attr = self.attr
        rec = sched.trials.get(tid)
        config = rec.config if rec is not None else (rj.job.config or {})
        winfo = self.worker_info[rj.worker] if rj.worker < len(self.worker_info) else {}
        node = winfo.get("node")
        for row in rows:
            if rj.final is not None:
                self.n_dropped += 1
                continue
            worker_time = row.pop("worker_time", None)
            for k, v in row.items():
                if not isinstance(v, _SCALARS) and hasattr(v, "item"):
                    try:
                        row[k] = v.item()
                    except Exception:
                        pass
            resource = row[attr]
            decision = sched.on_report(tid, resource, row, now)
            self.n_reports += 1
            self._check_metric(tid, row, resource)
            if resource > rj.reached:
                rj.reached = resource
            if resource <= self.max_recorded.get(tid, -math.inf):
                # a trial restarted from 0 (its checkpoint was freed) retrains levels it has: log each once
                self.n_duplicates += 1
                if decision != Decision.CONTINUE:
                    rj.final = decision.value
                continue
            self.max_recorded[tid] = resource
            self.n_results += 1
            out = {"trial_id": tid, attr: resource}
            for k, v in row.items():
                if k != attr:
                    out[k] = v
            for k, v in config.items():
                out["config_" + k] = v
            out.update(tuner_time=now, worker_time=worker_time, node=node, worker=rj.worker,
                       decision=decision.value, bracket=rj.job.bracket)
            if self.writer is not None:
                self.writer.append(out)
            if self.events is not None:
                self.events.reported(out)
            loss = sched.loss(row)
            if math.isfinite(loss) and (self.best is None or loss < self.best[0]):
                self.best = (loss, row.get(self.metric), tid, resource)
            if not self.stopping:
                if self.stop.results_up(self.n_results):
                    self._begin_stop("max_results")
                elif self.stop.target_reached(row.get(self.metric), sched.mode):
                    self._begin_stop("metric_threshold")
            if decision != Decision.CONTINUE:
                rj.final = decision.value
        return self._answer(rj)

    def _check_metric(self, tid: int, row: dict, resource) -> None:
        """Warn once when reports lack the scheduler's metric, and once when it is NaN/infinite."""
        metric = self.metric
        if metric not in row:
            if "metric_missing" not in self.warnings:
                self._warn("metric_missing",
                           f"raysha: trial {tid} reported {sorted(row)} without the metric {metric!r} the "
                           f"scheduler ranks by; such reports count as the worst value (check the "
                           f"scheduler's metric= and the names given to report())")
            return
        v = row[metric]
        try:
            finite = math.isfinite(float(v))
        except (TypeError, ValueError):
            finite = False
        if not finite and "metric_not_finite" not in self.warnings:
            self._warn("metric_not_finite",
                       f"raysha: trial {tid} reported {metric}={v!r} at {self.attr}={resource}; NaN, infinite "
                       f"or non-numeric values count as the worst value (logged once)")

    def _warn(self, kind: str, msg: str) -> None:
        self.warnings[kind] = msg
        print(msg, flush=True)

    # -- job ends ---------------------------------------------------------------------------
    async def _await_job(self, rj: RunningJob, info_ref, ckpt_ref) -> None:
        import ray

        try:
            info = await info_ref
        except ray.exceptions.RayActorError as e:  # the worker died (or was killed when stopping)
            info = {"status": "interrupted" if self.stopping else "failed", "tail": [],
                    "tail_seq": None, "error": f"{type(e).__name__}: {e}", "worker_died": True}
        except Exception as e:  # run() itself raised: the worker is alive
            info = {"status": "interrupted" if self.stopping else "failed", "tail": [],
                    "tail_seq": None, "error": f"{type(e).__name__}: {e}"}
        try:
            if info.get("tail_seq") is not None:
                seq = info["tail_seq"]
                if seq > rj.next_seq:
                    # earlier batches are still on their way: give them a moment
                    deadline = time.monotonic() + 10.0
                    while rj.next_seq < seq and time.monotonic() < deadline:
                        await asyncio.sleep(0.005)
                rj.pending[seq] = info["tail"]
            self._drain(rj, skip_gaps=True)
            self._end_job(rj, info, ckpt_ref)
        except Exception:
            traceback.print_exc()
            self.jobs.pop(rj.key, None)
        finally:
            self._wake.set()

    def _end_job(self, rj: RunningJob, info: dict, ckpt_ref) -> None:
        """Synchronous: the job's result reaches the scheduler and the checkpoint store."""
        sched = self.scheduler
        tid = rj.trial_id
        status = info.get("status") or "failed"
        self.jobs.pop(rj.key, None)
        self.by_worker.pop(rj.worker, None)
        self.running_trials.pop(tid, None)
        src = info.get("ckpt_source")
        if src:
            self.ckpt_sources[src] = self.ckpt_sources.get(src, 0) + 1
        # where a resumed or retried job's state came from: memory / object / durable / scratch
        restored_from = None
        if rj.job.kind == JobKind.RESUME:   # (unknown when the job's actor died before saying)
            restored_from = src or ("unknown" if info.get("worker_died") else "scratch")
        self.job_log.append({"trial_id": tid, "kind": rj.job.kind.value, "worker": rj.worker,
                             "start": rj.job.start, "status": status, "final": rj.final,
                             "ckpt_source": src, "ckpt_lost": info.get("ckpt_lost"),
                             "ckpt_error": info.get("ckpt_error"), "attempt": rj.attempt,
                             "restored_from": restored_from, "ckpt_resource": info.get("ckpt_resource")})
        if self.writer is not None:
            self.writer.append_job({
                "worker": rj.worker, "trial_id": tid, "start": rj.t0, "end": self._now(),
                "start_resource": rj.job.start, "end_resource": info.get("last_resource", rj.job.start),
                "kind": rj.job.kind.value, "end_reason": rj.final or status,
                "attempt": rj.attempt, "restored_from": restored_from,
                "node": (self.worker_info[rj.worker] if rj.worker < len(self.worker_info) else {}).get("node")})
        to_delete: list[str] = []
        trial_failed = False
        if status == "paused" and rj.final == "pause" and tid in self.free_on_return:
            # the scheduler gave this checkpoint up before the job returned it
            self.free_on_return.discard(tid)
            to_delete += self.ckpts.free(tid)
            if info.get("durable"):
                to_delete.append(info["durable"])
        elif status == "paused" and rj.final == "pause":
            ref = ckpt_ref
            if self.debug_lose_checkpoints and self._dead_ref is not None:
                ref = self._dead_ref
            to_delete += self.ckpts.put(tid, info.get("resource", rj.job.until), ref,
                                        info.get("durable"), rj.worker)
        elif rj.final is None:
            end = status if status in ("completed", "failed", "interrupted") else "interrupted"
            retry = self._retry_after_failure(rj, info) if end == "failed" else None
            if retry is not None:
                self.retry_queue.append(retry)
            else:
                sched.on_trial_end(tid, end)
                trial_failed = end == "failed"
        if status == "failed":
            self.failures.append({"trial_id": tid, "worker": rj.worker, "error": info.get("error"),
                                  "attempt": rj.attempt, "worker_died": bool(info.get("worker_died"))})
        if trial_failed:
            self._trial_failed(tid)
        if status == "failed":
            if self.stopping is False and info.get("error"):
                print(f"raysha: trial {tid} failed on worker {rj.worker} (attempt {rj.attempt + 1}):\n"
                      f"{info['error']}", flush=True)
        rec = sched.trials.get(tid)
        if rec is not None and rec.status.finished:
            to_delete += self.ckpts.free(tid)
            if self.events is not None:
                self.events.trial_ended(tid, rec.status.value)
        for t in sched.removable_checkpoints():
            to_delete += self.ckpts.free(t)
            rec_t = sched.trials.get(t)
            if t in self.running_trials and rec_t is not None and rec_t.status == TrialStatus.PAUSED:
                self.free_on_return.add(t)   # paused by a report, its job not back yet
        if to_delete:
            self._delete_later(to_delete)
        deferred = self.deferred.pop(tid, None)
        if deferred is not None and self.stopping:
            sched.on_trial_end(tid, "interrupted")
            self.free.append(deferred[0])
            deferred = None
        if info.get("worker_died") and not self.stopping:
            self._replace_worker(rj.worker)
            if deferred is not None:
                self._launch(*deferred)
        elif deferred is not None:
            # resume right here, where the trial's live state still is; the reserved worker is free again
            self._launch(rj.worker, deferred[1])
            self.free.append(deferred[0])
            self.free.sort()
        else:
            self.free.append(rj.worker)
            self.free.sort()

    def _retry_after_failure(self, rj: RunningJob, info: dict) -> Optional[tuple]:
        """The failed job to run again (from the trial's last checkpoint), or None: the trial fails.

        The retry is a RESUME job of the same trial up to the same ``until``; its ``start`` is the
        level the scheduler has seen already (those reports are never sent twice), and the
        worker loads the trial's last checkpoint (object store, else durable copy, else none:
        from scratch), replaying the levels between the checkpoint and ``start`` silently.
        """
        tid = rj.trial_id
        n = self.n_failures.get(tid, 0) + 1
        self.n_failures[tid] = n
        if self.stopping or n > self.max_failures:
            return None
        job = rj.job
        start = max(job.start, rj.reached) if math.isfinite(rj.reached) else job.start
        if start >= job.until:
            return None
        milestones = tuple(m for m in job.milestones if m > start)   # those passed were decided already
        return replace(job, kind=JobKind.RESUME, start=start, milestones=milestones), rj.attempt + 1

    def _trial_failed(self, tid: int) -> None:
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

    def _replace_worker(self, idx: int) -> None:
        import ray

        if self.replacements >= 3 * self.n_workers:
            print(f"raysha: worker {idx} died; too many worker deaths, not replacing it", flush=True)
            return
        self.replacements += 1
        try:
            ray.kill(self.workers[idx], no_restart=True)
        except Exception:
            pass
        self.workers[idx] = self._make_worker(idx)
        self._run_fns[idx] = self.workers[idx].run.options(num_returns=2)
        self._starting.add(idx)
        asyncio.get_running_loop().create_task(self._hello(idx))

    # -- stopping -----------------------------------------------------------------------------
    def _begin_stop(self, reason: str) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.stop_reason = reason
        self.stop_t = self._now()
        if self.writer is not None and not self.finished and self._frozen is None:
            # the journal keeps the state at the stop (time up, Ctrl-C, ...): a restore re-runs the
            # trials running now from their checkpoints; what they report until they end is in the
            # results of this run, and a restore drops and re-produces it
            if self._flush() and self._save_state():
                self._frozen = {e.durable for e in self.ckpts.entries.values() if e.durable}
        if self._wake is not None:
            self._wake.set()

    def request_stop(self, reason: str = "requested") -> None:
        """Stop the experiment: no new jobs, running trials end at their next report."""
        self._begin_stop(reason)

    def _kill_running(self) -> None:
        import ray

        for rj in list(self.jobs.values()):
            try:
                ray.kill(self.workers[rj.worker], no_restart=True)
            except Exception:
                pass

    def _periodic(self, now: float) -> None:
        # results and journal are one step, every flush_every seconds; stretched so that journaling a
        # large experiment (tens of ms per snapshot) never takes more than ~5% of this actor's time
        if now - self._last_flush >= max(self.flush_every, 20.0 * getattr(self, "_journal_cost", 0.0)):
            self._last_flush = self._last_state = now
            # journal only when something changed: reports, launched or ended jobs, deletions due
            mark = (self.n_reports, self._next_key, len(self.job_log), self.stopping)
            if mark == getattr(self, "_journal_mark", None) and not self._pending_deletes:
                return
            if self._flush() and self._save_state():
                self._journal_mark = mark

    def _flush(self) -> bool:
        if self.writer is not None:
            try:
                self.writer.flush()
            except Exception:
                traceback.print_exc()
                return False
        return True

    def _journaling(self) -> bool:
        return self.folder is not None and "://" not in self.folder

    def _save_state(self) -> bool:
        """Journal the state (`raysha.runtime.journal`): called right after a results flush, no await between.

        The snapshot lists the committed parts, so results and state describe the same moment;
        durable copies the scheduler let go are deleted only once this snapshot is on disk.
        """
        if not self._journaling():
            return False
        if self._frozen is not None:
            self._release_deletes()
            return False
        t_start = time.monotonic()
        try:
            self.journal_seq += 1
            state = {"format": jn.FORMAT, "seq": self.journal_seq, "wall_time": time.time(),
                     "elapsed": self._now() if not self.finished else self.elapsed,
                     "finished": self.finished, "n_restarts": self.n_restarts,
                     "scheduler": self.scheduler.state_dict(), "checkpoints": self.ckpts.index(),
                     "n_results": self.n_results, "n_started": self.n_started,
                     "started_ids": sorted(self.started_ids),
                     "max_recorded": {str(t): r for t, r in self.max_recorded.items()},
                     "parts": jn.committed_parts(self.folder),
                     "best": None if self.best is None else {
                         "value": self.best[1], "trial_id": self.best[2], self.attr: self.best[3]},
                     "running": {str(rj.trial_id): {"start": rj.job.start, "until": rj.job.until}
                                 for rj in self.jobs.values()}}
            jn.write_state(self.folder, state)
            self._journal_cost = time.monotonic() - t_start
        except Exception:
            traceback.print_exc()
            return False
        self._release_deletes()
        return True

    def _delete_later(self, paths: list[str]) -> None:
        """Delete durable copies once the journal no longer names them (at once without a journal)."""
        self._pending_deletes.extend(paths)
        if not self._journaling():
            self._release_deletes()

    def _release_deletes(self) -> None:
        if not self._pending_deletes:
            return
        live = {e.durable for e in self.ckpts.entries.values() if e.durable} | (self._frozen or set())
        paths = [p for p in self._pending_deletes if p not in live]
        self._pending_deletes = []
        if not paths:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            _delete_all(paths)
            return
        self._deletes = [f for f in self._deletes if not f.done()]
        self._deletes.append(loop.run_in_executor(None, _delete_all, paths))

    def _finish(self) -> None:
        import ray

        if self.finished:
            return
        self.finished = True
        self.elapsed = self._now()
        for job, _ in self.retry_queue:   # failed jobs never run again: the run stopped first
            self.scheduler.on_trial_end(job.trial_id, "interrupted")
        self.retry_queue = []
        if self.events is not None:   # trials left paused or running end with the status they have
            self.events.end_open_trials((t, self.scheduler.trials[t].status.value)
                                        for t in sorted(self.events.open) if t in self.scheduler.trials)
        for w in self.workers:
            try:
                ray.kill(w, no_restart=True)
            except Exception:
                pass
        if self.writer is not None:
            try:
                self.writer.update_metadata(status="finished", summary={
                    "elapsed": self.elapsed, "n_results": self.n_results, "n_trials": self.n_started,
                    "stop_reason": self.stop_reason, "counts": self.scheduler.counts(),
                    "n_failed_jobs": len(self.failures), "failed_trials": list(self.failed_trials),
                    "warnings": dict(self.warnings),
                    "best": None if self.best is None else {
                        "value": self.best[1], "trial_id": self.best[2], self.attr: self.best[3]}})
                self.writer.flush()
                self.writer.close()
            except Exception:
                traceback.print_exc()
        self._save_state()
        # trials still paused keep their durable copies (for restore); object refs go with this actor

    # -- queries ---------------------------------------------------------------------------
    def status(self) -> dict:
        sched = self.scheduler
        counts = sched.counts() if hasattr(sched, "counts") else {}
        rungs = None
        if hasattr(sched, "rung_sizes"):
            try:
                rungs = sched.rung_sizes()
            except Exception:
                rungs = None
        return {
            "elapsed": self._now() if not self.finished else self.elapsed,
            "counts": counts, "n_results": self.n_results, "n_started": self.n_started,
            "running": {w: self.jobs[k].trial_id for w, k in self.by_worker.items() if k in self.jobs},
            "best": None if self.best is None else {"value": self.best[1], "trial_id": self.best[2],
                                                    self.attr: self.best[3]},
            "metric": self.metric, "mode": sched.mode, "rungs": rungs, "n_workers": self.n_workers,
            "stopping": self.stopping, "stop_reason": self.stop_reason, "finished": self.finished,
            "n_paused_checkpoints": len(self.ckpts.entries),
        }

    def summary(self) -> dict:
        out = self.status()
        out.update(scheduler_state=self.scheduler.state_dict(), worker_info=self.worker_info,
                   failures=self.failures, job_log=self.job_log, ckpt_sources=self.ckpt_sources,
                   n_dropped=self.n_dropped, n_reports=self.n_reports, n_report_calls=self.n_report_calls,
                   n_duplicates=self.n_duplicates, checkpoints=self.ckpts.index(),
                   n_checkpoints_freed=self.ckpts.n_freed, startup_s=self.startup_s,
                   n_restarts=self.n_restarts, reconciled=self.reconciled)
        out.update(warnings=dict(self.warnings), failed_trials=list(self.failed_trials))
        return out

    def poll_events(self, ack: int, limit: Optional[int] = None, instance: Optional[str] = None) -> dict:
        """The trial events since the driver's last poll (`raysha.runtime.events.EventBuffer.take`)."""
        if self.events is None:
            return {"instance": None, "seq": 1, "events": [], "missed": 0}
        return self.events.take(ack, limit, instance)

    def trial_log(self, trial_id: int, text: str) -> None:
        """A trial's captured output (sent by its trial actor): appended to ``trials/<id>/log.txt``."""
        if self.folder is not None and "://" not in self.folder:
            trial_logs.append(self.folder, trial_id, text)

    def ping(self) -> bool:
        return True

    def worker_handle(self, idx: int):
        """The actor handle of trial actor `idx` (tests kill it to simulate a crash)."""
        return self.workers[idx] if 0 <= idx < len(self.workers) else None


def _delete_all(paths: list[str]) -> None:
    for p in paths:
        ck.delete_durable(p)


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return repr(o)
    return str(o)


class _Owner:
    def make(self, n_probes: int):
        import ray

        return [ray.put(b"lost checkpoint")] + [ray.put(i) for i in range(n_probes)]


async def _dead_owner_ref():
    """A ref whose owner is dead (tests: makes every stored checkpoint object 'lost')."""
    import ray

    owner = ray.remote(_Owner).options(num_cpus=0).remote()
    ref, *probes = await owner.make.remote(40)
    ray.kill(owner, no_restart=True)
    # wait until the owner's death is known: a fresh ref of the same owner no longer resolves
    for probe in probes:
        try:
            await asyncio.wait_for(probe, 1.0)
        except ck.lost_errors():
            break
        except Exception:
            pass
        await asyncio.sleep(0.1)
    return ref
