"""Grid search: every combination of the grid's values, in a fixed order, then random.

``grid([...])`` and ``choice`` domains contribute their values (a conditional
choice contributes each branch's own sub-grid); every other domain
contributes ``num_samples`` evenly spaced values, bounds included (on a log
scale for log domains, rounded and de-duplicated for integer and quantized
domains). ``num_samples`` is one number for all, or a dict by hyperparameter
name (default 5). The combinations come in `itertools.product` order: the
first hyperparameter of the space changes slowest. Once all have been
proposed, the searcher samples at random (the scheduler decides how many
trials to run: cap them with ``max_trials`` or a stop criterion).

    >>> import numpy as np
    >>> from raysha.space import grid, uniform
    >>> s = GridSearcher(num_samples=3)
    >>> s.bind({"a": grid([1, 2]), "x": uniform(0, 1)}, np.random.default_rng(0), lambda t: None)
    >>> [s.suggest(t) for t in range(3)]
    [{'a': 1, 'x': 0.0}, {'a': 1, 'x': 0.5}, {'a': 1, 'x': 1.0}]
"""

from __future__ import annotations

import itertools
from typing import Any, Iterator, Mapping, Union

import numpy as np

from raysha import space as sp
from raysha.searchers.base import Searcher, SearcherError
from raysha.searchers.encoding import from_unit


def _values(dom, n: int) -> list:
    if isinstance(dom, sp.Choice):
        return list(dom.categories)
    out = [from_unit(dom, u) for u in np.linspace(0.0, 1.0, n)] if n > 1 else [from_unit(dom, 0.5)]
    return list(dict.fromkeys(out))


def configs(space: Mapping[str, Any], num_samples) -> Iterator[dict]:
    """Every grid point of `space`, lazily, first name slowest."""
    items = list(space.items())

    def options(name, dom):
        if not isinstance(dom, sp.Domain):
            return [{name: dom}]
        out = []
        for v in _values(dom, num_samples(name)):
            sub = getattr(dom, "branches", {}).get(v)
            if sub:
                out.extend({name: v, **c} for c in configs(sub, num_samples))
            else:
                out.append({name: v})
        return out

    for combo in itertools.product(*(options(k, v) for k, v in items)):
        config: dict = {}
        for part in combo:
            config.update(part)
        yield config


class GridSearcher(Searcher):
    """The grid of the space (``num_samples`` values per numeric domain), then random draws.

    >>> from raysha.space import choice, quniform
    >>> from raysha.schedulers import RandomSearch
    >>> s = RandomSearch({"act": choice(["relu", "tanh"]), "p": quniform(0.0, 0.5, 0.25)}, metric="loss",
    ...                  max_t=1, searcher=GridSearcher(num_samples=3))
    >>> [tuple(s.next_job(0.0).config.values()) for _ in range(6)]
    [('relu', 0.0), ('relu', 0.25), ('relu', 0.5), ('tanh', 0.0), ('tanh', 0.25), ('tanh', 0.5)]
    """

    name = "grid"

    def __init__(self, num_samples: Union[int, Mapping[str, int]] = 5):
        counts = num_samples.values() if isinstance(num_samples, Mapping) else [num_samples]
        if any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in counts):
            raise SearcherError(f"grid: num_samples must be an integer >= 1 or a dict of them, "
                                f"got {num_samples!r}")
        self.num_samples = num_samples
        self.position = 0      # grid points proposed so far

    def _count(self, name: str) -> int:
        if isinstance(self.num_samples, Mapping):
            return self.num_samples.get(name, 5)
        return self.num_samples

    def setup(self) -> None:
        if isinstance(self.num_samples, Mapping):
            unknown = set(self.num_samples) - sp.all_names(self.space)
            if unknown:
                raise SearcherError(f"grid: num_samples names {sorted(unknown)}, not in the search space")
        self._grid = configs(self.space, self._count)
        self._exhausted = False

    def suggest(self, trial_id: int) -> dict:
        if not self._exhausted:
            config = next(self._grid, None)
            if config is not None:
                self.position += 1
                return config
            self._exhausted = True
        return self.random_config()

    def state_dict(self) -> dict:
        return {"name": self.name, "position": self.position}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.position = int(state["position"])
        self._grid = itertools.islice(configs(self.space, self._count), self.position, None)
        self._exhausted = False

    def __getstate__(self):
        """Pickled (shipped to a Ray actor) without the grid's generator; rebuilt from `position`."""
        return {k: v for k, v in self.__dict__.items() if k != "_grid"}

    def __setstate__(self, data):
        self.__dict__.update(data)
        if self._bound:
            self.load_state_dict(self.state_dict())
