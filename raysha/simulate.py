"""Discrete-event simulation: drive any scheduler with N simulated workers on a simulated clock.

The loop does what the Ray runtime does, minus the training: a free worker asks
``scheduler.next_job(now, allow_new=stop.may_start(n_started))``; a running job
trains epochs ``start+1 .. until``, each taking ``objective(config, epoch)["time"]``
simulated seconds, and each epoch is reported with ``scheduler.on_report`` at
the simulated moment it ends. STOP or PAUSE ends the job; so does reaching
``until`` (the scheduler extends a trial only by handing out a new job). WAIT
leaves the worker idle until the next event, after which every idle worker
asks again; DONE retires the worker.

The event queue is a heap of ``(time, seq, worker)`` tuples; ``seq`` breaks
ties in a fixed order, so the same scheduler seed gives the same results. Rows
are collected in column lists and turned into one DataFrame at the end: no
pandas on the per-event path (a 1M-trial ASHA run takes well under a minute).
The books (row format, best so far, stop criteria, counters, summary) are the
runner-agnostic `raysha.ledger`, shared with the Ray scheduler actor; this
module is the event loop only.

Job spans (worker, trial_id, start, end, start_resource, end_resource, kind,
end_reason) go to ``Experiment.jobs``: the worker timeline and the busy
fraction are measured from them.
"""

from __future__ import annotations

import gc
import heapq
import itertools
import math
import sys
import time as _time
import types
import uuid
from array import array
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np
import pandas as pd

from raysha.ledger import EXHAUSTED, STALLED, Ledger, metric_column, stop_reason
from raysha.results import EXPERIMENT_FILE, JOB_COLUMNS, Experiment, ResultsError
from raysha.schedulers.base import Decision, JobKind
from raysha.stop import StopCriterion

RECORD_MODES = ("all", "jobs", "none")
_REASON = {d: d.value for d in Decision}
_DECISIONS = [d.value for d in Decision]
_CODE = {d: i for i, d in enumerate(Decision)}
NEG_INF = -math.inf
WAIT_KIND, DONE_KIND, START_KIND = JobKind.WAIT, JobKind.DONE, JobKind.START

_SCHEDULER_FIELDS = ("type", "max_t", "levels", "reduction_factor", "brackets",
                     "rung_system_per_bracket", "random_seed", "max_resource_attr")


def _scheduler_info(scheduler) -> dict:
    info: dict[str, Any] = {"class": type(scheduler).__name__}
    for f in _SCHEDULER_FIELDS:
        if hasattr(scheduler, f):
            v = getattr(scheduler, f)
            info[f] = list(v) if isinstance(v, (list, tuple)) else v
    return info


def _bad_time(objective, config, epoch, value) -> ValueError:
    return ValueError(
        f"objective {objective!r} returned time={value!r} for epoch {epoch} of config {config}: "
        f"it must return a dict with a finite, non-negative 'time' (simulated seconds of that epoch)"
    )


def simulate(
    scheduler,
    objective: Callable[[Mapping[str, Any], int], Mapping[str, Any]],
    n_workers: int,
    stop: Optional[StopCriterion] = None,
    seed: Optional[int] = None,
    out=None,
    record: str = "all",
    name: Optional[str] = None,
) -> Experiment:
    """Run `scheduler` against `objective` with `n_workers` simulated workers; return an `Experiment`.

    ``seed`` reseeds the objective (``objective.with_seed(seed)``) where it
    supports that; the scheduler keeps its own ``random_seed``. ``record``:
    "all" keeps one row per report and the job spans, "jobs" only the spans,
    "none" only the summary (``Experiment.metadata["summary"]``) for huge runs.
    ``out`` saves the experiment folder there.
    """
    n_workers, stop = _check(n_workers, stop, record, out)
    if seed is not None and hasattr(objective, "with_seed"):
        objective = objective.with_seed(seed)
    # The garbage collector is paused while the simulation runs: with a million live trial
    # records its sweeps cost more than the simulation itself, and the loop makes no cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        sim = _Simulation(scheduler, objective, n_workers, stop, record)
        sim.run()
        exp = sim.experiment(name, seed)
    finally:
        if gc_was_enabled:
            gc.enable()
    if out is not None:
        exp.save(out)
    return exp


def _check(n_workers, stop, record, out) -> tuple[int, StopCriterion]:
    """Bad arguments fail before anything runs, each naming the field."""
    if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
        raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
    if record not in RECORD_MODES:
        raise ValueError(f"record must be one of {RECORD_MODES}, got {record!r}")
    stop = stop if stop is not None else StopCriterion()
    if not isinstance(stop, StopCriterion):
        raise TypeError(f"stop must be a StopCriterion, got {type(stop).__name__}")
    if stop == StopCriterion():
        raise ValueError("simulate needs a StopCriterion with a limit (max_trials, max_wallclock_time, "
                         "max_results or metric_threshold): the schedulers start new trials forever")
    if out is not None and (Path(out) / EXPERIMENT_FILE).exists():
        # refuse before running, not after: each simulation is a new experiment
        raise ResultsError(f"{out} already holds another experiment; choose another folder for this one")
    return int(n_workers), stop


class _Rows:
    """The report rows as columns: typed arrays (as fast to append to as lists, read by numpy without a copy)."""

    def __init__(self):
        self.tid, self.res, self.wtime, self.worker = array("q"), array("q"), array("d"), array("q")
        self.time, self.dec, self.bracket = array("d"), array("b"), array("q")
        self.metrics: dict[str, list] = {}
        self.n = 0

    def frame(self, resource_attr: str, configs: dict) -> pd.DataFrame:
        """One DataFrame, built once at the end (no pandas per event); metric names by the ledger's rule."""
        n = len(self.tid)
        tids = np.frombuffer(self.tid, dtype=np.int64)
        data: dict[str, Any] = {"trial_id": tids, resource_attr: np.frombuffer(self.res, dtype=np.int64)}
        for k, col in self.metrics.items():
            if k == "time":
                continue
            k = metric_column(k)
            if k in data or k == "epoch_time":   # (the simulator's own column for the objective's time)
                k = f"metric_{k}"
            data[k] = _column(col)
        if "time" in self.metrics:
            data["epoch_time"] = _column(self.metrics["time"], float)
        data["tuner_time"] = np.frombuffer(self.time, dtype=np.float64)
        data["worker_time"] = np.frombuffer(self.wtime, dtype=np.float64)
        data["node"] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), ["sim"])
        data["worker"] = np.frombuffer(self.worker, dtype=np.int64)
        data["decision"] = pd.Categorical.from_codes(np.frombuffer(self.dec, dtype=np.int8), _DECISIONS)
        data["bracket"] = np.frombuffer(self.bracket, dtype=np.int64)
        if configs and n:
            data.update(_config_columns(configs, tids))
        return pd.DataFrame(data)  # copies: the frame must not share the arrays' buffers


def _config_columns(configs: dict, tids: np.ndarray) -> dict:
    """``config_<name>`` columns for the rows of trials ``tids``."""
    trial_ids = np.fromiter(configs.keys(), dtype=np.int64, count=len(configs))
    pos = pd.Index(trial_ids).get_indexer(tids)
    cfgs = list(configs.values())
    names = list(dict.fromkeys(k for c in cfgs[:1] for k in c))
    if any(list(c) != names for c in cfgs):  # configs with differing keys: the slow, general path
        table = pd.DataFrame.from_records(cfgs)
        names = list(table.columns)
        columns = {k: table[k].to_numpy() for k in names}
    else:
        columns = {k: _column([c[k] for c in cfgs]) for k in names}
    return {f"config_{k}": columns[k][pos] for k in names}


class _Simulation:
    """One simulation's state: per-worker jobs, the event heap, the rows and spans, the ledger."""

    def __init__(self, scheduler, objective, n_workers: int, stop: StopCriterion, record: str):
        self.scheduler, self.objective, self.n_workers, self.stop = scheduler, objective, n_workers, stop
        self.record = record
        self.keep_rows = record == "all"
        self.keep_jobs = record in ("all", "jobs")
        self.ledger = Ledger(scheduler, stop)
        # per-worker state of the running job
        self.w_tid = [-1] * n_workers
        self.w_config: list = [None] * n_workers
        self.w_epoch = [0] * n_workers
        self.w_until = [0.0] * n_workers
        self.w_start = [0.0] * n_workers
        self.w_start_res = [0.0] * n_workers
        self.w_kind = [""] * n_workers
        self.w_bracket = [0] * n_workers
        self.w_metrics: list = [None] * n_workers
        self.w_dt = [0.0] * n_workers
        self.trained: dict[int, float] = {}   # trial -> simulated seconds trained so far (worker_time)
        self.configs: dict[int, dict] = {}    # trial -> config as first started
        self.running: set = set()             # trials with a job on some worker (a scheduler bug if twice)
        self.rows = _Rows()
        self.spans: dict[str, list] = {c: [] for c in JOB_COLUMNS}
        self.heap: list = []
        self.seq = itertools.count(1)         # ties in the heap break in this fixed order
        self.now = 0.0
        self.n_jobs = 0
        self.busy = 0.0
        self.stop_reason = EXHAUSTED
        self.retired = 0
        self.wall = 0.0

    # dispatch, end_job and start_epoch run once per job: closures over the state's lists (made once,
    # by the factories below) are measurably faster there than methods reading attributes
    def _job_ender(self) -> Callable[[int, float, str], None]:
        w_tid, w_start, w_start_res, w_epoch, w_kind = self.w_tid, self.w_start, self.w_start_res, self.w_epoch, self.w_kind
        running, spans, keep_jobs = self.running, list(self.spans.values()), self.keep_jobs

        def end_job(w: int, t: float, reason: str) -> None:
            self.busy += t - w_start[w]
            self.n_jobs += 1
            running.discard(w_tid[w])
            if keep_jobs:
                for col, v in zip(spans, (w, w_tid[w], w_start[w], t, w_start_res[w], w_epoch[w], w_kind[w], reason)):
                    col.append(v)
            w_tid[w] = -1
        return end_job

    def _epoch_starter(self) -> Callable[[int, float], None]:
        objective, w_config, w_epoch, w_metrics, w_dt = self.objective, self.w_config, self.w_epoch, self.w_metrics, self.w_dt
        heap, seq, heappush = self.heap, self.seq, heapq.heappush

        def start_epoch(w: int, t: float) -> None:
            """Train the next epoch of worker `w`'s job: its report becomes an event at ``t + time``."""
            cfg = w_config[w]
            e = w_epoch[w] + 1
            m = objective(cfg, e)
            try:
                dt = m["time"]
            except (KeyError, TypeError):
                raise _bad_time(objective, cfg, e, None) from None
            if not dt >= 0.0 or dt == math.inf:
                raise _bad_time(objective, cfg, e, dt)
            w_metrics[w] = m
            w_dt[w] = dt
            heappush(heap, (t + dt, next(seq), w))
        return start_epoch

    def _dispatcher(self) -> Callable[[int, float], bool]:
        sched, started, configs, running, trained = self.scheduler, self.ledger.started_ids, self.configs, self.running, self.trained
        may_start, next_job, trial_config, start_epoch = self.stop.may_start, sched.next_job, sched.trial_config, self._epoch_starter()
        w_tid, w_config, w_epoch, w_until, w_start = self.w_tid, self.w_config, self.w_epoch, self.w_until, self.w_start
        w_start_res, w_kind, w_bracket = self.w_start_res, self.w_kind, self.w_bracket
        name = type(sched).__name__

        def dispatch(w: int, t: float) -> bool:
            """Ask for a job for free worker `w`; False if it must wait."""
            allowed = may_start(len(started))
            job = next_job(t, allowed)
            kind = job.kind
            if kind is WAIT_KIND:
                return False
            if kind is DONE_KIND:
                self.retired += 1
                return True
            tid = job.trial_id
            if kind is START_KIND and tid not in configs:  # a START of a known trial restarts it
                if not allowed:
                    raise ValueError(f"scheduler {name} started trial {tid} after next_job(allow_new=False): "
                                     f"the stop criterion allows no new trial")
                started.add(tid)
            if tid in running:
                raise ValueError(f"scheduler {name} handed out trial {tid}, which is still running on another worker")
            running.add(tid)
            if tid not in configs:
                configs[tid] = trial_config(tid) or job.config
                trained[tid] = 0.0
            if job.until <= job.start:
                raise ValueError(f"scheduler {name} returned an empty job {job}")
            w_tid[w], w_config[w], w_epoch[w], w_until[w] = tid, job.config, int(job.start), job.until
            w_start[w], w_start_res[w], w_kind[w], w_bracket[w] = t, job.start, kind.value, job.bracket
            start_epoch(w, t)
            return True
        return dispatch

    def run(self) -> None:
        """The event loop. The hot loop, one pass per report, is longer than ~80 lines on purpose:
        everything it needs is bound to locals and the next epoch's event is inlined."""
        wall0 = _time.perf_counter()
        dispatch, end_job, objective = self._dispatcher(), self._job_ender(), self.objective
        on_report, heap = self.scheduler.on_report, self.heap
        heappush, heappop, seq = heapq.heappush, heapq.heappop, self.seq
        w_tid, w_epoch, w_until, w_config = self.w_tid, self.w_epoch, self.w_until, self.w_config
        w_metrics, w_dt, w_bracket, trained = self.w_metrics, self.w_dt, self.w_bracket, self.trained
        rows, keep_rows = self.rows, self.keep_rows
        a_tid, a_res, a_time, a_wtime = rows.tid.append, rows.res.append, rows.time.append, rows.wtime.append
        a_worker, a_dec, a_bracket = rows.worker.append, rows.dec.append, rows.bracket.append
        c_metrics = rows.metrics
        stop, mode, metric, sign = self.stop, self.scheduler.mode, self.scheduler.metric, self.scheduler.sign
        max_time = stop.max_wallclock_time
        check_stop = stop.metric_threshold is not None or stop.max_results is not None or max_time is not None
        best = self.ledger.best
        best_loss = best.loss
        CONTINUE = Decision.CONTINUE
        n_results = self.ledger.n_results
        n_rows = 0
        now = 0.0
        waiting = [w for w in range(self.n_workers) if not dispatch(w, 0.0)]   # idle workers, ascending
        while heap:
            t, _, w = heappop(heap)
            if max_time is not None and t > max_time:
                heappush(heap, (t, _, w))
                now = float(max_time)
                self.stop_reason = "max_wallclock_time"
                break
            now = t
            tid = w_tid[w]
            e = w_epoch[w] + 1
            w_epoch[w] = e
            m = w_metrics[w]
            wt = trained[tid] + w_dt[w]
            trained[tid] = wt
            decision = on_report(tid, e, m, t)
            n_results += 1
            try:
                v = m[metric]
                loss = sign * v
                if loss < best_loss and loss != NEG_INF:   # the ledger's rule: finite values only
                    best_loss = loss
                    best.offer(loss, v, tid, e, t)
            except (KeyError, TypeError):
                v = None
            if keep_rows:
                a_tid(tid)
                a_res(e)
                a_time(t)
                a_wtime(wt)
                a_worker(w)
                a_dec(_CODE[decision])
                a_bracket(w_bracket[w])
                for k, val in m.items():
                    col = c_metrics.get(k)
                    if col is None:
                        col = c_metrics[k] = [math.nan] * n_rows
                    col.append(val)
                n_rows += 1
                if len(m) != len(c_metrics):
                    for col in c_metrics.values():
                        if len(col) < n_rows:
                            col.append(math.nan)

            if decision is CONTINUE and e < w_until[w]:
                # next epoch of the same job (start_epoch, inlined: this is the hottest path)
                m = objective(w_config[w], e + 1)
                try:
                    dt = m["time"]
                except (KeyError, TypeError):
                    raise _bad_time(objective, w_config[w], e + 1, None) from None
                if not dt >= 0.0 or dt == math.inf:
                    raise _bad_time(objective, w_config[w], e + 1, dt)
                w_metrics[w] = m
                w_dt[w] = dt
                heappush(heap, (t + dt, next(seq), w))
                ended = False
            else:
                end_job(w, t, _REASON[decision] if decision is not CONTINUE else "until")
                ended = True

            if check_stop:
                reason = stop_reason(stop, n_results, v, mode)
                if reason is None and max_time is not None and t >= max_time:
                    reason = "max_wallclock_time"
                if reason is not None:
                    self.stop_reason = reason
                    break

            if waiting:
                if ended:
                    waiting.append(w)
                    waiting.sort()
                waiting = [x for x in waiting if not dispatch(x, t)]
            elif ended and not dispatch(w, t):
                waiting.append(w)
        else:
            if waiting:
                self.stop_reason = STALLED  # workers wait, but nothing runs that could wake them
        self.ledger.n_results = n_results
        self.finish(now)
        self.wall = _time.perf_counter() - wall0

    def finish(self, now: float) -> None:
        """Interrupt whatever still runs, at simulated time `now`.

        Then take the checkpoints the scheduler let go (there are none to free here): the Ray
        runtime asks after each job, so both runners leave the scheduler in the same state.
        """
        self.now = now
        end_job = self._job_ender()
        for w in range(self.n_workers):
            tid = self.w_tid[w]
            if tid >= 0:
                end_job(w, now, "interrupted")
                self.scheduler.on_trial_end(tid, "interrupted")
        self.scheduler.removable_checkpoints()

    def summary(self) -> dict:
        end, wall, n_results = self.now, self.wall, self.ledger.n_results
        best = self.ledger.best.as_dict()
        if best is not None:
            best.update(tuner_time=self.ledger.best.time, config=self.configs.get(best["trial_id"]))
        return self.ledger.summary(
            self.scheduler, n_jobs=self.n_jobs, end_time=end, stop_reason=self.stop_reason, best=best,
            busy_fraction=self.busy / (self.n_workers * end) if end > 0 else None, wall_seconds=wall,
            results_per_second=n_results / wall if wall > 0 else None)

    def experiment(self, name: Optional[str], seed: Optional[int]) -> Experiment:
        sched = self.scheduler
        metadata = {
            "name": name or f"sim-{type(sched).__name__.lower()}",
            "experiment_id": uuid.uuid4().hex[:12],  # a rerun into the same folder is another experiment
            "backend": "simulated", "metric": sched.metric, "mode": sched.mode,
            "resource_attr": sched.resource_attr, "n_workers": self.n_workers, "seed": seed,
            "objective": repr(self.objective), "scheduler": _scheduler_info(sched), "stop": asdict(self.stop),
            "record": self.record, "summary": self.summary(),
        }
        results = self.rows.frame(sched.resource_attr, self.configs) if self.keep_rows else pd.DataFrame()
        jobs = pd.DataFrame(self.spans) if self.keep_jobs else None
        return Experiment(results, metadata, jobs)


def _column(values: list, dtype=None):
    """A numpy column from a list: int64 if all ints, float if all numbers, else objects."""
    if dtype is None:
        types_ = set(map(type, values))
        if types_ <= {int}:
            dtype = np.int64
        elif types_ <= {int, float, np.float64, np.int64}:
            dtype = float
        else:
            dtype = object
    try:
        return np.array(values, dtype=dtype)
    except (TypeError, ValueError, OverflowError):
        return np.array(values, dtype=object)



class _CallableModule(types.ModuleType):
    """`from raysha import simulate` finds this module (same name as the function): make it call."""

    def __call__(self, *args, **kwargs) -> Experiment:
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
