"""Runtime overhead of raysha on Ray: zero-cost objectives, so every second measured is overhead.

Cases (both on ``ray.init(num_cpus=2)``, 2 trial actors):

* ``asha_100x27``: 100 trials of a zero-cost objective reporting up to 27 epochs, ASHA
  stopping, grace period 1, η 3. Wall seconds after ``ray.init`` (Tuner start to
  `fit()` return, actor start-up included), reports, reports/s, seconds per trial.
* ``fifo_10x1000``: 10 trials x 1,000 epochs (random search, no early stopping):
  sustained reports/s.

``--peer raytune`` runs Ray Tune's ASHAScheduler (and FIFO for the second case) on
the identical workloads in the same process and prints the ratio of wall times.
Ray Tune is optional: ``pip install 'ray[tune]==2.60.0'``; without it the peer is
skipped with a note.

Usage::

    python benchmarks/overhead.py [--peer raytune] [--out benchmarks/results/overhead.json]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def zero_cost(config):
    from raysha.runtime.session import report

    x = config["x"]
    for epoch in range(1, config["max_epochs"] + 1):
        report(epoch=epoch, loss=x + 1.0 / epoch)


def run_raysha(case: str, root: str) -> dict:
    from raysha.runtime.tuner import Tuner
    from raysha.schedulers.asha import ASHA
    from raysha.schedulers.fifo import RandomSearch
    from raysha.space import uniform
    from raysha.stop import StopCriterion

    if case == "asha_100x27":
        n_trials, epochs = 100, 27
        sched = ASHA({"x": uniform(0, 1), "max_epochs": epochs}, metric="loss", mode="min",
                     resource_attr="epoch", max_resource_attr="max_epochs", grace_period=1,
                     reduction_factor=3, type="stopping", random_seed=0)
    else:
        n_trials, epochs = 10, 1000
        sched = RandomSearch({"x": uniform(0, 1), "max_epochs": epochs}, metric="loss", mode="min",
                             resource_attr="epoch", max_resource_attr="max_epochs", random_seed=0)
    t0 = time.perf_counter()
    tuner = Tuner(zero_cost, sched, n_workers=2, stop=StopCriterion(max_trials=n_trials),
                  storage_path=root, name=f"raysha_{case}", verbose=0)
    exp = tuner.fit()
    wall = time.perf_counter() - t0
    s = tuner.summary
    n_reports = len(exp.results)
    assert not exp.results.duplicated(["trial_id", "epoch"]).any()
    return {
        "wall_s": round(wall, 3), "trials": int(exp.results["trial_id"].nunique()), "reports": n_reports,
        "reports_per_s": round(n_reports / wall, 1),
        "overhead_s_per_trial": round(wall / n_trials, 4),
        "worker_seconds_per_trial": round(wall * 2 / n_trials, 4),
        # scheduler actor's clock: first trial actor up, then the run loop until the end
        "actor_startup_s": round(s["startup_s"], 3), "run_loop_s": round(s["elapsed"] - s["startup_s"], 3),
        "reports_per_s_run_loop": round(n_reports / max(s["elapsed"] - s["startup_s"], 1e-9), 1),
        "counts": s["counts"],
    }


def tune_zero_cost(config):
    from ray import tune

    x = config["x"]
    for epoch in range(1, config["max_epochs"] + 1):
        tune.report({"epoch": epoch, "loss": x + 1.0 / epoch})


def raytune_zero_cost(n_trials: int, epochs: int, scheduler, root: str, name: str) -> tuple[float, int, int]:
    """Ray Tune on the zero-cost workload, 2 concurrent trials: (wall seconds, trials, reports)."""
    from ray import tune

    t0 = time.perf_counter()
    tuner = tune.Tuner(
        tune_zero_cost,
        param_space={"x": tune.uniform(0, 1), "max_epochs": epochs},
        tune_config=tune.TuneConfig(metric="loss", mode="min", scheduler=scheduler, num_samples=n_trials,
                                    max_concurrent_trials=2),
        run_config=tune.RunConfig(name=name, storage_path=root, verbose=0),
    )
    grid = tuner.fit()
    wall = time.perf_counter() - t0
    n_reports = 0
    for r in grid:
        df = r.metrics_dataframe
        n_reports += 0 if df is None else len(df)
    return wall, len(grid), n_reports


def run_raytune(case: str, root: str) -> dict:
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if case == "asha_100x27":
        n_trials, epochs = 100, 27
        scheduler = ASHAScheduler(time_attr="epoch", max_t=epochs, grace_period=1, reduction_factor=3)
    else:
        n_trials, epochs = 10, 1000
        scheduler = FIFOScheduler()
    wall, n_done, n_reports = raytune_zero_cost(n_trials, epochs, scheduler, root, f"raytune_{case}")
    return {"wall_s": round(wall, 3), "trials": n_done, "reports": n_reports,
            "reports_per_s": round(n_reports / wall, 1), "overhead_s_per_trial": round(wall / n_trials, 4)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--peer", choices=["raytune"], default=None)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "overhead.json"))
    ap.add_argument("--cases", default="asha_100x27,fifo_10x1000")
    args = ap.parse_args(argv)
    cases = [c for c in args.cases.split(",") if c]

    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    import ray

    t = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False)
    init_s = time.perf_counter() - t
    print(f"ray.init: {init_s:.2f} s (not counted)")
    out = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                       "python": platform.python_version(), "ray": ray.__version__},
           "ray_init_s": round(init_s, 2), "load_average_at_start": list(os.getloadavg()),
           "raysha": {}, "peer": None, "ratio": {}}
    root = tempfile.mkdtemp(prefix="raysha_overhead_")
    for case in cases:
        r = run_raysha(case, root)
        out["raysha"][case] = r
        print(f"raysha  {case:>13}: {r['wall_s']:.2f} s wall after ray.init, {r['reports']} reports, "
              f"{r['reports_per_s']:.0f} reports/s, {r['overhead_s_per_trial'] * 1000:.1f} ms/trial "
              f"(actor start-up {r['actor_startup_s']:.2f} s, run loop {r['run_loop_s']:.2f} s = "
              f"{r['reports_per_s_run_loop']:.0f} reports/s)")
    if args.peer == "raytune":
        try:
            import ray.tune  # noqa: F401
            from ray.tune.schedulers import ASHAScheduler  # noqa: F401
        except Exception as e:
            print(f"peer raytune skipped: Ray Tune is not installed ({e}); pip install 'ray[tune]==2.60.0'")
            out["peer"] = {"name": "raytune", "skipped": repr(e)}
        else:
            out["peer"] = {"name": "raytune", "version": ray.__version__}
            for case in cases:
                r = run_raytune(case, root)
                out["peer"][case] = r
                ratio = r["wall_s"] / out["raysha"][case]["wall_s"]
                out["ratio"][case] = round(ratio, 2)
                print(f"raytune {case:>13}: {r['wall_s']:.2f} s wall, {r['reports']} reports, "
                      f"{r['reports_per_s']:.0f} reports/s, {r['overhead_s_per_trial'] * 1000:.1f} ms/trial")
                print(f"ratio   {case:>13}: Ray Tune wall / raysha wall = {ratio:.1f}x")
    out["load_average_at_end"] = list(os.getloadavg())   # a shared machine skews both sides
    ray.shutdown()
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=2)
        f.write("\n")
    print(f"saved {args.out}")
    a = out["raysha"].get("asha_100x27")
    b = out["raysha"].get("fifo_10x1000")
    ok = (a is None or a["wall_s"] < 5.0) and (b is None or b["reports_per_s"] >= 1000)
    print("targets (100 trials < 5 s, >= 1000 reports/s):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
