"""A trainable with a typo (KeyError in every trial) under a 15 s budget: without and with the failure policy.

Issue 14 measured, before the failure policy: ``trials: 5388 failed: 5388 rows: 0``,
5,388 files in ``errors/`` and `fit()` returning normally. This runs the same
trainable twice in one process on local Ray, side by side:

* ``no streak rule``: ``FailurePolicy(max_consecutive_failures=None)`` (what every run
  had before: failed trials never end the experiment; now `fit()` still raises at the
  end, because the experiment produced no result);
* ``default policy``: ``FailurePolicy()`` (5 failed trials in a row end it).

and prints, for each, how `fit()` ended, after how many seconds, how many trials
failed and how many error files were written.

Usage: python -m benchmarks.typo_trainable [--budget 15] [--workers 2] [--out FILE]
Writes benchmarks/results/typo_trainable.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "typo_trainable.json"


def typo(config):
    from raysha import report

    lr = config["learning_rate"]          # the space calls it "x"
    report(epoch=1, loss=lr)


def run_one(label: str, policy, budget: float, workers: int, root: str) -> dict:
    from raysha import ExperimentFailedError, Tuner
    from raysha.schedulers.fifo import RandomSearch
    from raysha.space import uniform
    from raysha.stop import StopCriterion

    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", mode="min", resource_attr="epoch", max_t=3)
    tuner = Tuner(typo, sched, n_workers=workers, stop=StopCriterion(max_wallclock_time=budget),
                  storage_path=root, name=label.replace(" ", "_"), verbose=0, failure_policy=policy)
    t0 = time.monotonic()
    try:
        tuner.fit()
        outcome = "returned"
    except ExperimentFailedError as e:
        outcome = f"raised {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    seconds = time.monotonic() - t0
    errors = os.path.join(tuner.folder, "errors")
    s = tuner.summary or {}
    return {"label": label, "policy": repr(policy), "outcome": outcome, "seconds": round(seconds, 2),
            "trials_failed": len(s.get("failed_trials") or []), "rows": s.get("n_results"),
            "error_files": len(os.listdir(errors)) if os.path.isdir(errors) else 0,
            "stop_reason": s.get("stop_reason")}


def main(argv=None) -> dict:
    import ray

    from raysha import FailurePolicy

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=15.0, help="max_wallclock_time of each run (s)")
    p.add_argument("--workers", type=int, default=2, help="trial actors")
    p.add_argument("--out", type=Path, default=OUT, help=f"the JSON file to write (default {OUT})")
    args = p.parse_args(argv)
    started = not ray.is_initialized()
    if started:
        ray.init(address="local", num_cpus=max(2, args.workers), include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    with tempfile.TemporaryDirectory() as root:
        rows = [run_one("no streak rule", FailurePolicy(max_consecutive_failures=None), args.budget, args.workers,
                        root),
                run_one("default policy", FailurePolicy(), args.budget, args.workers, root)]
    if started:
        ray.shutdown()
    for r in rows:
        print(f"{r['label']:>15}: {r['outcome']}; after {r['seconds']} s; {r['trials_failed']} trials failed, "
              f"{r['error_files']} error files, {r['rows']} rows; stop_reason: {r['stop_reason']}")
    out = {"budget_s": args.budget, "workers": args.workers, "machine": platform.node(),
           "cpus": os.cpu_count(), "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return out


if __name__ == "__main__":
    main()
