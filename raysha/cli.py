"""The ``raysha`` command.

Each subcommand is one entry in `SUBCOMMANDS`: name -> (add_arguments, handler,
help). Handlers import what they need inside, so ``raysha --help`` stays fast
and a subcommand that needs Ray or torch does not slow the others down. To add
one (``raysha run lenet``, ``raysha preview``...), write the two functions and
register them with `register`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Callable, Optional, Sequence

from raysha.schedulers.factory import SCHEDULERS, make_scheduler  # noqa: F401  (re-exported)


class CLIError(Exception):
    """A user error: printed as ``raysha: error: ...`` with exit status 2, no traceback."""


SUBCOMMANDS: dict[str, tuple[Callable, Callable, str]] = {}


def register(name: str, add_arguments: Callable[[argparse.ArgumentParser], None],
             handler: Callable[[argparse.Namespace], int], help: str = "") -> None:
    """Add (or replace) a subcommand: `handler(args)` returns the exit status."""
    SUBCOMMANDS[name] = (add_arguments, handler, help)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


# -- simulate -------------------------------------------------------------------

def _simulate_args(p: argparse.ArgumentParser) -> None:
    from raysha.objectives import OBJECTIVES

    p.add_argument("--scheduler", choices=SCHEDULERS, default="asha", help="which scheduler (default asha)")
    p.add_argument("--workers", type=_positive_int, default=4, help="simulated workers (default 4)")
    p.add_argument("--trials", type=_positive_int, default=100, help="trials to start at most (default 100)")
    p.add_argument("--max-time", type=_positive_float, default=None,
                   help="stop after this many simulated seconds")
    p.add_argument("--objective", choices=sorted(OBJECTIVES) + ["recorded"], default="straggler",
                   help="straggler (default: heavy-tailed epoch times), curves (smooth synthetic "
                        "learning curves), or recorded (replayed LeNet / Fashion-MNIST curves)")
    p.add_argument("--max-epochs", type=_positive_int, default=None,
                   help="largest resource level (default 27; the recording's length for recorded)")
    p.add_argument("--grace-period", type=_positive_float, default=1, help="first rung level (default 1)")
    p.add_argument("--reduction-factor", type=_positive_float, default=3, help="η (default 3)")
    p.add_argument("--seed", type=int, default=0, help="scheduler and objective seed (default 0)")
    p.add_argument("--out", default=None, help="experiment folder to write (results as parquet)")
    p.add_argument("--plot", action="store_true", help="also write learning_curves/best_so_far/timeline PNGs")
    p.add_argument("--record", choices=("all", "jobs", "none"), default="all",
                   help="keep every report (all), only job spans, or only the summary")


def _simulate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from raysha.objectives import OBJECTIVES
    from raysha.schedulers.base import SchedulerError
    from raysha.simulate import simulate
    from raysha.results import ResultsError
    from raysha.stop import StopCriterion

    if args.plot and not args.out:
        raise CLIError("--plot needs --out DIR (the PNGs go into the experiment folder)")
    if args.plot and args.record != "all":
        raise CLIError("--plot needs --record all (the plots draw every report)")
    if args.objective == "recorded":
        try:
            from raysha.workloads.recorded import RecordedObjective
            objective = RecordedObjective()
        except (ImportError, FileNotFoundError) as e:
            raise CLIError(f"the recorded LeNet objective is not available: {e}") from None
        space, metric, mode = dict(objective.space), "validation_error", "min"
        max_epochs = args.max_epochs or objective.max_epochs
        if max_epochs > objective.max_epochs:
            raise CLIError(f"--max-epochs {max_epochs}: the recording has {objective.max_epochs} epochs")
    else:
        cls, space, metric, mode = OBJECTIVES[args.objective]
        objective = cls(seed=args.seed)
        space = dict(space)
        max_epochs = args.max_epochs or 27
    space["max_epochs"] = max_epochs
    try:
        scheduler = make_scheduler(args.scheduler, space, metric, mode, "max_epochs",
                                   args.grace_period, args.reduction_factor, args.seed)
    except SchedulerError as e:
        raise CLIError(f"bad scheduler settings: {e}") from None
    stop = StopCriterion(max_trials=args.trials, max_wallclock_time=args.max_time)
    out = Path(args.out) if args.out else None
    try:
        exp = simulate(scheduler, objective, args.workers, stop, out=out, record=args.record,
                       name=f"sim-{args.scheduler}-{args.objective}-seed{args.seed}")
    except (ResultsError, ValueError) as e:
        raise CLIError(str(e)) from None
    s = exp.summary
    print(f"simulated {args.scheduler} on the {args.objective} objective with {args.workers} workers")
    print(f"  trials started   {s['n_trials']}")
    print(f"  reports          {s['n_results']}")
    print(f"  simulated time   {s['end_time']:.1f} s  (stopped: {s['stopped_by']})")
    bf = s.get("busy_fraction")
    print(f"  busy fraction    {bf:.1%}" if bf is not None else "  busy fraction    n/a")
    best = s.get("best")
    if best:
        cfg = ", ".join(f"{k}={_fmt(v)}" for k, v in (best["config"] or {}).items())
        print(f"  best {metric}  {best['value']:.4f}  (trial {best['trial_id']}, epoch {best['epoch']}, "
              f"t={best['tuner_time']:.1f} s)")
        print(f"  best config      {cfg}")
    print(f"  wall time        {s['wall_seconds']:.2f} s")
    if out:
        print(f"  results          {out}")
        if args.plot:
            for fn in ("learning_curves", "best_so_far", "timeline"):
                path = getattr(exp, f"plot_{fn}")(out / f"{fn}.png")
                print(f"  plot             {path}")
    return 0


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# -- run / demo (raysha.runs owns the arguments and the handlers) ------------------------

def _run_args(p: argparse.ArgumentParser) -> None:
    from raysha.runs import add_run_arguments
    add_run_arguments(p)


def _run(args: argparse.Namespace) -> int:
    from raysha.runs import run_command
    return run_command(args)


def _demo_args(p: argparse.ArgumentParser) -> None:
    from raysha.runs import add_demo_arguments
    add_demo_arguments(p)


def _demo(args: argparse.Namespace) -> int:
    from raysha.runs import demo_command
    return demo_command(args)


# -- preview (raysha.preview_cli owns the arguments and the handler) -----------

def _preview_args(p: argparse.ArgumentParser) -> None:
    from raysha.preview_cli import add_preview_arguments
    add_preview_arguments(p)


def _preview(args: argparse.Namespace) -> int:
    from raysha.preview_cli import preview_command
    return preview_command(args)


register("simulate", _simulate_args, _simulate,
         "simulate a scheduler on a synthetic objective (no Ray, simulated clock)")
register("preview", _preview_args, _preview,
         "what a scheduler configuration will do: trials per rung level, before running")
register("run", _run_args, _run, "tune a workload on Ray (LeNet on Fashion-MNIST, d2l's ASHA experiment)")
register("demo", _demo_args, _demo, "a short ASHA run of LeNet on Fashion-MNIST on local Ray, with plots")
from raysha import status as _status  # noqa: E402  (stdlib-only at import: --help stays fast)
register("status", _status.add_arguments, _status.handler, _status.HELP)


def build_parser() -> argparse.ArgumentParser:
    from raysha import __version__

    parser = argparse.ArgumentParser(
        prog="raysha", description="Asynchronous successive halving (ASHA) and its family on Ray.")
    parser.add_argument("--version", action="version", version=f"raysha {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (add_arguments, _, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point; returns the exit status (argparse errors exit 2 through SystemExit)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return 2
    _, handler, _ = SUBCOMMANDS[args.command]
    try:
        return int(handler(args) or 0)
    except CLIError as e:
        print(f"raysha {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
