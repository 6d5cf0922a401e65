"""Driver-side hooks: `Callback` and the `CallbackRunner` that feeds it in batches.

`Tuner(callbacks=[...])`: while `fit()` waits, the driver polls the scheduler actor
about once a second for the trial events since its last poll
(`raysha.runtime.events`, `raysha.runtime.watch`), and the `CallbackRunner` turns
them into hook calls, in the driver process: a slow or raising callback never slows
the scheduler actor. A callback that raises is reported once (with its traceback)
and keeps being called; the experiment goes on. `CallbackRunner.feed` takes a batch
of rows and trial statuses directly (for other drivers).

Every trial gets exactly one ``on_trial_start`` (before its first ``on_report``) and
exactly one ``on_trial_end``: when the scheduler stops or completes it, when it
fails, or, for trials left paused or running when the experiment ends, just
before ``on_experiment_end``.
"""

from __future__ import annotations

import dataclasses
import sys
import traceback
from typing import Any, Iterable, Mapping, Optional, Sequence

FINISHED = ("stopped", "completed", "failed")


@dataclasses.dataclass(frozen=True)
class ExperimentInfo:
    """What a callback knows about the experiment before the first trial starts.

    >>> ExperimentInfo("demo", "/tmp/demo", metric="loss").mode
    'min'
    """

    name: str
    folder: str
    metric: Optional[str] = None
    mode: str = "min"
    resource_attr: str = "epoch"


class Callback:
    """Base class of driver-side hooks; override the ones you need (each default does nothing).

    ``row`` is one result row as it lands in the results (``trial_id``, the resource
    attribute, the reported metrics, ``config_*``, ``tuner_time``, ``decision`` ...).
    ``status`` is the trial's final status: ``stopped``, ``completed``, ``failed``,
    or ``paused`` / ``running`` when the experiment ended first.

    >>> class Hello(Callback):
    ...     def on_trial_start(self, trial_id, config):
    ...         print("trial", trial_id, config)
    >>> Hello().on_trial_start(0, {"lr": 0.1})
    trial 0 {'lr': 0.1}
    """

    def on_experiment_start(self, info: ExperimentInfo) -> None:
        pass

    def on_trial_start(self, trial_id: int, config: dict) -> None:
        pass

    def on_report(self, trial_id: int, row: dict) -> None:
        pass

    def on_trial_end(self, trial_id: int, status: str, last_row: Optional[dict]) -> None:
        pass

    def on_experiment_end(self, experiment) -> None:
        """``experiment`` is the `raysha.results.Experiment` read back from the folder (or None)."""


def _config_from_row(row: Mapping) -> dict:
    return {k[len("config_"):]: v for k, v in row.items() if isinstance(k, str) and k.startswith("config_")}


def _replayed(row: Mapping, last: Optional[Mapping], attr: str) -> bool:
    """True when ``row`` is at a level at or below the trial's last row (a restarted run re-sends it)."""
    try:
        return last is not None and float(row[attr]) <= float(last[attr])
    except (KeyError, TypeError, ValueError):
        return False


class CallbackRunner:
    """Turns polled batches (rows and trial statuses) into hook calls on each callback.

    >>> class Count(Callback):
    ...     def __init__(self):
    ...         self.reports = 0
    ...     def on_report(self, trial_id, row):
    ...         self.reports += 1
    >>> c = Count()
    >>> runner = CallbackRunner([c], ExperimentInfo(name="demo", folder="/tmp/demo", metric="loss", mode="min"))
    >>> runner.feed(rows=[{"trial_id": 0, "epoch": 1, "loss": 0.5, "config_x": 1.0}])
    >>> runner.feed(trials={0: {"status": "completed", "config": {"x": 1.0}}})
    >>> runner.end(None)
    >>> c.reports, runner.ended
    (1, {0: 'completed'})
    """

    def __init__(self, callbacks: Sequence[Callback], info: ExperimentInfo, err=None):
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected raysha.callbacks.Callback instances, got {cb!r}")
        self.callbacks = list(callbacks)
        self.info = info
        self.err = err or sys.stderr
        self.started: dict[int, dict] = {}
        self.ended: dict[int, str] = {}
        self.last_row: dict[int, dict] = {}
        self.errors: dict[int, int] = {}        # index of the callback -> how many of its calls raised
        self._call("on_experiment_start", info)

    def _call(self, hook: str, *args) -> None:
        for i, cb in enumerate(self.callbacks):
            try:
                getattr(cb, hook)(*args)
            except Exception:
                self.errors[i] = self.errors.get(i, 0) + 1
                if self.errors[i] == 1:
                    print(f"raysha: callback {type(cb).__name__}.{hook} raised (reported once; the "
                          f"experiment goes on):\n{traceback.format_exc()}", file=self.err, flush=True)

    def trial_started(self, tid: int, config: Mapping) -> None:
        """``on_trial_start`` once per trial (later calls for the same trial do nothing)."""
        if tid not in self.started:
            self.started[tid] = dict(config)
            self._call("on_trial_start", tid, dict(config))

    def reported(self, row: Mapping) -> None:
        """``on_report`` for one result row; a level the trial reported already is skipped (a replay)."""
        tid = int(row["trial_id"])
        self.trial_started(tid, _config_from_row(row))
        if _replayed(row, self.last_row.get(tid), self.info.resource_attr):
            return
        self.last_row[tid] = dict(row)
        self._call("on_report", tid, dict(row))

    def trial_ended(self, tid: int, status: str) -> None:
        """``on_trial_end`` once per trial, with its last reported row."""
        if tid not in self.ended:
            self.ended[tid] = status
            self._call("on_trial_end", tid, status, self.last_row.get(tid))

    def feed(self, rows: Iterable[Mapping] = (), trials: Optional[Mapping[Any, Mapping]] = None) -> None:
        """One polled batch: new result rows (oldest first), then ``{trial_id: {"status", "config"}}``."""
        for row in rows:
            self.reported(row)
        for tid, t in (trials or {}).items():
            tid = int(tid)
            self.trial_started(tid, t.get("config") or {})
            if t.get("status") in FINISHED:
                self.trial_ended(tid, t["status"])

    def end(self, experiment, trials: Optional[Mapping[Any, Mapping]] = None) -> None:
        """The experiment is over: end the trials still open (paused, running), then ``on_experiment_end``."""
        self.feed(trials=trials)
        for tid in list(self.started):
            t = (trials or {}).get(tid) or (trials or {}).get(str(tid)) or {}
            self.trial_ended(tid, t.get("status") or "paused")
        self._call("on_experiment_end", experiment)
        failing = [f"{type(self.callbacks[i]).__name__} ({n} calls)" for i, n in self.errors.items()]
        if failing:
            print(f"raysha: callbacks that raised: {', '.join(failing)}", file=self.err, flush=True)
