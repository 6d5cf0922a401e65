"""Synchronous successive halving and Hyperband: the baseline with synchronisation points.

A bracket is a list of rungs with fixed sizes, e.g. 81 trials at 1 epoch, 27 at
3, 9 at 9, 3 at 27, 1 at 81 (η = 3). Every trial of a rung must report at its
level before the best 1/η of them are resumed to the next level; until then a
free worker gets a WAIT job and sits idle. That idle time is exactly what ASHA
removes. Brackets run one after the other: SyncSuccessiveHalving repeats the
most aggressive bracket; SyncHyperband cycles through all of them.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

from raysha.floats import decode_float, encode_float
from raysha.schedulers.base import (
    DONE, WAIT, Decision, Job, JobKind, Scheduler, SchedulerError, TrialStatus,
    resolve_max_t, with_resource,
)
from raysha.schedulers.checkpoints import CheckpointLedger
from raysha.schedulers.rungs import hyperband_bracket_sizes, rung_levels_and_eta


def bracket_rungs(levels: Sequence[float], max_t: float, eta: float, bracket: int) -> list[tuple[int, float]]:
    """[(size, level), ...] of synchronous Hyperband bracket `bracket` (0 = most aggressive)."""
    ext = list(levels) + [max_t]
    n0 = hyperband_bracket_sizes(len(ext), eta)[bracket]
    return [(max(1, math.floor(n0 / eta ** i + 1e-9)), r) for i, r in enumerate(ext[bracket:])]


class SyncHyperband(Scheduler):
    """Synchronous Hyperband: its brackets in turn, each rung complete before the best 1/η go on.

    >>> from raysha.space import uniform
    >>> s = SyncHyperband({"lr": uniform(0, 1)}, metric="loss", max_t=9, grace_period=1, reduction_factor=3)
    >>> s.plans                                       # [(trials, level), ...] per bracket
    [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    >>> jobs = [s.next_job(now=0) for _ in range(9)]  # bracket 0: nine trials to level 1
    >>> s.next_job(now=0).kind.value                  # the rung is not complete: wait
    'wait'
    """

    pauses_trials = True

    def __init__(
        self,
        space: Mapping[str, Any],
        metric: str,
        mode: str = "min",
        resource_attr: str = "epoch",
        max_t: Optional[float] = None,
        max_resource_attr: Optional[str] = None,
        grace_period: float = 1,
        reduction_factor: float = 3,
        rung_levels: Optional[Sequence[float]] = None,
        brackets: Optional[int] = None,
        points_to_evaluate: Optional[Sequence[Mapping[str, Any]]] = None,
        random_seed: int = 0,
        searcher: Any = None,
    ):
        super().__init__(space, metric, mode, resource_attr, points_to_evaluate, random_seed, searcher)
        self.max_resource_attr = max_resource_attr
        self.max_t = resolve_max_t(self.space, max_t, max_resource_attr)
        self.levels, eta = rung_levels_and_eta(rung_levels, grace_period, reduction_factor, self.max_t)
        self.reduction_factor = eta
        n_levels = len(self.levels) + 1
        if brackets is None:
            brackets = n_levels
        if isinstance(brackets, bool) or not isinstance(brackets, int) or not 1 <= brackets <= n_levels:
            raise SchedulerError(f"brackets must be an integer from 1 to {n_levels}, got {brackets!r}")
        self.brackets = brackets
        self.plans = [bracket_rungs(self.levels, self.max_t, eta, b) for b in range(brackets)]
        self._iteration = 0          # how many brackets were begun
        self._rung = 0               # index of the current rung in the current bracket
        self._members: list[int] = []  # trials of the current rung (started or to resume)
        self._queue: list[int] = []    # members promoted to this rung, not yet resumed
        self._results: dict[int, float] = {}  # losses reported at the current rung level
        self.checkpoints = CheckpointLedger([])  # paused trials not kept at a rung: freed at once

    @property
    def bracket(self) -> int:
        return self._iteration % self.brackets

    def _plan(self) -> list[tuple[int, float]]:
        return self.plans[self.bracket]

    def _job(self, kind: JobKind, rec, start: float, until: float) -> Job:
        rec.status, rec.until, rec.milestones = TrialStatus.RUNNING, until, (until,)
        config = with_resource(rec.config, self.max_resource_attr, until)
        return Job(kind, rec.trial_id, config, start, until, (until,), self.bracket)

    def _advance(self) -> None:
        """The current rung is complete: keep its best, stop the rest, move up."""
        size_next = self._plan()[self._rung + 1][0] if self._rung + 1 < len(self._plan()) else 0
        ranked = sorted(self._members, key=lambda t: (self._results[t], t))
        keep = [t for t in ranked[:size_next] if self._results[t] < math.inf]
        for t in ranked:
            if t not in keep and self.trials[t].status == TrialStatus.PAUSED:
                self.trials[t].status = TrialStatus.STOPPED
                self.checkpoints.finished(t)
        if keep:
            self._rung += 1
            self._members, self._queue = keep, list(keep)
        else:  # bracket finished: begin the next one
            self._iteration += 1
            self._rung, self._members, self._queue = 0, [], []
        self._results = {}

    def next_job(self, now: float, allow_new: bool = True) -> Job:
        size, level = self._plan()[self._rung]
        if self._queue:
            tid = self._queue.pop(0)
            start = self._plan()[self._rung - 1][1]
            return self._job(JobKind.RESUME, self.trials[tid], start, level)
        if self._rung == 0 and len(self._members) < size:
            if not allow_new:
                if self._running():
                    return WAIT
                if self._members and len(self._results) == len(self._members):
                    self._advance()  # no more trials will come: the partial rung is all there is
                    return self.next_job(now, allow_new)
                return DONE
            rec = self.new_trial(self.bracket)
            self._members.append(rec.trial_id)
            return self._job(JobKind.START, rec, 0, level)
        return WAIT if self._running() else DONE

    def _running(self) -> bool:
        return any(self.trials[t].status == TrialStatus.RUNNING for t in self._members)

    def _record(self, trial_id: int, loss: float) -> None:
        self._results[trial_id] = loss
        if len(self._results) == len(self._members) and (
            self._rung > 0 or len(self._members) == self._plan()[0][0]
        ):
            self._advance()

    def on_report(self, trial_id: int, resource: float, metrics: Mapping[str, Any], now: float) -> Decision:
        rec = self.trials[trial_id]
        loss = self.loss(metrics)
        self.searcher.on_report(trial_id, resource, loss)
        rec.resource, rec.last_loss = resource, loss
        if resource < rec.until:
            return Decision.CONTINUE
        if resource >= self.max_t:
            rec.status = TrialStatus.COMPLETED
            decision = Decision.STOP
            self.checkpoints.finished(trial_id)
        else:
            rec.status = TrialStatus.PAUSED
            decision = Decision.PAUSE
            self.checkpoints.paused(trial_id, self._rung, loss)
        self._record(trial_id, loss)
        return decision

    def on_trial_end(self, trial_id: int, status: str) -> None:
        rec = self.trials.get(trial_id)
        was_running = rec is not None and rec.status == TrialStatus.RUNNING
        super().on_trial_end(trial_id, status)
        if status == TrialStatus.FAILED.value:
            self.checkpoints.finished(trial_id)
        if was_running and trial_id in self._members and trial_id not in self._results:
            self._record(trial_id, math.inf)  # a lost slot counts as worst so the rung can complete

    def removable_checkpoints(self) -> list[int]:
        """Trials not kept at a rung, completed or failed, that held a checkpoint: each reported once."""
        return self.checkpoints.drain()

    def rung_sizes(self) -> dict:
        return {0: {level: size for size, level in self._plan()}}

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["sync"] = {
            "iteration": self._iteration, "rung": self._rung, "members": self._members,
            "queue": self._queue, "results": [[t, encode_float(v)] for t, v in self._results.items()],
        }
        state["checkpoints"] = self.checkpoints.state()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        s = state["sync"]
        self._iteration, self._rung = s["iteration"], s["rung"]
        self._members, self._queue = list(s["members"]), list(s["queue"])
        self._results = {int(t): decode_float(v) for t, v in s["results"]}
        if "checkpoints" in state:
            self.checkpoints.load(state["checkpoints"])


class SyncSuccessiveHalving(SyncHyperband):
    """Synchronous successive halving: the most aggressive Hyperband bracket, repeated.

    >>> from raysha.space import uniform
    >>> s = SyncSuccessiveHalving({"lr": uniform(0, 1)}, metric="loss", max_t=9, reduction_factor=3)
    >>> s.plans, s.brackets
    ([[(9, 1), (3, 3), (1, 9)]], 1)
    """

    def __init__(self, space, metric, mode="min", resource_attr="epoch", max_t=None,
                 max_resource_attr=None, grace_period=1, reduction_factor=3, rung_levels=None,
                 points_to_evaluate=None, random_seed=0, searcher=None):
        super().__init__(space, metric, mode, resource_attr, max_t, max_resource_attr, grace_period,
                         reduction_factor, rung_levels, 1, points_to_evaluate, random_seed, searcher)
