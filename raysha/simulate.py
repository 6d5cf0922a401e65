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

Job spans (worker, trial_id, start, end, start_resource, end_resource, kind,
end_reason) go to ``Experiment.jobs``: the worker timeline and the busy
fraction are measured from them.
"""

from __future__ import annotations

import gc
from array import array
import heapq
import sys
import types
import math
import time as _time
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import numpy as np
import pandas as pd

from raysha.results import EXPERIMENT_FILE, JOB_COLUMNS, Experiment, ResultsError
from raysha.schedulers.base import Decision, JobKind
from raysha.stop import StopCriterion

RECORD_MODES = ("all", "jobs", "none")
_REASON = {d: d.value for d in Decision}
_DECISIONS = [d.value for d in Decision]
_CODE = {d: i for i, d in enumerate(Decision)}

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
    # The garbage collector is paused while the simulation runs: with a million live trial
    # records its sweeps cost more than the simulation itself, and the loop makes no cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _simulate(scheduler, objective, n_workers, stop, seed, out, record, name)
    finally:
        if gc_was_enabled:
            gc.enable()


def _simulate(
    scheduler,
    objective: Callable[[Mapping[str, Any], int], Mapping[str, Any]],
    n_workers: int,
    stop: Optional[StopCriterion] = None,
    seed: Optional[int] = None,
    out=None,
    record: str = "all",
    name: Optional[str] = None,
) -> Experiment:
    if isinstance(n_workers, bool) or not isinstance(n_workers, (int, np.integer)) or n_workers < 1:
        raise ValueError(f"n_workers must be a positive integer, got {n_workers!r}")
    n_workers = int(n_workers)
    if record not in RECORD_MODES:
        raise ValueError(f"record must be one of {RECORD_MODES}, got {record!r}")
    stop = stop if stop is not None else StopCriterion()
    if not isinstance(stop, StopCriterion):
        raise TypeError(f"stop must be a StopCriterion, got {type(stop).__name__}")
    if stop == StopCriterion():
        raise ValueError("simulate needs a StopCriterion with a limit (max_trials, max_wallclock_time, "
                         "max_results or metric_threshold): the schedulers start new trials forever")
    if seed is not None and hasattr(objective, "with_seed"):
        objective = objective.with_seed(seed)
    if out is not None and (Path(out) / EXPERIMENT_FILE).exists():
        # refuse before running, not after: each simulation is a new experiment
        raise ResultsError(f"{out} already holds another experiment; choose another folder for this one")

    metric = scheduler.metric
    sign = scheduler.sign
    mode = scheduler.mode
    resource_attr = scheduler.resource_attr
    on_report = scheduler.on_report
    next_job = scheduler.next_job
    CONTINUE = Decision.CONTINUE
    START = JobKind.START
    WAIT_KIND = JobKind.WAIT
    DONE_KIND = JobKind.DONE

    max_time = stop.max_wallclock_time
    max_results = stop.max_results
    threshold = stop.metric_threshold
    may_start = stop.may_start

    keep_rows = record == "all"
    keep_jobs = record in ("all", "jobs")

    # per-worker state of the running job
    w_tid = [-1] * n_workers
    w_config: list = [None] * n_workers
    w_epoch = [0] * n_workers
    w_until = [0.0] * n_workers
    w_start = [0.0] * n_workers
    w_start_res = [0.0] * n_workers
    w_kind = [""] * n_workers
    w_bracket = [0] * n_workers
    w_metrics: list = [None] * n_workers
    w_dt = [0.0] * n_workers

    trained: dict[int, float] = {}   # trial -> simulated seconds trained so far (worker_time)
    configs: dict[int, dict] = {}    # trial -> config as first started
    running: set = set()             # trials with a job on some worker (a scheduler bug if handed out twice)

    # report columns
    # typed arrays: as fast to append to as lists, and numpy reads them without a copy
    c_tid = array("q")
    c_res = array("q")
    c_time = array("d")
    c_wtime = array("d")
    c_worker = array("q")
    c_dec = array("b")
    c_bracket = array("q")
    a_tid, a_res, a_time, a_wtime = c_tid.append, c_res.append, c_time.append, c_wtime.append
    a_worker, a_dec, a_bracket = c_worker.append, c_dec.append, c_bracket.append
    c_metrics: dict[str, list] = {}
    n_rows = 0
    # job span columns
    j_cols: dict[str, list] = {c: [] for c in JOB_COLUMNS}
    j_worker, j_trial, j_start, j_end, j_start_res, j_end_res, j_kind, j_reason = (
        j_cols[c].append for c in JOB_COLUMNS)

    heap: list = []
    heappush, heappop = heapq.heappush, heapq.heappop
    seq = 0
    now = 0.0
    n_started = 0
    n_results = 0
    n_jobs = 0
    busy = 0.0
    best_loss = math.inf
    best_value = None
    best_trial = None
    best_res = None
    best_time = None
    stopped_by = "exhausted"
    waiting: list[int] = []          # idle workers that got WAIT, ascending
    retired = 0

    def end_job(w: int, t: float, reason: str) -> None:
        nonlocal busy, n_jobs
        busy += t - w_start[w]
        n_jobs += 1
        running.discard(w_tid[w])
        if keep_jobs:
            j_worker(w)
            j_trial(w_tid[w])
            j_start(w_start[w])
            j_end(t)
            j_start_res(w_start_res[w])
            j_end_res(w_epoch[w])
            j_kind(w_kind[w])
            j_reason(reason)
        w_tid[w] = -1

    def start_epoch(w: int, t: float) -> None:
        nonlocal seq
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
        seq += 1
        heappush(heap, (t + dt, seq, w))

    def dispatch(w: int, t: float) -> bool:
        """Ask for a job for free worker `w`; False if it must wait."""
        nonlocal n_started, retired
        allowed = may_start(n_started)
        job = next_job(t, allowed)
        kind = job.kind
        if kind is WAIT_KIND:
            return False
        if kind is DONE_KIND:
            retired += 1
            return True
        tid = job.trial_id
        if kind is START and tid not in configs:  # a START of a known trial restarts it from scratch
            if not allowed:
                raise ValueError(f"scheduler {type(scheduler).__name__} started trial {tid} after "
                                 f"next_job(allow_new=False): the stop criterion allows no new trial")
            n_started += 1
        if tid in running:
            raise ValueError(f"scheduler {type(scheduler).__name__} handed out trial {tid}, "
                             f"which is still running on another worker")
        running.add(tid)
        if tid not in configs:
            rec = scheduler.trials.get(tid) if hasattr(scheduler, "trials") else None
            configs[tid] = rec.config if rec is not None else job.config
            trained[tid] = 0.0
        if job.until <= job.start:
            raise ValueError(f"scheduler {type(scheduler).__name__} returned an empty job {job}")
        w_tid[w] = tid
        w_config[w] = job.config
        w_epoch[w] = int(job.start)
        w_until[w] = job.until
        w_start[w] = t
        w_start_res[w] = job.start
        w_kind[w] = kind.value
        w_bracket[w] = job.bracket
        start_epoch(w, t)
        return True

    wall0 = _time.perf_counter()
    for w in range(n_workers):
        if not dispatch(w, 0.0):
            waiting.append(w)

    check_stop = threshold is not None or max_results is not None or max_time is not None
    while heap:
        t, _, w = heappop(heap)
        if max_time is not None and t > max_time:
            heappush(heap, (t, _, w))
            now = float(max_time)
            stopped_by = "max_wallclock_time"
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
            if loss < best_loss:
                best_loss, best_value, best_trial, best_res, best_time = loss, v, tid, e, t
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
            seq += 1
            heappush(heap, (t + dt, seq, w))
            ended = False
        else:
            end_job(w, t, _REASON[decision] if decision is not CONTINUE else "until")
            ended = True

        if check_stop:
            if threshold is not None and stop.target_reached(v, mode):
                stopped_by = "metric_threshold"
                break
            if max_results is not None and n_results >= max_results:
                stopped_by = "max_results"
                break
            if max_time is not None and t >= max_time:
                stopped_by = "max_wallclock_time"
                break

        if waiting:
            if ended:
                waiting.append(w)
                waiting.sort()
            still = []
            for x in waiting:
                if not dispatch(x, t):
                    still.append(x)
            waiting = still
        elif ended and not dispatch(w, t):
            waiting.append(w)
    else:
        if waiting:
            stopped_by = "stalled"  # workers wait, but nothing runs that could wake them

    # interrupt whatever still runs
    for w in range(n_workers):
        if w_tid[w] >= 0:
            tid = w_tid[w]
            end_job(w, now, "interrupted")
            scheduler.on_trial_end(tid, "interrupted")
    wall = _time.perf_counter() - wall0

    end_time = now
    summary = {
        "n_trials": n_started,
        "n_results": n_results,
        "n_jobs": n_jobs,
        "end_time": end_time,
        "busy_fraction": busy / (n_workers * end_time) if end_time > 0 else None,
        "stopped_by": stopped_by,
        "best": None if best_trial is None else {
            "trial_id": best_trial, "value": best_value, resource_attr: best_res,
            "tuner_time": best_time, "config": configs.get(best_trial),
        },
        "wall_seconds": wall,
        "results_per_second": n_results / wall if wall > 0 else None,
    }
    if hasattr(scheduler, "counts"):
        summary["trial_status"] = scheduler.counts()
    if hasattr(scheduler, "rung_sizes"):
        try:
            summary["rung_sizes"] = {str(b): {str(k): v for k, v in r.items()}
                                     for b, r in scheduler.rung_sizes().items()}
        except Exception:  # a progress display, never worth failing the run for
            pass

    metadata = {
        "name": name or f"sim-{type(scheduler).__name__.lower()}",
        "experiment_id": uuid.uuid4().hex[:12],  # a rerun into the same folder is another experiment
        "backend": "simulated",
        "metric": metric,
        "mode": mode,
        "resource_attr": resource_attr,
        "n_workers": n_workers,
        "seed": seed,
        "objective": repr(objective),
        "scheduler": _scheduler_info(scheduler),
        "stop": asdict(stop),
        "record": record,
        "summary": summary,
    }

    results = _build_results(keep_rows, resource_attr, c_tid, c_res, c_time, c_wtime, c_worker,
                             c_dec, c_bracket, c_metrics, configs)
    jobs = pd.DataFrame(j_cols) if keep_jobs else None
    exp = Experiment(results, metadata, jobs)
    if out is not None:
        exp.save(out)
    return exp


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


def _build_results(keep_rows, resource_attr, c_tid, c_res, c_time, c_wtime, c_worker, c_dec,
                   c_bracket, c_metrics, configs) -> pd.DataFrame:
    """One DataFrame from the column lists, built once at the end (no pandas per event)."""
    if not keep_rows:
        return pd.DataFrame()
    n = len(c_tid)
    tids = np.frombuffer(c_tid, dtype=np.int64)
    data: dict[str, Any] = {"trial_id": tids, resource_attr: np.frombuffer(c_res, dtype=np.int64)}
    for k, col in c_metrics.items():
        if k == "time":
            continue
        if k in data or k in ("tuner_time", "worker_time", "node", "worker", "decision", "bracket",
                              "epoch_time"):
            k = f"metric_{k}"
        data[k] = _column(col)
    if "time" in c_metrics:
        data["epoch_time"] = _column(c_metrics["time"], float)
    data["tuner_time"] = np.frombuffer(c_time, dtype=np.float64)
    data["worker_time"] = np.frombuffer(c_wtime, dtype=np.float64)
    data["node"] = pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), ["sim"])
    data["worker"] = np.frombuffer(c_worker, dtype=np.int64)
    data["decision"] = pd.Categorical.from_codes(np.frombuffer(c_dec, dtype=np.int8), _DECISIONS)
    data["bracket"] = np.frombuffer(c_bracket, dtype=np.int64)
    if configs and n:
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
        for k in names:
            data[f"config_{k}"] = columns[k][pos]
    return pd.DataFrame(data)  # copies: the frame must not share the arrays' buffers


class _CallableModule(types.ModuleType):
    """`from raysha import simulate` finds this module (same name as the function): make it call."""

    def __call__(self, *args, **kwargs) -> Experiment:
        return simulate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
