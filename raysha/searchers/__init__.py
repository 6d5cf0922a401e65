"""Searchers: what proposes the configurations a scheduler runs (see `raysha.searchers.base`).

    >>> from raysha.searchers import make_searcher
    >>> type(make_searcher("grid")).__name__
    'GridSearcher'

Names: ``"random"`` (the default), ``"grid"``, ``"kde"`` (BOHB's model), ``"gp"``
(MOBSTER's model: one Gaussian process over configuration and resource; needs scipy),
``"optuna-tpe"``, ``"optuna-gp"``, ``"optuna-cmaes"`` (need the ``search``
extra: ``pip install raysha[search]``).
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from raysha.searchers.base import RandomSearcher, Searcher, SearcherError  # noqa: F401

SEARCHERS = ("random", "grid", "kde", "gp", "optuna-tpe", "optuna-gp", "optuna-cmaes")

_LAZY = {
    "GridSearcher": "raysha.searchers.grid",
    "KDESearcher": "raysha.searchers.kde",
    "GPSearcher": "raysha.searchers.gp",
    "OptunaSearcher": "raysha.searchers.optuna_adapter",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raysha.searchers' has no attribute {name!r}")


def make_searcher(searcher: Any = None) -> Searcher:
    """A fresh searcher from a name (see `SEARCHERS`), or the `Searcher` given; None is ``"random"``."""
    if searcher is None or searcher == "random":
        return RandomSearcher()
    if isinstance(searcher, Searcher):
        return searcher
    if searcher == "grid":
        return __getattr__("GridSearcher")()
    if searcher == "kde":
        return __getattr__("KDESearcher")()
    if searcher == "gp":
        return __getattr__("GPSearcher")()
    if isinstance(searcher, str) and searcher.startswith("optuna-") and searcher in SEARCHERS:
        return __getattr__("OptunaSearcher")(sampler=searcher[len("optuna-"):])
    raise SearcherError(f"searcher must be one of {', '.join(SEARCHERS)} or a Searcher instance, "
                        f"got {searcher!r}")
