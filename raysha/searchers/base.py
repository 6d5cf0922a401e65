"""The searcher plug-in: what proposes configurations, as in Syne Tune's scheduler / searcher split.

A scheduler decides *when* to start, pause or stop trials; its searcher decides
*which* configuration a new trial gets. Every scheduler takes ``searcher=``:
a `Searcher` instance or a name (`make_searcher`). The scheduler binds its
searcher once (`Searcher.bind`), asks it for each new trial's config
(`suggest`) unless a ``points_to_evaluate`` entry is pending, and tells it
every report (`on_report`, the metric as a loss: lower is better, ``inf`` for
a missing / NaN metric) and every failed or interrupted trial
(`on_trial_end`). Its state travels inside the scheduler's ``state_dict()``,
so ``Tuner.restore`` and a simulator restart continue it.

A searcher draws its randomness from the scheduler's own ``numpy`` Generator
(whose state the scheduler saves), so a seeded run is reproducible and the
``"random"`` searcher is exactly the sampling schedulers always did.

    >>> from raysha.space import uniform
    >>> from raysha.schedulers import ASHA
    >>> sched = ASHA({"x": uniform(0, 1)}, metric="loss", max_t=9, searcher="random")
    >>> type(sched.searcher).__name__
    'RandomSearcher'
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Mapping, Optional

import numpy as np

from raysha import space as sp


class SearcherError(ValueError):
    """A searcher was configured or used wrongly (the message names the field).

    >>> from raysha.searchers import make_searcher
    >>> make_searcher("bohb")
    Traceback (most recent call last):
    ...
    raysha.searchers.base.SearcherError: searcher must be one of random, grid, kde, gp, optuna-tpe, optuna-gp, optuna-cmaes or a Searcher instance, got 'bohb'
    """


class Searcher(abc.ABC):
    """Proposes configurations; is told every result. Subclasses implement `suggest`.

    The contract, and a complete example, are in ``docs/searchers.md``.

    >>> class Middle(Searcher):
    ...     name = "middle"
    ...     def suggest(self, trial_id):
    ...         return {k: (d.lower + d.upper) / 2 for k, d in self.space.items()}
    >>> from raysha.space import uniform
    >>> from raysha.schedulers import RandomSearch
    >>> RandomSearch({"x": uniform(0, 4)}, metric="loss", max_t=1, searcher=Middle()).next_job(0.0).config
    {'x': 2.0}
    """

    #: the name `make_searcher` knows it by, also the tag its state is saved under
    name: str = ""

    _bound: bool = False

    def bind(self, space: Mapping[str, Any], rng: np.random.Generator,
             config_of: Callable[[int], Optional[dict]], seed: int = 0) -> None:
        """Called once by the scheduler that owns this searcher (a searcher serves one scheduler).

        ``rng`` is the scheduler's Generator; ``config_of(trial_id)`` returns the
        configuration of a known trial; ``seed`` is the scheduler's random seed.
        """
        if self._bound:
            raise SearcherError(f"searcher: this {type(self).__name__} already serves a scheduler; "
                                f"give each scheduler its own searcher (or a name such as {self.name!r})")
        self._bound = True
        self.space, self.rng, self.config_of, self.seed = dict(space), rng, config_of, int(seed)
        self.setup()

    def setup(self) -> None:
        """Hook: prepare for `self.space` (called by `bind`)."""

    @abc.abstractmethod
    def suggest(self, trial_id: int) -> dict:
        """A complete configuration (constants included) for the new trial `trial_id`."""

    def on_report(self, trial_id: int, resource: float, loss: float) -> None:
        """Trial `trial_id` reached `resource` with `loss` (lower is better; inf: missing or failed)."""

    def on_trial_end(self, trial_id: int, status: str) -> None:
        """Trial `trial_id`'s job ended with ``"failed"`` or ``"interrupted"``."""

    def random_config(self) -> dict:
        return sp.sample_config(self.space, self.rng)

    def state_dict(self) -> dict:
        """JSON-able state (the scheduler saves its Generator itself)."""
        return {"name": self.name}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        if state.get("name") != self.name:
            raise SearcherError(f"searcher state was saved by {state.get('name')!r}, "
                                f"cannot load into {self.name!r}")


class RandomSearcher(Searcher):
    """Each configuration drawn independently at random from the space (the default).

    >>> from raysha.space import randint
    >>> s = RandomSearcher(); s.bind({"k": randint(1, 3)}, np.random.default_rng(0), lambda t: None)
    >>> s.suggest(0)
    {'k': 3}
    """

    name = "random"

    def suggest(self, trial_id: int) -> dict:
        return self.random_config()
