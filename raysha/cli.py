"""The ``raysha`` command: ``simulate``, ``preview``, ``run`` and ``demo``.

One vocabulary for every subcommand: the scheduler names are the registry's
(`raysha.schedulers.registry`), and the same thing has the same option
everywhere: ``--scheduler``, ``--max-t`` (the largest resource; ``--max-epochs``
is its alias), ``--grace``, ``--eta``, ``--seed``, ``--workers``,
``--max-trials``, ``--max-wallclock``. Abbreviated options are refused. Every
option is checked before anything starts (no data loaded, no Ray): a bad value
ends as ``raysha <command>: error: ...`` with exit status 2, never a traceback.

Exit status: 0 done; 1 the experiment failed or produced no result; 2 a bad
command line; 130 interrupted by Ctrl-C (the experiment is saved first: continue
it with ``raysha run lenet --resume FOLDER``); 141 the reader of the output went
away (``raysha preview --json | head``), quietly, like a command ended by SIGPIPE.

Each subcommand is one entry in `SUBCOMMANDS`: name -> (add_arguments, handler,
help); a handler returns the exit status and raises `CLIError` for a bad command
line. Handlers import what they need inside, so ``raysha --help`` stays fast.

>>> build_parser().parse_args(["preview", "--max-t", "27", "--eta", "3"]).eta
3.0
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import sys
from typing import Callable, Optional, Sequence


class CLIError(Exception):
    """A bad command line: printed as ``raysha <command>: error: ...`` with exit status 2, no traceback."""


class ExperimentFailed(Exception):
    """The experiment failed or produced no result: printed as ``raysha <command>: ...``, exit status 1."""


SUBCOMMANDS: dict[str, tuple[Callable, Callable, str]] = {}
EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 1, 2, 130, 141


def register(name: str, add_arguments: Callable[[argparse.ArgumentParser], None],
             handler: Callable[[argparse.Namespace], int], help: str = "") -> None:
    """Add (or replace) a subcommand: `handler(args)` returns the exit status."""
    SUBCOMMANDS[name] = (add_arguments, handler, help)


# -- option types: each names what it expected (argparse adds the option's name) --------

def _number(text: str, cast, ok, expected: str):
    """``cast(text)`` if ``ok`` of it, else an error saying what was ``expected`` (argparse names the option)."""
    try:
        v = cast(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
    return v


def _positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def _count(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "an integer >= 0")


def _positive_float(text: str) -> float:
    return _number(text, float, lambda v: 0 < v < math.inf, "a positive finite number")


def _experiment_name(text: str) -> str:
    ok = re.fullmatch(r"[\w][\w.+=@-]*", text) is not None and len(text) <= 128 and \
        len(text.encode()) <= 255
    if not ok:
        raise argparse.ArgumentTypeError(
            f"expected a folder name of at most 128 letters, digits and . _ - + = @ (starting with a "
            f"letter or digit; no '/'), got {text[:60]!r}{'...' if len(text) > 60 else ''}")
    return text


def _path(text: str) -> str:
    if not text or "\0" in text:
        raise argparse.ArgumentTypeError(f"expected a path, got {text!r}")
    return text


# -- options shared by the subcommands ---------------------------------------------

def _scheduler_options(p: argparse.ArgumentParser, default: str, searcher: bool = True) -> None:
    from raysha.schedulers import registry
    from raysha.searchers import SEARCHERS

    names = registry.names()
    p.add_argument("--scheduler", choices=names, default=default, metavar="NAME",
                   help=f"which scheduler (default {default}): "
                        + "; ".join(f"{n}: {registry.describe(n)}" for n in names))
    if searcher:
        p.add_argument("--searcher", choices=SEARCHERS, default=None,
                       help="how new configurations are proposed (default random; kde is BOHB's model, gp is "
                            "MOBSTER's (needs scipy), optuna-* need the optuna extra)")
    p.add_argument("--brackets", type=_positive_int, default=None,
                   help="number of brackets (asha, asha-promotion, hyperband, hyperband-promotion, sync-hyperband; "
                        "default: 1 for asha, all for the hyperband names)")
    p.add_argument("--search-mode", choices=("aggressive", "standard", "conservative"), default=None,
                   help="adaptive only: which bracket list (default standard)")
    p.add_argument("--max-rungs", type=_positive_int, default=None, help="adaptive only: most rungs (default 5)")


def _rung_options(p: argparse.ArgumentParser, max_t: Optional[int], grace: float, eta: float,
                  integer: bool, max_t_help: str = "") -> None:
    """--max-t (alias --max-epochs), --grace, --eta; `max_t` None with no `max_t_help`: --max-t is required."""
    required = max_t is None and not max_t_help
    p.add_argument("--max-t", "--max-epochs", dest="max_t", type=_positive_int if integer else _positive_float,
                   default=max_t, required=required, metavar="N",
                   help="largest resource (epochs) a trial trains"
                        + (f" ({max_t_help})" if max_t_help else "" if required else f" (default {max_t})"))
    p.add_argument("--grace", "--grace-period", dest="grace", type=_positive_float, default=grace, metavar="R",
                   help=f"grace period: the first rung level (default {grace}; not used by adaptive, random)")
    p.add_argument("--eta", "--reduction-factor", dest="eta", type=_positive_float, default=eta, metavar="ETA",
                   help=f"reduction factor η: 1/η of a rung goes on (default {eta}; adaptive: its divisor)")


MAX_RUNGS = 100


def _check_rungs(args: argparse.Namespace) -> None:
    """--grace <= --max-t, and a number of rung levels the schedulers can hold (before they are built)."""
    if args.scheduler not in _names_taking("grace_period") or args.max_t is None:
        return
    if args.grace > args.max_t:
        raise CLIError(f"--grace {_fmt(args.grace)} is past --max-t {_fmt(args.max_t)}: the first rung "
                       f"must be at or below the largest resource")
    if args.eta > 1:
        n = math.floor((math.log(args.max_t) - math.log(args.grace)) / math.log(args.eta) + 1e-9) + 1
        if n > MAX_RUNGS:
            raise CLIError(f"--max-t {_fmt(args.max_t)} with --grace {_fmt(args.grace)} and --eta "
                           f"{_fmt(args.eta)} makes {n} rung levels; at most {MAX_RUNGS} are supported "
                           f"(raise --grace or --eta, or lower --max-t)")


def _scheduler_extras(args: argparse.Namespace, max_trials: Optional[int]) -> dict:
    """The options only some schedulers have, refused (naming those that have them) for the others."""
    given = {k: v for k, v in (("brackets", args.brackets), ("search_mode", args.search_mode),
                               ("max_rungs", args.max_rungs), ("searcher", getattr(args, "searcher", None)))
             if v is not None}
    for param in given:
        takers = _names_taking(param)
        if args.scheduler not in takers:
            raise CLIError(f"--{param.replace('_', '-')} applies to --scheduler {', '.join(takers)}, "
                           f"not {args.scheduler}")
    if args.scheduler == "adaptive":
        given["max_trials"] = max_trials or 100      # adaptive splits its trials across brackets
    return given


def _names_taking(param: str) -> list:
    """The registered scheduler names whose class takes keyword `param`."""
    import inspect

    from raysha.schedulers import registry

    return [n for n in registry.names() if param in inspect.signature(registry.entry(n).cls).parameters]


# errors of the Python API name its arguments; the command line's names for them
_OPTION_OF = {"grace_period": "--grace", "reduction_factor": "--eta", "divisor": "--eta", "max_t": "--max-t",
              "max_epochs": "--max-t", "max_trials": "--max-trials", "brackets": "--brackets",
              "max_rungs": "--max-rungs", "search_mode": "--search-mode", "searcher": "--searcher",
              "n_workers": "--workers", "max_failures": "--max-failures", "storage_path": "--storage",
              "max_wallclock_time": "--max-wallclock"}
_FIELD = re.compile(r"\b(" + "|".join(sorted(_OPTION_OF, key=len, reverse=True)) + r")\b")


def _in_option_terms(message: str) -> str:
    return _FIELD.sub(lambda m: _OPTION_OF[m.group(1)], message)


def _writable_folder(path: str, given: str) -> None:
    """Create folder `path` if needed and probe it with a temporary file; `CLIError` naming `given` if that fails."""
    import tempfile

    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        raise CLIError(f"{given}: cannot write in {path} ({e.strerror or type(e).__name__})") from None


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# -- simulate -------------------------------------------------------------------

def _simulate_args(p: argparse.ArgumentParser) -> None:
    from raysha.objectives import OBJECTIVES

    _scheduler_options(p, "asha")
    _rung_options(p, None, 1, 3, integer=True,
                  max_t_help="default 27; the recording's length for --objective recorded")
    p.add_argument("--workers", type=_positive_int, default=4, help="simulated workers (default 4)")
    p.add_argument("--max-trials", "--trials", dest="max_trials", type=_positive_int, default=100,
                   help="trials to start at most (default 100)")
    p.add_argument("--max-wallclock", "--max-time", dest="max_wallclock", type=_positive_float, default=None,
                   help="stop after this many simulated seconds")
    p.add_argument("--objective", choices=sorted(OBJECTIVES) + ["recorded"], default="straggler",
                   help="straggler (default: heavy-tailed epoch times), curves (smooth synthetic "
                        "learning curves), or recorded (replayed LeNet / Fashion-MNIST curves)")
    p.add_argument("--seed", type=_count, default=0, help="scheduler and objective seed (default 0)")
    p.add_argument("--out", type=_path, default=None, help="experiment folder to write (results as parquet)")
    p.add_argument("--plot", action="store_true", help="also write learning_curves/best_so_far/timeline PNGs")
    p.add_argument("--record", choices=("all", "jobs", "none"), default="all",
                   help="keep every report (all, default), only job spans, or only the summary")


def _simulation_objective(args: argparse.Namespace):
    """(objective, space, metric, mode) of --objective, with --max-t set in the space."""
    from raysha.objectives import OBJECTIVES

    if args.objective == "recorded":
        try:
            from raysha.workloads.recorded import RecordedObjective
            objective = RecordedObjective()
        except (ImportError, FileNotFoundError) as e:
            raise CLIError(f"--objective recorded: the recorded LeNet objective is not available: {e}") from None
        space, metric, mode = dict(objective.space), "validation_error", "min"
        args.max_t = args.max_t or objective.max_epochs
        if args.max_t > objective.max_epochs:
            raise CLIError(f"--max-t {args.max_t}: the recording has {objective.max_epochs} epochs")
    else:
        cls, space, metric, mode = OBJECTIVES[args.objective]
        objective, space = cls(seed=args.seed), dict(space)
        args.max_t = args.max_t or 27
    space["max_epochs"] = args.max_t
    return objective, space, metric, mode


def _make_scheduler(args: argparse.Namespace, space: dict, metric: str, mode: str, max_trials: Optional[int],
                    **kw):
    """The --scheduler with the rung options; a bad combination is a `CLIError` in option terms."""
    from raysha.schedulers import registry

    _check_rungs(args)
    extra = _scheduler_extras(args, max_trials)
    try:
        return registry.make(args.scheduler, space, metric, mode, grace_period=_num(args.grace),
                             reduction_factor=_num(args.eta), **kw, **extra)
    except (ValueError, TypeError, OverflowError, ImportError) as e:
        raise CLIError(f"bad scheduler settings: {_in_option_terms(str(e))}") from None


def _num(x: float):
    return int(x) if float(x).is_integer() else x


def _simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from raysha.results import ResultsError
    from raysha.simulate import simulate
    from raysha.stop import StopCriterion

    if args.plot and not args.out:
        raise CLIError("--plot needs --out DIR (the PNGs go into the experiment folder)")
    if args.plot and args.record != "all":
        raise CLIError("--plot needs --record all (the plots draw every report)")
    objective, space, metric, mode = _simulation_objective(args)
    scheduler = _make_scheduler(args, space, metric, mode, args.max_trials, max_resource_attr="max_epochs",
                                seed=args.seed)
    out = Path(args.out) if args.out else None
    if out is not None:
        _writable_folder(str(out.resolve().parent), f"--out {args.out}")
    stop = StopCriterion(max_trials=args.max_trials, max_wallclock_time=args.max_wallclock)
    try:
        exp = simulate(scheduler, objective, args.workers, stop, out=out, record=args.record,
                       name=f"sim-{args.scheduler}-{args.objective}-seed{args.seed}")
    except (ResultsError, ValueError, OSError) as e:
        raise CLIError(f"--out {args.out}: {e}" if isinstance(e, OSError) else str(e)) from None
    _print_simulation(args, exp, metric)
    if out and args.plot:
        for fn in ("learning_curves", "best_so_far", "timeline"):
            print(f"  plot             {getattr(exp, f'plot_{fn}')(out / f'{fn}.png')}")
    return 0


def _print_simulation(args: argparse.Namespace, exp, metric: str) -> None:
    s = exp.summary
    print(f"simulated {args.scheduler} on the {args.objective} objective with {args.workers} workers")
    print(f"  trials started   {s['n_trials']}")
    print(f"  reports          {s['n_results']}")
    print(f"  simulated time   {s['end_time']:.1f} s  (stopped: {s['stop_reason']})")
    bf = s.get("busy_fraction")
    print(f"  busy fraction    {bf:.1%}" if bf is not None else "  busy fraction    n/a")
    best = s.get("best")
    if best:
        cfg = ", ".join(f"{k}={_fmt(v)}" for k, v in (best["config"] or {}).items())
        print(f"  best {metric}  {best['value']:.4f}  (trial {best['trial_id']}, epoch {best['epoch']}, "
              f"t={best['tuner_time']:.1f} s)")
        print(f"  best config      {cfg}")
    print(f"  wall time        {s['wall_seconds']:.2f} s")
    if args.out:
        print(f"  results          {args.out}")


# -- preview --------------------------------------------------------------------

def _preview_args(p: argparse.ArgumentParser) -> None:
    _scheduler_options(p, "asha", searcher=False)       # the preview does not depend on the searcher
    _rung_options(p, None, 1, 3, integer=False)
    p.add_argument("--max-trials", "--trials", dest="max_trials", type=_positive_int, default=None,
                   help="number of trials (default: the fewest that fill the top rung, per trial for random)")
    p.add_argument("--resource-attr", default="epoch", help="name of the resource (default epoch)")
    p.add_argument("--json", action="store_true", help="print the preview as JSON")


def _preview(args: argparse.Namespace) -> int:
    import json

    from raysha.schedulers import registry
    from raysha.space import uniform

    # the preview does not look at the search space: one parameter stands for any
    s = _make_scheduler(args, {"x": uniform(0, 1)}, "loss", "min", args.max_trials,
                        resource_attr=args.resource_attr, max_t=_num(args.max_t))
    try:
        p = registry.preview(s, max_trials=args.max_trials)
    except (ValueError, TypeError, OverflowError) as e:
        raise CLIError(_in_option_terms(str(e))) from None
    print(json.dumps(p.to_dict(), indent=2, default=str) if args.json else p)
    return 0


# -- run and demo: LeNet on Ray (the Python API is raysha.runs) -------------------------

_RUN_DEFAULTS = dict(scheduler="asha-promotion", workers=2, max_t=10, grace=2, eta=2, seed=0, max_failures=2,
                     n_train=None, n_test=None, storage=None, name=None, brackets=None, search_mode=None,
                     max_rungs=None, searcher=None)


def _run_args(p: argparse.ArgumentParser) -> None:
    d = _RUN_DEFAULTS
    p.add_argument("workload", choices=["lenet"], help="what to tune (LeNet on Fashion-MNIST)")
    _scheduler_options(p, d["scheduler"])
    _rung_options(p, d["max_t"], d["grace"], d["eta"], integer=True)
    p.add_argument("--workers", type=_positive_int, default=d["workers"],
                   help=f"trial actors, one GPU each when there are GPUs (default {d['workers']})")
    p.add_argument("--max-wallclock", type=_positive_float, default=None,
                   help="seconds (default 720, as d2l); with --resume: the new total budget")
    p.add_argument("--max-trials", type=_positive_int, default=None,
                   help="start at most this many trials (default: no limit); with --resume: the new total")
    p.add_argument("--n-train", type=_positive_int, default=None, help="train on a subset (default: all 60k)")
    p.add_argument("--n-test", type=_positive_int, default=None, help="validate on a subset (default: 10k)")
    p.add_argument("--data-dir", type=_path, default=None,
                   help="Fashion-MNIST folder (else RAYSHA_DATA, the torchvision cache, "
                        "/usr/share/datasets/fashion-mnist, download)")
    p.add_argument("--storage", type=_path, default=None,
                   help="experiments folder or s3:// / gs:// URI (default: the RAYSHA_STORAGE environment "
                        "variable, else ~/raysha_results)")
    p.add_argument("--name", type=_experiment_name, default=None,
                   help="experiment name: its folder under --storage (default raysha_<date>_<id>)")
    p.add_argument("--seed", type=_count, default=d["seed"], help="scheduler seed (default 0)")
    p.add_argument("--max-failures", type=_count, default=d["max_failures"],
                   help=f"retries of a trial whose worker dies or whose epoch raises (default {d['max_failures']})")
    p.add_argument("--quiet", action="store_true", help="no live progress table")
    p.add_argument("--resume", metavar="PATH", type=_path, default=None,
                   help="continue the experiment in folder PATH after a crash, a stop or Ctrl-C (its settings "
                        "come from the folder; --max-wallclock and --max-trials set new totals, --data-dir and "
                        "--quiet may be given); PATH may be a URI (s3://..., file:///...)")
    p.add_argument("--repair", action="store_true",
                   help="with --resume: drop results parts that are missing or unreadable and run again exactly "
                        "the trials' epochs they held (without it such an experiment is refused)")


def _run(args: argparse.Namespace) -> int:
    from raysha import runs

    if args.repair and not args.resume:
        raise CLIError("--repair goes with --resume PATH")
    if args.resume:
        given = [k for k, default in _RUN_DEFAULTS.items() if getattr(args, k) != default]
        if given:
            raise CLIError("--resume continues an experiment with its own settings; drop "
                           + ", ".join("--" + k.replace("_", "-") for k in given))
        try:
            exp = _experiment(lambda: runs.resume_lenet(args.resume, args.data_dir, verbose=0 if args.quiet else 1,
                                                        max_wallclock=args.max_wallclock, max_trials=args.max_trials,
                                                        repair=args.repair))
        except CLIError as e:
            raise CLIError(f"--resume {args.resume}: {e}") from None
        return _outcome(exp)
    _make_scheduler(args, dict(runs.D2L_SPACE, max_epochs=args.max_t), runs.METRIC, runs.MODE, args.max_trials,
                    max_resource_attr="max_epochs")      # checks the options; run_lenet builds its own
    if args.storage is None and os.environ.get("RAYSHA_STORAGE"):   # a RayJob passes it this way
        args.storage = _path(os.environ["RAYSHA_STORAGE"])
    _check_data_and_storage(args.data_dir, args.storage, "--storage")
    max_wallclock = 720 if args.max_wallclock is None else args.max_wallclock
    exp = _experiment(lambda: runs.run_lenet(
        args.scheduler, args.workers, max_wallclock, args.max_t, _num(args.grace), _num(args.eta), args.n_train,
        args.n_test, args.data_dir, args.storage, args.name, args.seed, args.max_trials,
        verbose=0 if args.quiet else 1, max_failures=args.max_failures,
        scheduler_options=_scheduler_extras(args, args.max_trials)))
    return _outcome(exp)


def _check_data_and_storage(data_dir: Optional[str], storage: Optional[str], option: str) -> None:
    if data_dir is not None and not os.path.isdir(os.path.expanduser(data_dir)):
        raise CLIError(f"--data-dir {data_dir}: no such folder")
    if storage is None:
        return
    from raysha.runtime.storage import Storage

    try:
        store = Storage(storage)
    except ValueError as e:
        raise CLIError(f"{option} {storage}: {e}") from None
    if store.local and store.scheme == "local":   # file:// and remote URIs are probed by the run itself
        _writable_folder(store.root, f"{option} {storage}")


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=_path, default="demo-results",
                   help="where the experiment folder goes (default demo-results)")
    p.add_argument("--data-dir", type=_path, default=None, help="Fashion-MNIST folder (as for run lenet)")
    p.add_argument("--quiet", action="store_true", help="no live progress table")


def _demo(args: argparse.Namespace) -> int:
    from datetime import datetime

    from raysha import runs

    _check_data_and_storage(args.data_dir, args.out, "--out")
    d = runs.DEMO
    print(f"raysha demo: ASHA (promotion) tuning LeNet on Fashion-MNIST on local Ray, {d['workers']} workers, "
          f"{d['max_wallclock']} s budget; shortened for a laptop CPU: {d['n_train']:,} training and "
          f"{d['n_test']:,} validation images, at most {d['max_epochs']} epochs ({runs.DEMO_RUNGS}). "
          f"`raysha run lenet` runs the full d2l setting.", flush=True)
    import ray

    if not ray.is_initialized():
        ray.init(num_cpus=max(2, os.cpu_count() or 2), include_dashboard=False, log_to_driver=False)
    name = datetime.now().strftime("demo_%Y-%m-%d_%H-%M-%S")
    return _outcome(_experiment(lambda: runs.run_lenet(
        storage=os.path.abspath(args.out), name=name, data_dir=args.data_dir, verbose=0 if args.quiet else 1, **d)))


def _experiment(fit: Callable):
    """Run `fit()`: raysha's errors of the user's making become `CLIError`, the others `ExperimentFailed`.

    Errors raised outside raysha (a bug, Ray itself) keep their traceback.
    """
    try:
        return fit()
    except Exception as e:
        if not type(e).__module__.startswith("raysha."):
            raise
        if isinstance(e, (ValueError, FileNotFoundError)):
            raise CLIError(_in_option_terms(str(e))) from None
        text = e.one_line() if hasattr(e, "one_line") else str(e)     # TrialFailedError: no traceback
        raise ExperimentFailed(f"the experiment failed: {type(e).__name__}: {text}") from None


def _outcome(exp) -> int:
    """Print the run's outcome; `Interrupted` after Ctrl-C, `ExperimentFailed` when it has no result."""
    from raysha import runs

    runs.print_outcome(exp, exp.path)
    if _sigint.seen:
        raise Interrupted(f"interrupted; the experiment is saved: continue it with "
                          f"raysha run lenet --resume {exp.path}")
    if exp.best() is None:
        raise ExperimentFailed(f"no trial reported a {runs.METRIC}; see {os.path.join(exp.path, 'errors')} "
                               f"for the trials' tracebacks")
    return 0


register("simulate", _simulate_args, _simulate,
         "simulate a scheduler on a synthetic objective (no Ray, simulated clock)")
register("preview", _preview_args, _preview,
         "what a scheduler configuration will do: trials per rung level, before running")
register("run", _run_args, _run, "tune a workload on Ray (LeNet on Fashion-MNIST, d2l's ASHA experiment)")
register("demo", _demo_args, _demo, "a short ASHA run of LeNet on Fashion-MNIST on local Ray, with plots")
from raysha import status as _status  # noqa: E402  (stdlib-only at import: --help stays fast)
register("status", _status.add_arguments, _status.handler, _status.HELP)


# -- the command ----------------------------------------------------------------

class Interrupted(Exception):
    """Ctrl-C ended the command after the experiment was saved: exit status 130."""


class _SigintFlag:
    """While active, Ctrl-C is noted (`seen`) and raised as usual (the Tuner stops and saves on it)."""

    def __init__(self):
        self.seen = False
        self._previous = None

    def _on_sigint(self, signum, frame):
        self.seen = True
        raise KeyboardInterrupt

    def __enter__(self):
        import threading

        self.seen = False
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None


_sigint = _SigintFlag()


def build_parser() -> argparse.ArgumentParser:
    from raysha import __version__

    parser = argparse.ArgumentParser(prog="raysha", allow_abbrev=False,
                                     description="Asynchronous successive halving (ASHA) and its family on Ray.")
    parser.add_argument("--version", action="version", version=f"raysha {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parser.subcommand_parsers = {}
    for name, (add_arguments, _, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text, allow_abbrev=False)
        add_arguments(p)
        parser.subcommand_parsers[name] = p
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status (argparse's own errors exit 2 through SystemExit)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:       # named by the subcommand's parser: "raysha simulate: error: unrecognized arguments"
        parser.subcommand_parsers.get(args.command, parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not args.command:
        parser.print_help()
        return EXIT_USAGE
    _, handler, _ = SUBCOMMANDS[args.command]
    prefix = f"raysha {args.command}"
    try:
        with _sigint:
            status = int(handler(args) or 0)
            sys.stdout.flush()
    except CLIError as e:
        print(f"{prefix}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except ExperimentFailed as e:
        print(f"{prefix}: {e}", file=sys.stderr)
        return EXIT_FAILED
    except (Interrupted, KeyboardInterrupt) as e:
        print(f"{prefix}: {str(e) or 'interrupted'}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _quiet_stdout()
        return EXIT_BROKEN_PIPE
    return EXIT_INTERRUPTED if _sigint.seen else status


def _quiet_stdout() -> None:
    """The reader went away: send what is still buffered to /dev/null, so exiting prints nothing more."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


if __name__ == "__main__":
    sys.exit(main())
