"""Schedulers by name: the one registry the CLI (run, simulate, preview), the LeNet runs and the benchmarks use.

Each `Entry` ties a name to a scheduler class, the keyword arguments the name
fixes (``defaults``), which of the common rung arguments the class takes, a
one-line help, and the function that previews it.

========================  ====================================================================
name                      scheduler
========================  ====================================================================
``asha``                  ``ASHA(type="stopping")``
``asha-promotion``        ``ASHA(type="promotion")``
``hyperband``             asynchronous Hyperband, stopping: ``ASHA(brackets=<rung levels>)``
``hyperband-promotion``   asynchronous Hyperband, promotion
``pasha``                 ``PASHA`` (promotion)
``adaptive``              ``AdaptiveASHA`` (``reduction_factor`` is its ``divisor``)
``sync-sh``               ``SyncSuccessiveHalving`` (a free worker opens the next bracket, Syne Tune)
``sync-hyperband``        ``SyncHyperband`` (all brackets; free workers open the next bracket)
``sync-sh-strict``        ``SyncSuccessiveHalving(strict=True)``: one bracket at a time, workers wait
``sync-hyperband-strict`` ``SyncHyperband(strict=True)``
``random``                ``RandomSearch``
========================  ====================================================================

`make` builds one; `preview` previews any scheduler instance. Preview
dispatch goes by class: the entry registered for the scheduler's exact class,
else for its nearest registered base class along the MRO (a subclass of ASHA
that is not registered previews as ASHA). A class with no registered base
raises `TypeError`. The module-level functions are the methods of
`REGISTRY`, built from `ENTRIES`; ``Registry(entries)`` builds another (a test
of a new entry, a plug-in). Adding a scheduler: ``docs/new-scheduler.md``.

>>> from raysha.space import uniform
>>> s = make("hyperband", {"lr": uniform(0, 1)}, "loss", max_t=27)
>>> type(s).__name__, s.type, s.brackets
('ASHA', 'stopping', 4)
>>> preview(s, max_trials=100).n_trials
100
>>> "asha" in names() and describe("sync-sh").startswith("synchronous")
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from raysha.schedulers.adaptive import AdaptiveASHA
from raysha.schedulers.asha import ASHA
from raysha.schedulers.base import Scheduler, SchedulerError, resolve_max_t
from raysha.schedulers.fifo import RandomSearch
from raysha.schedulers.pasha import PASHA
from raysha.schedulers.preview import (
    Preview, preview_adaptive, preview_asha, preview_pasha, preview_random, preview_sync,
)
from raysha.schedulers.rungs import rung_levels_and_eta
from raysha.schedulers.sync import SyncHyperband, SyncSuccessiveHalving

#: `make`'s rung arguments, for classes with grace_period and reduction_factor
RUNG_ARGS = {"grace_period": "grace_period", "reduction_factor": "reduction_factor"}


@dataclass(frozen=True)
class Entry:
    """One registered scheduler name.

    ``rung_args`` maps `make`'s ``grace_period`` / ``reduction_factor`` to the
    class's keyword (``{}``: the class has neither); ``all_brackets`` sets
    ``brackets`` to the number of rung levels (rungs plus ``max_t``) unless the
    caller gives it.

    >>> from raysha.space import uniform
    >>> e = Entry("asha-promotion", ASHA, "ASHA, promotion", preview_asha, {"type": "promotion"})
    >>> e.build({"lr": uniform(0, 1)}, "loss", max_t=9).type
    'promotion'
    """

    name: str
    cls: type
    help: str
    preview: Optional[Callable[[Any, Optional[int]], Preview]]
    defaults: Mapping[str, Any] = field(default_factory=dict)
    rung_args: Mapping[str, str] = field(default_factory=lambda: dict(RUNG_ARGS))
    all_brackets: bool = False

    def build(self, space: Mapping[str, Any], metric: str, mode: str = "min", *, resource_attr: str = "epoch",
              max_resource_attr: Optional[str] = None, max_t: Optional[float] = None,
              grace_period: float = 1, reduction_factor: float = 3, seed: int = 0,
              points_to_evaluate: Optional[Sequence[Mapping[str, Any]]] = None, **extra) -> Scheduler:
        """The scheduler this entry names (see `make`)."""
        given = {"grace_period": grace_period, "reduction_factor": reduction_factor}
        kwargs: dict = dict(metric=metric, mode=mode, resource_attr=resource_attr, max_t=max_t,
                            max_resource_attr=max_resource_attr, random_seed=seed,
                            points_to_evaluate=points_to_evaluate)
        kwargs.update({param: given[arg] for arg, param in self.rung_args.items()})
        kwargs.update(self.defaults)
        kwargs.update(extra)
        if self.all_brackets and "brackets" not in extra:
            kwargs["brackets"] = _number_of_levels(space, kwargs)
        return self.cls(space, **kwargs)


def _number_of_levels(space: Mapping[str, Any], kwargs: Mapping[str, Any]) -> int:
    """Rung levels plus max_t, as the scheduler will compute them (its own checks raise on bad input)."""
    max_t = resolve_max_t(space, kwargs["max_t"], kwargs["max_resource_attr"])
    levels, _ = rung_levels_and_eta(kwargs.get("rung_levels"), kwargs["grace_period"],
                                    kwargs["reduction_factor"], max_t)
    return len(levels) + 1


ENTRIES: tuple[Entry, ...] = (
    Entry("asha", ASHA, "ASHA, stopping variant: a trial below its rung's quantile stops",
          preview_asha, {"type": "stopping"}),
    Entry("asha-promotion", ASHA, "ASHA, promotion variant: trials pause at rungs, the best are resumed",
          preview_asha, {"type": "promotion"}),
    Entry("hyperband", ASHA, "asynchronous Hyperband (stopping): one bracket per rung level",
          preview_asha, {"type": "stopping"}, all_brackets=True),
    Entry("hyperband-promotion", ASHA, "asynchronous Hyperband (promotion): one bracket per rung level",
          preview_asha, {"type": "promotion"}, all_brackets=True),
    Entry("pasha", PASHA, "PASHA: ASHA whose maximum resource grows while the ranking is unstable",
          preview_pasha),
    Entry("adaptive", AdaptiveASHA, "Determined's adaptive ASHA: several brackets side by side",
          preview_adaptive, rung_args={"reduction_factor": "divisor"}),
    Entry("sync-sh", SyncSuccessiveHalving, "synchronous successive halving; a worker free at a "
          "synchronisation point opens the next bracket (Syne Tune)", preview_sync),
    Entry("sync-hyperband", SyncHyperband, "synchronous Hyperband: its brackets in turn, overlapping "
          "where workers are free", preview_sync),
    Entry("sync-sh-strict", SyncSuccessiveHalving, "synchronous successive halving, one bracket at a time: "
          "free workers wait at each synchronisation point", preview_sync, {"strict": True}),
    Entry("sync-hyperband-strict", SyncHyperband, "synchronous Hyperband, one bracket at a time (workers wait)",
          preview_sync, {"strict": True}),
    Entry("random", RandomSearch, "asynchronous random search: every trial runs to max_t",
          preview_random, rung_args={}),
)

class Registry:
    """Scheduler names -> `Entry`; preview dispatch by class. The module's functions use `REGISTRY`.

    >>> extended = Registry(ENTRIES + (Entry("eager-asha", ASHA, "ASHA, grace 2", preview_asha,
    ...                                      {"grace_period": 2}, rung_args={"reduction_factor": "reduction_factor"}),))
    >>> extended.names()[-1], extended.make("eager-asha", {"lr": 0.1}, "loss", max_t=18).levels
    ('eager-asha', [2, 6])
    """

    def __init__(self, entries: Sequence[Entry]):
        self.entries = tuple(entries)
        self._by_name: dict = {}
        self._preview_by_class: dict = {}
        for e in self.entries:
            if self._by_name.setdefault(e.name, e) is not e:
                raise SchedulerError(f"registry: the name {e.name!r} is registered twice")
            if self._preview_by_class.setdefault(e.cls, e.preview) is not e.preview:
                raise SchedulerError(f"registry: two preview functions for {e.cls.__name__}")

    def names(self) -> list[str]:
        """Every registered name, in registry order."""
        return [e.name for e in self.entries]

    def entry(self, name: str) -> Entry:
        """The entry for `name`; `SchedulerError` naming the valid names when there is none."""
        try:
            return self._by_name[name]
        except (KeyError, TypeError):
            raise SchedulerError(f"unknown scheduler {name!r}; choose from {', '.join(self.names())}") from None

    def describe(self, name: str) -> str:
        """One line of help for `name`."""
        return self.entry(name).help

    def make(self, name: str, space: Mapping[str, Any], metric: str, mode: str = "min", *,
             resource_attr: str = "epoch", max_resource_attr: Optional[str] = None, max_t: Optional[float] = None,
             grace_period: float = 1, reduction_factor: float = 3, seed: int = 0,
             points_to_evaluate: Optional[Sequence[Mapping[str, Any]]] = None, **extra) -> Scheduler:
        """The scheduler registered as `name`.

        ``max_t`` or ``max_resource_attr`` gives the largest resource (random
        search needs neither). ``grace_period`` and ``reduction_factor`` go to
        the classes that take them (``reduction_factor`` is AdaptiveASHA's
        ``divisor``); ``seed`` is the scheduler's ``random_seed``. ``extra``
        are further keyword arguments of the class and override the name's
        defaults (e.g. ``brackets=2``, ``max_trials=500``, ``searcher="kde"``);
        an option the class does not have raises
        `raysha.schedulers.base.UnknownOptionError`.
        """
        return self.entry(name).build(space, metric, mode, resource_attr=resource_attr,
                                      max_resource_attr=max_resource_attr, max_t=max_t,
                                      grace_period=grace_period, reduction_factor=reduction_factor, seed=seed,
                                      points_to_evaluate=points_to_evaluate, **extra)

    def preview_function(self, cls: type) -> Callable[[Any, Optional[int]], Preview]:
        """The preview registered for `cls`, else for its nearest registered base class (MRO order)."""
        for klass in cls.__mro__:
            fn = self._preview_by_class.get(klass)
            if fn is not None:
                return fn
        raise TypeError(f"preview does not know scheduler {cls.__name__}: register it in "
                        f"raysha.schedulers.registry")

    def preview(self, scheduler: Scheduler, max_trials: Optional[int] = None) -> Preview:
        """What `scheduler` will do for `max_trials` trials: a `raysha.schedulers.preview.Preview` (print it)."""
        if max_trials is not None and (isinstance(max_trials, bool) or not isinstance(max_trials, int)
                                       or max_trials < 1):
            raise SchedulerError(f"max_trials must be a positive integer, got {max_trials!r}")
        return self.preview_function(type(scheduler))(scheduler, max_trials)


#: the registry of the built-in schedulers; the functions below are its methods
REGISTRY = Registry(ENTRIES)
names = REGISTRY.names
entry = REGISTRY.entry
describe = REGISTRY.describe
make = REGISTRY.make
preview_function = REGISTRY.preview_function
preview = REGISTRY.preview
