"""Real run: d2l's LeNet / Fashion-MNIST experiment on local Ray, shortened for a CPU.

Two runs, one after the other, on ``ray.init(num_cpus=2)`` with 2 trial actors
(CPU slots: no GPU is available to Ray on this machine): asynchronous random
search, then ASHA (promotion type), each with d2l's search space
(learning_rate loguniform(1e-2, 1), batch_size randint(32, 256)), 10 epochs at
most, grace period 2, η 2, the initial configuration lr 0.1 / batch 128 first
— the shape of d2l's chapter 19 experiment — but **shortened**: a training subset (``--n-train``, default
12,000 of 60,000 images), a validation subset (``--n-test``, default 2,000 of
10,000), and ``--budget`` seconds per run (default 105 s, not d2l's 12
minutes on a GPU). The numbers are therefore *not* comparable in absolute
terms with d2l's (async random search best 0.1445 after 19 trials, ASHA best
0.1405 after 31 trials); the comparison is between the two schedulers here.

It calls `raysha.runs.run_lenet` (the ``raysha run lenet`` code path); when
that is not importable, it builds the same experiment from `raysha.runtime.tuner.Tuner` and
`raysha.workloads.lenet.LeNetTrainable` directly and says so in the JSON.

Usage: python -m benchmarks.real_run [--budget 105] [--n-train 12000] [--n-test 2000]
Writes benchmarks/results/real_run.json and benchmarks/figures/real_*.png.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "real_run.json"
FIGURES = HERE / "figures"
D2L = {"random": {"label": "async random search", "best": 0.1445, "trials": 19},
       "asha-promotion": {"label": "ASHA", "best": 0.1405, "trials": 31}}
D2L_SOURCE = "d2l.ai chapter 19 (Syne Tune, 12 minutes, 2 workers, GPU, full Fashion-MNIST)"


def _via_run_lenet(kind, args, root, name):
    from raysha.runs import run_lenet

    return run_lenet(scheduler=kind, workers=args.workers, max_wallclock=args.budget, max_epochs=10,
                     grace_period=2, reduction_factor=2, n_train=args.n_train, n_test=args.n_test,
                     storage=root, name=name, seed=0, verbose=0, plots=False)


def _via_tuner(kind, args, root, name):
    from raysha.runtime.tuner import Tuner
    from raysha.schedulers import registry
    from raysha.space import loguniform, randint
    from raysha.stop import StopCriterion
    from raysha.workloads.fashion_mnist import load_shared
    from raysha.workloads.lenet import SHARED_KEY, LeNetTrainable

    space = {"learning_rate": loguniform(1e-2, 1), "batch_size": randint(32, 256), "max_epochs": 10, "seed": 0}
    sched = registry.make(kind, space, "validation_error", "min", max_resource_attr="max_epochs", grace_period=2,
                          reduction_factor=2, seed=0)
    data = load_shared(None, args.n_train, args.n_test)
    tuner = Tuner(LeNetTrainable, sched, n_workers=args.workers, stop=StopCriterion(max_wallclock_time=args.budget),
                  storage_path=root, name=name, verbose=0, shared_objects={SHARED_KEY: data})
    return tuner.fit()


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget", type=float, default=105.0, help="seconds per run (default 105)")
    ap.add_argument("--n-train", type=int, default=12_000)
    ap.add_argument("--n-test", type=int, default=2_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--schedulers", nargs="+", default=["random", "asha-promotion"])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--figures", default=str(FIGURES))
    args = ap.parse_args(argv)
    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    import ray

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    gpus = ray.cluster_resources().get("GPU", 0)
    root = tempfile.mkdtemp(prefix="raysha_real_")
    runs, exps, notes = {}, {}, []
    for kind in args.schedulers:
        name = f"real_{kind}"
        t = time.perf_counter()
        try:
            exp, path = _via_run_lenet(kind, args, root, name), "raysha.runs.run_lenet"
        except ImportError as e:
            notes.append(f"{kind}: run_lenet not usable ({e}); built with Tuner + LeNetTrainable")
            exp, path = _via_tuner(kind, args, root, name), "Tuner + LeNetTrainable"
        wall = time.perf_counter() - t
        best = exp.best()
        df = exp.results
        runs[kind] = {
            "label": D2L.get(kind, {}).get("label", kind), "code_path": path, "wall_s": round(wall, 1),
            "trials": int(df["trial_id"].nunique()) if len(df) else 0, "epochs_trained": len(df),
            "best_validation_error": None if best is None else round(float(best["validation_error"]), 4),
            "best_epoch": None if best is None else int(best["epoch"]),
            "best_config": exp.best_config(),
            "best_found_at_s": None if best is None else round(float(best["tuner_time"]), 1),
            "d2l": D2L.get(kind),
        }
        exps[kind] = exp
        r = runs[kind]
        print(f"{r['label']:<20} {r['trials']} trials, {r['epochs_trained']} epochs in {wall:.0f} s; best "
              f"{r['best_validation_error']} (d2l: {r['d2l']['best'] if r['d2l'] else '-'} after "
              f"{r['d2l']['trials'] if r['d2l'] else '-'} trials)", flush=True)
    ray.shutdown()

    figures = {}
    fig_dir = Path(args.figures)
    fig_dir.mkdir(parents=True, exist_ok=True)
    from raysha import plots
    asha = exps.get("asha-promotion")
    if asha is not None and len(asha.results):
        p = fig_dir / "real_asha_learning_curves.png"
        plots.learning_curves(asha, p)
        figures["asha_learning_curves"] = p.name
    if len(exps) >= 2 and all(len(e.results) for e in exps.values()):
        p = fig_dir / "real_random_vs_asha.png"
        plots.best_so_far({runs[k]["label"]: e for k, e in exps.items()}, p)
        figures["random_vs_asha"] = p.name

    import torch
    out = {"benchmark": "real_run", "runs": runs, "figures": figures, "notes": notes,
           "settings": {"budget_s": args.budget, "n_train": args.n_train, "n_test": args.n_test,
                        "workers": args.workers, "max_epochs": 10, "grace_period": 2, "reduction_factor": 2,
                        "ray_cluster_gpus": gpus, "device": "cpu", "torch": torch.__version__},
           "d2l_source": D2L_SOURCE,
           "caveat": ("CPU run, shortened (training subset, validation subset, short budget): not comparable "
                      "with d2l's GPU numbers in absolute terms. No GPU is available to Ray here."),
           "machine": platform.platform(), "cpu_count": os.cpu_count(),
           "wall_seconds": round(time.perf_counter() - t0, 1),
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"saved {args.out} ({out['wall_seconds']} s)")
    return out


if __name__ == "__main__":
    main()
