"""When an experiment stops: the same criterion drives the simulator and the Ray runtime."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class StopCriterion:
    """Stop when any given limit is reached.

    ``max_trials`` caps how many trials are *started*: after that no new trial
    starts, but paused trials may still be promoted and running ones finish.
    ``metric_threshold`` stops as soon as a report is at least that good
    (below it for mode "min", above it for "max").
    """

    max_wallclock_time: Optional[float] = None
    max_trials: Optional[int] = None
    max_results: Optional[int] = None
    metric_threshold: Optional[float] = None

    def __post_init__(self):
        for name in ("max_wallclock_time", "max_trials", "max_results"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0):
                raise ValueError(f"StopCriterion.{name} must be a positive number, got {v!r}")
        t = self.metric_threshold
        if t is not None and (not isinstance(t, (int, float)) or math.isnan(t)):
            raise ValueError(f"StopCriterion.metric_threshold must be a number, got {t!r}")

    def time_up(self, elapsed: float) -> bool:
        return self.max_wallclock_time is not None and elapsed >= self.max_wallclock_time

    def results_up(self, n_results: int) -> bool:
        return self.max_results is not None and n_results >= self.max_results

    def may_start(self, n_started: int) -> bool:
        return self.max_trials is None or n_started < self.max_trials

    def target_reached(self, value, mode: str) -> bool:
        if self.metric_threshold is None or value is None:
            return False
        try:
            v = float(value)
        except (TypeError, ValueError):
            return False
        if math.isnan(v):
            return False
        return v <= self.metric_threshold if mode == "min" else v >= self.metric_threshold
