"""Any-time quality: best validation error against simulated wall-clock, 10 seeds per scheduler.

d2l's setting (chapter 19: learning_rate loguniform(1e-2, 1), batch_size
randint(32, 256), 10 epochs, grace period 2, η 2, 2 workers) replayed in the
simulator on the recorded LeNet / Fashion-MNIST curves
(`raysha.workloads.recorded.RecordedObjective`, real per-epoch errors and
epoch times). When the recording is missing, the synthetic
`raysha.objectives.CurvesObjective` (metric ``loss``) stands in and the JSON
says so (``objective``).

The budget is 10 median full trials per worker (``--budget-trials``), about
what d2l's 12-minute runs allow (19 random-search trials on 2 workers). Per
scheduler and seed we keep the best-so-far curve on a common time grid; the
summary is the median and interquartile range over seeds. The d2l figures are
drawn from seed 0: ASHA's learning curves against wall-clock time, and the
best-so-far of asynchronous random search against ASHA. The synchronous
baselines run as Syne Tune runs them (``sync-sh``, ``sync-hyperband``: a free
worker opens the next bracket) and strictly, one bracket at a time
(``*-strict``: free workers wait).

Usage: python -m benchmarks.anytime [--seeds 10] [--workers 2] [--objective auto|recorded|curves]
Writes benchmarks/results/anytime.json and benchmarks/figures/anytime_*.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

from raysha.schedulers import registry
from raysha.simulate import simulate
from raysha.space import sample_config
from raysha.stop import StopCriterion

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "anytime.json"
FIGURES = HERE / "figures"
SCHEDULERS = ("random", "asha", "asha-promotion", "hyperband", "sync-sh", "sync-hyperband", "sync-sh-strict",
              "sync-hyperband-strict")
LABELS = {"random": "async random search", "asha": "ASHA (stopping)", "asha-promotion": "ASHA (promotion)",
          "hyperband": "async Hyperband", "sync-sh": "sync SH", "sync-hyperband": "sync Hyperband",
          "sync-sh-strict": "sync SH, strict", "sync-hyperband-strict": "sync Hyperband, strict"}
GRID_POINTS = 200


def load_objective(name: str):
    """(label, objective, space, metric); the recording when it exists, else the synthetic curves."""
    if name in ("auto", "recorded"):
        try:
            from raysha.workloads.recorded import RecordedObjective
            obj = RecordedObjective()
            return "recorded", obj, dict(obj.space, max_epochs=min(10, obj.max_epochs)), "validation_error"
        except (FileNotFoundError, ImportError) as e:
            if name == "recorded":
                raise SystemExit(f"recorded LeNet curves unavailable: {e}")
    from raysha.objectives import CURVES_SPACE, CurvesObjective
    return "curves (synthetic; recording missing)", CurvesObjective(seed=0), dict(CURVES_SPACE, max_epochs=10), "loss"


def median_trial_time(objective, space, n: int = 200) -> float:
    rng = np.random.default_rng(12345)
    times = []
    for _ in range(n):
        cfg = sample_config(space, rng)
        times.append(sum(objective(cfg, e)["time"] for e in range(1, space["max_epochs"] + 1)))
    return float(np.median(times))


def best_curve(exp, metric: str, grid: np.ndarray) -> np.ndarray:
    df = exp.results.sort_values("tuner_time", kind="stable")
    t = df["tuner_time"].to_numpy(dtype=float)
    v = np.minimum.accumulate(df[metric].to_numpy(dtype=float))
    idx = np.searchsorted(t, grid, side="right") - 1
    out = np.where(idx >= 0, v[np.clip(idx, 0, None)], np.nan)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--budget-trials", type=float, default=10.0,
                    help="budget in median full-trial times per worker (default 10)")
    ap.add_argument("--objective", choices=("auto", "recorded", "curves"), default="auto")
    ap.add_argument("--schedulers", nargs="+", default=list(SCHEDULERS))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--figures", default=str(FIGURES))
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    name, objective, space, metric = load_objective(args.objective)
    trial_time = median_trial_time(objective, space)
    plateau = None
    if name == "recorded":  # share of recorded configurations still at chance level (0.9) after the last epoch
        last = objective.curves[objective.curves.epoch == space["max_epochs"]]["validation_error"]
        plateau = {"configs": int(len(last)), "at_chance_after_last_epoch": int((last >= 0.85).sum()),
                   "best_after_last_epoch": float(last.min())}
    budget = args.budget_trials * trial_time
    grid = np.linspace(0.0, budget, GRID_POINTS + 1)[1:]
    print(f"objective: {name}; median full trial {trial_time:.1f} s; budget {budget:.0f} s simulated, "
          f"{args.workers} workers, {args.seeds} seeds", flush=True)
    curves: dict[str, list] = {}
    finals: dict[str, list] = {}
    trials: dict[str, list] = {}
    first_exps = {}
    for kind in args.schedulers:
        for seed in range(args.seeds):
            sched = registry.make(kind, dict(space), metric, "min", max_resource_attr="max_epochs", grace_period=2,
                                  reduction_factor=2, seed=seed)
            exp = simulate(sched, objective, args.workers, StopCriterion(max_wallclock_time=budget))
            curves.setdefault(kind, []).append(best_curve(exp, metric, grid))
            finals.setdefault(kind, []).append(float(exp.results[metric].min()))
            trials.setdefault(kind, []).append(int(exp.results["trial_id"].nunique()))
            if seed == 0:
                first_exps[kind] = exp
        f = np.array(finals[kind])
        print(f"{LABELS[kind]:<22} best at budget: median {np.median(f):.4f} "
              f"[IQR {np.percentile(f, 25):.4f} .. {np.percentile(f, 75):.4f}]  trials {np.median(trials[kind]):.0f}",
              flush=True)

    # a common target: the median final best over every scheduler and seed ("typical final quality");
    # per scheduler, how soon each seed's best-so-far reaches it (on the grid)
    target = float(np.median([v for k in finals for v in finals[k]]))
    summary = []
    bands = {}
    for kind in args.schedulers:
        a = np.array(curves[kind])
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # grid points before any seed's first report
            q1, med, q3 = (np.nanpercentile(a, q, axis=0) for q in (25, 50, 75))
        bands[kind] = {"median": [None if np.isnan(x) else round(float(x), 5) for x in med],
                       "q1": [None if np.isnan(x) else round(float(x), 5) for x in q1],
                       "q3": [None if np.isnan(x) else round(float(x), 5) for x in q3]}
        row = {"scheduler": kind, "label": LABELS[kind], "trials_median": float(np.median(trials[kind]))}
        hits = []
        for c in a:
            ok = np.nonzero(c <= target)[0]
            hits.append(float(grid[ok[0]]) if len(ok) else None)
        reached = [h for h in hits if h is not None]
        # the median over seeds exists when at least half of them reached the target
        row["time_to_target"] = {
            "median": float(np.median([h if h is not None else np.inf for h in hits]))
            if 2 * len(reached) >= len(hits) else None,
            "reached": len(reached), "seeds": len(hits)}
        for frac in (0.25, 0.5, 1.0):
            i = int(round(frac * GRID_POINTS)) - 1
            col = a[:, i]
            col = col[~np.isnan(col)]
            row[f"best_at_{int(frac * 100)}pct"] = {
                "median": float(np.median(col)) if len(col) else None,
                "q1": float(np.percentile(col, 25)) if len(col) else None,
                "q3": float(np.percentile(col, 75)) if len(col) else None}
        summary.append(row)

    figures = {}
    fig_dir = Path(args.figures)
    fig_dir.mkdir(parents=True, exist_ok=True)
    if "asha" in first_exps:
        p = fig_dir / "anytime_asha_learning_curves.png"
        first_exps["asha"].plot_learning_curves(p)
        figures["asha_learning_curves"] = p.name
    if "asha" in first_exps and "random" in first_exps:
        from raysha import plots
        p = fig_dir / "anytime_random_vs_asha.png"
        plots.best_so_far({LABELS["random"]: first_exps["random"], LABELS["asha"]: first_exps["asha"]}, p)
        figures["random_vs_asha"] = p.name

    root = str(HERE.parent) + "/"   # the checkout's path means nothing elsewhere
    out = {"benchmark": "anytime", "objective": name, "objective_repr": repr(objective).replace(root, ""),
           "metric": metric,
           "settings": {"workers": args.workers, "seeds": args.seeds, "grace_period": 2, "reduction_factor": 2,
                        "max_epochs": space["max_epochs"], "median_trial_time_s": trial_time,
                        "budget_s": budget, "budget_trials": args.budget_trials,
                        "target": target, "target_rule": "median final best over all schedulers and seeds"},
           "recorded_plateau": plateau,
           "grid_s": [round(float(x), 3) for x in grid], "bands": bands, "summary": summary,
           "finals": finals, "trials": trials, "figures": figures,
           "machine": platform.platform(), "cpu_count": os.cpu_count(),
           "wall_seconds": round(time.perf_counter() - t0, 1),
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"saved {args.out} ({out['wall_seconds']} s)")
    return out


if __name__ == "__main__":
    main()
