"""Early checkpoint removal for pause-and-resume schedulers (promotion ASHA, PASHA).

A trial *holds a checkpoint* from the first time it pauses until it ends or
the scheduler gives its checkpoint up; the runner keeps the latest checkpoint
of every holder. `CheckpointLedger.drain()` (what ``removable_checkpoints()``
returns) lists, once each, the trials whose checkpoints may be freed now:

* **finished**: a holder that was stopped, completed or failed;
* **never promotable** (needs ``max_trials``, one rung system): a trial paused
  at rung i with rank k (entries before it in the rung's (value, arrival)
  order, the promotion tie rule) can only be promoted while
  ``k < floor(n_i * q_i)``. Ranks never go down (a later arrival never ranks
  before an equal value) and n_i can grow at most to ``n_max_i = |rung i| +
  (max_trials - started) + (live trials whose next rung is i or below)``, so a
  paused trial with ``k >= floor(n_max_i * q_i)`` is never promoted, even if
  every trial still to come lands below it. It is marked STOPPED and its
  checkpoint freed;
* **over the cap** (``max_num_checkpoints``): when a newly paused trial would
  make the holders exceed the cap, the least promising paused holders give up
  their checkpoints speculatively: lowest rung level first, then worst metric
  (Syne Tune's ``"by_level"`` baseline for ``early_checkpoint_removal_kwargs``).
  Such a trial stays paused; if it is promoted later, its job is a START with
  its old ``trial_id`` and ``start=0``: it is trained again from scratch
  (``restarts`` records each such (trial_id, rung level)).

The number of holders never exceeds ``max_num_checkpoints`` (given a cap >= 1):
the only way to gain a holder is a first pause, and that pause frees one at once.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

from sortedcontainers import SortedList

from raysha.floats import decode_float, encode_float
from raysha.schedulers.base import SchedulerError

_EPS = 1e-9


def check_removal_kwargs(kwargs: Optional[Mapping[str, Any]]) -> Optional[int]:
    """``early_checkpoint_removal_kwargs`` (Syne Tune's name) -> max_num_checkpoints or None."""
    if kwargs is None:
        return None
    unknown = set(kwargs) - {"max_num_checkpoints"}
    if unknown:
        raise SchedulerError(
            f"early_checkpoint_removal_kwargs: unknown keys {sorted(unknown)} (known: max_num_checkpoints)"
        )
    cap = kwargs.get("max_num_checkpoints")
    if cap is None:
        return None
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise SchedulerError(f"max_num_checkpoints must be a positive integer, got {cap!r}")
    return cap


def check_max_trials(max_trials) -> Optional[int]:
    if max_trials is None:
        return None
    if isinstance(max_trials, bool) or not isinstance(max_trials, int) or max_trials < 1:
        raise SchedulerError(f"max_trials must be a positive integer, got {max_trials!r}")
    return max_trials


class CheckpointLedger:
    """Which trials hold a checkpoint, and which may be freed (see the module docstring).

    The scheduler reports events: `started`, `entered` (a value recorded at a
    rung), `paused`, `resumed`, `finished`; `sweep` applies the never-promotable
    rule and returns the trials it stopped.

    >>> ledger = CheckpointLedger([1 / 3, 1 / 3], max_num_checkpoints=2)
    >>> for tid, loss in [(0, 0.5), (1, 0.2), (2, 0.9)]:
    ...     ledger.paused(tid, 0, loss)               # the third pause frees the least promising
    >>> sorted(ledger.held), ledger.drain(), ledger.resumed(2)
    ([0, 1], [2], True)
    """

    def __init__(self, quantiles: Sequence[float], max_num_checkpoints: Optional[int] = None,
                 max_trials: Optional[int] = None, provable: bool = False):
        self.quantiles = list(quantiles)
        self.cap = max_num_checkpoints
        self.max_trials = max_trials
        # the never-promotable rule needs a trial budget and a single rung system
        self.provable = bool(provable and max_trials is not None)
        self.held: set[int] = set()
        self.removed: dict[int, int] = {}          # paused, checkpoint freed -> rung index
        self.restarts: list[tuple[int, float]] = []  # (trial_id, rung index) resumed from scratch
        self.n_removed = 0
        self._paused_key: dict[int, tuple] = {}    # paused holders -> key in _by_promise
        self._by_promise = SortedList()            # (rung index, -loss, trial_id): least promising first
        self._drain: list[int] = []
        self.n_started = 0
        n = len(self.quantiles) + 1
        self._pos: dict[int, int] = {}             # live trials -> index of their next rung
        self._pos_count = [0] * n
        # (loss, arrival) of every value per rung, when the never-promotable rule applies
        self._values = [SortedList() for _ in self.quantiles] if self.provable else None

    # -- events ------------------------------------------------------------------
    def started(self, trial_id: int, pos: int) -> None:
        self.n_started += 1
        self._set_pos(trial_id, pos)

    def entered(self, trial_id: int, index: int, key: tuple) -> None:
        """A value was recorded at rung `index`; `key` is its (loss, arrival) there."""
        if self._values is not None:
            self._values[index].add(key)
        if trial_id in self._pos:
            self._set_pos(trial_id, index + 1)

    def paused(self, trial_id: int, index: int, loss: float) -> None:
        key = (index, -loss if loss < math.inf else -math.inf, trial_id)
        self._paused_key[trial_id] = key
        if trial_id in self.held:
            self._by_promise.add(key)
            return
        self.held.add(trial_id)
        self._by_promise.add(key)
        if self.cap is not None:
            while len(self.held) > self.cap and self._by_promise:
                victim_index, _, victim = self._by_promise[0]
                self._free(victim)
                self.removed[victim] = victim_index

    def resumed(self, trial_id: int) -> bool:
        """A paused trial is promoted; True if its checkpoint is gone (train from scratch)."""
        key = self._paused_key.pop(trial_id, None)
        if key is not None:
            self._by_promise.discard(key)
        index = self.removed.pop(trial_id, None)
        if index is not None:
            self.restarts.append((trial_id, index))
            return True
        return False

    def finished(self, trial_id: int) -> None:
        self._drop_pos(trial_id)
        self.removed.pop(trial_id, None)
        if trial_id in self.held:
            self._free(trial_id)

    def drain(self) -> list[int]:
        out, self._drain = self._drain, []
        return out

    def num_checkpoints(self) -> int:
        return len(self.held)

    # -- never promotable -------------------------------------------------------
    def sweep(self, rungs) -> list[int]:
        """Stop paused trials that can never be promoted; returns their ids."""
        if not self.provable:
            return []
        dead: list[int] = []
        remaining = max(0, self.max_trials - self.n_started)
        live_below = 0
        for i, q in enumerate(self.quantiles):
            live_below += self._pos_count[i]
            rung = rungs[i]
            if not rung.paused:
                continue
            values = self._values[i]
            n_max = len(values) + remaining + live_below
            m = math.floor(n_max * q + _EPS)
            if 1 <= m <= len(values):
                threshold = values[m - 1]
            else:
                threshold = (-math.inf, -1) if m == 0 else (math.inf, math.inf)
            while rung.paused:
                loss, seq, tid = rung.paused[-1]
                if not (loss, seq) > threshold:
                    break
                rung.paused.pop()
                dead.append(tid)
                self._drop_pos(tid)
                key = self._paused_key.pop(tid, None)
                if key is not None:
                    self._by_promise.discard(key)
                if tid in self.held:
                    self._free(tid)
                self.removed.pop(tid, None)
        return dead

    # -- internals ----------------------------------------------------------------
    def _free(self, trial_id: int) -> None:
        self.held.discard(trial_id)
        key = self._paused_key.pop(trial_id, None)
        if key is not None:
            self._by_promise.discard(key)
        self._drain.append(trial_id)
        self.n_removed += 1

    def _set_pos(self, trial_id: int, pos: int) -> None:
        old = self._pos.get(trial_id)
        if old is not None:
            self._pos_count[old] -= 1
        self._pos[trial_id] = pos
        self._pos_count[pos] += 1

    def _drop_pos(self, trial_id: int) -> None:
        old = self._pos.pop(trial_id, None)
        if old is not None:
            self._pos_count[old] -= 1

    # -- state ----------------------------------------------------------------------
    def state(self) -> dict:
        return {
            "held": sorted(self.held),
            "removed": [[t, i] for t, i in self.removed.items()],
            "restarts": [list(r) for r in self.restarts],
            "n_removed": self.n_removed,
            "paused": [[t, k[0], encode_float(-k[1])] for t, k in self._paused_key.items()],
            "drain": list(self._drain),
            "n_started": self.n_started,
            "pos": [[t, p] for t, p in self._pos.items()],
        }

    def load(self, state: Mapping[str, Any], rungs=None) -> None:
        self.held = set(int(t) for t in state["held"])
        self.removed = {int(t): int(i) for t, i in state["removed"]}
        self.restarts = [(int(t), int(i)) for t, i in state["restarts"]]
        self.n_removed = int(state["n_removed"])
        self._paused_key, self._by_promise = {}, SortedList()
        for t, i, loss in state["paused"]:
            loss = decode_float(loss)
            key = (int(i), -loss if loss < math.inf else -math.inf, int(t))
            self._paused_key[int(t)] = key
            self._by_promise.add(key)
        self._drain = [int(t) for t in state["drain"]]
        self.n_started = int(state["n_started"])
        self._pos, self._pos_count = {}, [0] * len(self._pos_count)
        for t, p in state["pos"]:
            self._set_pos(int(t), int(p))
        if self._values is not None and rungs is not None:
            self._values = [SortedList((v, r.arrival[t]) for t, v in r.losses.items())
                            for r in rungs[: len(self.quantiles)]]
