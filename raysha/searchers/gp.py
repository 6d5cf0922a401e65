"""MOBSTER's model (Klein et al., 2020): one Gaussian process over configuration *and* resource.

BOHB's `"kde"` learns from one rung level at a time and throws the others
away; this searcher pools every level into one model, as Syne Tune's MOBSTER
does, so the many cheap first-rung results inform where the rare full-budget
results are likely to be good.

The model: a Gaussian process with a constant mean and an ARD Matérn-5/2
kernel over the hyperparameters ([0, 1]-scaled numbers, one-hot categories,
inactive branch columns at 0.5) plus one column for the resource (log scale,
the lowest level seen at 0, the highest at 1), and Gaussian noise. Losses are
standardized (a missing or failed result, ``inf``, counts as the worst loss
seen, as Determined counts an errored trial). The kernel's lengthscales,
signal and noise variances maximise the marginal likelihood (L-BFGS-B from the
last fit, refitted whenever the data grew by ``refit_growth`` since the
last fit; the Cholesky factor is recomputed for every proposal).

To propose, it takes the acquisition level: the highest resource level with
more results than hyperparameter columns (BOHB's rule, which MOBSTER keeps);
the incumbent is the lowest posterior mean at that level among the evaluated
configurations. Trials proposed but not yet reported are added at that level
with their posterior mean as value (the "kriging believer"), so workers asking
at the same moment get different configurations. It scores
``num_candidates`` random configurations and as many local perturbations of
the five best by expected improvement at the acquisition level, and returns
the best. Until ``num_init_random`` results are in, configurations are random.

Data: per trial, the last report in each power-of-two resource bucket (at most
⌈log2 max_t⌉ + 1 points a trial); above ``max_points`` points, the model uses
the highest-resource points and a random sample of the rest. numpy + scipy
(scipy comes with the ``search`` extra).

    >>> import numpy as np
    >>> from raysha.space import uniform
    >>> s = GPSearcher()
    >>> s.bind({"x": uniform(0, 1)}, np.random.default_rng(0), lambda t: {"x": t / 20})
    >>> for t in range(20):
    ...     s.on_report(t, 1, (t / 20 - 0.3) ** 2)
    >>> abs(s.suggest(20)["x"] - 0.3) < 0.05
    True
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import numpy as np

from raysha.floats import decode_float, encode_float
from raysha.searchers.base import Searcher, SearcherError
from raysha.searchers.encoding import Encoding

#: bounds of the kernel's log-parameters: lengthscales, signal variance, noise variance (y standardized)
_LOG_BOUNDS = {"lengthscale": (math.log(0.01), math.log(20.0)), "signal": (math.log(0.05), math.log(20.0)),
               "noise": (math.log(1e-6), math.log(1.0))}


def _positive_int(name: str, value, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SearcherError(f"gp: {name} must be an integer >= {low}, got {value!r}")
    return value


def matern52(a: np.ndarray, b: np.ndarray, lengthscales: np.ndarray, signal: float) -> np.ndarray:
    """The ARD Matérn-5/2 covariance between the rows of `a` (n, p) and `b` (m, p)."""
    a, b = a / lengthscales, b / lengthscales
    sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * a @ b.T
    r = np.sqrt(5.0 * np.maximum(sq, 0.0))
    return signal * (1.0 + r + r * r / 3.0) * np.exp(-r)


class GPModel:
    """A fitted Gaussian process: ``fit(x, y)`` then ``predict(x)`` → (mean, sd); y is standardized inside.

    >>> import numpy as np
    >>> x = np.linspace(0, 1, 12)[:, None]
    >>> m = GPModel().fit(x, np.sin(6 * x[:, 0]))
    >>> mean, sd = m.predict(np.array([[0.25]]))
    >>> round(float(mean[0]), 1), bool(sd[0] < 0.1)
    (1.0, True)
    """

    def __init__(self, log_params: Optional[np.ndarray] = None):
        self.log_params = log_params

    def _unpack(self, theta: np.ndarray, p: int):
        return np.exp(theta[:p]), math.exp(theta[p]), math.exp(theta[p + 1])

    def _neg_log_likelihood(self, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """The negative log marginal likelihood (plus a weak prior on the lengthscales) and its gradient."""
        from scipy.linalg import cho_solve

        p = x.shape[1]
        ls, signal, noise = self._unpack(theta, p)
        # the kernel of `matern52`, with the squared distances kept per dimension for the gradient
        sq = ((x[:, None, :] - x[None, :, :]) / ls) ** 2           # (n, n, p)
        r = np.sqrt(5.0 * sq.sum(axis=2))
        e = np.exp(-r)
        k = signal * (1.0 + r + r * r / 3.0) * e + (noise + 1e-8) * np.eye(len(x))
        try:
            chol = np.linalg.cholesky(k)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve((chol, True), y)
        # d NLL / d theta_j = 0.5 tr((K^-1 - alpha alpha^T) dK/dtheta_j)
        w = cho_solve((chol, True), np.eye(len(x))) - np.outer(alpha, alpha)
        grad = np.empty_like(theta)
        common = signal * (5.0 / 3.0) * (1.0 + r) * e                 # dK/dlog l_i = common * sq_i
        grad[:p] = 0.5 * np.einsum("ij,ijk->k", w * common, sq)
        grad[p] = 0.5 * (w * (k - (noise + 1e-8) * np.eye(len(x)))).sum()
        grad[p + 1] = 0.5 * noise * np.trace(w)
        # weak log-normal prior on the lengthscales (centred at 0.5) keeps them away from the bounds
        z = (theta[:p] - math.log(0.5)) / 1.5
        grad[:p] += z / 1.5
        nll = 0.5 * y @ alpha + np.log(np.diag(chol)).sum() + 0.5 * (z ** 2).sum()
        return float(nll), grad

    def fit(self, x: np.ndarray, y: np.ndarray, optimize: bool = True) -> "GPModel":
        from scipy.optimize import minimize

        p = x.shape[1]
        self.y_mean, self.y_sd = float(y.mean()), float(y.std()) or 1.0
        ys = (y - self.y_mean) / self.y_sd
        bounds = [_LOG_BOUNDS["lengthscale"]] * p + [_LOG_BOUNDS["signal"], _LOG_BOUNDS["noise"]]
        if self.log_params is None or len(self.log_params) != p + 2:
            self.log_params = np.array([math.log(0.5)] * p + [0.0, math.log(0.01)])
            optimize = True
        if optimize:
            res = minimize(self._neg_log_likelihood, self.log_params, args=(x, ys), method="L-BFGS-B",
                           jac=True, bounds=bounds, options={"maxiter": 30})
            if np.all(np.isfinite(res.x)) and res.fun < 1e9:
                self.log_params = res.x
        self.x, self.ys = x, ys
        self._factor()
        return self

    def _factor(self) -> None:
        ls, signal, noise = self._unpack(self.log_params, self.x.shape[1])
        k = matern52(self.x, self.x, ls, signal) + (noise + 1e-8) * np.eye(len(self.x))
        jitter = 1e-8
        while True:
            try:
                self.chol = np.linalg.cholesky(k + jitter * np.eye(len(k)))
                break
            except np.linalg.LinAlgError:
                jitter *= 10
        from scipy.linalg import cho_solve

        self.alpha = cho_solve((self.chol, True), self.ys)

    def add(self, x: np.ndarray, y: np.ndarray) -> None:
        """Condition on more points (`y` on the original scale) with the same kernel parameters."""
        if len(x):
            self.x = np.vstack([self.x, x])
            self.ys = np.concatenate([self.ys, (y - self.y_mean) / self.y_sd])
            self._factor()

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ls, signal, _ = self._unpack(self.log_params, self.x.shape[1])
        ks = matern52(x, self.x, ls, signal)
        mean = ks @ self.alpha
        from scipy.linalg import solve_triangular

        v = solve_triangular(self.chol, ks.T, lower=True)
        var = np.maximum(signal - (v * v).sum(axis=0), 1e-12)
        return mean * self.y_sd + self.y_mean, np.sqrt(var) * self.y_sd


def expected_improvement(mean: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    """EI of a loss below `best` under N(mean, sd²)."""
    from scipy.stats import norm

    z = (best - mean) / sd
    return sd * (z * norm.cdf(z) + norm.pdf(z))


class GPSearcher(Searcher):
    """MOBSTER's joint Gaussian process over configuration and resource (see the module doc).

    >>> from raysha.space import uniform
    >>> from raysha.schedulers import ASHA
    >>> ASHA({"x": uniform(0, 1)}, metric="loss", max_t=9, searcher=GPSearcher(num_candidates=200)).searcher.name
    'gp'
    """

    name = "gp"

    def __init__(self, num_init_random: Optional[int] = None, num_candidates: int = 500, max_points: int = 300,
                 refit_growth: float = 0.1):
        self.num_init_random = None if num_init_random is None else _positive_int("num_init_random", num_init_random)
        self.num_candidates = _positive_int("num_candidates", num_candidates)
        self.max_points = _positive_int("max_points", max_points, low=2)
        if isinstance(refit_growth, bool) or not isinstance(refit_growth, (int, float)) or refit_growth < 0:
            raise SearcherError(f"gp: refit_growth must be a number >= 0, got {refit_growth!r}")
        self.refit_growth = float(refit_growth)
        self.results: dict[int, dict[int, tuple[float, float]]] = {}   # trial -> {bucket: (resource, loss)}
        self.pending: set[int] = set()

    def setup(self) -> None:
        try:
            import scipy  # noqa: F401
        except ImportError as e:
            raise SearcherError("gp: the 'gp' searcher needs scipy: pip install 'raysha[search]'") from e
        self.enc = Encoding(self.space)
        self._columns = [(j, int(c)) for j, c in enumerate(self.enc.cardinality)]
        if self.num_init_random is None:
            self.num_init_random = self.enc.dim + 2
        self._model = GPModel()
        self._fitted_on = 0

    # -- data ----------------------------------------------------------------------
    def on_report(self, trial_id: int, resource: float, loss: float) -> None:
        bucket = int(math.floor(math.log2(max(float(resource), 1e-12)) + 1e-9))
        self.results.setdefault(trial_id, {})[bucket] = (float(resource), float(loss))
        self.pending.discard(trial_id)

    def on_trial_end(self, trial_id: int, status: str) -> None:
        self.pending.discard(trial_id)

    def _features(self, vectors: np.ndarray, resource_unit: np.ndarray) -> np.ndarray:
        """GP inputs: numbers as they are (inactive: 0.5), categories one-hot, then the resource column."""
        cols = []
        for j, card in self._columns:
            v = vectors[:, j]
            if card:
                cols.append((v[:, None] == np.arange(card)[None, :]).astype(float))
            else:
                cols.append(np.where(np.isnan(v), 0.5, v)[:, None])
        cols.append(resource_unit[:, None])
        return np.hstack(cols)

    def _rows(self) -> tuple[list[int], np.ndarray, np.ndarray]:
        tids, res, loss = [], [], []
        for t, buckets in self.results.items():
            for r, v in buckets.values():
                tids.append(t), res.append(r), loss.append(v)
        res, loss = np.array(res), np.array(loss)
        if len(res) > self.max_points:
            order = np.lexsort((self.rng.random(len(res)), -res))   # highest resources first, ties at random
            half = order[: self.max_points // 2]
            rest = self.rng.choice(order[self.max_points // 2:], self.max_points - len(half), replace=False)
            keep = np.sort(np.concatenate([half, rest]))
            tids, res, loss = [tids[i] for i in keep], res[keep], loss[keep]
        return tids, res, loss

    # -- proposing -----------------------------------------------------------------
    def suggest(self, trial_id: int) -> dict:
        n = sum(len(b) for b in self.results.values())
        if n < self.num_init_random:
            return self._propose_random(trial_id)
        tids, res, loss = self._rows()
        finite = np.isfinite(loss)
        if not finite.any():
            return self._propose_random(trial_id)
        loss = np.where(finite, loss, loss[finite].max())
        log_r = np.log(np.maximum(res, 1e-12))
        lo, hi = log_r.min(), log_r.max()

        def unit(r):
            return (np.log(np.maximum(r, 1e-12)) - lo) / (hi - lo) if hi > lo else np.ones_like(r)

        x = self._features(self.enc.trials(tids, self.config_of), unit(res))
        refit = n >= self._fitted_on * (1 + self.refit_growth) or self._fitted_on == 0
        self._model.fit(x, loss, optimize=refit)
        if refit:
            self._fitted_on = n
        r_acq = self._acquisition_level(res, x.shape[1] - 1)
        at_acq = unit(np.array([r_acq]))[0]
        seen = sorted({t for t, r in zip(tids, res) if r == r_acq})
        seen_vecs = self.enc.trials(seen, self.config_of)
        seen_mean, _ = self._model.predict(self._features(seen_vecs, np.full(len(seen), at_acq)))
        best = float(seen_mean.min())
        pending = [t for t in sorted(self.pending) if self.config_of(t) is not None]
        if pending:
            px = self._features(self.enc.trials(pending, self.config_of), np.full(len(pending), at_acq))
            self._model.add(px, self._model.predict(px)[0])
        cands = self._candidates(seen_vecs[np.argsort(seen_mean)[:5]])
        mean, sd = self._model.predict(self._features(cands, np.full(len(cands), at_acq)))
        choice = self.enc.decode(cands[int(np.argmax(expected_improvement(mean, sd, best)))])
        self.pending.add(trial_id)
        return choice

    def _propose_random(self, trial_id: int) -> dict:
        self.pending.add(trial_id)
        return self.random_config()

    @staticmethod
    def _acquisition_level(res: np.ndarray, dim: int) -> float:
        levels, counts = np.unique(res, return_counts=True)
        ready = levels[counts > dim]
        return float(ready.max() if len(ready) else levels.max())

    def _candidates(self, best: np.ndarray) -> np.ndarray:
        m = self.num_candidates
        rand = np.array([self.enc.encode(self.random_config()) for _ in range(m)])
        centres = best[self.rng.integers(len(best), size=m)]
        local = centres.copy()
        for j, card in self._columns:
            if card:
                flip = self.rng.random(m) < 0.1
                local[flip, j] = self.rng.integers(card, size=int(flip.sum()))
            else:
                local[:, j] = np.clip(centres[:, j] + 0.05 * self.rng.standard_normal(m), 0.0, 1.0)
        return np.vstack([rand, local])

    # -- state ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        params = self._model.log_params
        return {"name": self.name, "pending": sorted(self.pending), "fitted_on": self._fitted_on,
                "kernel": None if params is None else [float(v) for v in params],
                "results": [[t, [[r, encode_float(v)] for r, v in buckets.values()]]
                            for t, buckets in self.results.items()]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.results = {}
        for t, reports in state["results"]:
            for r, v in reports:
                self.on_report(int(t), float(r), float(decode_float(v)))
        self.pending = {int(t) for t in state.get("pending", [])}
        kernel = state.get("kernel")
        self._model = GPModel(None if kernel is None else np.array(kernel, dtype=float))
        self._fitted_on = int(state.get("fitted_on", 0))
