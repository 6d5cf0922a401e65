"""Cost of a rung decision before and after the exact tie rules, measured side by side in one run.

The tie rules (`raysha.schedulers.rungs.Rung`: promotion ranks by (value,
arrival), stopping ranks a value after equal earlier ones) changed the hot
path of every ASHA decision: a promotion rung's order statistic now holds
(loss, arrival) pairs instead of floats. This loads the rung module as it was
before (``--ref``, read with ``git show``) next to the current one and times,
for rungs already holding N values:

* stopping: record a new trial's value and decide continue / stop;
* promotion: record a value, pause the trial, ask for the promotable trial
  and promote it when there is one.

Usage: python -m benchmarks.tie_rule_cost [--sizes 10000 100000 1000000] [--ref 8641b44]
Writes benchmarks/results/tie_rule_cost.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from raysha.schedulers import rungs as new_rungs

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "tie_rule_cost.json"


def load_old(ref: str):
    """The rungs module at git revision `ref`, imported under another name."""
    src = subprocess.run(["git", "show", f"{ref}:raysha/schedulers/rungs.py"], cwd=HERE.parent, check=True,
                         capture_output=True, text=True).stdout
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"raysha_rungs_{ref}.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location(f"raysha_rungs_{ref}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def stopping_cost(mod, prefill, stream) -> float:
    rung = mod.Rung(level=1, quantile=1 / 3)
    for t, v in enumerate(prefill):
        rung.add(t, v)
    base = len(prefill)
    t0 = time.perf_counter()
    for i, v in enumerate(stream):
        rung.add(base + i, v)
        rung.continues(v)
    return (time.perf_counter() - t0) / len(stream)


def promotion_cost(mod, prefill, stream) -> float:
    rung = mod.Rung(level=1, quantile=1 / 3, promotion=True)
    for t, v in enumerate(prefill):
        rung.add(t, v)
        rung.pause(t)
    base = len(prefill)
    t0 = time.perf_counter()
    for i, v in enumerate(stream):
        rung.add(base + i, v)
        rung.pause(base + i)
        tid = rung.promotable()
        if tid is not None:
            rung.unpause(tid)
    return (time.perf_counter() - t0) / len(stream)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--stream", type=int, default=50_000, help="decisions timed per cell")
    ap.add_argument("--ref", default="8641b44", help="git revision of the rules before (default: before the change)")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many timings per cell")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    old = load_old(args.ref)
    rng = np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        prefill = [float(v) for v in np.round(rng.random(n), 3)]  # rounded: ties occur, as on real metrics
        stream = [float(v) for v in np.round(rng.random(args.stream), 3)]
        row = {"values_in_rung": n}
        for rule, fn in (("stopping", stopping_cost), ("promotion", promotion_cost)):
            for label, mod in (("before", old), ("after", new_rungs)):  # interleaved, best of repeats
                row[f"{rule}_{label}_us"] = min(fn(mod, prefill, stream) for _ in range(args.repeats)) * 1e6
            row[f"{rule}_after_over_before"] = row[f"{rule}_after_us"] / row[f"{rule}_before_us"]
        rows.append(row)
        print(f"{n:>9,} values: stopping {row['stopping_before_us']:.2f} -> {row['stopping_after_us']:.2f} µs "
              f"(x{row['stopping_after_over_before']:.2f}); promotion {row['promotion_before_us']:.2f} -> "
              f"{row['promotion_after_us']:.2f} µs (x{row['promotion_after_over_before']:.2f})", flush=True)
    out = {"benchmark": "tie_rule_cost", "before_ref": args.ref, "stream": args.stream, "repeats": args.repeats,
           "rows": rows, "machine": platform.platform(), "cpu_count": os.cpu_count(),
           "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"saved {args.out}")
    return out


if __name__ == "__main__":
    main()
