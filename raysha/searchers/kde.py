"""BOHB's model (Falkner et al., 2018): a kernel density estimator over good vs. bad configurations.

Every report is kept by resource level. To propose a configuration, the
searcher takes the highest level with enough results: ``n_good = max(min_points,
top_n_percent % of n)`` best and ``n_bad = max(min_points, the rest)`` next
results, each set with more rows than dimensions (``min_points`` defaults to
the number of hyperparameters + 1, as BOHB). It fits one product-kernel KDE on
the good configurations, l(x), one on the bad, g(x) (Gaussian kernels on
[0, 1]-scaled numbers, Aitchison-Aitken kernels on categories, bandwidths by
the normal reference rule, at least ``min_bandwidth``), draws
``num_candidates`` points around good ones with bandwidths widened by
``bandwidth_factor``, and returns the one with the smallest g(x) / l(x).
With no level ready, or with probability ``random_fraction``, the
configuration is drawn at random. Inactive branch columns of conditional
spaces are imputed from another row of the same set, as BOHB does. numpy only.

One default differs from BOHB's: ``min_bandwidth`` is 0.1 (BOHB: 1e-3), on the
[0, 1] scale. Under asynchronous successive halving the top levels soon hold
mostly the model's own, clustered proposals, and their normal-reference
bandwidth shrinks; the floor keeps the search moving. The evidence is thin:
on the noisy 4-d quadratic of ``tests/searchers`` (promotion ASHA with exact
ties, 4 workers, 10 seeds) the median regret is 0.0068 with 0.1 and 0.0058
with 1e-3 after 600 simulated seconds (random search 0.0118), 0.0049 and
0.0030 after 1,200 s (8 seeds); on the noisy multi-fidelity Branin of
``benchmarks/searchers_quadratic.py`` (seeds 10-19) 0.156 with 0.1, 0.287
with 1e-3, and random search 0.053: there ``"kde"`` is behind random search
with either setting (``docs/searchers.md`` discusses it).

    >>> import numpy as np
    >>> from raysha.space import uniform
    >>> s = KDESearcher()
    >>> s.bind({"x": uniform(0, 1)}, np.random.default_rng(0), lambda t: {"x": t / 20})
    >>> for t in range(20):
    ...     s.on_report(t, 1, abs(t / 20 - 0.3))
    >>> picks = [s.suggest(20 + i)["x"] for i in range(30)]
    >>> 0.1 < float(np.median(picks)) < 0.5
    True
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional

import numpy as np

from raysha.floats import decode_float, encode_float
from raysha.searchers.base import Searcher, SearcherError
from raysha.searchers.encoding import Encoding


def _check(name: str, value, low: float, high: float, integer: bool = False):
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and low <= value <= high
    if integer:
        ok = ok and isinstance(value, int)
    if not ok:
        raise SearcherError(f"kde: {name} must be {'an integer' if integer else 'a number'} "
                            f"in [{low}, {high}], got {value!r}")
    return value


class KDESearcher(Searcher):
    """BOHB's good-vs-bad density ratio on the highest rung with enough results (see the module doc).

    >>> from raysha.space import uniform
    >>> from raysha.schedulers import ASHA
    >>> ASHA({"x": uniform(0, 1)}, metric="loss", max_t=9, searcher=KDESearcher(top_n_percent=20)).searcher.name
    'kde'
    """

    name = "kde"

    def __init__(self, min_points: Optional[int] = None, top_n_percent: float = 15,
                 num_candidates: int = 64, random_fraction: float = 1 / 3,
                 bandwidth_factor: float = 3, min_bandwidth: float = 0.1):
        if min_points is not None:
            _check("min_points", min_points, 1, math.inf, integer=True)
        self.min_points = min_points
        self.top_n_percent = _check("top_n_percent", top_n_percent, 1, 99)
        self.num_candidates = _check("num_candidates", num_candidates, 1, 1e6, integer=True)
        self.random_fraction = _check("random_fraction", random_fraction, 0, 1)
        self.bandwidth_factor = _check("bandwidth_factor", bandwidth_factor, 1e-6, 1e6)
        self.min_bandwidth = _check("min_bandwidth", min_bandwidth, 1e-12, 1)
        self.results: dict[float, dict[int, float]] = {}   # level -> {trial_id: loss}

    def setup(self) -> None:
        self.enc = Encoding(self.space)
        if self.min_points is None:
            self.min_points = self.enc.dim + 1

    # -- data ----------------------------------------------------------------------
    def on_report(self, trial_id: int, resource: float, loss: float) -> None:
        self.results.setdefault(float(resource), {})[trial_id] = float(loss)

    def _split(self) -> Optional[tuple[np.ndarray, np.ndarray]]:
        """(good rows, bad rows) at the highest level with enough results, else None."""
        dim = self.enc.dim
        for level in sorted(self.results, reverse=True):
            losses = self.results[level]
            n = len(losses)
            n_good = max(self.min_points, int(self.top_n_percent * n) // 100)
            n_bad = max(self.min_points, int((100 - self.top_n_percent) * n) // 100)
            if min(n_good, n) <= dim or min(n - n_good, n_bad) <= dim:
                continue
            tids = list(losses)
            order = np.argsort([losses[t] for t in tids], kind="stable")
            rows = self.enc.trials([tids[i] for i in order], self.config_of)
            return self._impute(rows[:n_good]), self._impute(rows[n_good:n_good + n_bad])
        return None

    def _impute(self, rows: np.ndarray) -> np.ndarray:
        """Fill a branch's unused columns from a random row that uses them (else at random)."""
        rows = rows.copy()
        for j in np.flatnonzero(np.isnan(rows).any(axis=0)):
            missing = np.isnan(rows[:, j])
            donors = rows[~missing, j]
            card = self.enc.cardinality[j]
            if len(donors):
                rows[missing, j] = donors[self.rng.integers(len(donors), size=missing.sum())]
            elif card:
                rows[missing, j] = self.rng.integers(card, size=missing.sum())
            else:
                rows[missing, j] = self.rng.random(missing.sum())
        return rows

    # -- model ---------------------------------------------------------------------
    def _bandwidths(self, rows: np.ndarray) -> np.ndarray:
        n, d = rows.shape
        bw = 1.06 * rows.std(axis=0) * n ** (-1.0 / (4 + d))
        bw = np.maximum(bw, self.min_bandwidth)
        card = self.enc.cardinality
        cat = card > 0
        bw[cat] = np.minimum(bw[cat], (card[cat] - 1) / np.maximum(card[cat], 1))
        return np.maximum(bw, self.min_bandwidth)

    def _pdf(self, x: np.ndarray, rows: np.ndarray, bw: np.ndarray) -> np.ndarray:
        """Product-kernel density of each row of `x` (m, d) under the data `rows` (n, d)."""
        card = self.enc.cardinality
        diff = x[:, None, :] - rows[None, :, :]
        gauss = np.exp(-0.5 * (diff / bw) ** 2) / (math.sqrt(2 * math.pi) * bw)
        same = np.abs(diff) < 0.5
        aitchison = np.where(same, 1 - bw, bw / np.maximum(card - 1, 1))
        k = np.where(card > 0, aitchison, gauss)
        return k.prod(axis=2).mean(axis=1)

    def _candidates(self, good: np.ndarray, bw: np.ndarray) -> np.ndarray:
        m, card = self.num_candidates, self.enc.cardinality
        centres = good[self.rng.integers(len(good), size=m)]
        out = centres.copy()
        for j in range(good.shape[1]):
            if card[j]:
                flip = self.rng.random(m) >= 1 - bw[j]
                out[flip, j] = self.rng.integers(card[j], size=flip.sum())
            else:
                out[:, j] = self._truncated_normal(centres[:, j], bw[j] * self.bandwidth_factor)
        return out

    def _truncated_normal(self, mean: np.ndarray, scale: float) -> np.ndarray:
        """Normal(mean, scale) draws kept inside [0, 1] (redrawn; clipped after 20 tries)."""
        out = mean + scale * self.rng.standard_normal(len(mean))
        for _ in range(20):
            bad = (out < 0) | (out > 1)
            if not bad.any():
                break
            out[bad] = mean[bad] + scale * self.rng.standard_normal(bad.sum())
        return np.clip(out, 0.0, 1.0)

    def suggest(self, trial_id: int) -> dict:
        split = self._split()
        if split is None or self.rng.random() < self.random_fraction:
            return self.random_config()
        good, bad = split
        bw_good, bw_bad = self._bandwidths(good), self._bandwidths(bad)
        cands = self._candidates(good, bw_good)
        ratio = (np.maximum(self._pdf(cands, bad, bw_bad), 1e-32)
                 / np.maximum(self._pdf(cands, good, bw_good), 1e-32))
        return self.enc.decode(cands[int(np.argmin(ratio))])

    # -- state ---------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"name": self.name, "results": [
            [level, [[t, encode_float(v)] for t, v in losses.items()]]
            for level, losses in self.results.items()]}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        self.results = {float(level): {int(t): float(decode_float(v)) for t, v in losses}
                        for level, losses in state["results"]}
