"""Schedulers by name: the one mapping the CLI, the LeNet runs and the benchmarks share."""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

from raysha.schedulers.base import SchedulerError

SCHEDULERS = ("asha", "asha-promotion", "hyperband", "pasha", "sync-sh", "sync-hyperband", "random")


def make_scheduler(kind: str, space: Mapping[str, Any], metric: str, mode: str, max_resource_attr: str,
                   grace_period: float = 1, reduction_factor: float = 3, seed: int = 0,
                   points_to_evaluate: Optional[Sequence[Mapping[str, Any]]] = None):
    """A scheduler by its CLI name; the largest resource comes from ``space[max_resource_attr]``.

    ``hyperband`` is asynchronous Hyperband (stopping ASHA with one bracket per
    rung level); ``sync-sh`` / ``sync-hyperband`` are the synchronous baselines.
    """
    from raysha.schedulers import PASHA, ASHA, RandomSearch, SyncHyperband, SyncSuccessiveHalving

    common = dict(metric=metric, mode=mode, resource_attr="epoch", max_resource_attr=max_resource_attr,
                  random_seed=seed, points_to_evaluate=points_to_evaluate)
    hb = dict(grace_period=grace_period, reduction_factor=reduction_factor)
    if kind == "asha":
        return ASHA(space, type="stopping", **hb, **common)
    if kind == "asha-promotion":
        return ASHA(space, type="promotion", **hb, **common)
    if kind == "hyperband":
        probe = ASHA(space, **hb, **common)
        return ASHA(space, type="stopping", brackets=len(probe.levels) + 1, **hb, **common)
    if kind == "pasha":
        return PASHA(space, **hb, **common)
    if kind == "sync-sh":
        return SyncSuccessiveHalving(space, **hb, **common)
    if kind == "sync-hyperband":
        return SyncHyperband(space, **hb, **common)
    if kind == "random":
        return RandomSearch(space, **common)
    raise SchedulerError(f"unknown scheduler {kind!r}; choose from {', '.join(SCHEDULERS)}")
