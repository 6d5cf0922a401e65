"""The per-trial session: the function API (`report`, `get_checkpoint`, `get_shared`) and report batching.

A trial actor opens one `Session` per job. Every report of the trial, from the
function API or from the class API's loop, goes through `Session.report`:

* between the job's milestones the report is only buffered; the buffer is sent
  to the scheduler actor fire-and-forget, at most every ``flush_interval``
  seconds (or every ``max_batch`` reports), so no report waits for a round trip;
* at a milestone the buffer is sent and the worker waits for the decision.
  PAUSE and STOP unwind the user's code with a private `BaseException`
  (`_TrialExit`), which the trial actor catches: a bare ``except Exception`` in
  user code does not swallow it.

Each batch carries a sequence number, so the scheduler actor processes a job's
reports in order even if two calls arrive out of order.

When a function trainable returns, the trial actor calls `Session.finish` with
its return value: a returned dict of metrics is recorded as the trial's last
report (Ray Tune 1.x style), and a trial that never reported is warned about.
"""

from __future__ import annotations

import math
import numbers
import threading
import time
import warnings
from collections.abc import Mapping
from typing import Any, Optional

from raysha.runtime import checkpoints as ck

_local = threading.local()


class _TrialExit(BaseException):
    """Raised inside user code to end the job (not an Exception: user `except Exception` won't catch it)."""

    status = "stopped"


class _PauseTrial(_TrialExit):
    status = "paused"


class _StopTrial(_TrialExit):
    status = "stopped"


class _InterruptTrial(_TrialExit):
    status = "interrupted"


class _CompleteTrial(_TrialExit):
    status = "completed"


_EXITS = {"pause": _PauseTrial, "stop": _StopTrial, "interrupt": _InterruptTrial}


class Session:
    """One job of one trial on one worker (created by the trial actor)."""

    def __init__(self, controller, job: dict, resource_attr: str, shared: dict,
                 checkpoint_loader, flush_interval: float = 0.25, max_batch: int = 2000,
                 max_checkpoint_bytes: Optional[int] = None):
        self.controller = controller
        self.job = job
        self.key = job["key"]
        self.trial_id = job["trial_id"]
        self.config = job["config"]
        self.resource_attr = resource_attr
        self.shared = shared
        self._checkpoint_loader = checkpoint_loader
        self._checkpoint_loaded = False
        self._checkpoint = None
        self.start = job["start"]
        self.until = job["until"]
        self.milestones = sorted(job["milestones"])
        self._mi = 0
        self.flush_interval = flush_interval
        self.max_batch = max_batch
        self.t0 = time.monotonic()
        self.last_flush = self.t0
        self.seq = 0
        self.buffer: list[dict] = []
        self.last_resource = self.start
        self.last_checkpoint = None   # checkpoint given with the latest report (function API)
        self.last_checkpoint_data: Optional[bytes] = None   # its pickled bytes, checked (the job's last report)
        self.max_checkpoint_bytes = max_checkpoint_bytes
        self.n_reports = 0
        self.n_calls = 0              # report() calls, stale ones included
        self._flush_ref = None
        self._warned_stale = False

    # -- checkpoint -------------------------------------------------------------
    def get_checkpoint(self):
        if not self._checkpoint_loaded:
            self._checkpoint = self._checkpoint_loader() if self._checkpoint_loader else None
            self._checkpoint_loaded = True
        return self._checkpoint

    # -- reports ----------------------------------------------------------------
    def report(self, metrics: dict, checkpoint: Any = None) -> None:
        self.n_calls += 1
        attr = self.resource_attr
        resource = metrics.get(attr)
        if resource is None:
            resource = self.last_resource + 1
            metrics = dict(metrics)
            metrics[attr] = resource
        self._check_resource(resource)
        if resource <= self.last_resource:
            # a restarted function loop replays epochs the trial already has: never record twice
            if not self._warned_stale:
                self._warned_stale = True
                warnings.warn(
                    f"raysha: trial {self.trial_id} reported {attr}={resource} but is at "
                    f"{attr}={self.last_resource} already; reports at or below that level are not "
                    f"logged again (resuming from get_checkpoint() avoids repeating work)", stacklevel=3)
            return
        if resource >= self.until:
            # the job's last report: a pause keeps this checkpoint, so it must be storable; an error
            # here fails the trial at this report, before the scheduler sees it
            self.last_checkpoint_data = ck.encode_checked(
                checkpoint, self.max_checkpoint_bytes, f"trial {self.trial_id}'s checkpoint at {attr}={resource}")
        self.last_resource = resource
        self.last_checkpoint = checkpoint
        self.n_reports += 1
        now = time.monotonic()
        row = dict(metrics)
        row["worker_time"] = now - self.t0
        self.buffer.append(row)
        ms = self.milestones
        if self._mi < len(ms) and resource >= ms[self._mi]:
            while self._mi < len(ms) and resource >= ms[self._mi]:
                self._mi += 1
            decision = self._send(want=True)
            self._act(decision, at_milestone=True)
            if resource >= self.until:
                # the scheduler let the trial go on past the end of its job: the job is over
                raise _CompleteTrial()
        elif now - self.last_flush >= self.flush_interval or len(self.buffer) >= self.max_batch:
            self._check_previous_flush()
            self._flush_ref = self._send(want=False)

    def _check_resource(self, resource) -> None:
        """A resource level must be a finite number within the job's end (``until``: max_t or the rung)."""
        attr, tid = self.resource_attr, self.trial_id
        if not _is_number(resource):
            raise TypeError(f"raysha.report(): trial {tid} reported {attr}={resource!r}; the resource attribute "
                            f"{attr!r} must be a number (an epoch, a step count, seconds)")
        if not math.isfinite(resource):
            raise ValueError(f"raysha.report(): trial {tid} reported {attr}={resource!r}; the resource attribute "
                             f"{attr!r} must be a finite number")
        if resource > self.until:
            raise ValueError(f"raysha.report(): trial {tid} reported {attr}={resource!r}, past the end of its job "
                             f"at {attr}={self.until:g} (the scheduler's max_t, or the rung it runs to; the config "
                             f"names it when the scheduler has max_resource_attr)")

    def finish(self, returned: Any) -> None:
        """The function trainable returned `returned`: record a returned dict, warn about a silent trial.

        A dict is recorded as the trial's last report when the trial has not reported
        yet, or when it names the resource attribute at a level past the last report;
        otherwise it is not recorded (a warning says so). A trial that returns without
        having called `report` and without a dict gets a warning naming it.
        """
        attr, tid = self.resource_attr, self.trial_id
        if isinstance(returned, Mapping):
            level = returned.get(attr)
            if self.n_calls == 0 or (_is_number(level) and level > self.last_resource):
                self.report(_metrics_dict(returned, "the returned value"))
                return
            _warn(f"raysha: trial {tid} returned a dict after reporting up to {attr}={self.last_resource}; "
                  f"it is not recorded (give it {attr!r} past that level, or report it with raysha.report)")
        elif returned is not None:
            _warn(f"raysha: trial {tid}'s trainable returned a {type(returned).__name__}; return values "
                  f"other than a dict of metrics are ignored")
        if self.n_calls == 0:
            _warn(f"raysha: trial {tid} ended without calling raysha.report(): nothing was recorded for it "
                  f"(call report({{'{attr}': ..., 'metric': ...}}) each {attr}, or return a dict of metrics)")

    def _send(self, want: bool):
        import ray

        rows, self.buffer = self.buffer, []
        seq = self.seq
        self.seq += 1
        self.last_flush = time.monotonic()
        ref = self.controller.report.remote(self.key, seq, rows, want)
        return ray.get(ref) if want else ref

    def _check_previous_flush(self) -> None:
        """Read the answer to the last fire-and-forget batch if it is there (never blocks)."""
        import ray

        ref = self._flush_ref
        if ref is None:
            return
        ready, _ = ray.wait([ref], timeout=0, fetch_local=True)
        if ready:
            self._flush_ref = None
            self._act(ray.get(ref), at_milestone=False)

    def _act(self, decision: str, at_milestone: bool) -> None:
        if decision == "continue":
            return
        exc = _EXITS.get(decision)
        if exc is not None:
            raise exc()

    def tail(self) -> tuple[int, list]:
        """The reports not sent yet and their sequence number (they ride on the job's return value)."""
        rows, self.buffer = self.buffer, []
        seq = self.seq
        self.seq += 1
        return seq, rows


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=2)


def _is_number(x) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, bool)


def _metrics_dict(metrics, what: str) -> dict:
    """`metrics` as a plain dict with string keys, or a TypeError naming `what` and the expected form."""
    if not isinstance(metrics, Mapping):
        raise TypeError(f"raysha.report(): {what} must be a dict of metric name -> value, e.g. "
                        f"report({{'epoch': 3, 'loss': 0.2}}) or report(epoch=3, loss=0.2); got "
                        f"{type(metrics).__name__} (a checkpoint goes in checkpoint=...)")
    bad = [k for k in metrics if not isinstance(k, str)]
    if bad:
        raise TypeError(f"raysha.report(): metric names must be strings, got {bad[0]!r} in {what}")
    return dict(metrics)


# -- the function API -------------------------------------------------------------

def _current() -> Session:
    s = getattr(_local, "session", None)
    if s is None:
        raise RuntimeError(
            "raysha.report()/get_checkpoint()/get_shared() can only be called inside a trial "
            "run by raysha.Tuner")
    return s


def _set_session(s: Optional[Session]) -> None:
    _local.session = s


def report(metrics: Optional[Mapping[str, Any]] = None, /, *, checkpoint: Any = None, **kwargs) -> None:
    """Report the metrics of one resource level: ``report({"epoch": 3, "loss": 0.2})`` or ``report(epoch=3, loss=0.2)``.

    Both forms record the same row (the dict form is Ray Tune 2.x's); given
    both, the dict and the keywords are merged, and a name in both is a
    TypeError. The resource attribute (``epoch`` for most schedulers) should be
    given; if it is missing, the reports are numbered 1, 2, ... from where the
    job starts. ``checkpoint`` (keyword only; any picklable object) is only
    stored when the scheduler pauses the trial at this report; on resume
    `get_checkpoint()` returns it. At the job's last report (where a pause can
    happen) it is pickled and checked: one that cannot be pickled, or is over
    ``Tuner(max_checkpoint_bytes=...)``, raises `CheckpointError` here, naming the
    trial, the level and the type, and the trial fails. When the scheduler pauses or stops the trial,
    `report` does not return: it raises a private exception that ends the trial
    function (keep cleanup in ``finally`` blocks or context managers).
    """
    row = {} if metrics is None else _metrics_dict(metrics, "its positional argument")
    both = sorted(set(row) & set(kwargs))
    if both:
        raise TypeError(f"raysha.report(): {both[0]!r} is given both in the dict and as a keyword; give it once")
    row.update(kwargs)
    _current().report(row, checkpoint)


def get_checkpoint() -> Any:
    """None for a new trial; for a resumed trial, the checkpoint it reported when it was paused."""
    return _current().get_checkpoint()


def get_shared(name: str) -> Any:
    """An object passed as ``Tuner(shared_objects={name: obj})``, fetched once per worker process."""
    shared = _current().shared
    if name not in shared:
        raise KeyError(f"no shared object {name!r}; Tuner(shared_objects=...) has {sorted(shared)}")
    return shared[name]


def get_trial_id() -> int:
    """The id of the trial this code runs for."""
    return _current().trial_id


def get_config() -> dict:
    """The config of the running job (``max_resource_attr`` set to where this job stops)."""
    return _current().config


__all__ = ["report", "get_checkpoint", "get_shared", "get_trial_id", "get_config"]
