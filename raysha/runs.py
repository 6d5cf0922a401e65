"""LeNet on Fashion-MNIST under ASHA on Ray: the product's main job.

`run_lenet` is d2l's ASHA experiment (learning_rate loguniform(1e-2, 1),
batch_size randint(32, 256), 10 epochs, grace 2, η 2, the initial config
lr 0.1 / batch 128 first, 2 workers, 12 minutes) with every knob exposed;
`raysha run lenet` and `raysha demo` are its command-line forms (`raysha.cli`
owns the options; this module is the Python API and knows nothing of them). The
data is decoded once on the driver and shared through Ray's object store.
"""

from __future__ import annotations

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
              max_failures: int = 2, scheduler_options: Optional[dict] = None):
    """Tune LeNet with `scheduler` (a name from `raysha.schedulers.registry`); returns the `Experiment`.

    The defaults are d2l's experiment; `points_to_evaluate` run first (d2l's
    initial config lr 0.1 / batch 128 by default). A trial whose worker dies or
    whose epoch raises is retried from its last checkpoint up to `max_failures` times.
    `scheduler_options` are further keyword arguments of the scheduler class
    (e.g. ``{"brackets": 2}``, ``{"search_mode": "aggressive"}`` for adaptive). Bad settings raise a `ValueError` naming the argument (`SchedulerError`,
    `TunerError`) before any data is loaded or Ray is started.
    """
    from raysha.runtime.tuner import Tuner
    from raysha.stop import StopCriterion
    from raysha.workloads.fashion_mnist import load_shared
    from raysha.workloads.lenet import SHARED_KEY, LeNetTrainable

    if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
        raise ValueError(f"run_lenet: max_epochs must be an integer >= 1, got {max_epochs!r}")
    sched = _lenet_scheduler(scheduler, max_epochs, grace_period, reduction_factor, seed, max_trials,
                             points_to_evaluate, scheduler_options)
    run_file = {"workload": "lenet", "scheduler": scheduler, "workers": workers, "max_wallclock": max_wallclock,
                "max_epochs": max_epochs, "n_train": n_train, "n_test": n_test, "data_dir": data_dir, "seed": seed,
                "max_trials": max_trials}
    tuner = Tuner(LeNetTrainable, sched, n_workers=workers, resources_per_trial=resources_per_trial,
                  stop=StopCriterion(max_wallclock_time=max_wallclock, max_trials=max_trials),
                  storage_path=storage, name=name, verbose=verbose, shared_objects={SHARED_KEY: None},
                  max_failures=max_failures, files={RUN_FILE: run_file})   # written once the run holds the folder
    _refuse_existing(tuner)
    tuner.shared_objects[SHARED_KEY] = load_shared(data_dir, n_train, n_test)
    return _fit_and_plot(tuner, tuner.folder, plots)


def _lenet_scheduler(name, max_epochs, grace_period, reduction_factor, seed, max_trials, points_to_evaluate,
                     options):
    from raysha.schedulers import registry

    space = dict(D2L_SPACE, max_epochs=max_epochs, seed=seed)
    extra = {"max_trials": max_trials} if name == "adaptive" and max_trials else {}
    extra.update(options or {})
    return registry.make(name, space, METRIC, MODE, resource_attr="epoch", max_resource_attr="max_epochs",
                         grace_period=grace_period, reduction_factor=reduction_factor, seed=seed,
                         points_to_evaluate=list(points_to_evaluate or []), **extra)


def _refuse_existing(tuner) -> None:
    """Refuse an existing experiment before the data is loaded (reads only; `fit` checks again, holding it)."""
    from raysha.runtime.tuner import TunerError

    if tuner.experiment.exists("experiment.json"):
        raise TunerError(f"run_lenet: the experiment folder {tuner.experiment.where()} exists already; choose "
                         f"another name (or storage), or continue it with resume_lenet")


def _fit_and_plot(tuner, folder: str, plots: bool):
    exp = tuner.fit()
    exp.path = exp.path or folder
    if plots and len(exp.results) and tuner.experiment.local:
        write_plots(exp, tuner.experiment.base)
    return exp


RUN_FILE = "run.json"


def resume_lenet(path: str, data_dir: Optional[str] = None, verbose: int = 1,
                 max_wallclock: Optional[float] = None, plots: bool = True, max_trials: Optional[int] = None,
                 repair: bool = False):
    """Continue a `run_lenet` experiment from its folder (`Tuner.restore`); returns the `Experiment`.

    The settings come from the folder; the data is loaded again as it was (``run.json``),
    from `data_dir` when given. `max_wallclock` replaces the experiment's total time budget
    (the time already spent counts against it), `max_trials` the number of trials in all.
    A folder that is not a `run_lenet` experiment raises `TunerError` before any data is loaded.
    `path` may be a URI (``s3://...``, ``file:///...``); `repair` is `Tuner.restore`'s.
    """
    from dataclasses import replace

    from raysha.runtime.tuner import Tuner, TunerError
    from raysha.workloads.fashion_mnist import load_shared
    from raysha.workloads.lenet import SHARED_KEY

    from raysha.runtime.storage import Storage

    try:
        store = Storage(path)
        saved = store.read_json(RUN_FILE)
        is_experiment = store.exists("experiment.json")
    except Exception as e:
        raise TunerError(f"resume_lenet: {path}: {e}") from None
    if is_experiment and saved is None:
        raise TunerError(f"resume_lenet: {store.where()} was not made by `raysha run lenet` (no {RUN_FILE}); "
                         f"continue it from Python with raysha.Tuner.restore(path, ...)")
    folder = store.root
    # Tuner.restore checks the folder (exists, is an experiment, its journal) before any data is loaded
    tuner = Tuner.restore(store, shared_objects={SHARED_KEY: None}, verbose=verbose, repair=repair)
    overrides: dict = {"verbose": verbose}
    if max_wallclock is not None:
        overrides["stop"] = replace(tuner.stop, max_wallclock_time=max_wallclock)
    if max_trials is not None:
        overrides["stop"] = replace(overrides.get("stop", tuner.stop), max_trials=max_trials)
    data = load_shared(data_dir or saved.get("data_dir"), saved.get("n_train"), saved.get("n_test"))
    tuner = Tuner.restore(store, shared_objects={SHARED_KEY: data}, repair=repair, **overrides)
    return _fit_and_plot(tuner, folder, plots)


PLOTS = ("learning_curves.png", "best_so_far.png", "timeline.png")


def write_plots(exp, folder: str) -> None:
    """The run's figures in its folder: learning curves, best so far, the worker timeline."""
    exp.plot_learning_curves(os.path.join(folder, PLOTS[0]))
    exp.plot_best_so_far(os.path.join(folder, PLOTS[1]))
    exp.plot_timeline(os.path.join(folder, PLOTS[2]))


def print_outcome(exp, folder: str) -> None:
    """The end of a LeNet run, for people: trials, reports, the best configuration, the folder and plots."""
    best = exp.best()
    print(f"\n{exp.n_trials} trials, {len(exp.results)} reports")
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
