"""Searchers compared on closed-form noisy multi-fidelity functions: median regret over seeds.

ASHA (promotion, grace period 1, η 3, 27 epochs of 1 simulated second) with
``--workers`` simulated workers runs for ``--budget`` simulated seconds once per
seed and searcher, on two objectives with a known optimum:

* ``quadratic``: 4-d bowl, optimum 0 at x = (0.3, ..., 0.3), plus a
  configuration-dependent 1/epoch term (low fidelities mislead a little) and
  uniform noise of width 0.02 (the objective of ``tests/searchers``);
* ``branin``: the multi-fidelity Branin of Kandasamy et al. (2017, BOCA):
  fidelity z = epoch / 27 shifts b, c and t away from Branin's constants,
  z = 1 is Branin itself (minimum 0.397887), plus Gaussian noise of sd 0.5.

Regret: the true (noise-free, full-fidelity) value of the incumbent, the
configuration with the best reported value at the top rung so far, minus the
optimum; reported at ``GRID`` points of the budget. Prints median and IQR per
searcher and objective, the time each searcher needs to reach random search's
final median regret, and saves ``benchmarks/results/searchers_quadratic.json``.

Usage: python benchmarks/searchers_quadratic.py [--seeds 10] [--budget 1200] [--workers 4]
       [--searchers random kde optuna-tpe] [--objectives quadratic branin]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import numpy as np

from raysha.objectives import _mix, config_code
from raysha.schedulers import ASHA
from raysha.simulate import simulate
from raysha.space import uniform
from raysha.stop import StopCriterion

MAX_T = 27
GRID = 12


class NoisyQuadratic:
    """loss(epoch) = quadratic + a config-dependent 1/epoch term + uniform noise; 1 s per epoch."""

    names = ("x0", "x1", "x2", "x3")
    space = {name: uniform(0.0, 1.0) for name in names} | {"max_epochs": MAX_T}
    optimum = 0.0

    def __init__(self, seed: int = 0, noise: float = 0.02):
        self.seed, self.noise = seed, noise

    def with_seed(self, seed: int):
        return type(self)(seed, self.noise)

    def true_loss(self, config) -> float:
        return sum((config[n] - 0.3) ** 2 for n in self.names)

    def __call__(self, config, epoch: int) -> dict:
        u = _mix(config_code(config, self.names, self.seed) + 0.6180339 * epoch)
        value = self.true_loss(config) + (0.2 + 0.3 * config["x0"]) / epoch + self.noise * (u - 0.5)
        return {"loss": value, "time": 1.0}


class NoisyBranin(NoisyQuadratic):
    """Kandasamy et al.'s multi-fidelity Branin on [-5, 10] x [0, 15], fidelity z = epoch / 27, noise sd 0.5."""

    names = ("x1", "x2")
    space = {"x1": uniform(-5.0, 10.0), "x2": uniform(0.0, 15.0), "max_epochs": MAX_T}
    optimum = 0.397887

    def __init__(self, seed: int = 0, noise: float = 0.5):
        super().__init__(seed, noise)

    @staticmethod
    def branin(x1: float, x2: float, z: float = 1.0) -> float:
        b = 5.1 / (4 * math.pi ** 2) - 0.01 * (1 - z)
        c = 5 / math.pi - 0.1 * (1 - z)
        t = 1 / (8 * math.pi) + 0.05 * (1 - z)
        return (x2 - b * x1 ** 2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10

    def true_loss(self, config) -> float:
        return self.branin(config["x1"], config["x2"])

    def __call__(self, config, epoch: int) -> dict:
        code = config_code(config, self.names, self.seed) + 0.6180339 * epoch
        u1, u2 = _mix(code), _mix(code + 0.5)
        gauss = math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)
        return {"loss": self.branin(config["x1"], config["x2"], epoch / MAX_T) + self.noise * gauss,
                "time": 1.0}


OBJECTIVES = {"quadratic": NoisyQuadratic, "branin": NoisyBranin}


def anytime_regret(exp, objective, grid: np.ndarray) -> list:
    """Regret of the incumbent (best reported value at MAX_T so far) at each time of `grid`."""
    res = exp.results
    top = res[res["epoch"] >= MAX_T].sort_values("tuner_time")
    out, best, regret, i = [], math.inf, math.inf, 0
    rows = top[["tuner_time", "loss"] + [f"config_{n}" for n in objective.names]].to_numpy()
    for t in grid:
        while i < len(rows) and rows[i][0] <= t:
            if rows[i][1] < best:
                best = rows[i][1]
                config = dict(zip(objective.names, rows[i][2:]))
                regret = objective.true_loss(config) - objective.optimum
            i += 1
        out.append(regret)
    return out


def run(objective_name: str, searcher: str, seed: int, budget: float, workers: int) -> dict:
    objective = OBJECTIVES[objective_name](seed)
    sched = ASHA(objective.space, metric="loss", mode="min", max_resource_attr="max_epochs", grace_period=1,
                 reduction_factor=3, type="promotion", random_seed=seed, searcher=searcher)
    t0 = time.perf_counter()
    exp = simulate(sched, objective, n_workers=workers, stop=StopCriterion(max_wallclock_time=budget))
    grid = np.linspace(budget / GRID, budget, GRID)
    return {"objective": objective_name, "searcher": searcher, "seed": seed,
            "trials": int(exp.results["trial_id"].nunique()), "compute_s": time.perf_counter() - t0,
            "regret": anytime_regret(exp, objective, grid)}


def summarize(runs: list, budget: float) -> list:
    grid = np.linspace(budget / GRID, budget, GRID)
    out = []
    for obj in dict.fromkeys(r["objective"] for r in runs):
        cells = {s: np.array([r["regret"] for r in runs if r["objective"] == obj and r["searcher"] == s])
                 for s in dict.fromkeys(r["searcher"] for r in runs if r["objective"] == obj)}
        target = float(np.median(cells["random"][:, -1])) if "random" in cells else None
        for s, m in cells.items():
            med = np.median(m, axis=0)
            reach = next((float(t) for t, v in zip(grid, med) if target is not None and v <= target), None)
            out.append({"objective": obj, "searcher": s, "median_regret": float(med[-1]),
                        "iqr": [float(np.percentile(m[:, -1], 25)), float(np.percentile(m[:, -1], 75))],
                        "median_curve": [float(v) for v in med],
                        "time_to_random_final_s": reach,
                        "compute_s_per_run": float(np.mean([r["compute_s"] for r in runs
                                                            if r["objective"] == obj and r["searcher"] == s]))})
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--budget", type=float, default=1200.0, help="simulated seconds per run")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--searchers", nargs="+", default=["random", "kde", "optuna-tpe"])
    ap.add_argument("--objectives", nargs="+", choices=sorted(OBJECTIVES), default=["quadratic", "branin"])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "searchers_quadratic.json"))
    args = ap.parse_args(argv)

    runs = [run(o, s, seed, args.budget, args.workers)
            for o in args.objectives for s in args.searchers for seed in range(args.seeds)]
    summary = summarize(runs, args.budget)
    print(f"ASHA promotion, eta 3, {MAX_T} epochs x 1 s, {args.workers} workers, {args.budget:g} simulated s, "
          f"{args.seeds} seeds")
    print(f"{'objective':10} {'searcher':12} {'median regret':>14} {'IQR':>22} {'reaches random':>15} "
          f"{'cpu s/run':>9}")
    for c in summary:
        reach = "-" if c["time_to_random_final_s"] is None else f"{c['time_to_random_final_s']:.0f} s"
        print(f"{c['objective']:10} {c['searcher']:12} {c['median_regret']:14.5f} "
              f"[{c['iqr'][0]:9.5f}, {c['iqr'][1]:9.5f}] {reach:>15} {c['compute_s_per_run']:9.2f}")
    out = {"benchmark": "searchers_quadratic", "settings": {**vars(args), "max_t": MAX_T, "grid_points": GRID,
                                                             "scheduler": "ASHA promotion, grace 1, eta 3"},
           "machine": platform.platform(), "python": platform.python_version(),
           "summary": summary, "runs": runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))
    print(f"saved {args.out}")
    return out


if __name__ == "__main__":
    main()
