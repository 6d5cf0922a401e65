"""d2l's real LeNet experiment, ASHA with and without a model-based searcher, several seeds.

Each run is the literal command ``raysha run lenet --scheduler asha --searcher S
--seed K --max-wallclock 720 --workers 2 --quiet`` (full Fashion-MNIST: 60,000
training and 10,000 validation images; d2l's space, initial configuration, 10
epochs, grace period 2, η 2; stopping ASHA as in d2l's chapter), run one after
the other on local Ray with 2 CPU slots. Seeds and searchers are interleaved
(seed 0 random, seed 0 kde, seed 1 random, ...) so that drift in the machine's
load hits both searchers alike. Reported per run and as medians per searcher:
best validation error (any epoch, as d2l's ``e.best``), when it was found,
trials started, epochs trained and how many trials reached each rung.

Usage: python -m benchmarks.d2l_searchers [--seeds 0 1 2] [--searchers random kde gp]
       [--budget 720] [--storage DIR] [--resume]
Writes benchmarks/results/d2l_searchers.json after every run (partial results survive).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "d2l_searchers.json"
D2L = {"asha": {"best": 0.1405, "trials": 31, "source": "d2l.ai chapter 19.4 (Syne Tune, GPU, 12 min, 2 workers)"}}
MAIN_BEFORE = {"best": 0.1365, "trials": 28, "reached": {"2": 28, "4": 23, "8": 13},
               "note": "one stopping-ASHA run on main before the exact tie rules (issue 15's text)"}
RUNGS = (2, 4, 8, 10)


def command(scheduler: str, searcher: str, seed: int, budget: float, storage: str, name: str) -> list[str]:
    exe = shutil.which("raysha", path=str(Path(sys.executable).parent)) or "raysha"
    return [exe, "run", "lenet", "--scheduler", scheduler, "--searcher", searcher, "--seed", str(seed),
            "--max-wallclock", str(budget), "--workers", "2", "--storage", storage, "--name", name, "--quiet"]


def shown(cmd: list[str]) -> str:
    """The command as a user types it: without this machine's executable path, storage folder and run name."""
    return "raysha " + " ".join(cmd[1:cmd.index("--storage")] + ["--quiet"])


def describe(exp) -> dict:
    """The figures of one finished experiment."""
    df = exp.results
    best = exp.best()
    top = df.groupby("trial_id")["epoch"].max() if len(df) else None
    return {
        "trials": exp.n_trials, "epochs_trained": int(len(df)),
        "best_validation_error": None if best is None else round(float(best["validation_error"]), 4),
        "best_epoch": None if best is None else int(best["epoch"]),
        "best_found_at_s": None if best is None else round(float(best["tuner_time"]), 1),
        "best_config": exp.best_config(),
        "reached": {str(r): int((top >= r).sum()) if top is not None else 0 for r in RUNGS},
        "busy_fraction": exp.busy_fraction(),
        "stop_reason": exp.summary.get("stop_reason"),
    }


def summarize(runs: list[dict], searchers: list[str]) -> dict:
    out = {}
    for s in searchers:
        mine = [r for r in runs if r["searcher"] == s and r.get("best_validation_error") is not None]
        if not mine:
            continue
        errs = [r["best_validation_error"] for r in mine]
        out[s] = {"runs": len(mine), "median_best_validation_error": round(statistics.median(errs), 4),
                  "best_validation_errors": errs, "median_trials": statistics.median(r["trials"] for r in mine),
                  "median_epochs": statistics.median(r["epochs_trained"] for r in mine),
                  "median_reached": {str(k): statistics.median(r["reached"][str(k)] for r in mine) for k in RUNGS}}
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--searchers", nargs="+", default=["random", "kde"])
    ap.add_argument("--scheduler", default="asha")
    ap.add_argument("--budget", type=float, default=720.0, help="seconds per run (default 720, d2l's 12 minutes)")
    ap.add_argument("--storage", default=None, help="experiments folder (default: a new temporary folder)")
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--resume", action="store_true",
                    help="keep the runs already in --out and run only the (searcher, seed) pairs it lacks")
    args = ap.parse_args(argv)
    from raysha.results import load_experiment

    storage = args.storage or tempfile.mkdtemp(prefix="raysha_d2l_")
    t0 = time.time()
    runs: list[dict] = []
    if args.resume and Path(args.out).exists():
        runs = [r for r in json.loads(Path(args.out).read_text())["runs"] if r["exit_code"] == 0]
    done = {(r["searcher"], r["seed"]) for r in runs}
    prior_wall = sum(r["wall_s"] for r in runs)
    out: dict = {}
    for seed in args.seeds:
        for searcher in args.searchers:
            if (searcher, seed) in done:
                continue
            name = f"d2l_{args.scheduler}_{searcher}_seed{seed}"
            cmd = command(args.scheduler, searcher, seed, args.budget, storage, name)
            print("$", " ".join(cmd[1:]), flush=True)
            t = time.time()
            proc = subprocess.run(cmd, capture_output=True, text=True)
            run = {"searcher": searcher, "seed": seed, "scheduler": args.scheduler, "exit_code": proc.returncode,
                   "wall_s": round(time.time() - t, 1), "command": shown(cmd)}
            if proc.returncode == 0:
                run.update(describe(load_experiment(os.path.join(storage, name))))
            else:
                run["error"] = (proc.stderr or proc.stdout)[-2000:]
            runs.append(run)
            print(f"  {searcher:<8} seed {seed}: best {run.get('best_validation_error')} after "
                  f"{run.get('trials')} trials, reached {run.get('reached')} ({run['wall_s']} s, rc {proc.returncode})",
                  flush=True)
            out = {"benchmark": "d2l_searchers", "runs": runs, "summary": summarize(runs, args.searchers),
                   "settings": {"scheduler": args.scheduler, "budget_s": args.budget, "workers": 2,
                                "n_train": 60000, "n_test": 10000, "max_epochs": 10, "grace_period": 2,
                                "reduction_factor": 2, "device": "cpu (2 Ray CPU slots, no GPU)"},
                   "d2l": D2L, "main_before": MAIN_BEFORE, "storage": storage,
                   "command": "python -m benchmarks.d2l_searchers " + " ".join(argv if argv is not None else sys.argv[1:]),
                   "machine": platform.platform(), "cpu_count": os.cpu_count(),
                   "wall_seconds": round(time.time() - t0, 1) + (prior_wall if args.resume else 0.0),
                   "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    for s, v in out.get("summary", {}).items():
        print(f"{s:<8} median best {v['median_best_validation_error']} over {v['runs']} seeds, "
              f"median trials {v['median_trials']}, reached {v['median_reached']}")
    print(f"saved {args.out}")
    return out


if __name__ == "__main__":
    main()
