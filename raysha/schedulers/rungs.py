"""Rung levels and the rungs that ASHA decides on.

Each `Rung` keeps its metric values (as losses: lower is better) in a dict by
trial and tracks the one order statistic its rule needs with an
`OrderStatistic`: two heaps split at the target index, so recording a value
and deciding (stop or continue; may the best paused trial be promoted?) cost
O(log n) — Ray Tune recomputes a percentile over the whole rung on every
report, O(n). Ties in value go to the earlier arrival at the rung (`Rung`
spells out both rules). The trials paused at a rung wait in a `SortedList` by
(loss, arrival), so the best of them is found in O(1) and removed in O(log n).
"""

from __future__ import annotations

import heapq
import math
import operator
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
    ``target(n)`` smallest, stored negated by ``negate``) and ``high`` (a
    min-heap of the rest). An insert is a heap push plus at most a move or two
    between the heaps, all in C, so O(log n) at a far smaller constant than a
    sorted container. Values are floats, or ``(loss, arrival)`` pairs with
    ``negate=negate_pair`` (promotion rungs: ties in loss go to the earlier arrival).

    >>> median = OrderStatistic(lambda n: (n + 1) // 2)   # the lower median
    >>> for v in [5.0, 1.0, 4.0, 2.0, 3.0]:
    ...     median.add(v)
    >>> median.at_target(), median.above_target()
    (3.0, 4.0)
    """

    __slots__ = ("target", "negate", "low", "high")

    def __init__(self, target, negate=operator.neg):
        self.target = target  # n -> how many values belong in `low`
        self.negate = negate
        self.low: list = []   # negated: a max-heap
        self.high: list = []

    def add(self, v) -> None:
        low, high, neg = self.low, self.high, self.negate
        if low and v <= neg(low[0]):
            heapq.heappush(low, neg(v))
        else:
            heapq.heappush(high, v)
        want = self.target(len(low) + len(high))
        while len(low) > want:
            heapq.heappush(high, neg(heapq.heappop(low)))
        while len(low) < want and high:
            heapq.heappush(low, neg(heapq.heappop(high)))

    def at_target(self):
        """The largest value in `low`: the ``target(n) - 1``-th smallest overall."""
        return self.negate(self.low[0])

    def above_target(self):
        return self.high[0]


def negate_pair(key: tuple) -> tuple:
    """``(loss, arrival)`` -> ``(-loss, -arrival)``: `OrderStatistic`'s max-heap order for pairs."""
    return (-key[0], -key[1])


class Rung:
    """One rung level: every loss recorded there, in order of arrival, and the trials paused there.

    ``quantile`` is q = r / r_next. Ties are broken by arrival: of two equal
    values the one recorded first ranks better. Both rules read one order
    statistic of the rung (O(log n)):

    * **promotion** (the ASHA paper's ``get_job``): a paused trial may be
      promoted iff its place in the rung, ordered by (value, arrival), is
      among the first ⌊n · q⌋. The best paused trial is the candidate.
    * **stopping**: a value just recorded continues iff its place, ordered by
      (value, arrival), is at most ⌊(n - 1) · q⌋ (0-based), i.e. at most
      ⌊(n - 1) · q⌋ other values are better *or equal*, or the rung has fewer
      than ``min_entries`` (η for geometric levels) values. For distinct
      values this is exactly Syne Tune's ``value <= np.quantile(values, q)``;
      a value that only ties the values before it does not count as better
      than them, so a plateau of identical values stops every trial after the
      first η - 1 (Syne Tune's rule would let them all continue).

    >>> rung = Rung(level=1, quantile=1 / 3)            # stopping: keep the top third
    >>> [rung.add(tid, loss) and rung.continues(loss) for tid, loss in enumerate([0.5, 0.2, 0.9, 0.4])]
    [True, True, False, True]
    >>> plateau = Rung(level=1, quantile=1 / 2)
    >>> [plateau.add(tid, 0.9) and plateau.continues(0.9) for tid in range(4)]
    [True, False, False, False]
    >>> prom = Rung(level=1, quantile=1 / 2, promotion=True)
    >>> for tid in range(4):                            # four equal values
    ...     _ = prom.add(tid, 0.9); prom.pause(tid)
    >>> first = prom.promotable(); prom.unpause(first)
    >>> second = prom.promotable(); prom.unpause(second)
    >>> first, second, prom.promotable()                # the top floor(4 / 2) = 2, earliest first
    (0, 1, None)
    """

    __slots__ = ("level", "quantile", "min_entries", "promotion", "losses", "arrival", "stat", "paused")

    def __init__(self, level: float, quantile: float, promotion: bool = False):
        self.level = level
        self.quantile = quantile
        self.promotion = promotion
        self.min_entries = max(2, math.ceil(1.0 / quantile - _EPS))
        self.losses: dict[int, float] = {}   # in order of arrival
        self.arrival: dict[int, int] = {}    # trial -> its place in the order of arrival
        if promotion:
            self.stat = OrderStatistic(lambda n: math.floor(n * quantile + _EPS), negate_pair)
        else:
            self.stat = OrderStatistic(lambda n: math.floor((n - 1) * quantile + _EPS) + 1)
        self.paused = SortedList()  # (loss, arrival, trial_id), paused here and not promoted yet

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
        seq = len(self.losses)
        self.losses[trial_id] = loss
        self.arrival[trial_id] = seq
        self.stat.add((loss, seq) if self.promotion else loss)
        return True

    def continues(self, loss: float) -> bool:
        """The stopping rule for the value recorded last (see the class docstring)."""
        if len(self.losses) < self.min_entries:
            return True
        # `low` holds the floor((n-1) q) + 1 smallest: the value is among them,
        # ahead of every equal value recorded before it, iff the rest are all worse
        return loss < math.inf and (not self.stat.high or self.stat.above_target() > loss)

    def pause(self, trial_id: int) -> None:
        self.paused.add((self.losses[trial_id], self.arrival[trial_id], trial_id))

    def unpause(self, trial_id: int) -> None:
        self.paused.discard((self.losses[trial_id], self.arrival[trial_id], trial_id))

    def paused_ids(self) -> list[int]:
        """The trials paused here, best first (value, then arrival)."""
        return [t for _, _, t in self.paused]

    def promotable(self) -> Optional[int]:
        """The best paused trial if it lies in the top ⌊|rung| · quantile⌋, else None.

        Its place in the (value, arrival) order is below k iff the k-th
        smallest (value, arrival) pair is not before its own.
        """
        if not self.paused or not self.stat.low:
            return None
        loss, seq, trial_id = self.paused[0]
        if loss == math.inf:
            return None
        return trial_id if self.stat.at_target() >= (loss, seq) else None

    def state(self) -> dict:
        return {
            "level": self.level,
            "losses": [[t, encode_float(v)] for t, v in self.losses.items()],
            "paused": self.paused_ids(),
        }

    def load(self, state: dict) -> None:
        self.losses, self.arrival = {}, {}
        self.stat = OrderStatistic(self.stat.target, self.stat.negate)
        for t, v in state["losses"]:   # in order of arrival: the same ties
            self.add(int(t), decode_float(v))
        self.paused = SortedList()
        for t in state["paused"]:
            self.pause(int(t))


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
