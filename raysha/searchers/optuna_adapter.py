"""Any Optuna sampler (TPE, GP, CMA-ES, ...) as a multi-fidelity searcher, through ask-and-tell.

One in-memory Optuna study per resource level: every report of a trial at a
level becomes a finished trial of that level's study (the trial the
configuration was asked from is told its value; other levels get it through
``add_trial``). A new configuration is asked from the highest level whose
study holds at least ``min_points`` completed trials (default 10, TPE's and
GP's start-up count); with none, it is drawn at random from the scheduler's
Generator. A missing / NaN / failed metric (``inf``) is told as a failed trial,
and so is an asked trial whose job fails before it reaches its level.
Conditional spaces map onto Optuna's define-by-run: each hyperparameter is
suggested under its path (``optimizer=adam/lr``), categories by index.

``sampler`` is ``"tpe"`` (multivariate), ``"gp"`` (``GPSampler``) or
``"cmaes"`` (``CmaEsSampler``; numeric spaces only: a ``choice`` or ``grid``
is refused, as CMA-ES would silently draw it at random), or an Optuna
sampler instance. A named sampler is built afresh for each proposal, seeded
from the scheduler's ``random_seed`` and the trial id, so a proposal depends
only on the studies' contents and a restored run proposes exactly what the
uninterrupted run would have. Needs the ``search`` extra
(``pip install raysha[search]``: optuna, cmaes).

State: ``state_dict()`` lists each level study's trials (params, state, value,
Optuna's system attributes, where CMA-ES keeps its generation), and
``load_state_dict()`` (and unpickling) rebuilds the studies from it. With a
sampler *instance* the sampler's own random stream is not part of the state.

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

import numpy as np

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
        warnings.simplefilter("ignore")      # multivariate TPE and GPSampler are marked experimental
        if name == "tpe":
            return samplers.TPESampler(seed=seed, multivariate=True, warn_independent_sampling=False)
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


def _is_cmaes(sampler) -> bool:
    return sampler == "cmaes" or type(sampler).__name__ == "CmaEsSampler"


class OptunaSearcher(Searcher):
    """An Optuna sampler asked through ask-and-tell, one study per rung level (see the module doc).

    >>> from raysha.space import uniform
    >>> from raysha.schedulers import ASHA
    >>> ASHA({"x": uniform(0, 1)}, metric="loss", max_t=9, searcher=OptunaSearcher("gp")).searcher.name
    'optuna-gp'
    """

    name = "optuna"

    def __init__(self, sampler: Any = "tpe", min_points: int = 10):
        if isinstance(sampler, str) and sampler not in SAMPLERS:
            raise SearcherError(f"optuna: sampler must be one of {SAMPLERS} or an Optuna sampler, "
                                f"got {sampler!r}")
        if isinstance(min_points, bool) or not isinstance(min_points, int) or min_points < 1:
            raise SearcherError(f"optuna: min_points must be an integer >= 1, got {min_points!r}")
        _optuna()
        if isinstance(sampler, str):
            self.name = f"optuna-{sampler}"
        self.sampler, self.min_points = sampler, min_points
        self._reset()

    def _reset(self) -> None:
        self._studies: dict = {}                  # level -> optuna study
        self._tids: dict[float, list] = {}        # level -> the raysha trial id of each study trial
        self._complete: dict[float, int] = {}     # level -> completed study trials
        self._asked: dict[int, tuple] = {}        # trial_id -> (level, study trial number), not told yet
        self._told: set = set()                   # (trial_id, level) in a study

    def setup(self) -> None:
        _optuna().logging.set_verbosity(_optuna().logging.WARNING)
        params = sp.parameters(self.space)
        if _is_cmaes(self.sampler):
            cats = [path for path, _, dom in params if isinstance(dom, sp.Choice)]
            if cats:
                raise SearcherError(f"searcher {self.name!r}: CMA-ES handles numeric hyperparameters only, "
                                    f"but {cats[0]!r} is a choice; use 'optuna-tpe', 'optuna-gp' or 'kde'")
        self._dists = {path: _distribution(dom) for path, _, dom in params}

    def _sampler_for(self, trial_id: int):
        if not isinstance(self.sampler, str):
            return self.sampler
        seed = int(np.random.SeedSequence([self.seed, trial_id]).generate_state(1)[0])
        return _make_sampler(self.sampler, seed)

    def _study(self, level: float):
        study = self._studies.get(level)
        if study is None:
            study = self._studies[level] = _optuna().create_study(direction="minimize")
            self._tids[level], self._complete[level] = [], 0
        return study

    def _ready_level(self) -> Optional[float]:
        ready = [lv for lv, n in self._complete.items() if n >= self.min_points]
        return max(ready) if ready else None

    def suggest(self, trial_id: int) -> dict:
        level = self._ready_level()
        if level is None:
            return self.random_config()
        study = self._study(level)
        study.sampler = self._sampler_for(trial_id)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = study.ask()
            config = sp.assign(self.space, lambda path, name, dom: _suggest(trial, path, dom, self._dists[path]))
        self._tids[level].append(trial_id)
        self._asked[trial_id] = (level, trial.number)
        return config

    def on_report(self, trial_id: int, resource: float, loss: float) -> None:
        level = float(resource)
        config = self.config_of(trial_id)
        if config is None or (trial_id, level) in self._told:
            return                                   # a retrained level: told once
        self._told.add((trial_id, level))
        study = self._study(level)
        asked = self._asked.get(trial_id)
        if asked is not None and asked[0] == level:
            del self._asked[trial_id]
            if math.isfinite(loss):
                study.tell(asked[1], float(loss))
            else:
                study.tell(asked[1], state=_optuna().trial.TrialState.FAIL)
        else:
            params = {path: _internal(dom, v) for path, dom, v in sp.active(self.space, config)}
            self._add(level, trial_id, params, float(loss) if math.isfinite(loss) else None)
        self._complete[level] += math.isfinite(loss)

    def on_trial_end(self, trial_id: int, status: str) -> None:
        """A failed trial never reaches the level it was asked from: its Optuna trial fails now."""
        asked = self._asked.get(trial_id)
        if status == "failed" and asked is not None:
            del self._asked[trial_id]
            self._study(asked[0]).tell(asked[1], state=_optuna().trial.TrialState.FAIL)

    def _add(self, level: float, trial_id: int, params: dict, value: Optional[float],
             state: Optional[str] = None, system_attrs: Optional[dict] = None) -> None:
        optuna = _optuna()
        state = state or ("COMPLETE" if value is not None else "FAIL")
        frozen = optuna.trial.create_trial(
            params=params, distributions={p: self._dists[p] for p in params}, value=value,
            state=optuna.trial.TrialState[state], system_attrs=system_attrs)
        self._study(level).add_trial(frozen)
        self._tids[level].append(trial_id)

    # -- state ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        levels = []
        for level, study in self._studies.items():
            rows = [[tid, t.state.name, t.value, t.params, t.system_attrs]
                    for tid, t in zip(self._tids[level], study.get_trials(deepcopy=False))]
            levels.append([level, rows])
        return {"name": self.name, "levels": levels}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self._reset()
        for level, rows in state["levels"]:
            level = float(level)
            self._study(level)
            for tid, st, value, params, attrs in rows:
                if st == "RUNNING":
                    self._asked[int(tid)] = (level, len(self._tids[level]))
                else:
                    self._told.add((int(tid), level))
                self._add(level, int(tid), dict(params), value, st, dict(attrs))
                self._complete[level] += st == "COMPLETE"

    def __getstate__(self):
        hidden = ("_studies", "_tids", "_complete", "_asked", "_told")
        out = {k: v for k, v in self.__dict__.items() if k not in hidden}
        out["_state"] = self.state_dict() if self._bound else None
        return out

    def __setstate__(self, data):
        state = data.pop("_state")
        self.__dict__.update(data)
        self._reset()
        if state is not None:
            self.load_state_dict(state)
