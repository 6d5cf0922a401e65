"""The benchmark suite: ``python -m benchmarks`` (what ``make bench`` runs).

Runs each section in its own Python process (one section's failure, or Ray
session, does not touch the others), saves its JSON under
``benchmarks/results/``, then writes ``benchmarks/REPORT.md`` with tables and
PNG figures under ``benchmarks/figures/`` (`benchmarks.report`).

Sections, in order (default sizes fit ~15 minutes on a 2-core machine):

=============  ==========================================================================
overhead       N trials x 27 epochs, zero cost: raysha, Ray Tune, Optuna, Syne Tune (peers)
decision_cost  one ASHA decision: raysha vs Ray Tune's ASHAScheduler called directly
utilization    simulated 8/64/512 workers: busy fraction, time to target (sync vs async)
anytime        recorded LeNet curves, 10 seeds: best error vs simulated wall-clock
real_run       d2l's LeNet experiment on local Ray, shortened on CPU
scale          64 lightweight actors on the real runtime: trials/s, RSS to 10,000 trials
=============  ==========================================================================

Options: ``--quick`` (tiny sizes, for smoke tests; skips the real run),
``--full`` (N = 1,000 for every peer: Ray Tune alone takes about half an hour),
``--only a,b`` / ``--skip a,b``, ``--results-dir``, ``--figures-dir``,
``--report``, ``--no-report``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SECTIONS = ("overhead", "decision_cost", "utilization", "anytime", "real_run", "scale")
MODULES = {"overhead": "benchmarks.peers", "decision_cost": "benchmarks.decision_cost",
           "utilization": "benchmarks.utilization", "anytime": "benchmarks.anytime",
           "real_run": "benchmarks.real_run", "scale": "benchmarks.scale"}
RESULT_FILES = {"overhead": "peers.json", "decision_cost": "decision_cost.json",
                "utilization": "utilization.json", "anytime": "anytime.json",
                "real_run": "real_run.json", "scale": "scale.json"}
QUICK_ARGS = {
    "overhead": ["--sizes", "10", "--tools", "raysha,optuna"],
    "decision_cost": ["--sizes", "1000", "3000"],
    "utilization": ["--workers", "4", "16", "--seeds", "1", "--budget", "1200", "--target", "0.13"],
    "anytime": ["--seeds", "2"],
    "real_run": ["--budget", "15", "--n-train", "1000", "--n-test", "500"],
    "scale": ["--trials", "200", "--workers", "4"],
}
QUICK_SKIP = ("real_run", "scale")


def section_argv(name: str, args, results: Path, figures: Path) -> list[str]:
    argv = ["--out", str(results / RESULT_FILES[name])]
    if name in ("anytime", "real_run"):
        argv += ["--figures", str(figures)]
    if args.quick:
        argv += QUICK_ARGS[name]
    if name == "overhead" and args.full:
        argv += ["--full"]
    return argv


def machine() -> dict:
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "memory_gib": mem, "python": platform.python_version()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes (smoke test); skips real_run and scale")
    ap.add_argument("--full", action="store_true", help="N=1,000 for every peer (Ray Tune: ~30 min more)")
    ap.add_argument("--only", default=None, help=f"comma-separated sections ({','.join(SECTIONS)})")
    ap.add_argument("--skip", default="", help="comma-separated sections to leave out")
    ap.add_argument("--results-dir", default=str(HERE / "results"))
    ap.add_argument("--figures-dir", default=str(HERE / "figures"))
    ap.add_argument("--report", default=str(HERE / "REPORT.md"))
    ap.add_argument("--no-report", action="store_true")
    args = ap.parse_args(argv)

    chosen = [s for s in args.only.split(",") if s] if args.only else \
        [s for s in SECTIONS if not (args.quick and s in QUICK_SKIP)]
    bad = [s for s in chosen + [s for s in args.skip.split(",") if s] if s not in SECTIONS]
    if bad:
        ap.error(f"unknown section(s) {bad}; choose from {', '.join(SECTIONS)}")
    chosen = [s for s in chosen if s not in args.skip.split(",")]
    results, figures = Path(args.results_dir), Path(args.figures_dir)
    results.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)

    suite_path = results / "suite.json"
    try:  # keep the record of sections not rerun this time (--only)
        suite = json.loads(suite_path.read_text())
        if not isinstance(suite.get("sections"), dict):
            raise ValueError
    except (OSError, ValueError):
        suite = {"sections": {}}
    cmd = "python -m benchmarks" + ("" if argv is None and len(sys.argv) <= 1 else
                                    " " + shlex.join(sys.argv[1:] if argv is None else argv))
    suite.update({"command": cmd, "machine": machine(),
                  "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "quick": args.quick,
                  "full": args.full})
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    t_suite = time.perf_counter()
    failed = []
    for name in chosen:
        sargv = section_argv(name, args, results, figures)
        full_cmd = [sys.executable, "-m", MODULES[name]] + sargv
        shown = "python -m " + MODULES[name] + " " + shlex.join(
            [a for a in sargv if not a.startswith(str(results)) and not a.startswith(str(figures))
             and a not in ("--out", "--figures")])
        print(f"\n=== {name}: {shown.strip()}", flush=True)
        t = time.perf_counter()
        rc = subprocess.run(full_cmd, cwd=str(ROOT), env=env).returncode
        wall = time.perf_counter() - t
        print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {wall:.0f} s", flush=True)
        suite["sections"][name] = {"command": shown.strip(), "exit_code": rc, "wall_s": round(wall, 1),
                                   "finished": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                                   "result": RESULT_FILES[name], "quick": args.quick}
        if rc != 0:
            failed.append(name)
        suite_path.write_text(json.dumps(suite, indent=2) + "\n")
    suite["wall_s"] = round(time.perf_counter() - t_suite, 1)
    suite["ran"] = chosen
    suite["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    suite_path.write_text(json.dumps(suite, indent=2) + "\n")
    print(f"\nsuite: {len(chosen)} section(s) in {suite['wall_s']:.0f} s"
          + (f"; failed: {', '.join(failed)}" if failed else ""), flush=True)
    if not args.no_report:
        from benchmarks import report
        path = report.write_report(results, figures, Path(args.report))
        print(f"report: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
