"""``raysha preview``: its arguments and its handler (the core's `preview` computes, this prints).

Scheduler names are the registry's (`raysha.schedulers.registry.names`), the
same as ``raysha run`` and ``raysha simulate`` take. Registered by
`raysha.cli`.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from raysha.schedulers import registry


def add_preview_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    names = registry.names()
    parser.add_argument("--scheduler", choices=names, default="asha",
                        help="; ".join(f"{n}: {registry.describe(n)}" for n in names))
    parser.add_argument("--max-t", type=float, required=True, help="maximum resource (e.g. epochs)")
    parser.add_argument("--grace", type=float, default=1, help="grace period: the first rung level")
    parser.add_argument("--eta", type=float, default=3, help="reduction factor η")
    parser.add_argument("--brackets", type=int, default=None,
                        help="brackets (hyperband, sync-hyperband; default: all)")
    parser.add_argument("--type", choices=("stopping", "promotion"), default=None,
                        help="ASHA/PASHA variant (default: the scheduler name's)")
    parser.add_argument("--trials", type=int, default=None, help="number of trials (max_trials)")
    parser.add_argument("--search-mode", choices=("aggressive", "standard", "conservative"),
                        default="standard", help="adaptive: which brackets")
    parser.add_argument("--divisor", type=float, default=4, help="adaptive: divisor")
    parser.add_argument("--max-rungs", type=int, default=5, help="adaptive: max rungs")
    parser.add_argument("--resource-attr", default="epoch", help="name of the resource")
    parser.add_argument("--json", action="store_true", help="print the preview as JSON")
    return parser


def _num(x: float):
    return int(x) if float(x).is_integer() else x


def build_scheduler(args: argparse.Namespace) -> Any:
    """The scheduler the arguments describe, over a one-parameter space (the preview ignores the space)."""
    from raysha.space import uniform

    extra: dict = {}
    if args.brackets is not None:
        extra["brackets"] = args.brackets
    if args.type is not None:
        extra["type"] = args.type
    if args.scheduler == "adaptive":
        extra.update(search_mode=args.search_mode, divisor=_num(args.divisor), max_rungs=args.max_rungs,
                     max_trials=args.trials or 100)
    return registry.make(args.scheduler, {"x": uniform(0, 1)}, "loss", "min", resource_attr=args.resource_attr,
                         max_t=_num(args.max_t), grace_period=_num(args.grace), reduction_factor=_num(args.eta),
                         **extra)


def preview_command(args: argparse.Namespace) -> int:
    """Handler for ``raysha preview``: print the preview; 0 on success, 2 on a bad configuration."""
    try:
        p = registry.preview(build_scheduler(args), max_trials=args.trials)
    except (ValueError, TypeError) as e:
        print(f"raysha preview: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(p.to_dict(), indent=2, default=str))
    else:
        print(p)
    return 0
