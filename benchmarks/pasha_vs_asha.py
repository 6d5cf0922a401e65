"""PASHA vs ASHA (promotion variants) in the simulator: total epochs and the error of the pick.

Both schedulers get the same settings (grace period 1, η 3, max_t = the
objective's epochs), the same number of trials (``--trials``, the scheduler's
``max_trials``) and ``--workers`` simulated workers, and run until no trial can
be promoted any more. Per seed (scheduler seed and objective seed) we record:

* ``epochs``: epochs trained in total (one report per epoch), and the
  simulated wall-clock time at the end;
* ``best_observed``: the lowest validation error reported at any epoch;
* ``pick_error``: the validation error after a full ``max_t``-epoch training of
  the configuration each method picks (the best trial at the highest level it
  trained any trial to), i.e. what the user gets when retraining the winner,
  as in the PASHA paper;
* PASHA's final maximum resource.

The objective is the recorded LeNet / Fashion-MNIST table
(`raysha.workloads.recorded.RecordedObjective`) when its data file exists,
otherwise the synthetic LeNet-like `raysha.objectives.StragglerObjective`
(``--objective`` picks one). Prints a summary and saves
``benchmarks/results/pasha_vs_asha.json`` with per-seed rows, medians and
interquartile ranges.

Usage: python benchmarks/pasha_vs_asha.py [--seeds 10] [--trials 256] [--workers 4] [--types promotion stopping]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from raysha.schedulers import ASHA, PASHA
from raysha.simulate import simulate
from raysha.stop import StopCriterion


def load_objective(name: str):
    if name in ("auto", "recorded"):
        try:
            from raysha.workloads.recorded import RecordedObjective
            obj = RecordedObjective()
            return "recorded", obj, obj.space, "validation_error", obj.max_epochs
        except (FileNotFoundError, ImportError) as e:
            if name == "recorded":
                raise SystemExit(f"recorded LeNet curves unavailable: {e}")
    from raysha.objectives import STRAGGLER_SPACE, StragglerObjective
    return "straggler", StragglerObjective(), STRAGGLER_SPACE, "validation_error", STRAGGLER_SPACE["max_epochs"]


def pick(exp, metric: str):
    """The configuration a method returns: best value at the highest epoch any trial reached."""
    df = exp.results
    top = df[exp.resource_attr].max()
    row = df[df[exp.resource_attr] == top].sort_values([metric, "trial_id"]).iloc[0]
    config = {c[len("config_"):]: row[c] for c in df.columns if c.startswith("config_")}
    return int(row["trial_id"]), config, int(top)


def one_run(cls, objective, space, metric, max_t, seed, trials, workers, kind="promotion"):
    s = cls(space, metric, "min", "epoch", max_t=max_t, grace_period=1, reduction_factor=3,
            type=kind, random_seed=seed, max_trials=trials)
    exp = simulate(s, objective, n_workers=workers, stop=StopCriterion(max_trials=trials), seed=seed)
    df = exp.results
    trial, config, top = pick(exp, metric)
    obj = objective.with_seed(seed) if hasattr(objective, "with_seed") else objective
    config = {k: (int(v) if isinstance(v, (np.integer,)) else float(v) if isinstance(v, np.floating) else v)
              for k, v in config.items()}
    return {
        "seed": seed,
        "epochs": int(len(df)),
        "sim_time": float(exp.metadata["summary"]["end_time"]),
        "best_observed": float(df[metric].min()),
        "pick_trial": trial,
        "pick_level": top,
        "pick_error": float(obj(config, max_t)[metric]),
        "n_trials": int(df.trial_id.nunique()),
        "final_max_t": float(getattr(s, "current_max_t", max_t)),
        "epsilon": float(getattr(s, "epsilon", 0.0)),
    }


def stats(values) -> dict:
    a = np.asarray(values, dtype=float)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {"median": float(med), "q1": float(q1), "q3": float(q3), "iqr": float(q3 - q1)}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=256)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--objective", choices=("auto", "recorded", "straggler"), default="auto")
    ap.add_argument("--types", nargs="+", choices=("promotion", "stopping"), default=["promotion", "stopping"],
                    help="ASHA variants to compare (Syne Tune's PASHA is promotion-based: the primary one)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "pasha_vs_asha.json"))
    args = ap.parse_args(argv)

    name, objective, space, metric, max_t = load_objective(args.objective)
    t0 = time.perf_counter()
    print(f"objective: {name} ({objective!r}); {args.trials} trials, {args.workers} workers, "
          f"{args.seeds} seeds, max_t {max_t}")
    variants = {kind: compare(kind, objective, space, metric, max_t, args) for kind in args.types}
    oracle = None
    if hasattr(objective, "curves"):  # the recorded table: the best any configuration reaches at max_t
        c = objective.curves
        oracle = float(c.loc[c["epoch"] == max_t, metric].min())
        print(f"best recorded configuration at epoch {max_t}: {oracle:.4f}")
    out = {
        "benchmark": "pasha_vs_asha",
        "objective": name,
        "objective_repr": repr(objective).replace(str(Path(__file__).resolve().parents[1]) + "/", ""),
        "settings": {"trials": args.trials, "workers": args.workers, "seeds": args.seeds, "max_t": max_t,
                     "grace_period": 1, "reduction_factor": 3,
                     "pasha": {"ranking_criterion": "soft_ranking_auto", "epsilon_scaling": 1.0,
                               "epsilon_percentile": 90}},
        "primary": args.types[0],
        "best_recorded_at_max_t": oracle,
        "variants": variants,
        "machine": platform.platform(),
        "wall_seconds": time.perf_counter() - t0,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"saved {args.out}")
    return out


def compare(kind, objective, space, metric, max_t, args) -> dict:
    rows = {"ASHA": [], "PASHA": []}
    for seed in range(args.seeds):
        rows["ASHA"].append(one_run(ASHA, objective, space, metric, max_t, seed, args.trials, args.workers, kind))
        rows["PASHA"].append(one_run(PASHA, objective, space, metric, max_t, seed, args.trials, args.workers, kind))
    summary = {m: {k: stats([r[k] for r in rs])
                   for k in ("epochs", "sim_time", "best_observed", "pick_error", "final_max_t")}
               for m, rs in rows.items()}
    pairs = list(zip(rows["ASHA"], rows["PASHA"]))
    paired = {
        "epochs_ratio_pasha_over_asha": stats([p["epochs"] / a["epochs"] for a, p in pairs]),
        "pick_error_diff_pasha_minus_asha": stats([p["pick_error"] - a["pick_error"] for a, p in pairs]),
        "best_observed_diff_pasha_minus_asha": stats([p["best_observed"] - a["best_observed"] for a, p in pairs]),
        "seeds_pasha_fewer_epochs": sum(p["epochs"] < a["epochs"] for a, p in pairs),
        "seeds_pick_within_0.005": sum(p["pick_error"] <= a["pick_error"] + 0.005 for a, p in pairs),
        "seeds_best_observed_within_0.005": sum(p["best_observed"] <= a["best_observed"] + 0.005 for a, p in pairs),
    }
    verdict = {
        "pasha_fewer_epochs (median)": summary["PASHA"]["epochs"]["median"] < summary["ASHA"]["epochs"]["median"],
        "pick_error within 0.005 (median)":
            summary["PASHA"]["pick_error"]["median"] <= summary["ASHA"]["pick_error"]["median"] + 0.005,
        "best_observed within 0.005 (median)":
            summary["PASHA"]["best_observed"]["median"] <= summary["ASHA"]["best_observed"]["median"] + 0.005,
    }
    fmt = lambda s, p=4: f"{s['median']:.{p}f} [IQR {s['q1']:.{p}f} .. {s['q3']:.{p}f}]"
    print(f"-- type {kind}")
    for m in rows:
        s = summary[m]
        print(f"{m:6s} epochs {fmt(s['epochs'], 0)}  sim time {fmt(s['sim_time'], 0)} s  "
              f"best observed {fmt(s['best_observed'])}  pick error {fmt(s['pick_error'])}  "
              f"final max {fmt(s['final_max_t'], 0)}")
    print(f"PASHA/ASHA epochs: {fmt(paired['epochs_ratio_pasha_over_asha'], 3)}; "
          f"pick error PASHA-ASHA: {fmt(paired['pick_error_diff_pasha_minus_asha'])}; "
          f"PASHA fewer epochs in {paired['seeds_pasha_fewer_epochs']}/{args.seeds} seeds, "
          f"pick within 0.005 in {paired['seeds_pick_within_0.005']}/{args.seeds}")
    print(f"verdict: {verdict}")
    return {"summary": summary, "paired": paired, "verdict": verdict, "runs": rows}


if __name__ == "__main__":
    main()
