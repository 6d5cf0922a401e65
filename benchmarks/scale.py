"""Scale of the real runtime: trials/s through the scheduler actor with 64 workers, and memory to 10,000 trials.

The real Ray runtime (`raysha.runtime.tuner.Tuner`) runs a zero-cost trainable
(``benchmarks.overhead.zero_cost``: 27 epochs of ``loss = x + 1/epoch``) under
ASHA stopping (grace period 1, η 3) with 64 trial actors on a 2-CPU local Ray
(``resources_per_trial={"cpu": 0.01}``: 64 lightweight actors sharing 2 cores),
until ``--trials`` trials (default 10,000) have started. Every trial's
reports go to the one scheduler actor, so its throughput bounds the cluster.

The driver polls the scheduler actor's status about once a second (the live
progress table's feed, recorded instead of drawn); at each poll we sample the
RSS of the driver, of the scheduler actor process (``ray::Controller``) and of
all Ray worker processes together, from ``/proc``. Reported: trials/s and
reports/s over the run loop (after the trial actors are up), the actors'
start-up time, and RSS against trials started.

Usage: python -m benchmarks.scale [--trials 10000] [--workers 64]
Writes benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "scale.json"
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mib(pid) -> float | None:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * PAGE / 2**20
    except (OSError, ValueError, IndexError):
        return None


def ray_processes() -> dict[int, str]:
    """pid -> command line of this user's ``ray::`` worker processes (actors, idle workers)."""
    out = {}
    uid = os.getuid()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            if os.stat(f"/proc/{d}").st_uid != uid:
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if cmd.startswith("ray::"):
            out[int(d)] = cmd
    return out


class Recorder:
    """Stands in for the live progress table: records each status poll with memory samples."""

    samples: list = []
    t0 = 0.0

    def __init__(self, verbose=1, name=""):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update(self, status: dict) -> None:
        procs = ray_processes()
        ctrl = [p for p, c in procs.items() if c.startswith("ray::Controller")]
        Recorder.samples.append({
            "t": round(time.perf_counter() - Recorder.t0, 2),
            "elapsed": round(float(status.get("elapsed") or 0.0), 2),
            "trials_started": int(status.get("n_started", 0)),
            "reports": int(status.get("n_results", 0)),
            "driver_rss_mib": round(rss_mib("self") or 0.0, 1),
            "controller_rss_mib": round(rss_mib(ctrl[0]) or 0.0, 1) if ctrl else None,
            "ray_workers_rss_mib": round(sum(rss_mib(p) or 0.0 for p in procs), 1),
            "ray_processes": len(procs),
        })


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=10_000)
    ap.add_argument("--workers", type=int, default=64)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    import ray

    import raysha.runtime.progress as progress
    from benchmarks.overhead import zero_cost
    from raysha.runtime.tuner import Tuner
    from raysha.schedulers.asha import ASHA
    from raysha.space import uniform
    from raysha.stop import StopCriterion

    t = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    init_s = time.perf_counter() - t
    rss_before = rss_mib("self")
    sched = ASHA({"x": uniform(0, 1), "max_epochs": 27}, metric="loss", mode="min", resource_attr="epoch",
                 max_resource_attr="max_epochs", grace_period=1, reduction_factor=3, type="stopping",
                 random_seed=0)
    root = tempfile.mkdtemp(prefix="raysha_scale_")
    original = progress.Progress
    progress.Progress = Recorder  # Tuner.fit imports it at call time; restored below
    Recorder.samples = []
    Recorder.t0 = time.perf_counter()
    try:
        tuner = Tuner(zero_cost, sched, n_workers=args.workers, resources_per_trial={"cpu": 0.01},
                      stop=StopCriterion(max_trials=args.trials), storage_path=root, name="scale", verbose=1)
        exp = tuner.fit()
    finally:
        progress.Progress = original
    wall = time.perf_counter() - Recorder.t0
    rss_after = rss_mib("self")
    s = tuner.summary or {}
    startup = float(s.get("startup_s") or 0.0)
    elapsed = float(s.get("elapsed") or wall)
    loop = max(elapsed - startup, 1e-9)
    n_trials = int(exp.results["trial_id"].nunique())
    n_reports = len(exp.results)
    samples = Recorder.samples
    # steady state: between the first poll with 10 % and the last with 90 % of the trials started
    steady = [x for x in samples if 0.1 * args.trials <= x["trials_started"] <= 0.9 * args.trials]
    steady_rate = None
    if len(steady) >= 2 and steady[-1]["elapsed"] > steady[0]["elapsed"]:
        steady_rate = (steady[-1]["trials_started"] - steady[0]["trials_started"]) / \
                      (steady[-1]["elapsed"] - steady[0]["elapsed"])
    ray.shutdown()
    out = {
        "benchmark": "scale", "workers": args.workers, "trials_target": args.trials,
        "resources_per_trial": {"cpu": 0.01}, "workload": "zero-cost, 27 epochs, ASHA stopping grace 1 eta 3",
        "ray_init_s": round(init_s, 2), "wall_s": round(wall, 2), "actor_startup_s": round(startup, 2),
        "run_loop_s": round(loop, 2), "trials": n_trials, "reports": n_reports,
        "trials_per_s": round(n_trials / loop, 1), "reports_per_s": round(n_reports / loop, 1),
        "steady_trials_per_s": None if steady_rate is None else round(steady_rate, 1),
        "driver_rss_mib": {"before_fit": round(rss_before or 0, 1), "after_fit": round(rss_after or 0, 1),
                           "peak_during_fit": max((x["driver_rss_mib"] for x in samples), default=None)},
        "controller_rss_mib_peak": max((x["controller_rss_mib"] or 0 for x in samples), default=None),
        "samples": samples, "counts": s.get("counts"),
        "machine": platform.platform(), "cpu_count": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    print(f"{args.workers} workers, {n_trials} trials, {n_reports} reports: actors up after {startup:.1f} s, "
          f"run loop {loop:.1f} s = {out['trials_per_s']} trials/s, {out['reports_per_s']} reports/s "
          f"(steady {out['steady_trials_per_s']} trials/s); driver RSS {out['driver_rss_mib']}, "
          f"scheduler actor peak {out['controller_rss_mib_peak']} MiB", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"saved {args.out}")
    return out


if __name__ == "__main__":
    main()
