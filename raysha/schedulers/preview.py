"""What a scheduler will do, before running it: trials per bracket and rung, and the budget.

Pure computation (no printing, no I/O). One function per scheduler family
computes a `Preview`: one row per bracket and rung level with the training
length there and how many trials reach it when the rungs fill as intended,
and the total training budget in units of the maximum length (``max_t``).
``str(preview)`` is the table Determined's ``det preview-search`` prints.
Callers go through `raysha.schedulers.registry.preview`, which picks the
function registered for the scheduler's class.

"As intended" means:

* ASHA (both variants), async Hyperband and PASHA (`preview_asha`,
  `preview_pasha`): of the n trials that reach rung level r,
  ``floor(n * r / r_next)`` reach the next level (the top 1/η). Async
  Hyperband splits the trials over brackets by its bracket probabilities
  (``floor(N p_b)``, the remainder to bracket 0); bracket b starts at rung b.
  PASHA is shown as the ASHA it becomes when its maximum grows all the way to
  ``max_t``; ``Preview.min_budget`` is the budget if the ranking stays stable
  and the maximum stays at the second rung.
* Synchronous SH / Hyperband (`preview_sync`): the scheduler's fixed rung
  sizes (e.g. 81 trials at 1 epoch, 27 at 3, 9 at 9, 3 at 27, 1 at 81 for
  η = 3), one cycle over the brackets; with ``max_trials`` the cycle repeats
  until N trials started, the last bracket partly filled (its later rungs keep
  the planned sizes, as ``SyncHyperband`` does with a partial first rung).
* AdaptiveASHA (`preview_adaptive`): the bracket split of ``max_trials``;
  Determined's rule ``max(floor(n / d), 1)`` trials go on from each rung.
* RandomSearch (`preview_random`): every trial runs to ``max_t``.

Without ``max_trials`` (and none in the scheduler), ASHA-type schedulers are
shown with the smallest number of trials for which one reaches ``max_t``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Optional

_EPS = 1e-9


@dataclass
class PreviewRow:
    """One bracket and rung level of a `Preview`.

    >>> PreviewRow(bracket=0, rung=1, level=3, trials=27, stop_here=18)
    PreviewRow(bracket=0, rung=1, level=3, trials=27, stop_here=18)
    """

    bracket: int
    rung: int
    level: float          # training length (resource) at this rung
    trials: int           # trials that reach this level
    stop_here: int        # trials whose training ends at this level


@dataclass
class Preview:
    """Trials per bracket and rung level, and the training budget, of one scheduler configuration.

    Built by `raysha.schedulers.registry.preview`; ``str()`` gives the table,
    `to_dict` / `to_frame` the data.

    >>> from raysha.schedulers import ASHA, preview
    >>> p = preview(ASHA({"lr": 0.1}, metric="loss", max_t=9), max_trials=9)
    >>> p.brackets()
    {0: [(1, 9), (3, 3), (9, 1)]}
    >>> round(p.total_budget, 2), p.total_resource
    (2.33, 21.0)
    >>> str(p).splitlines()[1]
    'This search will create a total of 9 trial(s).'
    """

    scheduler: str
    resource_attr: str
    max_t: Optional[float]
    n_trials: int
    rows: list = field(default_factory=list)
    total_budget: Optional[float] = None   # sum of every trial's training length / max_t
    min_budget: Optional[float] = None     # PASHA: if the maximum never grows
    notes: list = field(default_factory=list)

    @property
    def total_resource(self) -> Optional[float]:
        return None if self.total_budget is None or self.max_t is None else self.total_budget * self.max_t

    def brackets(self) -> dict:
        """{bracket: [(level, trials reaching it), ...]}"""
        out: dict = {}
        for r in self.rows:
            out.setdefault(r.bracket, []).append((r.level, r.trials))
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total_resource"] = self.total_resource
        return d

    def to_frame(self):
        import pandas as pd
        return pd.DataFrame([asdict(r) for r in self.rows])

    def __str__(self) -> str:
        unit = self.resource_attr
        lines = [f"Using search configuration: {self.scheduler}",
                 f"This search will create a total of {self.n_trials} trial(s)."]
        for b, rows in _group(self.rows).items():
            n = rows[0].trials if rows else 0
            lines.append("")
            lines.append(f"Bracket {b}: {n} trial(s)")
            w = max(len(f"Training length ({unit})"), 16)
            lines.append(f"  {'Trials':>8} | {'Training length (' + unit + ')':<{w}} | {'Stop there':>10}")
            lines.append(f"  {'-' * 8}-+-{'-' * w}-+-{'-' * 10}")
            for r in rows:
                lines.append(f"  {r.trials:>8} | {_fmt(r.level):<{w}} | {r.stop_here:>10}")
        lines.append("")
        if self.total_budget is not None:
            lines.append(f"Total training budget: {self.total_budget:.2f} x max length "
                         f"({_fmt(self.total_resource)} {unit})")
        else:
            lines.append("Total training budget: unknown (no maximum length)")
        if self.min_budget is not None:
            lines.append(f"If the maximum never grows: {self.min_budget:.2f} x max length")
        lines.extend(self.notes)
        return "\n".join(lines)


def _group(rows) -> dict:
    out: dict = {}
    for r in rows:
        out.setdefault(r.bracket, []).append(r)
    return out


def _fmt(x) -> str:
    if x is None:
        return "-"
    return str(int(x)) if float(x).is_integer() else f"{x:.4g}"


def _rows_from_reach(bracket: int, first_rung: int, levels: list, reach: list) -> list:
    rows = []
    for i, (lv, n) in enumerate(zip(levels, reach)):
        nxt = reach[i + 1] if i + 1 < len(reach) else 0
        rows.append(PreviewRow(bracket, first_rung + i, lv, int(n), int(n - nxt)))
    return rows


def _reach_quantile(n: int, levels: list) -> list:
    """ASHA: floor(n * r / r_next) go on from each rung."""
    reach = [n]
    for r, nxt in zip(levels, levels[1:]):
        reach.append(math.floor(reach[-1] * r / nxt + _EPS))
    return reach


def _budget(rows, max_t) -> float:
    """Σ over trials of their final training length, in units of max_t."""
    total = 0.0
    for rs in _group(rows).values():
        prev = 0.0
        for r in rs:
            total += r.trials * (r.level - prev)
            prev = r.level
    return total / max_t


def _asha_min_trials(levels: list) -> int:
    """Smallest n with one trial reaching the last level under floor(n * q) propagation."""
    n = 1
    while _reach_quantile(n, levels)[-1] < 1:
        n = max(n + 1, math.ceil(n * 1.01))
    return n


def _asha_rows(s, max_trials: Optional[int], name: str) -> Preview:
    levels = list(s.levels) + [s.max_t]
    n = max_trials if max_trials is not None else getattr(s, "max_trials", None)
    notes = []
    if n is None:
        n = _asha_min_trials(levels)
        notes.append(f"(no max_trials: shown with {n}, the fewest for one trial to reach max_t)")
    brackets = getattr(s, "brackets", 1)
    if brackets == 1:
        split = [n]
    else:
        split = [math.floor(n * p + _EPS) for p in s.bracket_probs]
        split[0] += n - sum(split)
    rows = []
    for b, nb in enumerate(split):
        lv = levels[b:]
        rows += _rows_from_reach(b, b, lv, _reach_quantile(nb, lv))
    return Preview(name, s.resource_attr, s.max_t, n, rows, _budget(rows, s.max_t), notes=notes)


def preview_asha(s, max_trials: Optional[int]) -> Preview:
    """ASHA, stopping or promotion; asynchronous Hyperband when ``s.brackets > 1``."""
    name = "ASHA" if s.brackets == 1 else "Asynchronous Hyperband"
    return _asha_rows(s, max_trials, f"{name} (type={s.type}, reduction_factor="
                                     f"{_fmt(s.reduction_factor)}, brackets={s.brackets})")


def preview_pasha(s, max_trials: Optional[int]) -> Preview:
    """PASHA as the ASHA it becomes at ``max_t``, with ``min_budget`` if its maximum never grows."""
    p = _asha_rows(s, max_trials, f"PASHA (type={s.type}, reduction_factor={_fmt(s.reduction_factor)}, "
                                  f"ranking_criterion={s.ranking_criterion})")
    levels = list(s.levels) + [s.max_t]
    k = min(1, len(s.levels))
    reach = _reach_quantile(p.n_trials, levels)[: k + 1]
    first = _rows_from_reach(0, 0, levels[: k + 1], reach)
    p.min_budget = _budget(first, s.max_t)
    p.notes.append(f"PASHA starts with maximum {_fmt(levels[k])} {s.resource_attr} and unlocks one rung "
                   f"whenever the ranking in its top two rungs changes")
    return p


def preview_sync(s, max_trials: Optional[int]) -> Preview:
    """SyncHyperband / SyncSuccessiveHalving: the fixed rung sizes, brackets repeated up to ``max_trials``."""
    eta = s.reduction_factor
    rows, n_total, it = [], 0, 0
    if max_trials is None:
        for b, plan in enumerate(s.plans):
            rows += [PreviewRow(b, len(s.levels) + 1 - len(plan) + i, lv, size, 0)
                     for i, (size, lv) in enumerate(plan)]
            n_total += plan[0][0]
    else:
        while n_total < max_trials:
            b = it % len(s.plans)
            plan = s.plans[b]
            n0 = min(plan[0][0], max_trials - n_total)
            sizes = [n0]  # a partial first rung still keeps the plan's next sizes (SyncHyperband._advance)
            for size, _ in plan[1:]:
                sizes.append(min(size, sizes[-1]))
            first = len(s.levels) + 1 - len(plan)
            rows += [PreviewRow(it, first + i, lv, n, 0) for i, ((_, lv), n) in enumerate(zip(plan, sizes))]
            n_total += n0
            it += 1
    for rs in _group(rows).values():
        for i, r in enumerate(rs):
            r.stop_here = r.trials - (rs[i + 1].trials if i + 1 < len(rs) else 0)
    name = type(s).__name__ + f" (reduction_factor={_fmt(eta)}, brackets={s.brackets})"
    notes = [] if max_trials is None else ["(row 'bracket' is the bracket iteration: brackets repeat in turn)"]
    return Preview(name, s.resource_attr, s.max_t, n_total, rows, _budget(rows, s.max_t), notes=notes)


def preview_adaptive(s, max_trials: Optional[int]) -> Preview:
    """AdaptiveASHA: its bracket split of ``max_trials``, ``max(floor(n / d), 1)`` going on per rung."""
    from raysha.schedulers.adaptive import bracket_max_trials
    n = max_trials if max_trials is not None else s.max_trials
    split = bracket_max_trials(n, s.divisor, s.bracket_rungs) if max_trials is not None else s.bracket_trials
    rows = []
    for b, (levels, nb) in enumerate(zip(s.bracket_level_lists, split)):
        reach = [nb]
        for _ in levels[1:]:
            reach.append(max(math.floor(reach[-1] / s.divisor + _EPS), 1) if reach[-1] >= 1 else 0)
        rows += _rows_from_reach(b, 0, levels, reach)
    name = (f"AdaptiveASHA (search_mode={s.search_mode}, divisor={_fmt(s.divisor)}, "
            f"bracket_rungs={s.bracket_rungs})")
    return Preview(name, s.resource_attr, s.max_t, n, rows, _budget(rows, s.max_t))


def preview_random(s, max_trials: Optional[int]) -> Preview:
    """RandomSearch: every trial runs to ``max_t`` (shown per trial without ``max_trials``)."""
    n = max_trials if max_trials is not None else 1
    notes = [] if max_trials is not None else ["(no max_trials: shown per trial)"]
    if s.max_t is None:
        return Preview("RandomSearch", s.resource_attr, None, n,
                       [PreviewRow(0, 0, math.inf, n, n)], None, notes=notes + ["(no max_t: trials run until "
                                                                                  "the trainable returns)"])
    rows = [PreviewRow(0, 0, s.max_t, n, n)]
    return Preview("RandomSearch", s.resource_attr, s.max_t, n, rows, float(n), notes=notes)


# TEMPORARY: removed as soon as raysha/cli.py imports these two from raysha.preview_cli.
def add_preview_arguments(parser):
    from raysha.preview_cli import add_preview_arguments as add
    return add(parser)


def preview_command(args):
    from raysha.preview_cli import preview_command as run
    return run(args)
