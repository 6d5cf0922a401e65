"""Hyperparameters as numbers in [0, 1] (or category codes), for the model-based searchers.

Every hyperparameter path of a space (`raysha.space.parameters`, all branches of
conditional choices included) is one column: numeric domains map onto [0, 1]
(on a log scale for log domains; integers widened by half a step on each side
so every integer gets an equal width), choices and grids onto their category
index. A column a config does not use (a branch it did not take) is NaN.

    >>> from raysha.space import loguniform, choice
    >>> enc = Encoding({"lr": loguniform(1e-3, 1e-1), "act": choice(["relu", "tanh"])})
    >>> enc.encode({"lr": 1e-2, "act": "tanh"}).round(3).tolist()
    [0.5, 1.0]
    >>> enc.decode([0.5, 1.0])["act"]
    'tanh'
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from raysha import space as sp


def _bounds(dom) -> tuple[float, float]:
    lo, hi = float(dom.lower), float(dom.upper)
    if dom.integer:
        step = dom.q or 1
        lo, hi = lo - 0.5 * step, hi + 0.5 * step
        if dom.log:
            lo = max(lo, 0.5 * dom.lower)
    return (math.log(lo), math.log(hi)) if dom.log else (lo, hi)


def to_unit(dom, value) -> float:
    if isinstance(dom, sp.Choice):
        return float(dom.index(value))
    lo, hi = _bounds(dom)
    x = math.log(value) if dom.log else float(value)
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def from_unit(dom, u: float) -> Any:
    if isinstance(dom, sp.Choice):
        return dom.categories[min(len(dom.categories) - 1, max(0, int(round(u))))]
    lo, hi = _bounds(dom)
    x = lo + min(1.0, max(0.0, float(u))) * (hi - lo)
    return dom.quantize(math.exp(x) if dom.log else x)


class Encoding:
    """The columns of a space: `paths`, `cardinality` (0: numeric, else the number of categories).

    >>> from raysha.space import choice, uniform
    >>> enc = Encoding({"opt": choice({"sgd": {"lr": uniform(0, 1)}, "adam": None})})
    >>> enc.paths, enc.cardinality.tolist(), enc.encode({"opt": "adam"}).tolist()
    (['opt', 'opt=sgd/lr'], [2, 0], [1.0, nan])
    """

    def __init__(self, space: Mapping[str, Any]):
        self.space = space
        params = sp.parameters(space)
        self.paths = [p for p, _, _ in params]
        self.domains = [d for _, _, d in params]
        self.column = {p: i for i, p in enumerate(self.paths)}
        self.cardinality = np.array([len(d.categories) if isinstance(d, sp.Choice) else 0
                                     for d in self.domains])
        self._by_trial: dict[int, np.ndarray] = {}

    @property
    def dim(self) -> int:
        return len(self.paths)

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        out = np.full(self.dim, np.nan)
        for path, dom, value in sp.active(self.space, config):
            out[self.column[path]] = to_unit(dom, value)
        return out

    def trials(self, trial_ids: Sequence[int], config_of) -> np.ndarray:
        """The encoded configurations of known trials, one row each (`config_of(trial_id)` gives a config); cached."""
        rows = []
        for t in trial_ids:
            row = self._by_trial.get(t)
            if row is None:
                row = self._by_trial[t] = self.encode(config_of(t))
            rows.append(row)
        return np.array(rows).reshape(len(rows), self.dim)

    def decode(self, vector: Sequence[float]) -> dict:
        return sp.assign(self.space, lambda path, name, dom: from_unit(dom, vector[self.column[path]]))
