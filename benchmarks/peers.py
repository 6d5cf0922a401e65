"""Overhead against peers: N trials x 27 reported epochs of a zero-cost objective, side by side.

Every tool runs the same workload in the same process run (so the ratios are
measured side by side, on the same load of this shared machine):

* a zero-cost objective ``loss = x + 1/epoch`` (x ~ uniform(0, 1)) reporting
  up to 27 epochs, ASHA stopping (grace period 1, η 3, max 27), 2 workers,
  N trials;
* **raysha** on local Ray (``ray.init(num_cpus=2)``, 2 trial actors): the same
  code path as ``benchmarks/overhead.py`` (its ``zero_cost`` trainable), with N
  as a parameter;
* **Ray Tune** 2.60 ``ASHAScheduler`` (``max_concurrent_trials=2``) in the same
  Ray session (``overhead.tune_zero_cost``);
* **Optuna** in-process (no Ray): ``SuccessiveHalvingPruner(min_resource=1,
  reduction_factor=3)``, ``RandomSampler``, ``study.optimize(..., n_jobs=2)``,
  the objective calls ``trial.report`` / ``should_prune`` each of 27 steps;
* **Syne Tune** ``LocalBackend`` (one subprocess per trial) with its ASHA
  baseline, run from its own virtual environment when it is not importable here
  (``--synetune-python``, or ``~/.cache/raysha-bench/synetune/bin/python``;
  ``python -m benchmarks.peers --install-synetune`` creates that one).

A peer that is not installed is skipped with a note; nothing is faked.

Per tool and N: wall seconds (start of the tool's run to its return; Ray's own
start-up, ``ray.init``, is measured once and not counted), reports, reports/s,
overhead per trial (wall / N), and the ratio peer wall / raysha wall.
N = 100 runs for all tools. N = 1,000 runs for raysha and Optuna by default;
Ray Tune (about 2 s per trial here: half an hour) and Syne Tune (a process per
trial) only with ``--full``.

Usage::

    python -m benchmarks.peers [--sizes 100 1000] [--full] [--tools raysha,raytune,optuna,synetune]

Writes ``benchmarks/results/peers.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "peers.json"
EPOCHS = 27
TOOLS = ("raysha", "raytune", "optuna", "synetune")
# sizes every tool runs by default; larger ones only for the fast tools unless --full
SLOW_TOOLS = ("raytune", "synetune")
DEFAULT_SYNETUNE_VENV = Path.home() / ".cache" / "raysha-bench" / "synetune"


def _row(wall: float, n: int, trials: int, reports: int, **extra) -> dict:
    return {"n": n, "wall_s": round(wall, 3), "trials": trials, "reports": reports,
            "reports_per_s": round(reports / wall, 1) if wall > 0 else None,
            "overhead_ms_per_trial": round(1000 * wall / n, 2), **extra}


# -- raysha ------------------------------------------------------------------------------

def run_raysha(n: int, root: str) -> dict:
    from benchmarks.overhead import zero_cost
    from raysha.runtime.tuner import Tuner
    from raysha.schedulers.asha import ASHA
    from raysha.space import uniform
    from raysha.stop import StopCriterion

    sched = ASHA({"x": uniform(0, 1), "max_epochs": EPOCHS}, metric="loss", mode="min",
                 resource_attr="epoch", max_resource_attr="max_epochs", grace_period=1,
                 reduction_factor=3, type="stopping", random_seed=0)
    t0 = time.perf_counter()
    tuner = Tuner(zero_cost, sched, n_workers=2, stop=StopCriterion(max_trials=n),
                  storage_path=root, name=f"raysha_{n}", verbose=0)
    exp = tuner.fit()
    wall = time.perf_counter() - t0
    s = tuner.summary or {}
    startup = s.get("startup_s") or 0.0
    return _row(wall, n, int(exp.results["trial_id"].nunique()), len(exp.results),
                actor_startup_s=round(startup, 3),
                run_loop_s=round((s.get("elapsed") or wall) - startup, 3))


# -- Ray Tune ----------------------------------------------------------------------------

def run_raytune(n: int, root: str) -> dict:
    from ray.tune.schedulers import ASHAScheduler

    from benchmarks.overhead import raytune_zero_cost

    scheduler = ASHAScheduler(time_attr="epoch", max_t=EPOCHS, grace_period=1, reduction_factor=3)
    wall, n_done, reports = raytune_zero_cost(n, EPOCHS, scheduler, root, f"raytune_{n}")
    return _row(wall, n, n_done, reports)


# -- Optuna ------------------------------------------------------------------------------

def run_optuna(n: int) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    reports: list = []
    pruned: list = []

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        loss = None
        for epoch in range(1, EPOCHS + 1):
            loss = x + 1.0 / epoch
            trial.report(loss, epoch)
            reports.append(1)
            if trial.should_prune():
                pruned.append(1)
                raise optuna.TrialPruned()
        return loss

    t0 = time.perf_counter()
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.RandomSampler(seed=0),
                                pruner=optuna.pruners.SuccessiveHalvingPruner(min_resource=1,
                                                                              reduction_factor=3))
    study.optimize(objective, n_trials=n, n_jobs=2)
    wall = time.perf_counter() - t0
    return _row(wall, n, len(study.trials), len(reports), pruned=len(pruned), version=optuna.__version__)


# -- Syne Tune ---------------------------------------------------------------------------

SYNETUNE_SCRIPT = textwrap.dedent("""\
    import argparse
    from syne_tune import Reporter
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float)
    p.add_argument("--max_epochs", type=int)
    a, _ = p.parse_known_args()
    report = Reporter()
    for epoch in range(1, a.max_epochs + 1):
        report(epoch=epoch, loss=a.x + 1.0 / epoch)
""")


def synetune_child(n: int, root: str) -> dict:
    """Runs inside the Python that has Syne Tune (no raysha import): one tuning run, a JSON row."""
    import logging

    logging.getLogger("syne_tune").setLevel(logging.WARNING)
    os.environ["SYNETUNE_FOLDER"] = root
    import syne_tune
    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend import LocalBackend
    from syne_tune.config_space import uniform
    from syne_tune.optimizer.baselines import ASHA

    script = Path(root) / "zero_cost_synetune.py"
    script.write_text(SYNETUNE_SCRIPT)
    sched = ASHA({"x": uniform(0.0, 1.0), "max_epochs": EPOCHS}, metric="loss", time_attr="epoch",
                 max_t=EPOCHS, do_minimize=True, random_seed=0, grace_period=1, reduction_factor=3)
    t0 = time.perf_counter()
    tuner = Tuner(trial_backend=LocalBackend(entry_point=str(script)), scheduler=sched,
                  stop_criterion=StoppingCriterion(max_num_trials_finished=n - 1), n_workers=2,
                  sleep_time=0.05, results_update_interval=3600, print_update_interval=3600,
                  save_tuner=False, tuner_name=f"synetune-{n}", suffix_tuner_name=True)
    tuner.run()
    wall = time.perf_counter() - t0
    st = tuner.tuning_status
    return _row(wall, n, int(st.num_trials_started), int(st.overall_metric_statistics.count),
                finished=int(st.num_trials_finished), version=syne_tune.__version__,
                settings="LocalBackend, ASHA baseline, sleep_time 0.05 s, stop at N finished")


def synetune_python(explicit: str | None = None) -> str | None:
    """A Python that can import syne_tune: this one, --synetune-python, or the default side venv."""
    try:
        import syne_tune  # noqa: F401
        return sys.executable
    except ImportError:
        pass
    for cand in (explicit, os.environ.get("RAYSHA_SYNETUNE_PYTHON"), str(DEFAULT_SYNETUNE_VENV / "bin" / "python")):
        if cand and Path(cand).exists():
            r = subprocess.run([cand, "-c", "import syne_tune"], capture_output=True)
            if r.returncode == 0:
                return cand
    return None


def run_synetune(n: int, root: str, python: str, timeout: float) -> dict:
    folder = tempfile.mkdtemp(prefix="synetune_", dir=root)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    cmd = [python, "-m", "benchmarks.peers", "--synetune-child", str(n), folder]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=str(HERE.parent))
    if r.returncode != 0:
        raise RuntimeError(f"Syne Tune run failed (rc {r.returncode}): {r.stderr[-2000:]}")
    line = [x for x in r.stdout.splitlines() if x.startswith("{")][-1]
    return json.loads(line)


def install_synetune() -> str:
    venv = DEFAULT_SYNETUNE_VENV
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "syne-tune"], check=True)
    return str(venv / "bin" / "python")


# -- suite -------------------------------------------------------------------------------

def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--full", action="store_true", help="run the slow peers (Ray Tune, Syne Tune) at every size")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--synetune-python", default=None)
    ap.add_argument("--synetune-child", nargs=2, metavar=("N", "ROOT"), help=argparse.SUPPRESS)
    ap.add_argument("--install-synetune", action="store_true",
                    help=f"create {DEFAULT_SYNETUNE_VENV} with syne-tune and exit")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    if args.synetune_child:
        print(json.dumps(synetune_child(int(args.synetune_child[0]), args.synetune_child[1])), flush=True)
        return {}
    if args.install_synetune:
        print(install_synetune())
        return {}
    tools = [t for t in args.tools.split(",") if t]
    small = min(args.sizes)

    os.environ.setdefault("RAY_DEDUP_LOGS", "1")
    import ray

    out: dict = {"benchmark": "peers", "workload": f"N trials x {EPOCHS} epochs, zero-cost, ASHA stopping, "
                 f"grace 1, eta 3, 2 workers", "sizes": args.sizes, "full": args.full,
                 "machine": platform.platform(), "cpu_count": os.cpu_count(),
                 "python": platform.python_version(), "ray": ray.__version__,
                 "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
                 "tools": {}, "skipped": {}, "ratios": {}}
    root = tempfile.mkdtemp(prefix="raysha_peers_")
    t = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    out["ray_init_s"] = round(time.perf_counter() - t, 2)
    print(f"ray.init: {out['ray_init_s']:.2f} s (not counted)", flush=True)

    st_python = None
    if "synetune" in tools:
        st_python = synetune_python(args.synetune_python)
        if st_python is None:
            out["skipped"]["synetune"] = ("Syne Tune is not installed (not importable here, no side venv at "
                                          f"{DEFAULT_SYNETUNE_VENV}); `python -m benchmarks.peers "
                                          "--install-synetune` creates it")
        else:
            out["synetune_python"] = st_python
    if "raytune" in tools:
        try:
            from ray.tune.schedulers import ASHAScheduler  # noqa: F401
        except ImportError as e:
            out["skipped"]["raytune"] = f"Ray Tune is not installed ({e}); pip install 'ray[tune]==2.60.0'"
    if "optuna" in tools:
        try:
            import optuna  # noqa: F401
        except ImportError as e:
            out["skipped"]["optuna"] = f"Optuna is not installed ({e}); pip install optuna"

    runners = {
        "raysha": lambda n: run_raysha(n, root),
        "raytune": lambda n: run_raytune(n, root),
        "optuna": run_optuna,
        "synetune": lambda n: run_synetune(n, root, st_python, timeout=max(600, 6 * n)),
    }
    for n in args.sizes:
        for tool in tools:
            if tool in out["skipped"]:
                continue
            if tool in SLOW_TOOLS and n > small and not args.full:
                out["skipped"].setdefault(f"{tool}@{n}", f"N={n} only with --full (too slow for the default suite)")
                continue
            try:
                r = runners[tool](n)
            except Exception as e:  # a peer that breaks is reported, never replaced by a guess
                out["skipped"][f"{tool}@{n}"] = f"failed: {e!r}"[:1500]
                print(f"{tool:>8} N={n}: FAILED {e!r}"[:400], flush=True)
                continue
            out["tools"].setdefault(tool, {})[str(n)] = r
            print(f"{tool:>8} N={n:>5}: {r['wall_s']:8.2f} s wall, {r['trials']} trials, {r['reports']} reports, "
                  f"{r['reports_per_s']:.0f} reports/s, {r['overhead_ms_per_trial']:.1f} ms/trial", flush=True)
        base = out["tools"].get("raysha", {}).get(str(n))
        if base:
            for tool, rows in out["tools"].items():
                if tool != "raysha" and str(n) in rows:
                    ratio = rows[str(n)]["wall_s"] / base["wall_s"]
                    out["ratios"][f"{tool}/raysha@{n}"] = round(ratio, 3)
                    print(f"   wall {tool}/raysha at N={n}: {ratio:.2f}x", flush=True)
    ray.shutdown()
    shutil.rmtree(root, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"saved {args.out}")
    return out


if __name__ == "__main__":
    main()
