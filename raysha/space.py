"""Search spaces: the domains a hyperparameter is drawn from.

A space is a plain dict mapping names to a `Domain` or to a constant
(``{"learning_rate": loguniform(1e-2, 1), "max_epochs": 10}``), as in Syne
Tune and Ray Tune. Sampling uses a seeded ``numpy.random.Generator`` so a run
is reproducible; every domain checks its own arguments so that a typo fails
with a message naming the bound, before any cluster work starts.

Quantized domains (``quniform``, ``qloguniform``, ``qrandint``,
``qlograndint``, or ``q=`` on the classes) only take multiples of ``q``;
their bounds must be multiples of ``q`` too. ``grid([...])`` lists values the
``"grid"`` searcher enumerates in full (every other searcher treats it as a
``choice``).

**Conditional spaces.** A ``choice`` given a dict maps each category to its own
sub-space (or to ``None``: no extra hyperparameters)::

    >>> space = {"optimizer": choice({"sgd": {"lr": loguniform(1e-3, 1)},
    ...                               "adam": {"lr": loguniform(1e-5, 1e-2), "beta1": uniform(0.8, 0.99)}}),
    ...          "max_epochs": 10}
    >>> cfg = sample_config(space, np.random.default_rng(0))
    >>> sorted(cfg) in (["lr", "max_epochs", "optimizer"], ["beta1", "lr", "max_epochs", "optimizer"])
    True

The chosen branch's hyperparameters sit next to the choice in the config
(``config["lr"]``, as in Optuna's define-by-run and ConfigSpace), so they
become plain ``config_lr`` / ``config_beta1`` result columns, empty where the
branch was not taken. Branches may share a name (both have ``lr`` above, each
with its own range) and may nest further choices; a branch's names must not
collide with the names around the choice. Searchers tell the two ``lr`` apart by
their *path* (``optimizer=adam/lr``; see `parameters`).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Mapping, Optional, Sequence

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


def _multiple(x: float, q: float) -> bool:
    return abs(x / q - round(x / q)) < 1e-9


def _check_q(q, lower, upper, domain: str, integer: bool):
    """``q`` as given (None: not quantized); the bounds must be multiples of it."""
    if q is None:
        return None
    if integer and (isinstance(q, bool) or not isinstance(q, (int, np.integer))):
        raise SpaceError(f"{domain}: q must be an integer, got {q!r}")
    q = int(q) if integer else _finite_number("q", q, domain)
    if not q > 0:
        raise SpaceError(f"{domain}: q must be > 0, got {q!r}")
    for name, bound in (("lower", lower), ("upper", upper)):
        if not _multiple(bound, q):
            raise SpaceError(f"{domain}: {name} ({bound}) must be a multiple of q ({q})")
    return q


class _Numeric(Domain):
    """A number in [lower, upper]; `q` (optional) keeps multiples of q only."""

    log = False
    integer = False

    def contains(self, value):
        if isinstance(value, bool) or not isinstance(value, self._types()):
            return False
        return self.lower <= value <= self.upper and (self.q is None or _multiple(value, self.q))

    def _types(self):
        return (int, np.integer) if self.integer else (int, float, np.integer, np.floating)

    def quantize(self, x: float):
        """The nearest allowed value to `x` (rounded to q, clipped to the bounds, typed)."""
        if self.q is not None:
            x = round(x / self.q) * self.q
            if not self.integer:
                x = round(x, max(0, -math.floor(math.log10(self.q))) + 6)
        x = min(self.upper, max(self.lower, x))
        return int(round(x)) if self.integer else float(x)

    def _args(self):
        args = {"lower": self.lower, "upper": self.upper}
        return args if self.q is None else {**args, "q": self.q}


class Uniform(_Numeric):
    kind = "uniform"

    def __init__(self, lower: float, upper: float, q: Optional[float] = None):
        self.lower = _finite_number("lower", lower, self.kind)
        self.upper = _finite_number("upper", upper, self.kind)
        _ordered(self.lower, self.upper, self.kind)
        self.q = _check_q(q, self.lower, self.upper, self.kind, integer=False)

    def sample(self, rng):
        x = float(rng.uniform(self.lower, self.upper))
        return x if self.q is None else self.quantize(x)


class LogUniform(Uniform):
    kind = "loguniform"
    log = True

    def __init__(self, lower: float, upper: float, q: Optional[float] = None):
        super().__init__(lower, upper, q)
        if self.lower <= 0:
            raise SpaceError(
                f"loguniform: lower must be > 0 for a log scale, got {self.lower}"
            )

    def sample(self, rng):
        x = float(math.exp(rng.uniform(math.log(self.lower), math.log(self.upper))))
        return x if self.q is None else self.quantize(x)


class RandInt(_Numeric):
    """Integers from `lower` to `upper`, both included (as Syne Tune's randint)."""

    kind = "randint"
    integer = True

    def __init__(self, lower: int, upper: int, q: Optional[int] = None):
        for name, v in (("lower", lower), ("upper", upper)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
                raise SpaceError(f"{self.kind}: {name} must be an integer, got {v!r}")
        self.lower, self.upper = int(lower), int(upper)
        if self.lower > self.upper:
            raise SpaceError(
                f"{self.kind}: lower ({self.lower}) must not exceed upper ({self.upper})"
            )
        self.q = _check_q(q, self.lower, self.upper, self.kind, integer=True)

    def sample(self, rng):
        if self.q is None:
            return int(rng.integers(self.lower, self.upper + 1))
        return self.lower + self.q * int(rng.integers((self.upper - self.lower) // self.q + 1))


class LogRandInt(RandInt):
    kind = "lograndint"
    log = True

    def __init__(self, lower: int, upper: int, q: Optional[int] = None):
        super().__init__(lower, upper, q)
        if self.lower <= 0:
            raise SpaceError(
                f"lograndint: lower must be >= 1 for a log scale, got {self.lower}"
            )

    def sample(self, rng):
        # Sample uniformly in log space over [lower - 0.5, upper + 0.5) and round,
        # so every integer of the range keeps a chance proportional to its width.
        lo, hi = math.log(self.lower - 0.5 + 1e-12), math.log(self.upper + 0.5)
        x = min(self.upper, max(self.lower, round(math.exp(rng.uniform(lo, hi)))))
        return int(x) if self.q is None else self.quantize(x)


class Choice(Domain):
    """One of `categories`; given a dict, each category carries its own sub-space (see the module doc)."""

    kind = "choice"

    def __init__(self, categories: Sequence[Any] | Mapping[Any, Optional[Mapping[str, Any]]]):
        self.branches: dict = {}
        if isinstance(categories, Mapping):
            for cat, sub in categories.items():
                if sub is not None and not isinstance(sub, Mapping):
                    raise SpaceError(f"{self.kind}: branch {cat!r} must be a dict of name -> domain "
                                     f"(or None), got {sub!r}")
            self.branches = {k: dict(v) for k, v in categories.items() if v}
            categories = list(categories)
        if isinstance(categories, (str, bytes)) or not isinstance(categories, Sequence):
            raise SpaceError(f"{self.kind}: categories must be a list, got {categories!r}")
        if len(categories) == 0:
            raise SpaceError(f"{self.kind}: categories must not be empty")
        self.categories = list(categories)

    def sample(self, rng):
        return self.categories[int(rng.integers(len(self.categories)))]

    def contains(self, value):
        return value in self.categories

    def index(self, value) -> int:
        return self.categories.index(value)

    def _args(self):
        if not self.branches:
            return {"categories": self.categories}
        subs = [space_to_json(self.branches[c]) if c in self.branches else None for c in self.categories]
        return {"categories": self.categories, "branches": subs}


class Grid(Choice):
    """Values the ``"grid"`` searcher enumerates in order; other searchers treat it as a `choice`."""

    kind = "grid"


def uniform(lower: float, upper: float) -> Uniform:
    return Uniform(lower, upper)


def loguniform(lower: float, upper: float) -> LogUniform:
    return LogUniform(lower, upper)


def randint(lower: int, upper: int) -> RandInt:
    return RandInt(lower, upper)


def lograndint(lower: int, upper: int) -> LogRandInt:
    return LogRandInt(lower, upper)


def quniform(lower: float, upper: float, q: float) -> Uniform:
    return Uniform(lower, upper, q)


def qloguniform(lower: float, upper: float, q: float) -> LogUniform:
    return LogUniform(lower, upper, q)


def qrandint(lower: int, upper: int, q: int = 1) -> RandInt:
    return RandInt(lower, upper, q)


def qlograndint(lower: int, upper: int, q: int = 1) -> LogRandInt:
    return LogRandInt(lower, upper, q)


def choice(categories) -> Choice:
    return Choice(categories)


def grid(values: Sequence[Any]) -> Grid:
    return Grid(values)


_DOMAINS = {cls.kind: cls for cls in (Uniform, LogUniform, RandInt, LogRandInt, Choice, Grid)}
_CONSTANT_TYPES = (int, float, str, bool, type(None))


# -- walking a (conditional) space ------------------------------------------------
#: pick(path, name, domain) -> the value of one active hyperparameter
Pick = Callable[[str, str, Domain], Any]


def assign(space: Mapping[str, Any], pick: Pick, prefix: str = "") -> dict:
    """A config built by asking `pick` for each active domain, in order (define-by-run).

    A conditional choice's branch is walked right after the choice, with paths
    ``"<choice path>=<category>/<name>"``; constants are copied.
    """
    config: dict = {}
    for name, dom in space.items():
        if not isinstance(dom, Domain):
            config[name] = dom
            continue
        path = prefix + name
        value = config[name] = pick(path, name, dom)
        if isinstance(dom, Choice) and value in dom.branches:
            config.update(assign(dom.branches[value], pick, f"{path}={value}/"))
    return config


def parameters(space: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str, Domain]]:
    """Every (path, name, domain) of the space, all branches included, in walking order."""
    out = []
    for name, dom in space.items():
        if isinstance(dom, Domain):
            out.append((prefix + name, name, dom))
            for cat, sub in getattr(dom, "branches", {}).items():
                out.extend(parameters(sub, f"{prefix}{name}={cat}/"))
    return out


def active(space: Mapping[str, Any], config: Mapping[str, Any]) -> list[tuple[str, Domain, Any]]:
    """(path, domain, value) of each hyperparameter that `config` sets (the branches it took)."""
    out: list = []

    def pick(path, name, dom):
        out.append((path, dom, config[name]))
        return config[name]

    assign(space, pick)
    return out


def _names(space: Mapping[str, Any], where: str) -> set:
    """The config keys a space can set; a branch name colliding with its surroundings is an error."""
    names = set(space)
    for name, dom in space.items():
        branch_names: set = set()
        for cat, sub in getattr(dom, "branches", {}).items():
            sub_names = _names(sub, f"{where}{name}={cat}/")
            clash = sub_names & names
            if clash:
                raise SpaceError(f"search space: branch {where}{name}={cat} sets {sorted(clash)}, which "
                                 f"the enclosing space sets too; give them distinct names")
            branch_names |= sub_names
        names |= branch_names
    return names


def _check_level(space: Mapping[str, Any], where: str) -> None:
    for name, value in space.items():
        if not isinstance(name, str) or not name:
            raise SpaceError(f"search space: names must be non-empty strings, got {name!r}")
        if isinstance(value, Domain):
            for cat, sub in getattr(value, "branches", {}).items():   # dicts: Choice checked that
                _check_level(sub, f"{where}{name}={cat}/")
            continue
        if isinstance(value, (list, tuple)) and all(isinstance(v, _CONSTANT_TYPES) for v in value):
            continue
        if not isinstance(value, _CONSTANT_TYPES + (np.integer, np.floating)):
            raise SpaceError(
                f"search space: {where + name!r} must be a domain (uniform, loguniform, randint, "
                f"lograndint, choice, grid, q...) or a constant, got {value!r}"
            )


def validate_space(space: Mapping[str, Any]) -> None:
    """Raise `SpaceError` naming the field when `space` is not a usable search space."""
    if not isinstance(space, Mapping):
        raise SpaceError(f"search space must be a dict of name -> domain, got {type(space).__name__}")
    if not space:
        raise SpaceError("search space is empty: give at least one hyperparameter")
    _check_level(space, "")
    _names(space, "")


def all_names(space: Mapping[str, Any]) -> set:
    """Every key a config of this space can have (branch names included)."""
    return _names(space, "")


def tunable_names(space: Mapping[str, Any]) -> list[str]:
    return [k for k, v in space.items() if isinstance(v, Domain)]


def sample_config(space: Mapping[str, Any], rng: np.random.Generator) -> dict:
    """Draw one configuration; constants are copied as they are."""
    return assign(space, lambda path, name, dom: dom.sample(rng))


def complete_config(space: Mapping[str, Any], partial: Mapping[str, Any], rng: np.random.Generator) -> dict:
    """A `points_to_evaluate` entry: given values win, missing ones are sampled."""
    unknown = set(partial) - all_names(space)
    if unknown:
        raise SpaceError(
            f"points_to_evaluate: {sorted(unknown)} not in the search space "
            f"(known: {sorted(all_names(space))})"
        )

    def pick(path, name, dom):
        value = dom.sample(rng)
        if name not in partial:
            return value
        if not dom.contains(partial[name]):
            raise SpaceError(f"points_to_evaluate: {name}={partial[name]!r} lies outside {dom!r}")
        return partial[name]

    config = assign(space, pick)
    inactive = set(partial) - set(config)
    if inactive:
        raise SpaceError(f"points_to_evaluate: {sorted(inactive)} belong to a branch this point "
                         f"does not take (its choices: {config})")
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
            args = {a: b for a, b in spec.items() if a not in ("type", "branches")}
            if spec.get("branches"):
                args["categories"] = {c: (space_from_json(s) if s else None)
                                      for c, s in zip(spec["categories"], spec["branches"])}
            out[k] = _DOMAINS[kind](**args)
        else:
            raise SpaceError(f"search space JSON: {k!r} has unknown type {kind!r}")
    return out
