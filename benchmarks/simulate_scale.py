"""How fast the simulator runs ASHA at scale: 1M trials, 64 workers, on this machine.

ASHA (stopping, grace period 1, η = 3, max_t = 27) on the straggler objective,
run to 1M started trials. The acceptance figure is the wall time of the whole
``simulate(...)`` call with ``record="none"`` (summary only) under 60 s; the
same run with ``record="all"`` (one row per report, ~3M rows, and the job
spans) is measured too, including building the DataFrame. Each run is timed
in a fresh scheduler, single process, `time.perf_counter`.

Usage: python benchmarks/simulate_scale.py [--trials 1000000] [--workers 64] [--records none all]
Writes benchmarks/results/simulate_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
from pathlib import Path

from raysha.objectives import STRAGGLER_SPACE, StragglerObjective
from raysha.schedulers import ASHA
from raysha.simulate import simulate
from raysha.stop import StopCriterion

OUT = Path(__file__).parent / "results" / "simulate_scale.json"
LIMIT_S = 60.0


def run(trials: int, workers: int, record: str) -> dict:
    scheduler = ASHA(STRAGGLER_SPACE, "validation_error", "min", "epoch", max_t=27, grace_period=1,
                     reduction_factor=3, type="stopping", random_seed=0)
    load = os.getloadavg()[0]
    c0 = time.process_time()
    t0 = time.perf_counter()
    exp = simulate(scheduler, StragglerObjective(seed=0), workers, StopCriterion(max_trials=trials),
                   record=record)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    s = exp.summary
    return {
        "record": record,
        "trials": s["n_trials"],
        "reports": s["n_results"],
        "jobs": s["n_jobs"],
        "rows_kept": len(exp.results),
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "event_loop_s": round(s["wall_seconds"], 2),
        "load_average_at_start": round(load, 2),
        "us_per_report": round(1e6 * wall / s["n_results"], 2),
        "simulated_hours": round(s["end_time"] / 3600, 1),
        "busy_fraction": round(s["busy_fraction"], 4),
        "best": s["best"]["value"],
        "under_limit": wall < LIMIT_S,
        "max_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=64)
    ap.add_argument("--records", nargs="+", default=["none", "all"], choices=["none", "jobs", "all"])
    args = ap.parse_args()
    rows = []
    for record in args.records:
        r = run(args.trials, args.workers, record)
        rows.append(r)
        print(f"record={record:<5} {r['trials']:>9,} trials {r['reports']:>10,} reports  "
              f"{r['wall_s']:6.1f} s wall, {r['cpu_s']:.1f} s CPU, load {r['load_average_at_start']}  ({r['us_per_report']} µs/report, limit {LIMIT_S:.0f} s: "
              f"{'ok' if r['under_limit'] else 'OVER'})  busy {r['busy_fraction']:.1%}")
    result = {
        "benchmark": "simulate_scale",
        "scheduler": "ASHA(type='stopping', grace_period=1, reduction_factor=3, max_t=27)",
        "objective": "StragglerObjective(seed=0)",
        "workers": args.workers,
        "limit_s": LIMIT_S,
        "machine": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "rows": rows,
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
