"""The scheduler contract: what every scheduler gives the runners (the simulator and the Ray scheduler actor).

A scheduler is plain, synchronous Python: no Ray, no torch, no I/O, no
printing; time is passed in (``now``), never read. A runner drives it and
reads nothing else: no ``trials``, no private state, no `Job` built by hand.

Abstract (every scheduler implements them):

* ``next_job(now, allow_new=True) -> Job`` when a worker is free: a START
  (a new trial, ``start=0``) or a RESUME (a paused trial, from its checkpoint
  at ``start``) up to ``until``, or `WAIT` (ask again after the next report or
  trial end) or `DONE` (nothing will ever run again). ``allow_new=False``:
  the runner's stop criterion forbids new trials.
* ``on_report(trial_id, resource, metrics, now) -> Decision`` for every
  report: CONTINUE, PAUSE or STOP. Only a report at one of the job's
  ``milestones`` may end the job; between milestones the answer is CONTINUE,
  so the runner need not wait for it. A report at ``max_t`` completes the
  trial (STOP).

Defaults (override when the scheduler needs to; call ``super()`` in the state methods):

* ``on_trial_end(trial_id, status)``: a job ended without a decision ending it,
  ``"failed"`` (the trainable raised or its worker died) or ``"interrupted"``
  (the run was stopped). PAUSE, STOP and completion need no call.
* ``removable_checkpoints() -> list[int]``: paused trials whose checkpoints
  may be freed now, each reported once (default: none).
* ``rung_sizes() -> {bracket: {level: n}}`` for progress displays (default ``{}``).
* ``trial_config(trial_id)``, ``running_trial_ids()``: what the runner needs
  to know of the trials (a restore runs the running ones again first).
* ``retry_job(trial_id, start) -> Job | None``: the RESUME that carries on a
  RUNNING trial whose job was lost (a retry after a failure, or a restore),
  built from the trial's ``until`` and ``milestones``.
* ``state_dict()`` / ``load_state_dict(state)``: the whole state as JSON
  types; extend both (``state = super().state_dict(); state["mine"] = ...``).
* ``loss(metrics)``, ``counts()``: the report's metric as a loss (lower is
  better; missing, NaN or infinite is worst) and trials per status, used by
  the runners for best-so-far and the summary.

Attributes the runners read: ``space``, ``metric``, ``mode``, ``sign``
(+1 for min, -1 for max: ``loss = sign * value``), ``resource_attr``,
``max_resource_attr`` (or None) and ``pauses_trials`` (True when trials pause
and resume, so checkpoints must be kept).

What a scheduler must keep true (restore and retries depend on it):

* Every trial it starts goes through `new_trial` and has a `TrialRecord` in
  ``self.trials``, and the record stays right: ``status`` is RUNNING exactly
  while a job of it runs (PAUSED, STOPPED, COMPLETED, FAILED, INTERRUPTED
  otherwise), ``until`` and ``milestones`` are those of its current job. The
  default ``running_trial_ids`` and ``retry_job`` read them: a wrong ``until``
  retrains a trial too far or too little after a failure or a restore.
* ``state_dict()`` is JSON (write non-finite floats with
  `raysha.floats.encode_float`) and ``load_state_dict(state_dict())`` on a
  fresh instance built with the same arguments gives a scheduler that makes
  exactly the decisions the original would have made.
* Decisions are deterministic given the constructor arguments (``random_seed``
  included) and the order of calls: all randomness comes from ``self.rng``,
  and nothing depends on wall-clock time or object ids.

>>> from raysha.space import uniform
>>> from raysha.schedulers import ASHA
>>> s = ASHA({"lr": uniform(0, 1)}, metric="loss", max_t=9, type="promotion")
>>> job = s.next_job(now=0.0)
>>> job.kind.value, job.trial_id, job.until, job.milestones
('start', 0, 1, (1,))
>>> s.on_report(job.trial_id, 1, {"loss": 0.3}, now=1.0).value
'pause'
>>> s.running_trial_ids(), s.trials[0].status.value
([], 'paused')

Adding a scheduler: ``docs/new-scheduler.md``.
"""

from __future__ import annotations

import abc
import difflib
import functools
import inspect
import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from raysha import space as sp
from raysha.floats import decode_float, encode_float
from raysha.searchers import make_searcher


class SchedulerError(ValueError):
    """A scheduler was configured with bad arguments (the message names the field).

    >>> from raysha.schedulers import ASHA
    >>> ASHA({"lr": 0.1}, metric="loss", max_t=9, reduction_factor=1)
    Traceback (most recent call last):
    raysha.schedulers.base.SchedulerError: reduction_factor must be a number >= 2, got 1
    """


class UnknownOptionError(SchedulerError, TypeError):
    """A scheduler was given an option it does not have (a TypeError too, as Python would raise).

    >>> from raysha.schedulers import ASHA
    >>> ASHA({"lr": 0.1}, metric="loss", max_t=9, grace_periods=2)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    raysha.schedulers.base.UnknownOptionError: ASHA: unknown option 'grace_periods' (did you mean 'grace_period'?); ...
    """


def _check_options(init):
    """Wrap a scheduler's ``__init__``: an unknown keyword names itself, a close match and the valid ones."""
    sig = inspect.signature(init)
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return init          # forwards **kwargs: the parent's check applies
    valid = [n for n, p in sig.parameters.items()
             if n != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    @functools.wraps(init)
    def checked(self, *args, **kwargs):
        unknown = [k for k in kwargs if k not in valid]
        if unknown:
            name = type(self).__name__
            hints = []
            for k in unknown:
                close = difflib.get_close_matches(k, valid, n=1)
                hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise UnknownOptionError(
                f"{name}: unknown option{'s' if len(unknown) > 1 else ''} {', '.join(hints)}; "
                f"valid options: {', '.join(valid)}")
        return init(self, *args, **kwargs)

    checked._raysha_checks_options = True
    return checked


class Decision(str, Enum):
    """`Scheduler.on_report`'s answer: go on, pause (resumable later) or stop for good.

    >>> Decision("pause") is Decision.PAUSE, Decision.STOP.value
    (True, 'stop')
    """

    CONTINUE = "continue"
    PAUSE = "pause"
    STOP = "stop"


class JobKind(str, Enum):
    """What a `Job` asks a free worker to do.

    >>> [k.value for k in JobKind]
    ['start', 'resume', 'wait', 'done']
    """

    START = "start"      # a new trial, trained from scratch
    RESUME = "resume"    # a paused trial, trained on from its checkpoint at `start`
    WAIT = "wait"        # nothing to run now; ask again after the next report or trial end
    DONE = "done"        # nothing will ever run again


class TrialStatus(str, Enum):
    """Where a trial stands, as its `TrialRecord` says; ``finished`` trials never run again.

    >>> TrialStatus.PAUSED.finished, TrialStatus.COMPLETED.finished
    (False, True)
    """

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"        # stopped early by the scheduler
    COMPLETED = "completed"    # reached max_t
    FAILED = "failed"
    INTERRUPTED = "interrupted"

    @property
    def finished(self) -> bool:
        return self in (TrialStatus.STOPPED, TrialStatus.COMPLETED, TrialStatus.FAILED)


@dataclass(frozen=True)
class Job:
    """What a free worker should do.

    ``start`` is the resource level the trial already has (0 for a new trial);
    the worker trains it until ``until`` and must ask for a decision at each of
    ``milestones`` (ascending, the last is ``until``). ``config`` already has
    ``max_resource_attr`` set to ``until`` where the scheduler has one, so a
    function trainable knows how far to go.

    >>> job = Job(JobKind.RESUME, trial_id=3, config={"lr": 0.1, "epochs": 9}, start=3, until=9, milestones=(9,))
    >>> job.runs, WAIT.runs, DONE.kind.value
    (True, False, 'done')
    """

    kind: JobKind
    trial_id: int = -1
    config: Optional[dict] = None
    start: float = 0
    until: float = 0
    milestones: tuple = ()
    bracket: int = 0

    @property
    def runs(self) -> bool:
        return self.kind in (JobKind.START, JobKind.RESUME)


WAIT = Job(JobKind.WAIT)
DONE = Job(JobKind.DONE)


def check_mode(mode: str) -> str:
    if mode not in ("min", "max"):
        raise SchedulerError(f"mode must be 'min' or 'max', got {mode!r}")
    return mode


def check_name(field_name: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise SchedulerError(f"{field_name} must be a non-empty string, got {value!r}")
    return value


@dataclass(slots=True)
class TrialRecord:
    """What a scheduler remembers of one trial; `to_json` / `from_json` round-trip it.

    >>> rec = TrialRecord(trial_id=0, config={"lr": 0.1}, until=3, milestones=(1, 3))
    >>> rec.to_json()["last_loss"], TrialRecord.from_json(rec.to_json()) == rec
    ('inf', True)
    """

    trial_id: int
    config: dict
    bracket: int = 0
    status: TrialStatus = TrialStatus.RUNNING
    resource: float = 0          # last resource level reported
    until: float = 0             # where the running job stops
    milestones: tuple = ()
    last_loss: float = math.inf  # last reported metric, as a loss (min is better)

    def to_json(self) -> dict:
        return {
            "trial_id": self.trial_id, "config": self.config, "bracket": self.bracket,
            "status": self.status.value, "resource": encode_float(self.resource), "until": encode_float(self.until),
            "milestones": list(self.milestones), "last_loss": encode_float(self.last_loss),
        }

    @classmethod
    def from_json(cls, d: Mapping) -> "TrialRecord":
        return cls(
            trial_id=d["trial_id"], config=d["config"], bracket=d["bracket"],
            status=TrialStatus(d["status"]), resource=decode_float(d["resource"]), until=decode_float(d["until"]),
            milestones=tuple(d["milestones"]), last_loss=decode_float(d["last_loss"]),
        )


class Scheduler(abc.ABC):
    """Base class: config sampling, points_to_evaluate, trial bookkeeping, state.

    Subclasses implement `next_job` and `on_report`, and extend `state_dict` /
    `load_state_dict` with their own state. The methods below are the whole
    contract the runners (simulator, Ray scheduler actor) use; a runner never
    reads ``trials`` or builds a `Job` (the module docstring lists the
    contract and what a subclass must keep true). An unknown keyword to a
    subclass's ``__init__`` raises `UnknownOptionError` naming it.

    >>> class EveryTrialOneEpoch(Scheduler):
    ...     def next_job(self, now, allow_new=True):
    ...         if not allow_new:
    ...             return DONE
    ...         rec = self.new_trial()
    ...         rec.until, rec.milestones = 1, (1,)
    ...         return Job(JobKind.START, rec.trial_id, rec.config, 0, 1, (1,))
    ...     def on_report(self, trial_id, resource, metrics, now):
    ...         self.trials[trial_id].status = TrialStatus.COMPLETED
    ...         return Decision.STOP
    >>> s = EveryTrialOneEpoch({"lr": 0.1}, metric="loss", points_to_evaluate=[{"lr": 0.5}])
    >>> job = s.next_job(0.0)
    >>> job.config, s.on_report(job.trial_id, 1, {"loss": 0.2}, 1.0).value, s.counts()["completed"]
    ({'lr': 0.5}, 'stop', 1)
    """

    #: does this scheduler pause trials and resume them later (needs checkpoints)?
    pauses_trials: bool = False
    #: the config key set to a job's ``until`` (so a function trainable knows how far to go), or None
    max_resource_attr: Optional[str] = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "_raysha_checks_options", False):
            cls.__init__ = _check_options(init)

    def __init__(
        self,
        space: Mapping[str, Any],
        metric: str,
        mode: str = "min",
        resource_attr: str = "epoch",
        points_to_evaluate: Optional[Sequence[Mapping[str, Any]]] = None,
        random_seed: int = 0,
        searcher: Any = None,
    ):
        sp.validate_space(space)
        self.space = dict(space)
        self.metric = check_name("metric", metric)
        self.mode = check_mode(mode)
        self.sign = 1.0 if mode == "min" else -1.0
        self.resource_attr = check_name("resource_attr", resource_attr)
        self.random_seed = int(random_seed)
        self.rng = np.random.default_rng(self.random_seed)
        self.trials: dict[int, TrialRecord] = {}
        self._pending_points = [dict(p) for p in (points_to_evaluate or [])]
        # validate points_to_evaluate now, before any cluster work starts
        check_rng = np.random.default_rng(0)
        for p in self._pending_points:
            sp.complete_config(self.space, p, check_rng)
        # the searcher proposes configs (None: "random", drawn from self.rng as always)
        self.searcher = make_searcher(searcher)
        self.searcher.bind(self.space, self.rng, self.trial_config, self.random_seed)

    # -- contract ---------------------------------------------------------
    @abc.abstractmethod
    def next_job(self, now: float, allow_new: bool = True) -> Job:
        """A job for a free worker: START / RESUME, or WAIT / DONE."""

    @abc.abstractmethod
    def on_report(self, trial_id: int, resource: float, metrics: Mapping[str, Any], now: float) -> Decision:
        """Record one report; CONTINUE, PAUSE or STOP (only milestones may end a job)."""

    def on_trial_end(self, trial_id: int, status: str) -> None:
        rec = self.trials.get(trial_id)
        if rec is not None and not rec.status.finished:
            rec.status = TrialStatus(status)
        self.searcher.on_trial_end(trial_id, status)

    def removable_checkpoints(self) -> list[int]:
        """Paused trials that can never be resumed: their checkpoints may be freed."""
        return []

    def rung_sizes(self) -> dict:
        """{bracket: {rung level: trials recorded there}} for progress displays; {} without rungs."""
        return {}

    def trial_config(self, trial_id: int) -> Optional[dict]:
        """The configuration of a known trial (as sampled, without the job's resource), else None."""
        rec = self.trials.get(trial_id)
        return None if rec is None else rec.config

    def running_trial_ids(self) -> list[int]:
        """Trials the scheduler believes are running (a restore runs them again first), ascending."""
        return sorted(t for t, rec in self.trials.items() if rec.status == TrialStatus.RUNNING)

    def retry_job(self, trial_id: int, start: float) -> Optional[Job]:
        """The job that carries on a RUNNING trial whose job was lost, from level ``start``.

        Used for a retry after a failure and for the trials a restore finds running: a
        RESUME up to the trial's current ``until``, keeping the milestones above ``start``
        (those at or below it were decided already). None when nothing is left to run
        (``start >= until``) or the trial is not running.
        """
        rec = self.trials.get(trial_id)
        if rec is None or rec.status != TrialStatus.RUNNING or start >= rec.until:
            return None
        milestones = tuple(m for m in rec.milestones if m > start)
        if not milestones or milestones[-1] < rec.until:
            milestones = milestones + (rec.until,)
        config = with_resource(rec.config, self.max_resource_attr, rec.until)
        return Job(JobKind.RESUME, trial_id, config, start, rec.until, milestones, rec.bracket)

    # -- helpers for subclasses -------------------------------------------
    def loss(self, metrics: Mapping[str, Any]) -> float:
        """The report's metric as a loss (lower is better); missing, NaN or infinite is worst."""
        try:
            v = float(metrics[self.metric])
        except (KeyError, TypeError, ValueError, IndexError):
            return math.inf
        return self.sign * v if math.isfinite(v) else math.inf

    def new_config(self, trial_id: Optional[int] = None) -> dict:
        if self._pending_points:
            return sp.complete_config(self.space, self._pending_points.pop(0), self.rng)
        return self.searcher.suggest(len(self.trials) if trial_id is None else trial_id)

    def new_trial(self, bracket: int = 0) -> TrialRecord:
        tid = len(self.trials)
        rec = TrialRecord(trial_id=tid, config=self.new_config(tid), bracket=bracket)
        self.trials[tid] = rec
        return rec

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {s.value: 0 for s in TrialStatus}
        for rec in self.trials.values():
            out[rec.status.value] += 1
        return out

    # -- state --------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "class": type(self).__name__,
            "rng": self.rng.bit_generator.state,
            "pending_points": self._pending_points,
            "trials": [rec.to_json() for rec in self.trials.values()],
            "searcher": self.searcher.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("class") != type(self).__name__:
            raise SchedulerError(
                f"state was saved by {state.get('class')!r}, cannot load into {type(self).__name__}"
            )
        self.rng.bit_generator.state = state["rng"]
        self._pending_points = [dict(p) for p in state["pending_points"]]
        self.trials = {d["trial_id"]: TrialRecord.from_json(d) for d in state["trials"]}
        if "searcher" in state:  # states saved before searchers existed hold none
            self.searcher.load_state_dict(state["searcher"])


def resolve_max_t(space: Mapping[str, Any], max_t: Optional[float], max_resource_attr: Optional[str],
                  required: bool = True) -> Optional[float]:
    """The largest resource level, from `max_t` or from the constant `space[max_resource_attr]`."""
    if max_resource_attr is not None:
        if max_resource_attr not in space:
            raise SchedulerError(
                f"max_resource_attr={max_resource_attr!r} is not in the search space "
                f"(known: {sorted(space)})"
            )
        value = space[max_resource_attr]
        if isinstance(value, sp.Domain) or isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchedulerError(
                f"max_resource_attr={max_resource_attr!r} must name a positive constant in the "
                f"search space, got {value!r}"
            )
        if max_t is not None and max_t != value:
            raise SchedulerError(
                f"max_t={max_t} disagrees with {max_resource_attr}={value} in the search space"
            )
        max_t = value
    if max_t is None:
        if required:
            raise SchedulerError("give max_t or max_resource_attr: the largest resource level is unknown")
        return None
    if isinstance(max_t, bool) or not isinstance(max_t, (int, float)) or not max_t > 0 or not math.isfinite(max_t):
        raise SchedulerError(f"max_t must be a positive finite number, got {max_t!r}")
    return max_t


def with_resource(config: dict, max_resource_attr: Optional[str], until: float) -> dict:
    """The config a job hands to the trainable: `max_resource_attr` set to where this job stops."""
    if max_resource_attr is None:
        return config
    out = dict(config)
    out[max_resource_attr] = int(until) if float(until).is_integer() else until
    return out
