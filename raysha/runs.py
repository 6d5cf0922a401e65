"""LeNet on Fashion-MNIST under ASHA on Ray: the product's main job.

`run_lenet` is d2l's ASHA experiment (learning_rate loguniform(1e-2, 1),
batch_size randint(32, 256), 10 epochs, grace 2, η 2, the initial config
lr 0.1 / batch 128 first, 2 workers, 12 minutes) with every knob exposed;
`raysha run lenet` and `raysha demo` are its command-line forms. The data is
decoded once on the driver and shared through Ray's object store.
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Optional

from raysha.space import loguniform, randint

D2L_SPACE = {"learning_rate": loguniform(1e-2, 1), "batch_size": randint(32, 256), "max_epochs": 10}
D2L_INITIAL = {"learning_rate": 0.1, "batch_size": 128}
METRIC, MODE = "validation_error", "min"

# The demo: about 5 minutes on a 2-core laptop CPU (a 12k-image training subset,
# a 2k-image validation subset, at most 8 epochs, rungs at 1, 2 and 4 epochs).
DEMO = dict(scheduler="asha-promotion", workers=2, max_wallclock=240, max_epochs=8, grace_period=1,
            reduction_factor=2, n_train=12_000, n_test=2_000)
DEMO_RUNGS = "rungs at 1, 2 and 4 epochs"


def run_lenet(scheduler: str = "asha-promotion", workers: int = 2, max_wallclock: float = 720,
              max_epochs: int = 10, grace_period: float = 2, reduction_factor: float = 2,
              n_train: Optional[int] = None, n_test: Optional[int] = None, data_dir: Optional[str] = None,
              storage: Optional[str] = None, name: Optional[str] = None, seed: int = 0,
              max_trials: Optional[int] = None, verbose: int = 1, plots: bool = True,
              resources_per_trial: Optional[dict] = None, points_to_evaluate=(D2L_INITIAL,),
              max_failures: int = 2):
    """Tune LeNet with `scheduler` (a name from `raysha.schedulers.factory`); returns the `Experiment`.

    The defaults are d2l's experiment; `points_to_evaluate` run first (d2l's
    initial config lr 0.1 / batch 128 by default). A trial whose worker dies or
    whose epoch raises is retried from its last checkpoint up to `max_failures` times.
    """
    from raysha.schedulers.factory import make_scheduler
    from raysha.runtime.tuner import Tuner
    from raysha.stop import StopCriterion
    from raysha.workloads.fashion_mnist import load_shared
    from raysha.workloads.lenet import SHARED_KEY, LeNetTrainable

    space = dict(D2L_SPACE, max_epochs=int(max_epochs), seed=int(seed))
    sched = make_scheduler(scheduler, space, METRIC, MODE, "max_epochs", grace_period, reduction_factor,
                           seed, points_to_evaluate=list(points_to_evaluate or []))
    data = load_shared(data_dir, n_train, n_test)
    tuner = Tuner(LeNetTrainable, sched, n_workers=workers, resources_per_trial=resources_per_trial,
                  stop=StopCriterion(max_wallclock_time=max_wallclock, max_trials=max_trials),
                  storage_path=storage, name=name, verbose=verbose, shared_objects={SHARED_KEY: data},
                  max_failures=max_failures)
    # what `raysha run lenet --resume` needs besides the Tuner's own files: how to load the data again
    os.makedirs(tuner.folder, exist_ok=True)
    with open(os.path.join(tuner.folder, RUN_FILE), "w") as f:
        json.dump({"workload": "lenet", "scheduler": scheduler, "workers": workers,
                   "max_wallclock": max_wallclock, "max_epochs": max_epochs, "n_train": n_train,
                   "n_test": n_test, "data_dir": data_dir, "seed": seed, "max_trials": max_trials}, f, indent=2)
    exp = tuner.fit()
    exp.path = exp.path or tuner.folder
    if plots and len(exp.results):
        write_plots(exp, tuner.folder)
    return exp


RUN_FILE = "run.json"


def resume_lenet(path: str, data_dir: Optional[str] = None, verbose: int = 1,
                 max_wallclock: Optional[float] = None, plots: bool = True, max_trials: Optional[int] = None):
    """Continue a `run_lenet` experiment from its folder (`Tuner.restore`); returns the `Experiment`.

    The settings come from the folder; the data is loaded again as it was (``run.json``),
    from `data_dir` when given. `max_wallclock` replaces the experiment's total time budget
    (the time already spent counts against it), `max_trials` the number of trials in all.
    """
    from raysha.cli import CLIError
    from raysha.runtime.tuner import Tuner, TunerError
    from raysha.workloads.fashion_mnist import load_shared
    from raysha.workloads.lenet import SHARED_KEY

    folder = os.path.abspath(os.path.expanduser(path))
    if not os.path.isdir(folder):
        raise CLIError(f"--resume: no experiment folder at {folder}")
    if not os.path.exists(os.path.join(folder, "experiment.json")):
        raise CLIError(f"--resume: {folder} is not a raysha experiment folder (no experiment.json)")
    run_file = os.path.join(folder, RUN_FILE)
    if not os.path.exists(run_file):
        raise CLIError(f"--resume: {folder} was not made by `raysha run lenet` (no {RUN_FILE}); "
                       f"continue it from Python with raysha.Tuner.restore(path, ...)")
    with open(run_file) as f:
        saved = json.load(f)
    overrides: dict = {"verbose": verbose}
    try:
        tuner = Tuner.restore(folder, shared_objects={SHARED_KEY: None}, **overrides)   # check before loading data
    except TunerError as e:
        raise CLIError(str(e)) from None
    if max_wallclock is not None or max_trials is not None:
        from dataclasses import replace

        stop = tuner.stop
        if max_wallclock is not None:
            stop = replace(stop, max_wallclock_time=max_wallclock)
        if max_trials is not None:
            stop = replace(stop, max_trials=max_trials)
        overrides["stop"] = stop
    data = load_shared(data_dir or saved.get("data_dir"), saved.get("n_train"), saved.get("n_test"))
    tuner = Tuner.restore(folder, shared_objects={SHARED_KEY: data}, **overrides)
    exp = tuner.fit()
    exp.path = exp.path or folder
    if plots and len(exp.results):
        write_plots(exp, folder)
    return exp


PLOTS = ("learning_curves.png", "best_so_far.png", "timeline.png")


def write_plots(exp, folder: str) -> None:
    """The run's figures in its folder: learning curves, best so far, the worker timeline."""
    exp.plot_learning_curves(os.path.join(folder, PLOTS[0]))
    exp.plot_best_so_far(os.path.join(folder, PLOTS[1]))
    exp.plot_timeline(os.path.join(folder, PLOTS[2]))


def print_outcome(exp, folder: str) -> None:
    best = exp.best()
    n = exp.n_trials
    print(f"\n{n} trials, {len(exp.results)} reports")
    if best is None:
        print("no trial reported a validation error")
    else:
        cfg = {k[len("config_"):]: best[k] for k in best.index if k.startswith("config_")}
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in cfg.items() if k in ("learning_rate", "batch_size"))
        print(f"best: validation_error {best[METRIC]:.4f} after {int(best['epoch'])} epochs "
              f"(trial {int(best['trial_id'])}: {shown})")
    print(f"experiment folder: {folder}")
    for png in PLOTS:
        path = os.path.join(folder, png)
        if os.path.exists(path):
            print(f"plot: {path}")


# -- command line -------------------------------------------------------------------

def add_run_arguments(p: argparse.ArgumentParser) -> None:
    from raysha.cli import SCHEDULERS, _positive_float, _positive_int  # noqa: F401

    p.add_argument("workload", choices=["lenet"], help="what to tune (LeNet on Fashion-MNIST)")
    p.add_argument("--scheduler", choices=SCHEDULERS, default="asha-promotion")
    p.add_argument("--workers", type=_positive_int, default=2, help="trial actors, one GPU each (default 2)")
    p.add_argument("--max-wallclock", type=_positive_float, default=None,
                   help="seconds (default 720, as d2l); with --resume: the new total budget")
    p.add_argument("--max-trials", type=_positive_int, default=None, help="start at most this many trials")
    p.add_argument("--max-epochs", type=_positive_int, default=10)
    p.add_argument("--grace-period", type=_positive_float, default=2)
    p.add_argument("--reduction-factor", type=_positive_float, default=2)
    p.add_argument("--n-train", type=_positive_int, default=None, help="train on a subset (default: all 60k)")
    p.add_argument("--n-test", type=_positive_int, default=None, help="validate on a subset (default: 10k)")
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST folder (else RAYSHA_DATA, the torchvision "
                                                    "cache, /usr/share/datasets/fashion-mnist, download)")
    p.add_argument("--storage", default=None, help="experiments folder or s3:// / gs:// URI (durable copies); "
                                                   "default: the RAYSHA_STORAGE environment variable")
    p.add_argument("--name", default=None, help="experiment name (folder)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-failures", type=int, default=2,
                   help="retries of a trial whose worker dies or whose epoch raises (default 2)")
    p.add_argument("--quiet", action="store_true", help="no live progress table")
    p.add_argument("--resume", metavar="PATH", default=None,
                   help="continue the experiment in folder PATH after a crash or a stop (its settings "
                        "come from the folder; --max-wallclock and --max-trials set new totals, --data-dir and "
                        "--quiet may be given)")


# settings that come from the saved experiment with --resume: (argument, default)
_FROM_FOLDER = {"scheduler": "asha-promotion", "workers": 2, "max_epochs": 10,
                "grace_period": 2, "reduction_factor": 2, "n_train": None, "n_test": None,
                "storage": None, "name": None, "seed": 0, "max_failures": 2}


def run_command(args: argparse.Namespace) -> int:
    if getattr(args, "resume", None):
        from raysha.cli import CLIError

        given = [k for k, default in _FROM_FOLDER.items() if getattr(args, k, default) != default]
        if given:
            raise CLIError("--resume continues an experiment with its own settings; drop "
                           + ", ".join("--" + k.replace("_", "-") for k in given))
        exp = resume_lenet(args.resume, args.data_dir, verbose=0 if args.quiet else 1,
                           max_wallclock=args.max_wallclock, max_trials=args.max_trials)
        print_outcome(exp, exp.path)
        return 0
    max_wallclock = 720 if args.max_wallclock is None else args.max_wallclock
    exp = run_lenet(args.scheduler, args.workers, max_wallclock, args.max_epochs, args.grace_period,
                    args.reduction_factor, args.n_train, args.n_test, args.data_dir,
                    args.storage or os.environ.get("RAYSHA_STORAGE") or None,
                    args.name, args.seed, args.max_trials, verbose=0 if args.quiet else 1,
                    max_failures=args.max_failures)
    print_outcome(exp, exp.path)
    return 0


def add_demo_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo-results", help="where the experiment folder goes")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--quiet", action="store_true")


def demo_command(args: argparse.Namespace) -> int:
    import ray

    d = DEMO
    print(f"raysha demo: ASHA (promotion) tuning LeNet on Fashion-MNIST on local Ray, {d['workers']} workers, "
          f"{d['max_wallclock']} s budget; shortened for a laptop CPU: {d['n_train']:,} training and "
          f"{d['n_test']:,} validation images, at most {d['max_epochs']} epochs ({DEMO_RUNGS}). "
          f"`raysha run lenet` runs the full d2l setting.", flush=True)
    if not ray.is_initialized():
        ray.init(num_cpus=max(2, os.cpu_count() or 2), include_dashboard=False, log_to_driver=False)
    from datetime import datetime

    name = datetime.now().strftime("demo_%Y-%m-%d_%H-%M-%S")
    exp = run_lenet(storage=os.path.abspath(args.out), name=name, data_dir=args.data_dir,
                    verbose=0 if args.quiet else 1, **d)
    print_outcome(exp, exp.path)
    return 0
