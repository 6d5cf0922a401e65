"""Search spaces: the domains a hyperparameter is drawn from.

A space is a plain dict mapping names to a `Domain` or to a constant
(``{"learning_rate": loguniform(1e-2, 1), "max_epochs": 10}``), as in Syne
Tune and Ray Tune. Sampling uses a seeded ``numpy.random.Generator`` so a run
is reproducible; every domain checks its own arguments so that a typo fails
with a message naming the bound, before any cluster work starts.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np


class SpaceError(ValueError):
    """A search space, or a value checked against it, is malformed."""


class Domain:
    """One hyperparameter's range. Subclasses implement `sample` and `contains`."""

    kind: str = ""

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def contains(self, value: Any) -> bool:
        raise NotImplementedError

    def to_json(self) -> dict:
        return {"type": self.kind, **self._args()}

    def _args(self) -> dict:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.to_json() == self.to_json()

    def __hash__(self) -> int:
        return hash(repr(self))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._args().items())
        return f"{self.kind}({args})"


def _finite_number(name: str, value: Any, domain: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise SpaceError(f"{domain}: {name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise SpaceError(f"{domain}: {name} must be finite, got {value!r}")
    return float(value)


def _ordered(lower: float, upper: float, domain: str) -> None:
    if not lower < upper:
        raise SpaceError(f"{domain}: lower ({lower}) must be smaller than upper ({upper})")


class Uniform(Domain):
    kind = "uniform"

    def __init__(self, lower: float, upper: float):
        self.lower = _finite_number("lower", lower, self.kind)
        self.upper = _finite_number("upper", upper, self.kind)
        _ordered(self.lower, self.upper, self.kind)

    def sample(self, rng):
        return float(rng.uniform(self.lower, self.upper))

    def contains(self, value):
        return isinstance(value, (int, float)) and self.lower <= value <= self.upper

    def _args(self):
        return {"lower": self.lower, "upper": self.upper}


class LogUniform(Uniform):
    kind = "loguniform"

    def __init__(self, lower: float, upper: float):
        super().__init__(lower, upper)
        if self.lower <= 0:
            raise SpaceError(
                f"loguniform: lower must be > 0 for a log scale, got {self.lower}"
            )

    def sample(self, rng):
        return float(math.exp(rng.uniform(math.log(self.lower), math.log(self.upper))))


class RandInt(Domain):
    """Integers from `lower` to `upper`, both included (as Syne Tune's randint)."""

    kind = "randint"

    def __init__(self, lower: int, upper: int):
        for name, v in (("lower", lower), ("upper", upper)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise SpaceError(f"{self.kind}: {name} must be an integer, got {v!r}")
        self.lower, self.upper = int(lower), int(upper)
        if self.lower > self.upper:
            raise SpaceError(
                f"{self.kind}: lower ({self.lower}) must not exceed upper ({self.upper})"
            )

    def sample(self, rng):
        return int(rng.integers(self.lower, self.upper + 1))

    def contains(self, value):
        return isinstance(value, (int, np.integer)) and self.lower <= value <= self.upper

    def _args(self):
        return {"lower": self.lower, "upper": self.upper}


class LogRandInt(RandInt):
    kind = "lograndint"

    def __init__(self, lower: int, upper: int):
        super().__init__(lower, upper)
        if self.lower <= 0:
            raise SpaceError(
                f"lograndint: lower must be >= 1 for a log scale, got {self.lower}"
            )

    def sample(self, rng):
        # Sample uniformly in log space over [lower - 0.5, upper + 0.5) and round,
        # so every integer of the range keeps a chance proportional to its width.
        lo, hi = math.log(self.lower - 0.5 + 1e-12), math.log(self.upper + 0.5)
        return int(min(self.upper, max(self.lower, round(math.exp(rng.uniform(lo, hi))))))


class Choice(Domain):
    kind = "choice"

    def __init__(self, categories: Sequence[Any]):
        if isinstance(categories, (str, bytes)) or not isinstance(categories, Sequence):
            raise SpaceError(f"choice: categories must be a list, got {categories!r}")
        if len(categories) == 0:
            raise SpaceError("choice: categories must not be empty")
        self.categories = list(categories)

    def sample(self, rng):
        return self.categories[int(rng.integers(len(self.categories)))]

    def contains(self, value):
        return value in self.categories

    def _args(self):
        return {"categories": self.categories}


def uniform(lower: float, upper: float) -> Uniform:
    return Uniform(lower, upper)


def loguniform(lower: float, upper: float) -> LogUniform:
    return LogUniform(lower, upper)


def randint(lower: int, upper: int) -> RandInt:
    return RandInt(lower, upper)


def lograndint(lower: int, upper: int) -> LogRandInt:
    return LogRandInt(lower, upper)


def choice(categories: Sequence[Any]) -> Choice:
    return Choice(categories)


_DOMAINS = {cls.kind: cls for cls in (Uniform, LogUniform, RandInt, LogRandInt, Choice)}
_CONSTANT_TYPES = (int, float, str, bool, type(None))


def validate_space(space: Mapping[str, Any]) -> None:
    """Raise `SpaceError` naming the field when `space` is not a usable search space."""
    if not isinstance(space, Mapping):
        raise SpaceError(f"search space must be a dict of name -> domain, got {type(space).__name__}")
    if not space:
        raise SpaceError("search space is empty: give at least one hyperparameter")
    for name, value in space.items():
        if not isinstance(name, str) or not name:
            raise SpaceError(f"search space: names must be non-empty strings, got {name!r}")
        if isinstance(value, Domain):
            continue
        if isinstance(value, (list, tuple)) and all(isinstance(v, _CONSTANT_TYPES) for v in value):
            continue
        if not isinstance(value, _CONSTANT_TYPES + (np.integer, np.floating)):
            raise SpaceError(
                f"search space: {name!r} must be a domain (uniform, loguniform, randint, "
                f"lograndint, choice) or a constant, got {value!r}"
            )


def tunable_names(space: Mapping[str, Any]) -> list[str]:
    return [k for k, v in space.items() if isinstance(v, Domain)]


def sample_config(space: Mapping[str, Any], rng: np.random.Generator) -> dict:
    """Draw one configuration; constants are copied as they are."""
    return {k: (v.sample(rng) if isinstance(v, Domain) else v) for k, v in space.items()}


def complete_config(space: Mapping[str, Any], partial: Mapping[str, Any], rng: np.random.Generator) -> dict:
    """A `points_to_evaluate` entry: given values win, missing ones are sampled."""
    unknown = set(partial) - set(space)
    if unknown:
        raise SpaceError(
            f"points_to_evaluate: {sorted(unknown)} not in the search space "
            f"(known: {sorted(space)})"
        )
    for k, v in partial.items():
        dom = space[k]
        if isinstance(dom, Domain) and not dom.contains(v):
            raise SpaceError(f"points_to_evaluate: {k}={v!r} lies outside {dom!r}")
    config = sample_config(space, rng)
    config.update(partial)
    return config


def space_to_json(space: Mapping[str, Any]) -> dict:
    return {
        k: (v.to_json() if isinstance(v, Domain) else {"type": "constant", "value": v})
        for k, v in space.items()
    }


def space_from_json(data: Mapping[str, Any]) -> dict:
    out: dict = {}
    for k, spec in data.items():
        kind = spec.get("type")
        if kind == "constant":
            out[k] = spec["value"]
        elif kind in _DOMAINS:
            args = {a: b for a, b in spec.items() if a != "type"}
            out[k] = _DOMAINS[kind](**args)
        else:
            raise SpaceError(f"search space JSON: {k!r} has unknown type {kind!r}")
    return out
