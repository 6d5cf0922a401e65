"""Any Optuna sampler (TPE, GP, CMA-ES, ...) as a multi-fidelity searcher, through ask-and-tell.

One in-memory Optuna study per resource level: every report of a trial at a
level becomes a finished trial of that level's study (the trial the
configuration was asked from is told its value; other levels get it through
``add_trial``). A new configuration is asked from the highest level whose
study holds at least ``min_points`` finished trials (default 10, TPE's and
GP's start-up count); with none, it is drawn at random from the scheduler's
Generator. A missing / NaN / failed metric (``inf``) is told as a failed trial.
Conditional spaces map onto Optuna's define-by-run: each hyperparameter is
suggested under its path (``optimizer=adam/lr``), categories by index.

``sampler`` is ``"tpe"``, ``"gp"``, ``"cmaes"`` (seeded with the scheduler's
``random_seed``) or an Optuna sampler instance, shared by the level studies.
Needs the ``search`` extra (``pip install raysha[search]``: optuna, cmaes).

State: Optuna studies are not JSON, so ``state_dict()`` keeps the told
(params, value) history of each level and ``load_state_dict()`` (and
unpickling) rebuilds the studies from it. A restored searcher has the same
history, not the same sampler RNG stream, and trials asked before the restore
are added as plain results (CMA-ES starts a new generation).

    >>> import numpy as np
    >>> from raysha.space import uniform
    >>> s = OptunaSearcher("tpe", min_points=5)
    >>> s.bind({"x": uniform(0, 1)}, np.random.default_rng(0), lambda t: {"x": t / 10})
    >>> for t in range(10):
    ...     s.on_report(t, 1, (t / 10 - 0.3) ** 2)
    >>> 0 <= s.suggest(10)["x"] <= 1
    True
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Optional

from raysha import space as sp
from raysha.searchers.base import Searcher, SearcherError

SAMPLERS = ("tpe", "gp", "cmaes")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise SearcherError("the optuna searchers need Optuna: pip install 'raysha[search]' "
                            "(or pip install optuna cmaes)") from None
    return optuna


def _make_sampler(name: str, seed: int):
    samplers = _optuna().samplers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")      # GPSampler is marked experimental
        if name == "tpe":
            return samplers.TPESampler(seed=seed, warn_independent_sampling=False)
        if name == "gp":
            return samplers.GPSampler(seed=seed, warn_independent_sampling=False)
        return samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _distribution(dom):
    dist = _optuna().distributions
    if isinstance(dom, sp.Choice):
        return dist.CategoricalDistribution(list(range(len(dom.categories))))
    step = None if dom.log else dom.q
    if dom.integer:
        return dist.IntDistribution(dom.lower, dom.upper, log=dom.log, step=step or 1)
    return dist.FloatDistribution(dom.lower, dom.upper, log=dom.log, step=step)


def _suggest(trial, path: str, dom, dist):
    """Ask the Optuna trial for one hyperparameter (define-by-run), as a value of `dom`."""
    if isinstance(dom, sp.Choice):
        return dom.categories[trial.suggest_categorical(path, dist.choices)]
    if dom.integer:
        return dom.quantize(trial.suggest_int(path, dist.low, dist.high, step=dist.step, log=dist.log))
    return dom.quantize(trial.suggest_float(path, dist.low, dist.high, step=dist.step, log=dist.log))


def _internal(dom, value):
    return dom.index(value) if isinstance(dom, sp.Choice) else value


class OptunaSearcher(Searcher):
    name = "optuna"

    def __init__(self, sampler: Any = "tpe", min_points: int = 10):
        if isinstance(sampler, str) and sampler not in SAMPLERS:
            raise SearcherError(f"optuna: sampler must be one of {SAMPLERS} or an Optuna sampler, "
                                f"got {sampler!r}")
        if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 1:
            raise SearcherError(f"optuna: min_points must be an integer >= 1, got {min_points!r}")
        _optuna()
        self.sampler, self.min_points = sampler, min_points
        self.history: dict[float, list] = {}     # level -> [[trial_id, params, loss], ...]
        self._studies: dict = {}
        self._asked: dict[int, tuple] = {}       # trial_id -> (level, optuna trial), not told yet
        self._told: set = set()                   # (trial_id, level) in history

    def setup(self) -> None:
        _optuna().logging.set_verbosity(_optuna().logging.WARNING)
        if isinstance(self.sampler, str):
            self.sampler = _make_sampler(self.sampler, self.seed)
        self._dists = {path: _distribution(dom) for path, _, dom in sp.parameters(self.space)}

    def _study(self, level: float):
        study = self._studies.get(level)
        if study is None:
            study = self._studies[level] = _optuna().create_study(sampler=self.sampler, direction="minimize")
        return study

    def _ready_level(self) -> Optional[float]:
        ready = [lv for lv, rows in self.history.items()
                 if sum(math.isfinite(r[2]) for r in rows) >= self.min_points]
        return max(ready) if ready else None

    def suggest(self, trial_id: int) -> dict:
        level = self._ready_level()
        if level is None:
            return self.random_config()
        trial = self._study(level).ask()

        config = sp.assign(self.space, lambda path, name, dom: _suggest(trial, path, dom, self._dists[path]))
        self._asked[trial_id] = (level, trial)
        return config

    def on_report(self, trial_id: int, resource: float, loss: float) -> None:
        level = float(resource)
        rows = self.history.setdefault(level, [])
        config = self.config_of(trial_id)
        if config is None or (trial_id, level) in self._told:
            return                                   # a retrained level: told once
        self._told.add((trial_id, level))
        params = {path: _internal(dom, v) for path, dom, v in sp.active(self.space, config)}
        rows.append([trial_id, params, float(loss)])
        asked = self._asked.get(trial_id)
        if asked is not None and asked[0] == level:
            del self._asked[trial_id]
            self._tell(level, asked[1], loss)
        else:
            self._add(level, params, loss)

    def _tell(self, level: float, trial, loss: float) -> None:
        if math.isfinite(loss):
            self._study(level).tell(trial, loss)
        else:
            self._study(level).tell(trial, state=_optuna().trial.TrialState.FAIL)

    def _add(self, level: float, params: dict, loss: float) -> None:
        if not math.isfinite(loss):
            return
        dists = {p: self._dists[p] for p in params}
        self._study(level).add_trial(_optuna().trial.create_trial(params=params, distributions=dists,
                                                                  value=loss))

    # -- state ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"name": self.name, "history": [
            [level, [[t, p, v if math.isfinite(v) else repr(v)] for t, p, v in rows]]
            for level, rows in self.history.items()]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.history, self._studies, self._asked, self._told = {}, {}, {}, set()
        for level, rows in state["history"]:
            level = float(level)
            self.history[level] = [[int(t), dict(p), float(v)] for t, p, v in rows]
            for tid, params, loss in self.history[level]:
                self._told.add((tid, level))
                self._add(level, params, loss)

    def __getstate__(self):
        out = {k: v for k, v in self.__dict__.items() if k not in ("_studies", "_asked", "_told", "history")}
        out["_state"] = self.state_dict() if self._bound else None
        return out

    def __setstate__(self, data):
        state = data.pop("_state")
        self.__dict__.update(data)
        self.history, self._studies, self._asked, self._told = {}, {}, {}, set()
        if state is not None:
            self.load_state_dict(state)
