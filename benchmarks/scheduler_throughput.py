"""Decision cost of raysha's ASHA with 10k, 100k and 1M trials already in the rungs.

For each size N the rungs are first filled through the public API (N trials
reporting at the first rung, a third of them at the second), then a fresh
batch of trials reports, and we time `on_report` only:

* rung reports: each report reaches a rung level and needs a stop/continue
  decision (sorted insert + quantile cutoff);
* epoch reports: the mixed stream a real run sends (one report per epoch, most
  between rung levels);
* promotion: `next_job` of the promotion variant (scan rungs top-down, rank the
  best paused trial).

Usage: python benchmarks/scheduler_throughput.py [--sizes 10000 100000 1000000]
Writes benchmarks/results/scheduler_throughput.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from raysha.schedulers import ASHA
from raysha.space import loguniform, randint

SPACE = {"learning_rate": loguniform(1e-2, 1), "batch_size": randint(32, 256)}
MEASURED = 100_000


def filled(n: int, kind: str) -> tuple[ASHA, np.random.Generator]:
    s = ASHA(SPACE, "validation_error", "min", "epoch", max_t=81, grace_period=1,
             reduction_factor=3, type=kind, random_seed=0)
    rng = np.random.default_rng(0)
    values = rng.random(n)
    for v in values:
        j = s.next_job(0)
        s.on_report(j.trial_id, 1, {"validation_error": float(v)}, 0)
    if kind == "stopping":
        for t in range(0, n, 3):
            s.on_report(t, 3, {"validation_error": float(values[t] * 0.9)}, 0)
    return s, rng


def time_calls(fn, calls) -> float:
    t0 = time.perf_counter()
    for args in calls:
        fn(*args)
    return time.perf_counter() - t0


def measure(n: int) -> dict:
    s, rng = filled(n, "stopping")
    tids = [s.next_job(0).trial_id for _ in range(MEASURED)]
    rung_calls = [(t, 1, {"validation_error": float(v)}, 0.0) for t, v in zip(tids, rng.random(MEASURED))]
    rung_s = time_calls(s.on_report, rung_calls)

    s, rng = filled(n, "stopping")
    epoch_calls = []
    for _ in range(MEASURED // 9):
        t = s.next_job(0).trial_id
        epoch_calls += [(t, e, {"validation_error": float(rng.random())}, 0.0) for e in range(1, 10)]
    # a stopped trial's later reports are never sent in a real run: drop them as we go
    alive = set()
    t0 = time.perf_counter()
    n_sent = 0
    for t, e, m, now in epoch_calls:
        if e > 1 and t not in alive:
            continue
        n_sent += 1
        d = s.on_report(t, e, m, now)
        if d.value == "continue":
            alive.add(t)
        else:
            alive.discard(t)
    epoch_s = time.perf_counter() - t0

    p, rng = filled(n, "promotion")
    t0 = time.perf_counter()
    n_jobs = 20_000
    for _ in range(n_jobs):
        j = p.next_job(0)
        p.on_report(j.trial_id, j.until, {"validation_error": float(rng.random())}, 0)
    promo_s = time.perf_counter() - t0
    return {
        "trials_in_rungs": n,
        "rung_reports_per_s": MEASURED / rung_s,
        "us_per_rung_decision": rung_s / MEASURED * 1e6,
        "epoch_reports_per_s": n_sent / epoch_s,
        "promotion_jobs_per_s": n_jobs / promo_s,
        "us_per_promotion_job_and_report": promo_s / n_jobs * 1e6,
    }


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "scheduler_throughput.json"))
    args = ap.parse_args(argv)
    rows = []
    for n in args.sizes:
        row = measure(n)
        rows.append(row)
        print(f"{n:>9,} trials in rungs: {row['rung_reports_per_s']:>9,.0f} rung decisions/s "
              f"({row['us_per_rung_decision']:.2f} µs), {row['epoch_reports_per_s']:>9,.0f} epoch reports/s, "
              f"{row['promotion_jobs_per_s']:>8,.0f} promotion jobs/s", flush=True)
    growth = rows[-1]["us_per_rung_decision"] / rows[0]["us_per_rung_decision"]
    print(f"cost per decision at {rows[-1]['trials_in_rungs']:,} / at {rows[0]['trials_in_rungs']:,}: {growth:.2f}x")
    out = {"benchmark": "scheduler_throughput", "machine": platform.platform(),
           "processor": platform.processor(), "python": platform.python_version(),
           "cpu_count": __import__("os").cpu_count(), "measured_reports": MEASURED,
           "rows": rows, "decision_cost_growth": growth,
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"saved {args.out}")
    return out


if __name__ == "__main__":
    main()
