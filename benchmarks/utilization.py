"""Worker utilization and time to a target: synchronous SH / Hyperband vs ASHA vs random search, simulated.

Each scheduler (η 3, grace period 1, 27 epochs max) runs on the straggler
objective (`raysha.objectives.StragglerObjective`: lognormal per-trial epoch
times, so some trials are many times slower than others) with 8, 64 and 512
simulated workers for the same simulated wall-clock budget. Per run we record

* the busy fraction: worker-seconds spent training / (workers x budget), from
  the job spans;
* the simulated time at which the best validation error first reaches the
  target (``--target``); ``null`` if it never does within the budget.

Schedulers (the names of ``raysha simulate --scheduler``): ``sync-sh``
(synchronous successive halving, the most aggressive bracket repeated; as in
Syne Tune, a worker with nothing to do in the open brackets opens the next
bracket), ``sync-hyperband`` (the same over Hyperband's brackets),
``sync-sh-strict`` and ``sync-hyperband-strict`` (one bracket at a time: free
workers wait at each synchronisation point; a bracket of sync SH has 27
trials, so at 64 or 512 workers most workers have nothing to do), ``asha``
(stopping), ``asha-promotion``, ``random`` (asynchronous random search, full
27 epochs).

Usage: python -m benchmarks.utilization [--workers 8 64 512] [--seeds 3] [--budget 7200]
Writes benchmarks/results/utilization.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from raysha.schedulers import registry
from raysha.objectives import STRAGGLER_SPACE, StragglerObjective
from raysha.simulate import simulate
from raysha.stop import StopCriterion

OUT = Path(__file__).resolve().parent / "results" / "utilization.json"
SCHEDULERS = ("sync-sh-strict", "sync-hyperband-strict", "sync-sh", "sync-hyperband", "asha", "asha-promotion",
              "random")
LABELS = {"sync-sh-strict": "sync SH, strict", "sync-hyperband-strict": "sync Hyperband, strict",
          "sync-sh": "sync SH", "sync-hyperband": "sync Hyperband", "asha": "ASHA (stopping)",
          "asha-promotion": "ASHA (promotion)", "random": "random search"}


def one_run(kind: str, workers: int, seed: int, budget: float, target: float) -> dict:
    space = dict(STRAGGLER_SPACE)
    sched = registry.make(kind, space, "validation_error", "min", max_resource_attr="max_epochs", grace_period=1,
                          reduction_factor=3, seed=seed)
    t0 = time.perf_counter()
    exp = simulate(sched, StragglerObjective(seed=seed), workers, StopCriterion(max_wallclock_time=budget))
    wall = time.perf_counter() - t0
    df = exp.results
    hit = df.loc[df["validation_error"] <= target, "tuner_time"]
    s = exp.summary
    return {
        "scheduler": kind, "workers": workers, "seed": seed,
        "busy_fraction": float(exp.busy_fraction()),
        "time_to_target_s": float(hit.min()) if len(hit) else None,
        "best": float(df["validation_error"].min()) if len(df) else None,
        "trials": int(s["n_trials"]), "reports": int(s["n_results"]),
        "end_time": float(s["end_time"]), "sim_wall_s": round(wall, 2),
    }


def _median(values):
    v = [x for x in values if x is not None]
    return float(np.median(v)) if v else None


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[8, 64, 512])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--budget", type=float, default=7200.0, help="simulated seconds per run (default 2 h)")
    ap.add_argument("--target", type=float, default=0.115, help="validation error to reach (default 0.115)")
    ap.add_argument("--schedulers", nargs="+", default=list(SCHEDULERS))
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    runs = []
    for w in args.workers:
        for kind in args.schedulers:
            for seed in range(args.seeds):
                runs.append(one_run(kind, w, seed, args.budget, args.target))
            rs = runs[-args.seeds:]
            ttt = [r["time_to_target_s"] for r in rs]
            print(f"{w:>4} workers {LABELS[kind]:<22} busy {_median([r['busy_fraction'] for r in rs]):6.1%}  "
                  f"time to {args.target}: {_median(ttt) if None not in ttt else None}  "
                  f"(reached in {sum(t is not None for t in ttt)}/{args.seeds})  "
                  f"best {_median([r['best'] for r in rs]):.4f}  trials {_median([r['trials'] for r in rs]):.0f}",
                  flush=True)
    summary = []
    for w in args.workers:
        for kind in args.schedulers:
            rs = [r for r in runs if r["workers"] == w and r["scheduler"] == kind]
            ttt = [r["time_to_target_s"] for r in rs]
            summary.append({
                "scheduler": kind, "label": LABELS[kind], "workers": w,
                "busy_fraction_median": _median([r["busy_fraction"] for r in rs]),
                # median over seeds; None when any seed missed the target (the median is then unknown
                # or infinite), with the count of seeds that reached it
                "time_to_target_median_s": _median(ttt) if None not in ttt else None,
                "reached": sum(t is not None for t in ttt), "seeds": len(rs),
                "best_median": _median([r["best"] for r in rs]),
                "trials_median": _median([r["trials"] for r in rs]),
            })
    out = {"benchmark": "utilization", "objective": "StragglerObjective (seed = run seed)",
           "settings": {"budget_s": args.budget, "target": args.target, "seeds": args.seeds,
                        "grace_period": 1, "reduction_factor": 3, "max_epochs": STRAGGLER_SPACE["max_epochs"]},
           "summary": summary, "runs": runs, "machine": platform.platform(), "cpu_count": os.cpu_count(),
           "wall_seconds": round(time.perf_counter() - t0, 1),
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"saved {args.out} ({out['wall_seconds']} s)")
    return out


if __name__ == "__main__":
    main()
