"""Rung levels and the rungs that ASHA decides on.

Each `Rung` keeps its metric values (as losses: lower is better) in a dict by
trial and tracks the one order statistic its rule needs with an
`OrderStatistic`: two heaps split at the target index, so recording a value
and reading the quantile cutoff (stopping) or the promotion threshold cost
O(log n) — Ray Tune recomputes a percentile over the whole rung on every
report, O(n). The trials paused at a rung wait in a `SortedList` by loss, so
the best of them is found in O(1) and removed in O(log n).
"""

from __future__ import annotations

import heapq
import math
from typing import Optional, Sequence

from sortedcontainers import SortedList

from raysha.floats import decode_float, encode_float
from raysha.schedulers.base import SchedulerError

_EPS = 1e-9


def _is_number(x) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)


def geometric_rung_levels(grace_period: float, reduction_factor: float, max_t: float) -> list:
    """Rung levels ``grace * eta**k`` below `max_t` (rounded to integers for integer resources)."""
    if not _is_number(reduction_factor) or reduction_factor < 2:
        raise SchedulerError(f"reduction_factor must be a number >= 2, got {reduction_factor!r}")
    if not _is_number(grace_period) or grace_period <= 0:
        raise SchedulerError(f"grace_period must be a positive number, got {grace_period!r}")
    if grace_period > max_t:
        raise SchedulerError(f"grace_period ({grace_period}) must not exceed max_t ({max_t})")
    integral = float(grace_period).is_integer() and float(max_t).is_integer()
    levels: list = []
    k = 0
    while True:
        r = grace_period * reduction_factor ** k
        r = int(round(r)) if integral else r
        if r >= max_t:
            return levels
        if not levels or r > levels[-1]:
            levels.append(r)
        k += 1


def check_rung_levels(rung_levels: Sequence, max_t: float) -> list:
    levels = list(rung_levels)
    if not levels:
        raise SchedulerError("rung_levels must not be empty")
    for r in levels:
        if not _is_number(r) or r <= 0:
            raise SchedulerError(f"rung_levels must be positive numbers, got {r!r}")
    if any(b <= a for a, b in zip(levels, levels[1:])):
        raise SchedulerError(f"rung_levels must be strictly increasing, got {levels}")
    if levels[-1] >= max_t:
        raise SchedulerError(f"rung_levels must all be below max_t ({max_t}), got {levels}")
    return levels


def rung_levels_and_eta(rung_levels: Optional[Sequence], grace_period: float, reduction_factor: float,
                        max_t: float) -> tuple[list, float]:
    """Rung levels (explicit, or geometric from the grace period) and the η they imply.

    For explicit levels η is the mean ratio of successive levels up to max_t,
    used where an η is needed (bracket sizes).
    """
    if rung_levels is not None:
        levels = check_rung_levels(rung_levels, max_t)
        return levels, (max_t / levels[0]) ** (1.0 / len(levels))
    return geometric_rung_levels(grace_period, reduction_factor, max_t), reduction_factor


class OrderStatistic:
    """The k-th smallest of a growing multiset, for a k that grows with its size.

    Two heaps split the values at the target index: ``low`` (a max-heap of the
    ``target(n)`` smallest) and ``high`` (a min-heap of the rest). An insert
    is a heap push plus at most a move or two between the heaps, all in C, so
    O(log n) at a far smaller constant than a sorted container.

    >>> median = OrderStatistic(lambda n: (n + 1) // 2)   # the lower median
    >>> for v in [5.0, 1.0, 4.0, 2.0, 3.0]:
    ...     median.add(v)
    >>> median.at_target(), median.above_target()
    (3.0, 4.0)
    """

    __slots__ = ("target", "low", "high")

    def __init__(self, target):
        self.target = target  # n -> how many values belong in `low`
        self.low: list = []   # negated: a max-heap
        self.high: list = []

    def add(self, v: float) -> None:
        low, high = self.low, self.high
        if low and v <= -low[0]:
            heapq.heappush(low, -v)
        else:
            heapq.heappush(high, v)
        want = self.target(len(low) + len(high))
        while len(low) > want:
            heapq.heappush(high, -heapq.heappop(low))
        while len(low) < want and high:
            heapq.heappush(low, -heapq.heappop(high))

    def at_target(self) -> float:
        """The largest value in `low`: the ``target(n) - 1``-th smallest overall."""
        return -self.low[0]

    def above_target(self) -> float:
        return self.high[0]


class Rung:
    """One rung level: every loss recorded there, and the trials paused there.

    ``quantile`` is r / r_next: a value continues (stopping) or may be
    promoted (promotion) when it lies in that top fraction of the rung.
    With fewer than ``min_entries`` (η for geometric levels) values the
    stopping rule lets the trial continue. A stopping rung tracks the order
    statistic at ``floor((n - 1) q)`` (the quantile cutoff), a promotion rung
    the one at ``floor(n q) - 1`` (the last place that may be promoted).

    >>> rung = Rung(level=1, quantile=1 / 3)            # stopping: keep the top third
    >>> for tid, loss in enumerate([0.5, 0.2, 0.9, 0.4]):
    ...     _ = rung.add(tid, loss)
    >>> rung.cutoff(), rung.continues(0.2), rung.continues(0.9)
    (0.4, True, False)
    >>> prom = Rung(level=1, quantile=1 / 3, promotion=True)
    >>> for tid, loss in enumerate([0.5, 0.2, 0.9]):
    ...     _ = prom.add(tid, loss); prom.pause(tid)
    >>> prom.promotable()                               # trial 1 is in the top floor(3 / 3) = 1
    1
    """

    __slots__ = ("level", "quantile", "min_entries", "promotion", "losses", "stat", "paused")

    def __init__(self, level: float, quantile: float, promotion: bool = False):
        self.level = level
        self.quantile = quantile
        self.promotion = promotion
        self.min_entries = max(2, math.ceil(1.0 / quantile - _EPS))
        self.losses: dict[int, float] = {}
        if promotion:
            self.stat = OrderStatistic(lambda n: math.floor(n * quantile + _EPS))
        else:
            self.stat = OrderStatistic(lambda n: math.floor((n - 1) * quantile + _EPS) + 1)
        self.paused = SortedList()  # (loss, trial_id), paused here and not promoted yet

    def __len__(self) -> int:
        return len(self.losses)

    @property
    def values(self) -> list:
        """All recorded losses, sorted (O(n log n): for inspection, not the hot path)."""
        return sorted(self.losses.values())

    def add(self, trial_id: int, loss: float) -> bool:
        """Record a trial's value here once; False if it was already recorded."""
        if trial_id in self.losses:
            return False
        self.losses[trial_id] = loss
        self.stat.add(loss)
        return True

    def cutoff(self) -> float:
        """``np.quantile(values, quantile)`` (linear interpolation) of a stopping rung."""
        n = len(self.losses)
        h = (n - 1) * self.quantile
        frac = h - math.floor(h + _EPS)
        low = self.stat.at_target()
        if frac <= _EPS or not self.stat.high:
            return low
        high = self.stat.above_target()
        if math.isinf(high) or math.isinf(low):
            return high
        return low + frac * (high - low)

    def continues(self, loss: float) -> bool:
        """The stopping rule for a value already added to this rung."""
        if len(self.losses) < self.min_entries:
            return True
        return loss < math.inf and loss <= self.cutoff()

    def pause(self, trial_id: int) -> None:
        self.paused.add((self.losses[trial_id], trial_id))

    def unpause(self, trial_id: int) -> None:
        self.paused.discard((self.losses[trial_id], trial_id))

    def promotable(self) -> Optional[int]:
        """The best paused trial if it lies in the top ⌊|rung| · quantile⌋, else None.

        Its rank (values strictly better) is below k iff the k-th smallest
        value is not better than it.
        """
        if not self.paused or not self.stat.low:
            return None
        loss, trial_id = self.paused[0]
        if loss == math.inf:
            return None
        return trial_id if self.stat.at_target() >= loss else None

    def state(self) -> dict:
        return {
            "level": self.level,
            "losses": [[t, encode_float(v)] for t, v in self.losses.items()],
            "paused": [t for _, t in self.paused],
        }

    def load(self, state: dict) -> None:
        self.losses = {}
        self.stat = OrderStatistic(self.stat.target)
        for t, v in state["losses"]:
            self.add(int(t), decode_float(v))
        self.paused = SortedList((self.losses[t], t) for t in state["paused"])


class RungSystem:
    """The rungs of one bracket system, ascending by level; each rung's quantile is level / next level.

    >>> system = RungSystem([1, 3, 9], max_t=27)
    >>> [(r.level, round(r.quantile, 3)) for r in system.rungs]
    [(1, 0.333), (3, 0.333), (9, 0.333)]
    >>> _ = system.rungs[0].add(7, 0.5); system.sizes()
    [1, 0, 0]
    """

    def __init__(self, levels: Sequence[float], max_t: float, promotion: bool = False):
        ext = list(levels) + [max_t]
        self.rungs = [Rung(r, r / nxt, promotion) for r, nxt in zip(ext, ext[1:])]

    def sizes(self) -> list[int]:
        return [len(r) for r in self.rungs]

    def state(self) -> list:
        return [r.state() for r in self.rungs]

    def load(self, state: list) -> None:
        for rung, s in zip(self.rungs, state):
            rung.load(s)


def hyperband_bracket_sizes(num_levels: int, eta: float) -> list[int]:
    """Trials started in each synchronous Hyperband bracket, most aggressive first.

    With ``R = num_levels`` levels (rungs plus max_t), bracket b starts at level
    b and has ``m = R - b`` rungs; it starts ``ceil(R / m * eta**(m - 1))`` trials
    (Li et al.'s n = ⌈B/R · η^s/(s+1)⌉). For grace 1, max 200, η 3 this gives
    [243, 98, 41, 18, 9, 6], whose normalisation is async Hyperband's bracket
    distribution in Syne Tune's docs.
    """
    sizes = []
    for b in range(num_levels):
        m = num_levels - b
        sizes.append(math.ceil(num_levels / m * eta ** (m - 1) - _EPS))
    return sizes
