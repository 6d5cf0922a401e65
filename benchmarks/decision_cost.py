"""Cost of one ASHA stop/continue decision: raysha against Ray Tune's ASHAScheduler.

Both schedulers get the same stream: N trials already recorded at the first
rung (grace 1, η 3, max_t 81, mode min), then fresh trials reporting at that
rung, each needing a decision. Ray Tune's scheduler is called directly
(`on_trial_add` / `on_trial_result` with stand-in trial objects, no trials run).
Its rungs are pre-filled through its bracket's rung dict, because filling
them report by report costs O(N²) (it recomputes `np.nanpercentile` over the
whole rung on every report). raysha's rungs are filled through its public API.

Usage: python benchmarks/decision_cost.py [--sizes 10000 100000]
Writes benchmarks/results/decision_cost.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from raysha.schedulers import ASHA
from raysha.space import uniform

SPACE = {"x": uniform(0, 1)}


def raysha_cost(prefill: np.ndarray, stream: np.ndarray) -> float:
    s = ASHA(SPACE, "loss", "min", "epoch", max_t=81, grace_period=1, reduction_factor=3)
    for v in prefill:
        s.on_report(s.next_job(0).trial_id, 1, {"loss": float(v)}, 0)
    ids = [s.next_job(0).trial_id for _ in stream]
    calls = [(t, {"loss": float(v)}) for t, v in zip(ids, stream)]
    t0 = time.perf_counter()
    for t, m in calls:
        s.on_report(t, 1, m, 0.0)
    return (time.perf_counter() - t0) / len(stream)


def raytune_cost(prefill: np.ndarray, stream: np.ndarray) -> float:
    from ray.tune.schedulers import ASHAScheduler

    s = ASHAScheduler(time_attr="epoch", metric="loss", mode="min", max_t=81, grace_period=1,
                      reduction_factor=3)
    bracket = s._brackets[0]
    first_rung = bracket._rungs[-1][1]  # rungs are kept in reverse order
    first_rung.update({f"pre{i}": -float(v) for i, v in enumerate(prefill)})
    trials = [SimpleNamespace(trial_id=f"t{i}") for i in range(len(stream))]
    for t in trials:
        s.on_trial_add(None, t)
    results = [{"epoch": 1, "loss": float(v)} for v in stream]
    t0 = time.perf_counter()
    for t, r in zip(trials, results):
        s.on_trial_result(None, t, r)
    return (time.perf_counter() - t0) / len(stream)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "decision_cost.json"))
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        prefill = rng.random(n)
        ours = raysha_cost(prefill, rng.random(50_000))
        try:
            theirs = raytune_cost(prefill, rng.random(max(200, 2_000_000 // n)))
        except ImportError:
            theirs = None
        row = {"trials_in_rung": n, "raysha_us": ours * 1e6,
               "raytune_us": None if theirs is None else theirs * 1e6,
               "ratio_raytune_over_raysha": None if theirs is None else theirs / ours}
        rows.append(row)
        peer = "Ray Tune not installed (pip install 'ray[tune]==2.60.0')" if theirs is None else \
            f"Ray Tune {theirs * 1e6:10.1f} µs   ratio {theirs / ours:8.0f}x"
        print(f"{n:>8,} trials in the rung: raysha {ours * 1e6:6.2f} µs/decision   {peer}", flush=True)
    out = {"benchmark": "decision_cost", "machine": platform.platform(), "cpu_count": os.cpu_count(),
           "python": platform.python_version(), "rows": rows,
           "raysha_growth": rows[-1]["raysha_us"] / rows[0]["raysha_us"],
           "raytune_growth": (rows[-1]["raytune_us"] / rows[0]["raytune_us"]) if rows[0]["raytune_us"] else None,
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(f"growth from {rows[0]['trials_in_rung']:,} to {rows[-1]['trials_in_rung']:,}: "
          f"raysha {out['raysha_growth']:.2f}x" +
          (f", Ray Tune {out['raytune_growth']:.1f}x" if out["raytune_growth"] else ""))
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"saved {args.out}")
    return out


if __name__ == "__main__":
    main()
