"""Synchronous successive halving and Hyperband: the baseline with synchronisation points.

A bracket is a list of rungs with fixed sizes, e.g. 81 trials at 1 epoch, 27 at
3, 9 at 9, 3 at 27, 1 at 81 (η = 3). Every trial of a rung must report at its
level before the best of them (the next rung's size; ties: lower trial id) are
resumed to the next level. SyncSuccessiveHalving repeats the most aggressive
bracket; SyncHyperband cycles through all of them.

What a free worker does while a rung waits for its stragglers:

* default (Syne Tune's ``SynchronousHyperbandScheduler``): brackets overlap.
  The worker takes the first free slot of the oldest unfinished bracket, then
  of the younger ones; when every open bracket's current rung is handed out,
  it opens the next bracket (the next in the cycle) and starts one of its
  trials. d2l: "most implementations of SH continue already with the next
  round". Workers never idle while new trials may start.
* ``strict=True``: one bracket at a time; a free worker with nothing to do in
  it gets a WAIT job and sits idle until the rung completes. That idle time is
  what ASHA removes, and what the textbook picture of synchronous SH shows.

A failed or lost trial counts as the worst value so its rung can complete.
Once no new trial may start (``allow_new=False``), a first rung that cannot
fill completes with the trials it has.
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


class Bracket:
    """One running synchronous bracket: its plan, its current rung, who is in it and what they reported.

    ``members`` are the current rung's trials (started or promoted to it),
    ``queue`` those promoted and not resumed yet, ``results`` the losses
    reported at the current level.

    >>> b = Bracket(bracket_id=3, kind=0, plan=[(3, 1), (1, 3)])
    >>> b.free_slot(), b.members, b.complete
    (True, [], False)
    """

    __slots__ = ("id", "kind", "plan", "rung", "members", "queue", "results")

    def __init__(self, bracket_id: int, kind: int, plan: list):
        self.id, self.kind, self.plan = bracket_id, kind, plan
        self.rung = 0
        self.members: list[int] = []
        self.queue: list[int] = []
        self.results: dict[int, float] = {}

    @property
    def level(self) -> float:
        return self.plan[self.rung][1]

    @property
    def complete(self) -> bool:
        return self.rung >= len(self.plan)

    def free_slot(self) -> bool:
        """Can a new trial start here now (the first rung is not full)?"""
        return self.rung == 0 and len(self.members) < self.plan[0][0]

    def rung_done(self) -> bool:
        return len(self.results) == len(self.members) and (self.rung > 0 or not self.free_slot())

    def state(self) -> dict:
        return {"id": self.id, "kind": self.kind, "rung": self.rung, "members": self.members,
                "queue": self.queue, "results": [[t, encode_float(v)] for t, v in self.results.items()]}

    @classmethod
    def from_state(cls, s: Mapping[str, Any], plans: list) -> "Bracket":
        b = cls(int(s["id"]), int(s["kind"]), plans[int(s["kind"])])
        b.rung, b.members, b.queue = int(s["rung"]), list(s["members"]), list(s["queue"])
        b.results = {int(t): decode_float(v) for t, v in s["results"]}
        return b


class SyncHyperband(Scheduler):
    """Synchronous Hyperband: its brackets in turn, each rung complete before the best 1/η go on.

    >>> from raysha.space import uniform
    >>> s = SyncHyperband({"lr": uniform(0, 1)}, metric="loss", max_t=9, grace_period=1, reduction_factor=3)
    >>> s.plans                                       # [(trials, level), ...] per bracket
    [[(9, 1), (3, 3), (1, 9)], [(5, 3), (1, 9)], [(3, 9)]]
    >>> jobs = [s.next_job(now=0) for _ in range(9)]  # bracket 0: nine trials to level 1
    >>> job = s.next_job(now=0)                       # its rung waits: the next bracket opens
    >>> job.kind.value, job.bracket, job.until
    ('start', 1, 3)
    >>> strict = SyncHyperband({"lr": uniform(0, 1)}, metric="loss", max_t=9, strict=True)
    >>> jobs = [strict.next_job(now=0) for _ in range(9)]
    >>> strict.next_job(now=0).kind.value             # strict: idle until the rung completes
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
        strict: bool = False,
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
        if not isinstance(strict, bool):
            raise SchedulerError(f"strict must be True or False, got {strict!r}")
        self.brackets = brackets
        self.strict = strict
        self.plans = [bracket_rungs(self.levels, self.max_t, eta, b) for b in range(brackets)]
        self._opened = 0                     # brackets begun so far (the next one's id)
        self._open: list[Bracket] = []       # unfinished brackets, oldest first
        self._bracket_of: dict[int, Bracket] = {}  # members of open brackets -> their bracket
        self.checkpoints = CheckpointLedger([])  # paused trials not kept at a rung: freed at once

    def _job(self, kind: JobKind, rec, start: float, until: float, b: Bracket) -> Job:
        rec.status, rec.until, rec.milestones = TrialStatus.RUNNING, until, (until,)
        config = with_resource(rec.config, self.max_resource_attr, until)
        return Job(kind, rec.trial_id, config, start, until, (until,), b.kind)

    def _open_bracket(self) -> Bracket:
        b = Bracket(self._opened, self._opened % self.brackets, self.plans[self._opened % self.brackets])
        self._opened += 1
        self._open.append(b)
        return b

    def _advance(self, b: Bracket) -> None:
        """The bracket's current rung is complete: keep its best, stop the rest, move up."""
        size_next = b.plan[b.rung + 1][0] if b.rung + 1 < len(b.plan) else 0
        ranked = sorted(b.members, key=lambda t: (b.results[t], t))
        keep = [t for t in ranked[:size_next] if b.results[t] < math.inf]
        for t in ranked:
            if t not in keep:
                self._bracket_of.pop(t, None)
                if self.trials[t].status == TrialStatus.PAUSED:
                    self.trials[t].status = TrialStatus.STOPPED
                    self.checkpoints.finished(t)
        b.results = {}
        if keep:
            b.rung += 1
            b.members, b.queue = keep, list(keep)
        else:  # the bracket is finished
            b.rung = len(b.plan)
            self._open.remove(b)

    def _work_in(self, b: Bracket, allow_new: bool) -> Optional[Job]:
        """A job in bracket b: resume a promoted trial, or start a trial in its first rung; None if blocked."""
        if b.queue:
            tid = b.queue.pop(0)
            return self._job(JobKind.RESUME, self.trials[tid], b.plan[b.rung - 1][1], b.level, b)
        if allow_new and b.free_slot():
            rec = self.new_trial(b.kind)
            b.members.append(rec.trial_id)
            self._bracket_of[rec.trial_id] = b
            return self._job(JobKind.START, rec, 0, b.level, b)
        return None

    def next_job(self, now: float, allow_new: bool = True) -> Job:
        for b in list(self._open[:1] if self.strict else self._open):
            job = self._work_in(b, allow_new)
            if job is not None:
                return job
            if not allow_new and b.rung == 0 and b.members and len(b.results) == len(b.members):
                self._advance(b)  # no more trials will come: the partial rung is all there is
                return self.next_job(now, allow_new)
        if allow_new and not (self.strict and self._open):
            return self._work_in(self._open_bracket(), allow_new)
        return WAIT if self._running() else DONE

    def _running(self) -> bool:
        return any(self.trials[t].status == TrialStatus.RUNNING for t in self._bracket_of)

    def _record(self, trial_id: int, loss: float) -> None:
        b = self._bracket_of[trial_id]
        b.results[trial_id] = loss
        if b.rung_done():
            self._advance(b)

    def on_report(self, trial_id: int, resource: float, metrics: Mapping[str, Any], now: float) -> Decision:
        rec = self.trials[trial_id]
        loss = self.loss(metrics)
        self.searcher.on_report(trial_id, resource, loss)
        rec.resource, rec.last_loss = resource, loss
        if resource < rec.until:
            return Decision.CONTINUE
        b = self._bracket_of[trial_id]
        if resource >= self.max_t:
            rec.status = TrialStatus.COMPLETED
            decision = Decision.STOP
            self.checkpoints.finished(trial_id)
        else:
            rec.status = TrialStatus.PAUSED
            decision = Decision.PAUSE
            self.checkpoints.paused(trial_id, b.rung, loss)
        self._record(trial_id, loss)
        return decision

    def on_trial_end(self, trial_id: int, status: str) -> None:
        rec = self.trials.get(trial_id)
        was_running = rec is not None and rec.status == TrialStatus.RUNNING
        super().on_trial_end(trial_id, status)
        if status == TrialStatus.FAILED.value:
            self.checkpoints.finished(trial_id)
        b = self._bracket_of.get(trial_id)
        if was_running and b is not None and trial_id not in b.results:
            self._record(trial_id, math.inf)  # a lost slot counts as worst so the rung can complete

    def removable_checkpoints(self) -> list[int]:
        """Trials not kept at a rung, completed or failed, that held a checkpoint: each reported once."""
        return self.checkpoints.drain()

    def rung_sizes(self) -> dict:
        """The planned rung sizes of the oldest open bracket (of the next one when none is open)."""
        plan = self._open[0].plan if self._open else self.plans[self._opened % self.brackets]
        return {0: {level: size for size, level in plan}}

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["sync"] = {"opened": self._opened, "brackets": [b.state() for b in self._open]}
        state["checkpoints"] = self.checkpoints.state()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        s = state["sync"]
        if "brackets" not in s:  # saved before brackets could overlap: one bracket, always open
            s = {"opened": s["iteration"] + 1, "brackets": [dict(
                s, id=s["iteration"], kind=s["iteration"] % self.brackets)]}
        self._opened = int(s["opened"])
        self._open = [Bracket.from_state(b, self.plans) for b in s["brackets"]]
        self._bracket_of = {t: b for b in self._open for t in b.members}
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
                 points_to_evaluate=None, random_seed=0, searcher=None, strict=False):
        super().__init__(space, metric, mode, resource_attr, max_t, max_resource_attr, grace_period,
                         reduction_factor, rung_levels, 1, points_to_evaluate, random_seed, searcher, strict)
