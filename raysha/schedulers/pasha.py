"""PASHA: ASHA with a maximum resource that grows only while the ranking is unstable.

Bohdal et al., "PASHA: Efficient HPO and NAS with Progressive Resource
Allocation" (ICLR 2023), as in Syne Tune's ``PASHARungSystem``.

Let ``L = levels + [max_t]``. PASHA starts with the current maximum resource
``L[1]`` (the first two rungs) and never sends a trial beyond the current
maximum: a job ends there, and the trial pauses in the rung at that level.
Whenever a value is recorded in the top rung ``L[k]`` (or the ranking
tolerance ε changes), the ranking of the trials in that rung is compared with
the ranking of the same trials one rung below, ``L[k-1]``:

* sort the top-rung trials by their value at ``L[k]``; sort their values at
  ``L[k-1]``; the ranking is *stable* iff, for every position i, the value at
  ``L[k-1]`` of the i-th trial (by ``L[k]``) lies within ε of the i-th smallest
  value at ``L[k-1]``. (This is Syne Tune's soft ranking: position i's group is
  every trial within ε of the i-th value; with ε = 0 and no ties it is plain
  rank equality.) With fewer than two trials in the top rung, ε counts as 0.
* if it is not stable, ``k`` grows by one (the next rung is "unlocked"), up to
  ``max_t``. Trials paused at the old maximum become promotable by the usual
  ASHA rule (promotion), or are resumed (stopping: they were found in the top
  fraction when they got there).

ε (``ranking_criterion``):

* ``"soft_ranking_auto"`` (default, Syne Tune's PASHA): ε is the
  ``epsilon_percentile`` (90) percentile of the *noisy pair distances*, times
  ``epsilon_scaling`` (`NoisyPairs`). Each pair of trials counts once, at the
  highest resource r in ``(L[k-1], L[k]]`` that both reported: it is noisy
  there if, going back over the earlier resources both reported at, their
  order at r flipped and then flipped back, and its distance is
  ``|value_a(r) - value_b(r)|``. As the pair moves on, its entry moves to the
  new r (a pair noisy at 3 but not at 4 counts nothing). Until a noisy pair
  is seen ε keeps its last value (``epsilon`` at first, 0 by default). This
  is Syne Tune's ``_update_epsilon``, which rescans every pair on every
  report; raysha updates only the pairs a report touches, with the same result.
* ``"soft_ranking"``: ε is fixed at ``epsilon``.
* ``"soft_ranking_std"``, ``"soft_ranking_median_dst"``,
  ``"soft_ranking_mean_dst"``: ε is the standard deviation, or the median /
  mean pairwise distance, of the top-rung trials' values at ``L[k-1]``, times
  ``epsilon_scaling`` (the earlier Syne Tune variants).

Both ASHA variants: ``type="promotion"`` (Syne Tune's PASHA, the default) and
``type="stopping"`` (trials run to the current maximum with stop decisions at
the rungs on the way; one that reaches the maximum in the top fraction pauses
there until the maximum grows).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from raysha.floats import decode_float, encode_float
from raysha.schedulers.asha import ASHA
from raysha.schedulers.base import DONE, WAIT, Decision, Job, SchedulerError

RANKING_CRITERIA = ("soft_ranking_auto", "soft_ranking", "soft_ranking_std",
                    "soft_ranking_median_dst", "soft_ranking_mean_dst")


def ranking_is_stable(top: Mapping[int, float], previous: Mapping[int, float], epsilon: float) -> bool:
    """Soft-ranking test: do the trials of `top` keep their order at `previous` (within ε)?

    `top` maps the trials of the top rung to their values there (losses),
    `previous` maps (at least) the same trials to their values one rung below.
    """
    members = sorted(top, key=lambda t: (top[t], t))
    prev_sorted = sorted(previous[t] for t in members)
    for i, t in enumerate(members):
        a, b = previous[t], prev_sorted[i]
        if a == b:
            continue
        if not abs(a - b) <= epsilon:  # NaN-safe: inf - inf is NaN, never within ε
            return False
    return True


def _is_noisy(curve_a: Mapping[float, float], curve_b: Mapping[float, float], r: float) -> bool:
    """Syne Tune's test: at r the order is O; going back, it was not-O, and before that O again."""
    cond = curve_a[r] > curve_b[r]
    opposite = False
    for prev in sorted((x for x in curve_a if x < r and x in curve_b), reverse=True):
        p_cond = curve_a[prev] > curve_b[prev]
        if p_cond != cond:
            opposite = True
        elif opposite:
            return True
    return False


class NoisyPairs:
    """Syne Tune's automatic ε: noisy pairs, each looked at once, at the highest resource both reached.

    `record` every report; only reports inside the window (above the level
    given as ``floor``) pair up. ``distances`` maps each pair (a, b), a < b,
    that is noisy at its highest common resource in the window to its distance
    there. `clear_window` starts a new window (PASHA unlocked a rung).

    >>> pairs = NoisyPairs()
    >>> a = {1: 0.6, 2: 0.2, 3: 0.7, 4: 0.41}         # a worse, better, worse, worse than b
    >>> b = {1: 0.5, 2: 0.5, 3: 0.4, 4: 0.40}
    >>> seen = []
    >>> for r in (1, 2, 3, 4):
    ...     _ = pairs.record(0, r, a[r], floor=1); _ = pairs.record(1, r, b[r], floor=1)
    ...     seen.append({k: round(v, 2) for k, v in pairs.distances.items()})
    >>> seen                                          # noisy at 3 (0.30), then at 4 (0.01) only
    [{}, {}, {(0, 1): 0.3}, {(0, 1): 0.01}]
    """

    def __init__(self):
        self.curves: dict[int, dict[float, float]] = {}       # every report of every trial
        self.at: dict[float, list[int]] = {}                  # resource in the window -> trials there
        self.distances: dict[tuple[int, int], float] = {}     # noisy pairs -> distance

    def record(self, trial_id: int, resource: float, loss: float, floor: float) -> bool:
        """Store a report; re-examine its pairs at `resource` if above `floor`. True if a distance changed."""
        curve = self.curves.setdefault(trial_id, {})
        if resource in curve:
            return False  # a trial retrained from scratch: keep its first curve
        curve[resource] = loss
        if not resource > floor or not math.isfinite(loss):
            return False
        others = self.at.setdefault(resource, [])
        changed = False
        for u in others:   # resource is the highest both reached: trial_id reports in ascending order
            pair = (min(u, trial_id), max(u, trial_id))
            old = self.distances.pop(pair, None)
            if _is_noisy(curve, self.curves[u], resource):
                self.distances[pair] = abs(loss - self.curves[u][resource])
            changed = changed or old != self.distances.get(pair)
        others.append(trial_id)
        return changed

    def clear_window(self) -> None:
        self.at, self.distances = {}, {}

    def state(self) -> dict:
        return {
            "curves": [[t, [[r, encode_float(v)] for r, v in c.items()]] for t, c in self.curves.items()],
            "at": [[r, ts] for r, ts in self.at.items()],
            "distances": [[a, b, d] for (a, b), d in self.distances.items()],
        }

    def load(self, state: Mapping[str, Any]) -> None:
        self.curves = {int(t): {r: decode_float(v) for r, v in c} for t, c in state["curves"]}
        self.at = {r: [int(t) for t in ts] for r, ts in state["at"]}
        self.distances = {(int(a), int(b)): float(d) for a, b, d in state.get("distances", [])}


class PASHA(ASHA):
    """PASHA: ASHA whose maximum resource starts at the second rung and grows while rankings change.

    >>> from raysha.space import uniform
    >>> s = PASHA({"lr": uniform(0, 1)}, metric="loss", max_t=27, grace_period=1, reduction_factor=3)
    >>> s.levels, s.current_max_t                     # jobs go no further than 3 for now
    ([1, 3, 9], 3)
    >>> s.max_t_history
    [(0.0, 3)]
    """

    def __init__(
        self,
        space: Mapping[str, Any],
        metric: str,
        mode: str = "min",
        resource_attr: str = "epoch",
        max_t: Optional[float] = None,
        max_resource_attr: Optional[str] = None,
        grace_period: float = 1,
        reduction_factor: float = 3,
        rung_levels: Optional[Sequence[float]] = None,
        type: str = "promotion",
        points_to_evaluate: Optional[Sequence[Mapping[str, Any]]] = None,
        random_seed: int = 0,
        ranking_criterion: str = "soft_ranking_auto",
        epsilon: float = 0.0,
        epsilon_scaling: float = 1.0,
        epsilon_percentile: float = 90.0,
        max_trials: Optional[int] = None,
        early_checkpoint_removal_kwargs: Optional[Mapping[str, Any]] = None,
        searcher: Any = None,
    ):
        if ranking_criterion not in RANKING_CRITERIA:
            raise SchedulerError(f"ranking_criterion must be one of {RANKING_CRITERIA}, got {ranking_criterion!r}")
        for name, v in (("epsilon", epsilon), ("epsilon_scaling", epsilon_scaling)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0 or not math.isfinite(v):
                raise SchedulerError(f"{name} must be a finite number >= 0, got {v!r}")
        if isinstance(epsilon_percentile, bool) or not isinstance(epsilon_percentile, (int, float)) \
                or not 0 <= epsilon_percentile <= 100:
            raise SchedulerError(f"epsilon_percentile must be within [0, 100], got {epsilon_percentile!r}")
        super().__init__(
            space, metric, mode, resource_attr, max_t, max_resource_attr, grace_period, reduction_factor,
            rung_levels, type, 1, False, points_to_evaluate, random_seed, max_trials,
            early_checkpoint_removal_kwargs, searcher,
        )
        self.pauses_trials = True  # both variants pause at the current maximum
        self.ranking_criterion = ranking_criterion
        self.epsilon = float(epsilon)
        self.epsilon_scaling = float(epsilon_scaling)
        self.epsilon_percentile = float(epsilon_percentile)
        self._k = min(1, len(self.levels))  # index into levels + [max_t] of the current maximum
        self.max_t_history: list[tuple[float, float]] = [(0.0, self._level(self._k))]
        self._check = False           # a value entered the top rung since the last check
        self._pairs = NoisyPairs()    # the automatic ε's data (soft_ranking_auto only)

    # -- the current maximum -----------------------------------------------------
    @property
    def current_max_t(self) -> float:
        return self._level(self._k)

    def _top_index(self) -> int:
        return self._k

    def _entered_rung(self, rec, index: int, loss: float) -> None:
        if index == self._k:
            self._check = True

    # -- contract ------------------------------------------------------------------
    def next_job(self, now: float, allow_new: bool = True) -> Job:
        if self.type == "stopping":
            # trials paused at an old maximum go on first, best first, top rung first
            rungs = self.systems[0].rungs
            for i in range(min(self._k, len(self.levels)) - 1, -1, -1):
                rung = rungs[i]
                if rung.paused:
                    _, _, tid = rung.paused[0]
                    rung.unpause(tid)
                    return self._resume(self.trials[tid], rung.level, self.current_max_t)
            if self.max_trials is not None and len(self.trials) >= self.max_trials:
                allow_new = False
            if not allow_new:
                return WAIT if self._running else DONE
        return super().next_job(now, allow_new)

    def _job(self, kind, rec, start, until):
        job = super()._job(kind, rec, start, until)
        if self.type == "stopping" and start > 0:
            # a resumed stopping trial decides at the rungs above its start only
            ms = tuple(m for m in job.milestones if m > start)
            rec.milestones = ms
            job = Job(job.kind, job.trial_id, job.config, job.start, job.until, ms, job.bracket)
        return job

    def on_report(self, trial_id: int, resource: float, metrics: Mapping[str, Any], now: float) -> Decision:
        decision = super().on_report(trial_id, resource, metrics, now)
        if self._k >= len(self.levels):
            return decision  # at max_t already: nothing left to unlock
        if self.ranking_criterion == "soft_ranking_auto":
            if self._record(trial_id, resource, self.trials[trial_id].last_loss):
                self._check = True
        if self._check:
            self._check = False
            self._maybe_grow(now)
        return decision

    # -- ε and the ranking test ----------------------------------------------------------
    def _record(self, trial_id: int, resource: float, loss: float) -> bool:
        """Pass a report to the noisy pairs; re-estimate ε if they changed. True if ε changed."""
        if not self._pairs.record(trial_id, resource, loss, floor=self._level(self._k - 1)):
            return False
        distances = list(self._pairs.distances.values())
        if not distances:
            return False  # no noisy pair left: ε keeps its last value (Syne Tune)
        old = self.epsilon
        self.epsilon = float(np.percentile(distances, self.epsilon_percentile)) * self.epsilon_scaling
        return self.epsilon != old

    def _epsilon_for(self, values: list) -> float:
        crit = self.ranking_criterion
        if len(values) < 2:
            return 0.0
        if crit in ("soft_ranking_auto", "soft_ranking"):
            return self.epsilon
        finite = np.array([v for v in values if math.isfinite(v)])
        if len(finite) < 2:
            return 0.0
        if crit == "soft_ranking_std":
            return float(np.std(finite)) * self.epsilon_scaling
        d = np.abs(finite[:, None] - finite[None, :])[~np.eye(len(finite), dtype=bool)]
        stat = np.median(d) if crit == "soft_ranking_median_dst" else np.mean(d)
        return float(stat) * self.epsilon_scaling

    def ranking_stable(self) -> bool:
        """Is the ranking in the current top two rungs stable (True while the top rung is empty)?"""
        if self._k >= len(self.levels):
            return True
        rungs = self.systems[0].rungs
        top = rungs[self._k].losses
        if not top:
            return True
        below = rungs[self._k - 1].losses
        eps = self._epsilon_for([below[t] for t in top])
        return ranking_is_stable(top, below, eps)

    def _maybe_grow(self, now: float) -> None:
        if self.ranking_stable():
            return
        # the ranking changed: unlock the next rung (Syne Tune: one rung per unstable report)
        self._k += 1
        self.max_t_history.append((float(now), self.current_max_t))
        # ε is estimated from pairs in (L[k-1], L[k]] only: reports there come from now on
        self._pairs.clear_window()

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["pasha"] = {
            "k": self._k,
            "epsilon": self.epsilon,
            "history": [list(h) for h in self.max_t_history],
            "pairs": self._pairs.state(),
        }
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        p = state["pasha"]
        self._k = int(p["k"])
        self.epsilon = float(p["epsilon"])
        self.max_t_history = [(float(a), b) for a, b in p["history"]]
        self._pairs = NoisyPairs()
        self._pairs.load(p["pairs"] if "pairs" in p else p)  # older states kept curves and at in "pasha"
        self._check = False
