"""Runner-agnostic bookkeeping: the result-row format, best so far, stop criteria, counters, summary.

Both runners, the simulator (`raysha.simulate`) and the Ray scheduler actor
(`raysha.runtime.controller`), keep their books here, so a report becomes the
same result row under both and they stop for the same reasons. Pure Python:
no Ray, no pandas, no I/O.

A result row is ``trial_id``, the resource attribute, the report's metrics,
the trial's configuration as ``config_<name>``, then the system columns
``tuner_time``, ``worker_time``, ``node``, ``worker``, ``decision`` and
``bracket``. One rule for names that collide: a metric named like a system
column (or starting with ``config_``) is written as ``metric_<name>``, so a
trial reporting ``worker=3`` keeps it, as ``metric_worker``.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional

from raysha.stop import StopCriterion

#: why a run ended, in both runners' summaries (besides the `StopCriterion` limits, ``max_wallclock_time``,
#: ``max_results``, ``metric_threshold``, and a stop from outside, e.g. ``KeyboardInterrupt``)
EXHAUSTED = "exhausted"   # the scheduler has nothing more to run (DONE)
STALLED = "stalled"       # workers wait for work, but nothing runs that could give them any

#: the columns a runner writes in every row besides the trial, its resource, metrics and config
SYSTEM_COLUMNS = ("tuner_time", "worker_time", "node", "worker", "decision", "bracket")
_RESERVED = frozenset(("trial_id",) + SYSTEM_COLUMNS)


def metric_column(name: str) -> str:
    """The column a reported metric is written to: its name, or ``metric_<name>`` where that is taken.

    >>> metric_column("loss"), metric_column("worker"), metric_column("config_lr")
    ('loss', 'metric_worker', 'metric_config_lr')
    """
    if name in _RESERVED or name.startswith("config_"):
        return f"metric_{name}"
    return name


_SCALARS = (int, float, str, bool, type(None))


def plain_scalars(row: dict) -> dict:
    """Turn numpy scalars in a report into Python ones, in place (rows are plain JSON/parquet values).

    >>> import numpy as np
    >>> plain_scalars({"loss": np.float32(0.5), "n": np.int64(3)})
    {'loss': 0.5, 'n': 3}
    """
    for k, v in row.items():
        if not isinstance(v, _SCALARS) and hasattr(v, "item"):
            try:
                row[k] = v.item()
            except Exception:
                pass
    return row


def result_row(trial_id: int, resource_attr: str, metrics: Mapping[str, Any], config: Mapping[str, Any],
               **system) -> dict:
    """One result row: trial, resource, metrics (renamed where they collide), ``config_*``, system columns.

    >>> result_row(2, "epoch", {"epoch": 3, "loss": 0.1, "node": "mine"}, {"lr": 0.5},
    ...            tuner_time=1.5, worker_time=0.5, node="n0", worker=1, decision="continue", bracket=0)
    ... # doctest: +NORMALIZE_WHITESPACE
    {'trial_id': 2, 'epoch': 3, 'loss': 0.1, 'metric_node': 'mine', 'config_lr': 0.5, 'tuner_time': 1.5,
     'worker_time': 0.5, 'node': 'n0', 'worker': 1, 'decision': 'continue', 'bracket': 0}
    """
    out = {"trial_id": trial_id, resource_attr: metrics[resource_attr]}
    for k, v in metrics.items():
        if k != resource_attr:
            out[metric_column(k)] = v
    for k, v in config.items():
        out["config_" + k] = v
    out.update(system)
    return out


class Best:
    """The best report so far: the lowest loss (``sign * value``); ties keep the first.

    >>> b = Best("loss", "epoch")
    >>> b.offer(0.5, 0.5, trial_id=0, resource=1, time=1.0); b.offer(0.7, 0.7, 1, 1, 2.0); b.as_dict()
    {'value': 0.5, 'trial_id': 0, 'epoch': 1}
    """

    __slots__ = ("metric", "resource_attr", "loss", "value", "trial_id", "resource", "time")

    def __init__(self, metric: str, resource_attr: str):
        self.metric = metric
        self.resource_attr = resource_attr
        self.loss = math.inf
        self.value = self.trial_id = self.resource = self.time = None

    def offer(self, loss: float, value, trial_id: int, resource, time: Optional[float] = None) -> None:
        if loss < self.loss:
            self.loss, self.value, self.trial_id, self.resource, self.time = loss, value, trial_id, resource, time

    def as_dict(self) -> Optional[dict]:
        if self.trial_id is None:
            return None
        return {"value": self.value, "trial_id": self.trial_id, self.resource_attr: self.resource}

    def load(self, d: Optional[dict], loss: Callable[[Mapping], float]) -> None:
        """From `as_dict` (a journal); ``loss`` is the scheduler's, which turns a value into a loss."""
        if d and d.get(self.resource_attr) is not None:
            lo = loss({self.metric: d.get("value")})
            if math.isfinite(lo):
                self.offer(lo, d.get("value"), int(d["trial_id"]), d[self.resource_attr])


def stop_reason(stop: StopCriterion, n_results: int, value, mode: str) -> Optional[str]:
    """Why a report ends the run (``max_results``, ``metric_threshold``), or None.

    >>> stop_reason(StopCriterion(max_results=3), 3, 0.5, "min"), stop_reason(StopCriterion(), 3, 0.5, "min")
    ('max_results', None)
    """
    if stop.results_up(n_results):
        return "max_results"
    if stop.target_reached(value, mode):
        return "metric_threshold"
    return None


class Ledger:
    """A runner's books: trials started, rows recorded (each level of a trial once), best, stop, warnings.

    >>> from raysha.schedulers.fifo import RandomSearch
    >>> sched = RandomSearch({"x": 0.5}, metric="loss", max_t=3)
    >>> led = Ledger(sched, StopCriterion(max_results=2))
    >>> led.start(0); led.is_new(0, 1)
    True
    >>> led.record(0, 1, {"epoch": 1, "loss": 0.4}), led.record(0, 2, {"epoch": 2, "loss": 0.3})
    (None, 'max_results')
    >>> led.is_new(0, 2), led.n_results, led.best.as_dict()
    (False, 2, {'value': 0.3, 'trial_id': 0, 'epoch': 2})
    """

    def __init__(self, scheduler, stop: StopCriterion):
        self.loss = scheduler.loss
        self.metric = scheduler.metric
        self.mode = scheduler.mode
        self.resource_attr = scheduler.resource_attr
        self.stop = stop
        self.started_ids: set[int] = set()
        self.max_recorded: dict[int, float] = {}   # trial_id -> largest level in the results
        self.best = Best(self.metric, self.resource_attr)
        self.n_results = 0
        self.warnings: dict[str, str] = {}         # kind -> the first warning of that kind

    @property
    def n_started(self) -> int:
        return len(self.started_ids)

    def start(self, trial_id: int) -> None:
        self.started_ids.add(trial_id)

    def may_start(self) -> bool:
        return self.stop.may_start(self.n_started)

    def is_new(self, trial_id: int, resource) -> bool:
        """Is this level of the trial not in the results yet (a trial restarted from 0 replays levels)?"""
        return resource > self.max_recorded.get(trial_id, -math.inf)

    def record(self, trial_id: int, resource, metrics: Mapping[str, Any], now: Optional[float] = None
               ) -> Optional[str]:
        """Count a recorded row and offer it as the best; the stop criterion it reaches, or None."""
        self.max_recorded[trial_id] = resource
        self.n_results += 1
        value = metrics.get(self.metric)
        loss = self.loss(metrics)
        if loss < math.inf:
            self.best.offer(loss, value, trial_id, resource, now)
        return stop_reason(self.stop, self.n_results, value, self.mode)

    def record_again(self, trial_id: int, resource, metrics: Mapping[str, Any], now: Optional[float] = None) -> None:
        """Count a row produced again after its results part was lost (a repaired restore)."""
        self.n_results += 1
        loss = self.loss(metrics)
        if loss < math.inf:
            self.best.offer(loss, metrics.get(self.metric), trial_id, resource, now)

    def check_metric(self, trial_id: int, metrics: Mapping[str, Any], resource) -> Optional[str]:
        """A warning, the first time reports lack the metric or hold a non-finite one (else None)."""
        metric = self.metric
        if metric not in metrics:
            return self._warn("metric_missing",
                              f"raysha: trial {trial_id} reported {sorted(metrics)} without the metric "
                              f"{metric!r} the scheduler ranks by; such reports count as the worst value "
                              f"(check the scheduler's metric= and the names given to report())")
        v = metrics[metric]
        try:
            finite = math.isfinite(float(v))
        except (TypeError, ValueError):
            finite = False
        if finite:
            return None
        return self._warn("metric_not_finite",
                          f"raysha: trial {trial_id} reported {metric}={v!r} at {self.resource_attr}={resource}; "
                          f"NaN, infinite or non-numeric values count as the worst value (logged once)")

    def _warn(self, kind: str, msg: str) -> Optional[str]:
        if kind in self.warnings:
            return None
        self.warnings[kind] = msg
        return msg

    # -- state -------------------------------------------------------------------------------
    def state(self) -> dict:
        """What the journal keeps of the books."""
        return {"n_results": self.n_results, "n_started": self.n_started, "started_ids": sorted(self.started_ids),
                "max_recorded": {str(t): r for t, r in self.max_recorded.items()}, "best": self.best.as_dict()}

    def load(self, state: Mapping[str, Any]) -> None:
        self.max_recorded.update({int(t): r for t, r in (state.get("max_recorded") or {}).items()})
        self.started_ids.update(int(t) for t in state.get("started_ids") or [])
        self.n_results = int(state.get("n_results") or 0)
        self.best.load(state.get("best"), self.loss)

    def summary(self, scheduler, **extra) -> dict:
        """The run's summary: trials, results, best, trials by status, rung sizes, warnings, plus ``extra``."""
        out = {"n_trials": self.n_started, "n_results": self.n_results, "best": self.best.as_dict(),
               "counts": scheduler.counts(), "rung_sizes": rung_sizes(scheduler), "warnings": dict(self.warnings)}
        out.update(extra)
        return out


def rung_sizes(scheduler) -> Optional[dict]:
    """{bracket: {level: trials}} with string keys (JSON), or None when the scheduler cannot say."""
    try:
        return {str(b): {str(k): v for k, v in r.items()} for b, r in scheduler.rung_sizes().items()}
    except Exception:   # a progress display, never worth failing the run for
        return None
