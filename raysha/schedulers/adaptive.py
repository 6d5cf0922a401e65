"""Adaptive ASHA: several ASHA brackets with different early-stopping aggressiveness (Determined).

The rules follow Determined's ``master/pkg/searcher/adaptive_asha.go`` and
``asha_stopping.go``:

* **Number of rungs.** ``max_rungs`` is first clamped to
  ``min(max_rungs, floor(log_d(max_t)) + 1, floor(log_d(max_trials)) + 1)``
  (d = ``divisor``), so the shortest rung is at least 1 resource unit and the
  most aggressive bracket can fill its top rung.
* **Brackets** (``bracket_rungs``: the number of rungs of each bracket), from
  ``search_mode`` (Determined calls it ``mode``; here ``mode`` is min/max):
  ``"aggressive"``: ``[max_rungs]``; ``"standard"``:
  ``[(max_rungs - 1) // 2 + 1, ..., max_rungs]``; ``"conservative"``:
  ``[1, ..., max_rungs]``. They are sorted descending (most early stopping
  first). With divisor 4 and max_rungs 5: aggressive ``[5]``, standard
  ``[5, 4, 3]``, conservative ``[5, 4, 3, 2, 1]``. ``bracket_rungs`` may also be
  given directly.
* **Rung levels** of a bracket with n rungs: ``max(floor(max_t / d**(n-1-i)), 1)``
  for i = 0..n-1 (the last is ``max_t``; float resources are not floored).
* **Trials per bracket**: weight ``d**(n-1) / n`` (equal total budget per
  bracket); bracket b gets ``max(floor(w_b / sum(w) * max_trials), 1)`` and
  the remainder goes to the first (most aggressive) bracket, so the split sums
  to ``max_trials``. (Where the minimum of one trial per bracket would
  overshoot, raysha takes the excess back from the largest brackets.)
* **Concurrency per bracket**: ``max_concurrent_trials`` (raised to the number
  of brackets) split evenly, the remainder to the first brackets; when it is
  not given, each bracket may run ``max(trials of the last bracket, d)``.
* **Within a bracket**: ASHA, stopping variant, with Determined's rule: a trial
  reaching a rung below the top is inserted there and continues iff fewer than
  ``max(floor(n / d), 1)`` values in the rung (n counting its own) are strictly
  better than its own, i.e. it lies in the top 1/d, and with fewer than d
  values only the best so far continues. A trial reaching ``max_t`` completes.
  Ties are Determined's too (``insertMetric`` places a value before equal
  ones): equal values do not count as better, so on a plateau of identical
  values every trial continues, unlike raysha's ASHA (`raysha.schedulers.rungs.Rung`).
* **An errored trial** (``on_trial_end(..., "failed")``) enters the rung it
  was training towards with the worst value (Determined's
  ``trialExitedEarly``: ``math.MaxFloat64``, here ``inf``), so the rung
  counts it and others may continue more easily; it still counts towards
  ``max_trials`` (raysha has no invalid-hyperparameter exit, which Determined
  drops from the rungs and replaces).
* **Which bracket gets a new trial** (Determined runs the brackets side by side,
  each refilling its own slots; a raysha runner asks one worker at a time):
  among the brackets with trials left and a free concurrency slot, the one that
  has started the smallest fraction of its trials, ties to the most
  aggressive. When every bracket with trials left is at its concurrency limit
  the worker waits.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

from sortedcontainers import SortedList

from raysha.floats import decode_float, encode_float
from raysha.schedulers.base import (
    DONE, WAIT, Decision, Job, JobKind, Scheduler, SchedulerError, TrialStatus,
    resolve_max_t, with_resource,
)

SEARCH_MODES = ("aggressive", "standard", "conservative")
_EPS = 1e-9


def _positive_int(name: str, v) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 1:
        raise SchedulerError(f"{name} must be a positive integer, got {v!r}")
    return v


def clamp_max_rungs(max_rungs: int, divisor: float, max_t: float, max_trials: int) -> int:
    """Determined's clamp: at most floor(log_d(max_t)) + 1 and floor(log_d(max_trials)) + 1 rungs."""
    by_length = int(math.log(max_t) / math.log(divisor) + _EPS) + 1 if max_t >= 1 else 1
    by_trials = int(math.log(max_trials) / math.log(divisor) + _EPS) + 1
    return max(1, min(max_rungs, by_length, by_trials))


def mode_bracket_rungs(search_mode: str, max_rungs: int) -> list[int]:
    """Rungs per bracket for a search mode, most aggressive first."""
    if search_mode == "aggressive":
        out = [max_rungs]
    elif search_mode == "standard":
        out = list(range((max_rungs - 1) // 2 + 1, max_rungs + 1))
    elif search_mode == "conservative":
        out = list(range(1, max_rungs + 1))
    else:
        raise SchedulerError(f"search_mode must be one of {SEARCH_MODES}, got {search_mode!r}")
    return sorted(out, reverse=True)


def bracket_max_trials(max_trials: int, divisor: float, brackets: Sequence[int]) -> list[int]:
    """Determined's getBracketMaxTrials; sums to max_trials."""
    weights = [divisor ** (n - 1) / n for n in brackets]
    total = sum(weights)
    out = [max(int(w / total * max_trials + _EPS), 1) for w in weights]
    out[0] += max(max_trials - sum(out), 0)
    while sum(out) > max_trials:  # the minimum of one each overshot: take back from the largest
        i = max(range(len(out)), key=lambda b: (out[b], -b))
        if out[i] <= 1:
            break
        out[i] -= 1
    return out


def bracket_max_concurrent(max_concurrent: Optional[int], divisor: float, max_trials: Sequence[int]) -> list[int]:
    """Determined's getBracketMaxConcurrentTrials."""
    n = len(max_trials)
    if not max_concurrent:
        return [max(max_trials[-1], int(divisor))] * n
    max_concurrent = max(max_concurrent, n)
    out = [max_concurrent // n] * n
    for i in range(max_concurrent % n):
        out[i] += 1
    return out


def bracket_levels(n_rungs: int, divisor: float, max_t: float) -> list:
    """Determined's makeRungs: the levels of a bracket with n rungs (the last is max_t)."""
    integral = float(max_t).is_integer()
    levels = []
    for i in range(n_rungs):
        r = max_t / divisor ** (n_rungs - 1 - i)
        r = max(int(r + _EPS), 1) if integral else r
        if i == n_rungs - 1:
            r = max_t
        if not levels or r > levels[-1]:
            levels.append(r)
    return levels


class AdaptiveASHA(Scheduler):
    """Determined's adaptive ASHA: stopping-ASHA brackets side by side (see the module docstring).

    >>> from raysha.space import uniform
    >>> s = AdaptiveASHA({"lr": uniform(0, 1)}, metric="loss", max_t=256, max_trials=1000,
    ...                  search_mode="standard", divisor=4)
    >>> s.bracket_rungs, s.bracket_trials
    ([5, 4, 3], [707, 220, 73])
    >>> s.bracket_level_lists[2]
    [16, 64, 256]
    >>> job = s.next_job(now=0)
    >>> job.bracket, job.until, job.milestones
    (0, 256, (1, 4, 16, 64, 256))
    """

    pauses_trials = False

    def __init__(
        self,
        space: Mapping[str, Any],
        metric: str,
        mode: str = "min",
        resource_attr: str = "epoch",
        max_t: Optional[float] = None,
        max_resource_attr: Optional[str] = None,
        search_mode: str = "standard",
        divisor: float = 4,
        max_rungs: int = 5,
        max_trials: int = 100,
        max_concurrent_trials: Optional[int] = None,
        bracket_rungs: Optional[Sequence[int]] = None,
        points_to_evaluate: Optional[Sequence[Mapping[str, Any]]] = None,
        random_seed: int = 0,
        searcher: Any = None,
    ):
        super().__init__(space, metric, mode, resource_attr, points_to_evaluate, random_seed, searcher)
        self.max_resource_attr = max_resource_attr
        self.max_t = resolve_max_t(self.space, max_t, max_resource_attr)
        if isinstance(divisor, bool) or not isinstance(divisor, (int, float)) or not divisor > 1 \
                or not math.isfinite(divisor):
            raise SchedulerError(f"divisor must be a number > 1, got {divisor!r}")
        self.divisor = divisor
        self.max_trials = _positive_int("max_trials", max_trials)
        if max_concurrent_trials is not None:
            _positive_int("max_concurrent_trials", max_concurrent_trials)
        self.search_mode = search_mode
        if search_mode not in SEARCH_MODES:
            raise SchedulerError(f"search_mode must be one of {SEARCH_MODES}, got {search_mode!r}")
        if bracket_rungs:
            brackets = [_positive_int("bracket_rungs entries", n) for n in bracket_rungs]
            self.max_rungs = max(brackets)
        else:
            self.max_rungs = clamp_max_rungs(_positive_int("max_rungs", max_rungs), divisor, self.max_t,
                                             self.max_trials)
            brackets = mode_bracket_rungs(search_mode, self.max_rungs)
        self.bracket_rungs = sorted(brackets, reverse=True)
        self.bracket_trials = bracket_max_trials(self.max_trials, divisor, self.bracket_rungs)
        self.bracket_concurrency = bracket_max_concurrent(max_concurrent_trials, divisor, self.bracket_trials)
        self.max_concurrent_trials = max_concurrent_trials
        # per bracket: levels ending with max_t, one sorted list of losses per level below max_t
        self.bracket_level_lists = [bracket_levels(n, divisor, self.max_t) for n in self.bracket_rungs]
        self.brackets = len(self.bracket_rungs)
        self._rungs = [[SortedList() for _ in lv[:-1]] for lv in self.bracket_level_lists]
        self._started = [0] * self.brackets
        self._running_in = [0] * self.brackets
        self._next_rung: dict[int, int] = {}

    # -- contract ------------------------------------------------------------------
    def _pick_bracket(self) -> Optional[int]:
        best, best_key = None, None
        for b in range(self.brackets):
            if self._started[b] >= self.bracket_trials[b] or self._running_in[b] >= self.bracket_concurrency[b]:
                continue
            key = self._started[b] / self.bracket_trials[b]
            if best is None or key < best_key - _EPS:
                best, best_key = b, key
        return best

    def next_job(self, now: float, allow_new: bool = True) -> Job:
        running = sum(self._running_in)
        if not allow_new or all(s >= n for s, n in zip(self._started, self.bracket_trials)):
            return WAIT if running else DONE
        b = self._pick_bracket()
        if b is None:
            return WAIT if running else DONE
        rec = self.new_trial(b)
        self._started[b] += 1
        self._running_in[b] += 1
        self._next_rung[rec.trial_id] = 0
        levels = self.bracket_level_lists[b]
        rec.until, rec.milestones = self.max_t, tuple(levels)
        config = with_resource(rec.config, self.max_resource_attr, self.max_t)
        return Job(JobKind.START, rec.trial_id, config, 0, self.max_t, tuple(levels), b)

    def _end(self, rec, status: TrialStatus) -> None:
        if rec.status == TrialStatus.RUNNING:
            self._running_in[rec.bracket] -= 1
        rec.status = status
        self._next_rung.pop(rec.trial_id, None)

    def on_report(self, trial_id: int, resource: float, metrics: Mapping[str, Any], now: float) -> Decision:
        rec = self.trials[trial_id]
        loss = self.loss(metrics)
        self.searcher.on_report(trial_id, resource, loss)
        rec.resource, rec.last_loss = resource, loss
        if rec.status != TrialStatus.RUNNING:
            return Decision.STOP
        if resource >= self.max_t:
            self._end(rec, TrialStatus.COMPLETED)
            return Decision.STOP
        levels = self.bracket_level_lists[rec.bracket]
        rungs = self._rungs[rec.bracket]
        pos = self._next_rung.get(trial_id, len(rungs))
        while pos < len(rungs) and levels[pos] <= resource:
            rung = rungs[pos]
            rank = rung.bisect_left(loss)  # values strictly better
            rung.add(loss)
            pos += 1
            self._next_rung[trial_id] = pos
            if rank >= max(int(len(rung) / self.divisor + _EPS), 1):
                self._end(rec, TrialStatus.STOPPED)
                return Decision.STOP
        return Decision.CONTINUE

    def on_trial_end(self, trial_id: int, status: str) -> None:
        rec = self.trials.get(trial_id)
        if rec is not None and rec.status == TrialStatus.RUNNING:
            if status == TrialStatus.FAILED.value:
                # Determined: an errored trial enters the rung it was heading for as the worst value
                pos = self._next_rung.get(trial_id, len(self._rungs[rec.bracket]))
                if pos < len(self._rungs[rec.bracket]):
                    self._rungs[rec.bracket][pos].add(math.inf)
            self._end(rec, TrialStatus(status))
        self.searcher.on_trial_end(trial_id, status)

    def rung_sizes(self) -> dict:
        return {b: {lv: len(r) for lv, r in zip(self.bracket_level_lists[b], self._rungs[b])}
                for b in range(self.brackets)}

    # -- state -------------------------------------------------------------------
    def state_dict(self) -> dict:
        state = super().state_dict()
        state["adaptive"] = {
            "rungs": [[[encode_float(v) for v in r] for r in rs] for rs in self._rungs],
            "started": self._started,
            "running": self._running_in,
            "next_rung": [[t, p] for t, p in self._next_rung.items()],
        }
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        super().load_state_dict(state)
        a = state["adaptive"]
        self._rungs = [[SortedList(decode_float(v) for v in r) for r in rs] for rs in a["rungs"]]
        self._started = list(a["started"])
        self._running_in = list(a["running"])
        self._next_rung = {int(t): int(p) for t, p in a["next_rung"]}
