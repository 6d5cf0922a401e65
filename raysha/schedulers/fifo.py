"""Asynchronous random search: every free worker starts a new random configuration.

No early stopping: each trial runs to `max_t` (or until the trainable returns
when no maximum is known). This is the deck's "async random search" baseline.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

from raysha.schedulers.base import (
    DONE, Decision, Job, JobKind, Scheduler, TrialStatus, resolve_max_t, with_resource,
)


class RandomSearch(Scheduler):
    """Asynchronous random search: a new random configuration for every free worker, no early stopping.

    >>> from raysha.space import uniform
    >>> s = RandomSearch({"lr": uniform(0, 1), "epochs": 10}, metric="loss", max_resource_attr="epochs")
    >>> job = s.next_job(now=0)
    >>> job.kind.value, job.until, job.milestones
    ('start', 10, (10,))
    >>> s.on_report(job.trial_id, 5, {"loss": 0.4}, now=1).value, s.on_report(job.trial_id, 10, {"loss": 0.3}, now=2).value
    ('continue', 'stop')
    """

    def __init__(
        self,
        space: Mapping[str, Any],
        metric: str,
        mode: str = "min",
        resource_attr: str = "epoch",
        max_t: Optional[float] = None,
        max_resource_attr: Optional[str] = None,
        points_to_evaluate: Optional[Sequence[Mapping[str, Any]]] = None,
        random_seed: int = 0,
        searcher: Any = None,
    ):
        super().__init__(space, metric, mode, resource_attr, points_to_evaluate, random_seed, searcher)
        self.max_resource_attr = max_resource_attr
        self.max_t = resolve_max_t(self.space, max_t, max_resource_attr, required=False)

    def next_job(self, now: float, allow_new: bool = True) -> Job:
        if not allow_new:
            return DONE
        rec = self.new_trial()
        until = self.max_t if self.max_t is not None else math.inf
        rec.until = until
        rec.milestones = (until,) if self.max_t is not None else ()
        config = with_resource(rec.config, self.max_resource_attr, until) if self.max_t else rec.config
        return Job(JobKind.START, rec.trial_id, config, 0, until, rec.milestones, 0)

    def on_report(self, trial_id: int, resource: float, metrics: Mapping[str, Any], now: float) -> Decision:
        rec = self.trials[trial_id]
        rec.resource = resource
        rec.last_loss = self.loss(metrics)
        self.searcher.on_report(trial_id, resource, rec.last_loss)
        if self.max_t is not None and resource >= self.max_t:
            rec.status = TrialStatus.COMPLETED
            return Decision.STOP
        return Decision.CONTINUE
