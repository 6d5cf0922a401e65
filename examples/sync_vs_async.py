"""Synchronous successive halving vs ASHA on an objective with stragglers, 4 simulated workers.

All schedulers get the same simulated hour. Synchronous SH must wait for the
slowest trial of each rung before it promotes anyone. Run strictly (one
bracket at a time, ``strict=True``) its workers sit idle; as Syne Tune runs
it (the default) a free worker opens the next bracket instead, so it is busy
but its promotions still wait. ASHA promotes (here: stops) as reports arrive
and never waits. The timeline PNG shows the idle gaps, the best-so-far PNG
what they cost.

    python examples/sync_vs_async.py [OUT_DIR]
"""

import sys
from pathlib import Path

from raysha import plots
from raysha.objectives import STRAGGLER_SPACE, StragglerObjective
from raysha.schedulers import ASHA, SyncSuccessiveHalving
from raysha.simulate import simulate
from raysha.stop import StopCriterion


def main(out: Path) -> dict:
    common = dict(space=STRAGGLER_SPACE, metric="validation_error", mode="min", resource_attr="epoch",
                  max_resource_attr="max_epochs", grace_period=1, reduction_factor=3, random_seed=0)
    stop = StopCriterion(max_wallclock_time=3600)
    runs = {
        "synchronous SH": simulate(SyncSuccessiveHalving(strict=True, **common), StragglerObjective(), 4, stop),
        "sync SH, brackets overlap": simulate(SyncSuccessiveHalving(**common), StragglerObjective(), 4, stop),
        "ASHA (promotion)": simulate(ASHA(type="promotion", **common), StragglerObjective(), 4, stop),
        "ASHA (stopping)": simulate(ASHA(type="stopping", **common), StragglerObjective(), 4, stop),
    }
    out.mkdir(parents=True, exist_ok=True)
    print(f"{'scheduler':<25} {'busy':>6} {'trials':>7} {'reports':>8} {'best':>8}")
    for label, exp in runs.items():
        s = exp.summary
        print(f"{label:<25} {exp.busy_fraction():>6.1%} {s['n_trials']:>7} {s['n_results']:>8} "
              f"{s['best']['value']:>8.4f}")
    print("best so far:", plots.best_so_far(runs, out / "sync_vs_async_best_so_far.png", ylim=(0.11, 0.2)))
    print("timeline:   ", plots.timeline(runs, out / "sync_vs_async_timeline.png"))
    return runs


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("sync_vs_async"))
