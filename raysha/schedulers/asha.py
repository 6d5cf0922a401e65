"""ASHA, stopping and promotion variants, and asynchronous Hyperband (brackets > 1).

Ties in value go to the earlier arrival at the rung (`raysha.schedulers.rungs.Rung`).

Stopping (Syne Tune's ``type="stopping"``): every new trial is started to run
to ``max_t``; at each rung level the trial's value is entered into the rung and
it continues iff the value lies in the top r / r_next fraction of the rung,
or the rung has fewer than η values. For distinct values that is Syne Tune's
``value <= np.quantile(values, r / r_next)``; a value equal to earlier ones
ranks after them, so a plateau of identical values stops all but the first η - 1.

Promotion (the original ASHA, ``type="promotion"``): a trial reaching a rung
pauses. A free worker scans the rungs top-down and resumes the best paused
trial that lies in the top ⌊|rung| · r / r_next⌋ (the ASHA paper's
``get_job``; ties: earlier arrival first) and was not promoted yet, up to the
next rung level; otherwise it starts a new trial up to the first rung.

Asynchronous Hyperband: a new trial's bracket b is drawn with probability
proportional to synchronous Hyperband's bracket sizes; the trial's first rung
is then ``levels[b]``. One rung system is shared by all brackets, or one per
bracket with ``rung_system_per_bracket=True``. Promotion with one system per
bracket (Syne Tune's rule): a free worker draws a bracket, promotes from that
bracket's rungs only, and if nothing there can be promoted starts a new trial
in that bracket. Once no new trial may start (``allow_new=False`` or
``max_trials`` reached) every bracket's paused trials may still be promoted.

``max_trials`` caps the trials started. Early checkpoint removal
(`raysha.schedulers.checkpoints`): ``removable_checkpoints()`` reports, once
each, paused-then-finished trials, paused trials that can never be promoted
(promotion, one rung system, ``max_trials`` known), and, with
``early_checkpoint_removal_kwargs={"max_num_checkpoints": n}``, the least
promising paused trials beyond the cap; such a trial, if promoted later, gets a
START job with its old trial_id and ``start=0`` (trained again from scratch).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from raysha.schedulers.base import (
    DONE, WAIT, Decision, Job, JobKind, Scheduler, SchedulerError, TrialStatus,
    resolve_max_t, with_resource,
)
from raysha.schedulers.checkpoints import CheckpointLedger, check_max_trials, check_removal_kwargs
from raysha.schedulers.rungs import (
    RungSystem, hyperband_bracket_sizes, rung_levels_and_eta,
)

TYPES = ("stopping", "promotion")


class ASHA(Scheduler):
    """ASHA, stopping (default) or promotion (``type="promotion"``); async Hyperband with ``brackets > 1``.

    Rung levels are ``grace_period * reduction_factor**k`` below ``max_t``
    (or ``rung_levels``); ``max_t`` may come from the constant
    ``space[max_resource_attr]``. See the module docstring for the rules.

    >>> from raysha.space import uniform
    >>> s = ASHA({"lr": uniform(0, 1), "epochs": 9}, metric="loss", max_resource_attr="epochs",
    ...          type="promotion", random_seed=0)
    >>> s.levels
    [1, 3]
    >>> for t in range(3):                            # three trials pause at rung 1
    ...     job = s.next_job(now=t)
    ...     s.on_report(job.trial_id, 1, {"loss": [0.3, 0.1, 0.2][t]}, now=t).value
    'pause'
    'pause'
    'pause'
    >>> job = s.next_job(now=3)                       # the best one is promoted to rung 3
    >>> job.kind.value, job.trial_id, job.start, job.until, job.config["epochs"]
    ('resume', 1, 1, 3, 3)
    """

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
        type: str = "stopping",
        brackets: int = 1,
        rung_system_per_bracket: bool = False,
        points_to_evaluate: Optional[Sequence[Mapping[str, Any]]] = None,
        random_seed: int = 0,
        max_trials: Optional[int] = None,
        early_checkpoint_removal_kwargs: Optional[Mapping[str, Any]] = None,
        searcher: Any = None,
    ):
        if type not in TYPES:
            raise SchedulerError(f"type must be one of {TYPES}, got {type!r}")
        super().__init__(space, metric, mode, resource_attr, points_to_evaluate, random_seed, searcher)
        self.type = type
        self.pauses_trials = type == "promotion"
        self.max_resource_attr = max_resource_attr
        self.max_t = resolve_max_t(self.space, max_t, max_resource_attr)
        self.levels, eta = rung_levels_and_eta(rung_levels, grace_period, reduction_factor, self.max_t)
        self.reduction_factor = eta
        n_levels = len(self.levels) + 1
        if isinstance(brackets, bool) or not isinstance(brackets, int) or not 1 <= brackets <= n_levels:
            raise SchedulerError(
                f"brackets must be an integer from 1 to {n_levels} (the number of rung levels "
                f"plus max_t), got {brackets!r}"
            )
        self.brackets = brackets
        self.rung_system_per_bracket = bool(rung_system_per_bracket)
        weights = np.array(hyperband_bracket_sizes(n_levels, eta)[:brackets], dtype=float)
        self.bracket_probs = weights / weights.sum()
        n_systems = brackets if self.rung_system_per_bracket else 1
        self.systems = [RungSystem(self.levels, self.max_t, self.pauses_trials) for _ in range(n_systems)]
        # index into self.levels of the next rung each live trial has to reach
        self._next_rung: dict[int, int] = {}
        # at most this many trials are started (None: no limit); with promotion and
        # one rung system it lets checkpoints of never-promotable trials go early
        self.max_trials = check_max_trials(max_trials)
        self.checkpoints = CheckpointLedger(
            [r.quantile for r in self.systems[0].rungs],
            max_num_checkpoints=check_removal_kwargs(early_checkpoint_removal_kwargs),
            max_trials=self.max_trials,
            provable=self.pauses_trials and len(self.systems) == 1,
        )
        self._running: set[int] = set()

    # -- helpers ---------------------------------------------------------------
    def _system(self, bracket: int) -> RungSystem:
        return self.systems[bracket if self.rung_system_per_bracket else 0]

    def _sample_bracket(self) -> int:
        if self.brackets == 1:
            return 0
        return int(self.rng.choice(self.brackets, p=self.bracket_probs))

    def _level(self, index: int) -> float:
        return self.levels[index] if index < len(self.levels) else self.max_t

    def _top_index(self) -> int:
        """Index (into levels + [max_t]) of the largest level a job may go to now (PASHA lowers it)."""
        return len(self.levels)

    def _job(self, kind: JobKind, rec, start: float, until: float) -> Job:
        if self.type == "stopping":
            top = self._top_index()
            milestones = tuple(self.levels[rec.bracket:top]) + (self._level(top),)
        else:
            milestones = (until,)
        rec.status, rec.until, rec.milestones = TrialStatus.RUNNING, until, milestones
        self._running.add(rec.trial_id)
        config = with_resource(rec.config, self.max_resource_attr, until)
        return Job(kind, rec.trial_id, config, start, until, milestones, rec.bracket)

    def _start(self, bracket: int) -> Job:
        rec = self.new_trial(bracket)
        self._next_rung[rec.trial_id] = bracket
        if self.checkpoints.provable:
            self.checkpoints.started(rec.trial_id, bracket)
        until = self._level(self._top_index()) if self.type == "stopping" else self._level(bracket)
        return self._job(JobKind.START, rec, 0, until)

    # -- contract --------------------------------------------------------------
    def next_job(self, now: float, allow_new: bool = True) -> Job:
        if self.max_trials is not None and len(self.trials) >= self.max_trials:
            allow_new = False
        if self.type == "stopping":
            return self._start(self._sample_bracket()) if allow_new else DONE
        bracket = self._sample_bracket() if allow_new else 0
        if not self.rung_system_per_bracket:
            systems = [0]
        else:  # the sampled bracket only (Syne Tune); with no new trials allowed, any bracket
            systems = [bracket] if allow_new else range(len(self.systems))
        for b in systems:
            for i in range(min(self._top_index(), len(self.levels)) - 1, -1, -1):
                rung = self.systems[b].rungs[i]
                tid = rung.promotable()
                if tid is not None:
                    rung.unpause(tid)
                    return self._resume(self.trials[tid], rung.level, self._level(i + 1))
        if allow_new:
            return self._start(bracket)
        return WAIT if self._running else DONE

    def _resume(self, rec, start: float, until: float) -> Job:
        """Resume a paused trial; a START from 0 with its old trial_id if its checkpoint was freed."""
        if self.checkpoints.resumed(rec.trial_id):
            return self._job(JobKind.START, rec, 0, until)
        return self._job(JobKind.RESUME, rec, start, until)

    def on_report(self, trial_id: int, resource: float, metrics: Mapping[str, Any], now: float) -> Decision:
        rec = self.trials[trial_id]
        loss = self.loss(metrics)
        self.searcher.on_report(trial_id, resource, loss)
        rec.resource, rec.last_loss = resource, loss
        if resource >= self.max_t:
            rec.status = TrialStatus.COMPLETED
            self._next_rung.pop(trial_id, None)
            self._running.discard(trial_id)
            self._finished(trial_id)
            return Decision.STOP
        pos = self._next_rung.get(trial_id, len(self.levels))
        if pos >= len(self.levels) or resource < self.levels[pos]:
            return Decision.CONTINUE  # between rungs: no decision to take
        rungs = self._system(rec.bracket).rungs
        while pos < len(self.levels) and self.levels[pos] <= resource:
            rung = rungs[pos]
            if rung.add(trial_id, loss):
                if self.checkpoints.provable:
                    self.checkpoints.entered(trial_id, pos, (loss, rung.arrival[trial_id]))
                self._entered_rung(rec, pos, loss)
            pos += 1
            self._next_rung[trial_id] = pos
            if self.type == "stopping" and not rung.continues(loss):
                rec.status = TrialStatus.STOPPED
                self._next_rung.pop(trial_id, None)
                self._running.discard(trial_id)
                self._finished(trial_id)
                return Decision.STOP
        if resource >= rec.until:  # the job ends below max_t: pause (promotion, or PASHA's current max)
            rec.status = TrialStatus.PAUSED
            self._running.discard(trial_id)
            rungs[pos - 1].pause(trial_id)
            self.checkpoints.paused(trial_id, pos - 1, rungs[pos - 1].losses[trial_id])
            if self.checkpoints.provable:
                self._sweep()
            return Decision.PAUSE
        return Decision.CONTINUE

    def _entered_rung(self, rec, index: int, loss: float) -> None:
        """Hook: a trial's value was recorded at rung `index` (PASHA watches its top two rungs)."""

    def _finished(self, trial_id: int) -> None:
        ledger = self.checkpoints
        if ledger.held or ledger.provable:
            ledger.finished(trial_id)
            if ledger.provable:
                self._sweep()

    def _sweep(self) -> None:
        for tid in self.checkpoints.sweep(self.systems[0].rungs):
            self.trials[tid].status = TrialStatus.STOPPED
            self._next_rung.pop(tid, None)

    def on_trial_end(self, trial_id: int, status: str) -> None:
        super().on_trial_end(trial_id, status)
        self._next_rung.pop(trial_id, None)
        self._running.discard(trial_id)
        if status == TrialStatus.FAILED.value:
            self._finished(trial_id)

    def removable_checkpoints(self) -> list[int]:
        """Trials whose checkpoints may be freed now, each reported once (see checkpoints.py)."""
        return self.checkpoints.drain()

    def rung_sizes(self) -> dict:
        """{bracket or 0: {level: number of values recorded}} for progress displays."""
        return {b: dict(zip(self.levels, s.sizes())) for b, s in enumerate(self.systems)}

    # -- state -----------------------------------------------------------------
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["systems"] = [s.state() for s in self.systems]
        state["next_rung"] = [[t, p] for t, p in self._next_rung.items()]
        state["checkpoints"] = self.checkpoints.state()
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        for system, s in zip(self.systems, state["systems"]):
            system.load(s)
        self._next_rung = {int(t): int(p) for t, p in state["next_rung"]}
        if "checkpoints" in state:
            self.checkpoints.load(state["checkpoints"], self.systems[0].rungs)
        self._running = {t for t, r in self.trials.items() if r.status == TrialStatus.RUNNING}
