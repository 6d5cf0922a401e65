"""Search quality: any-time regret against simulated wall-clock, raysha's searchers against peers.

Three multi-fidelity problems with a known optimum (``--problems``):

* ``lenet``: the recorded LeNet / Fashion-MNIST curves
  (`raysha.workloads.recorded.RecordedObjective`: 65 real configurations x 10
  epochs, real epoch times); d2l's space (learning_rate loguniform(1e-2, 1),
  batch_size randint(32, 256)); a configuration answers with its nearest
  recorded curve, so the optimum is the best recorded error after 10 epochs.
* ``mf-hartmann6``, ``mf-branin``: the closed-form multi-fidelity functions of
  Kandasamy et al. (2017, BOCA) (`raysha.objectives.MFHartmann6`,
  `raysha.objectives.MFBranin`), 27 epochs, fidelity ``epoch / 27``, 1 s per
  epoch, Gaussian observation noise (sd 0.05 and 0.5: about 1.5 % and 0.2 % of
  each function's range), a new noise stream per seed.

Regret (BOCA's simple regret) at time t is the noise-free full-fidelity loss of
the best configuration any trial evaluated at the largest resource by t, minus
the optimum; it is undefined (shown as missing) until the first trial reaches
the largest resource. Every method runs with the same worker count
(``--workers``, 8), the same simulated-time budget (``--budget-trials`` median
full trials per worker) and the same rungs (grace period 1, eta 3), over
``--seeds`` seeds (default 20):

* raysha (this process, `raysha.simulate`): ``asha`` (stopping) and
  ``hyperband`` (asynchronous, stopping), each with searcher ``random``,
  ``kde`` (BOHB's model), ``gp`` (MOBSTER's model) and ``optuna-tpe``;
* Optuna 5 (this process): ``TPESampler(constant_liar=True)`` with
  ``HyperbandPruner``, driven through ask-and-tell by the same discrete-event
  loop of ``--workers`` simulated workers (a trial reports every epoch, the
  pruner decides at each report);
* Syne Tune 0.13 (its simulator: ``UserBlackboxBackend`` + ``SimulatorCallback``):
  ``BOHB`` and ``MOBSTER`` (stopping type; ``HyperTune`` with ``--methods``),
  MOBSTER's GP made cheaper than Syne Tune's defaults (`SYNETUNE_SEARCH_OPTIONS`).
  Syne Tune 0.14+ dropped MOBSTER and Hyper-Tune, so this runs from its own
  venv (``--install-peers`` creates ``~/.cache/raysha-bench/synetune-0.13``);
* DEHB (pip ``dehb`` 0.1, its own venv ``~/.cache/raysha-bench/dehb``) through
  its ask-and-tell API in the same simulated-worker loop; a DEHB job trains from
  scratch to its fidelity (DEHB does not continue trials).

A peer whose Python is missing is skipped and named in the JSON; nothing is
faked. raysha and DEHB repeat exactly for a seed; Optuna's HyperbandPruner
assigns brackets by hashing the study's (random) name and Syne Tune's runs are
not bit-for-bit repeatable either, so their medians move between runs (Branin,
two runs: Optuna 0.068 and 0.031; Hartmann-6: BOHB 0.54 and 0.64).

Reported per problem and method: final regret (median and IQR over seeds; the
lower median of an even count, a seed with no full-fidelity result counted as
worst), the median regret curve, trials started, CPU seconds. The goal checks:
(1) the best model-based raysha method's median curve reaches random-search
ASHA's final median regret within a third of the budget; (2) its final median
regret is at most the best peer's.

Usage::

    OPENBLAS_NUM_THREADS=1 nice python -m benchmarks.search_quality [--seeds 20] [--problems lenet mf-branin]
    nice python -m benchmarks.search_quality --quick        # 2 seeds, small budget: search_quality_quick.*
    python -m benchmarks.search_quality --install-peers     # the peers' venvs (PyPI)

Writes ``benchmarks/results/search_quality.json`` and ``benchmarks/figures/search_quality.png``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "search_quality.json"
FIGURE = HERE / "figures" / "search_quality.png"
CACHE = Path.home() / ".cache" / "raysha-bench"
VENVS = {"synetune": CACHE / "synetune-0.13", "dehb": CACHE / "dehb"}
PIP = {"synetune": ["syne-tune==0.13.0", "numpy<1.24", "scipy", "autograd", "statsmodels", "scikit-learn",
                    "fastparquet", "pyarrow<16"],
       "dehb": ["dehb", "pandas", "pyarrow>=16.1,<18"]}   # numpy 1.26 (dehb's pin) needs pyarrow < 18
PROBLEMS = ("lenet", "mf-hartmann6", "mf-branin")
RAYSHA = tuple(f"{k}+{s}" for k in ("asha", "hyperband") for s in ("random", "kde", "gp", "optuna-tpe"))
PEERS = {"optuna-tpe-hyperband": "optuna", "synetune-bohb": "synetune", "synetune-mobster": "synetune",
         "synetune-hypertune": "synetune", "dehb": "dehb"}
METHODS = RAYSHA + tuple(PEERS)
#: the default run leaves Hyper-Tune out (``--methods`` adds it): one GP peer costs ~7 CPU s a seed here
DEFAULT_METHODS = tuple(m for m in METHODS if m != "synetune-hypertune")
#: MOBSTER / Hyper-Tune with a cheaper GP than Syne Tune's defaults, which keeps 20 seeds affordable
#: on 2 cores (35 -> 7 CPU s a run): hyperparameters refit every 10th decision after the first 20
#: points (default: every decision after 150), no local optimisation of the acquisition, 50 initial
#: candidates (default 250), at most 200 data points in the model (default 500)
SYNETUNE_SEARCH_OPTIONS = {"debug_log": False, "opt_skip_init_length": 20, "opt_skip_period": 10,
                           "num_init_candidates": 50, "max_size_data_for_model": 200,
                           "skip_local_optimization": True}
NOISE = {"mf-hartmann6": 0.05, "mf-branin": 0.5}
GRACE, ETA = 1, 3
GRID_POINTS = 100


# -- problems ---------------------------------------------------------------------------

class Problem:
    """One benchmark: objective(config, epoch), space, metric, largest resource, regret of a config.

    >>> p = Problem("mf-branin", seed=0)
    >>> p.max_t, p.metric, round(p.regret({"x1": 3.14159265, "x2": 2.275}), 6)
    (27, 'loss', 0.0)
    """

    def __init__(self, name: str, seed: int = 0):
        self.name, self.seed = name, seed
        if name == "lenet":
            from raysha.workloads.recorded import RecordedObjective
            self.objective = RecordedObjective()
            self.metric, self.max_t = "validation_error", self.objective.max_epochs
            curves = self.objective.curves
            self.optimum = float(curves[curves["epoch"] == self.max_t][self.metric].min())
            self._value = lambda c: self.objective(c, self.max_t)[self.metric]
        else:
            from raysha.objectives import OBJECTIVES
            cls = OBJECTIVES[name][0]
            self.objective = cls(seed=seed, noise=NOISE[name])
            self.metric, self.max_t, self.optimum = "loss", self.objective.max_epochs, cls.optimum
            self._value = self.objective.value
        self.space = dict(self.objective.space, max_epochs=self.max_t)

    def regret(self, config) -> float:
        return float(self._value(config)) - self.optimum

    def spec(self) -> list:
        """The space as JSON-able (name, kind, low, high, log) rows, for the peers' own space types."""
        from raysha import space as sp
        rows = []
        for name, dom in self.space.items():
            if isinstance(dom, sp.Domain):
                rows.append([name, "int" if dom.integer else "float", dom.lower, dom.upper, bool(dom.log)])
        return rows

    def rank_correlation(self, epoch: int = GRACE, n: int = 500) -> float:
        """Spearman correlation of the loss at `epoch` with the noise-free full-fidelity loss (random configs)."""
        from raysha.space import sample_config
        rng = np.random.default_rng(54321)
        configs = [sample_config(self.space, rng) for _ in range(n)]
        low = np.array([self.objective(c, epoch)[self.metric] for c in configs])
        full = np.array([self.regret(c) for c in configs])
        rank = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable")  # noqa: E731
        return float(np.corrcoef(rank(low), rank(full))[0, 1])

    def full_trial_time(self, n: int = 200) -> float:
        """Median simulated seconds of one trial run to the largest resource."""
        from raysha.space import sample_config
        rng = np.random.default_rng(12345)
        return float(np.median([sum(self.objective(c, e)["time"] for e in range(1, self.max_t + 1))
                                for c in (sample_config(self.space, rng) for _ in range(n))]))


def _config(spec, draw) -> dict:
    return {name: draw(name, kind, low, high, log) for name, kind, low, high, log in spec}


# -- runners: each returns {"full": [[time, config], ...], "trials": n, "reports": m} ---------------

def run_raysha(problem: Problem, method: str, seed: int, workers: int, budget: float) -> dict:
    from raysha.schedulers import registry
    from raysha.simulate import simulate
    from raysha.stop import StopCriterion

    kind, searcher = method.split("+")
    sched = registry.make(kind, dict(problem.space), problem.metric, "min", max_resource_attr="max_epochs",
                          grace_period=GRACE, reduction_factor=ETA, seed=seed, searcher=searcher)
    exp = simulate(sched, problem.objective, workers, StopCriterion(max_wallclock_time=budget))
    return _from_rows(exp.results, "tuner_time", problem, budget)


def _from_rows(df, time_col: str, problem: Problem, budget: float) -> dict:
    """A runner's result from a results table (one row per report, ``config_<name>`` columns)."""
    names = [n for n, *_ in problem.spec()]
    full = df[(df["epoch"] == problem.max_t) & (df[time_col] <= budget)]
    configs = full[[f"config_{n}" for n in names]].to_dict("records")
    return {"full": [[float(t), {n: c[f"config_{n}"] for n in names}] for t, c in zip(full[time_col], configs)],
            "trials": int(df["trial_id"].nunique()), "reports": int(len(df))}


class _Workers:
    """The discrete-event loop the ask-and-tell peers share: `n` workers, a heap of epoch ends."""

    def __init__(self, problem: Problem, budget: float):
        self.problem, self.budget = problem, budget
        self.heap: list = []
        self.seq = 0
        self.full: list = []
        self.trials = self.reports = 0

    def push(self, t: float, job) -> None:
        heapq.heappush(self.heap, (t, self.seq, job))
        self.seq += 1

    def pop(self):
        """The next finished epoch (time, job), or None once the budget is spent."""
        if not self.heap or self.heap[0][0] > self.budget:
            return None
        t, _, job = heapq.heappop(self.heap)
        return t, job

    def result(self) -> dict:
        return {"full": self.full, "trials": self.trials, "reports": self.reports}


def run_optuna(problem: Problem, seed: int, workers: int, budget: float) -> dict:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize",
                                sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True),
                                pruner=optuna.pruners.HyperbandPruner(min_resource=GRACE, max_resource=problem.max_t,
                                                                      reduction_factor=ETA))
    spec, loop = problem.spec(), _Workers(problem, budget)

    def suggest(trial, name, kind, low, high, log):
        return (trial.suggest_int if kind == "int" else trial.suggest_float)(name, low, high, log=log)

    def start(t: float) -> None:
        trial = study.ask()
        config = dict(problem.space, **_config(spec, lambda *a: suggest(trial, *a)))
        loop.trials += 1
        step(t, trial, config, 1)

    def step(t, trial, config, epoch):
        res = problem.objective(config, epoch)
        loop.push(t + res["time"], (trial, config, epoch, res[problem.metric]))

    for _ in range(workers):
        start(0.0)
    while (ev := loop.pop()) is not None:
        t, (trial, config, epoch, value) = ev
        loop.reports += 1
        trial.report(value, epoch)
        if epoch == problem.max_t:
            loop.full.append([t, config])
            study.tell(trial, value)
        elif trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            step(t, trial, config, epoch + 1)
            continue
        start(t)
    return loop.result()


def run_dehb(problem: Problem, seed: int, workers: int, budget: float) -> dict:
    """DEHB's ask and tell; a job trains from scratch to its fidelity (its time: the sum of its epochs)."""
    import ConfigSpace as CS
    from dehb import DEHB

    spec, loop = problem.spec(), _Workers(problem, budget)
    cs = CS.ConfigurationSpace(seed=seed)
    for name, kind, low, high, log in spec:
        hp = CS.UniformIntegerHyperparameter if kind == "int" else CS.UniformFloatHyperparameter
        cs.add(hp(name, low, high, log=log))
    with tempfile.TemporaryDirectory(prefix="raysha_dehb_") as out:
        dehb = DEHB(cs=cs, dimensions=len(spec), min_fidelity=GRACE, max_fidelity=problem.max_t, eta=ETA,
                    n_workers=1, seed=seed, output_path=out, save_freq="end", log_level="ERROR")

        def start(t: float) -> None:
            job = dehb.ask()
            config = dict(problem.space, **{n: job["config"][n] for n, *_ in spec})
            epochs = max(1, min(problem.max_t, int(round(job["fidelity"]))))
            cost = sum(problem.objective(config, e)["time"] for e in range(1, epochs + 1))
            loop.trials += 1
            loop.push(t + cost, (job, config, epochs, cost))

        for _ in range(workers):
            start(0.0)
        while (ev := loop.pop()) is not None:
            t, (job, config, epochs, cost) = ev
            loop.reports += 1
            value = problem.objective(config, epochs)[problem.metric]
            dehb.tell(job, {"fitness": float(value), "cost": float(cost)})
            if epochs == problem.max_t:
                loop.full.append([t, config])
            start(t)
    return loop.result()


def run_synetune(problem: Problem, method: str, seed: int, workers: int, budget: float) -> dict:
    """Syne Tune 0.13's scheduler on its simulator backend, the problem wrapped as a user blackbox."""
    import logging

    from syne_tune import StoppingCriterion, Tuner
    from syne_tune.backend.simulator_backend.simulator_callback import SimulatorCallback
    from syne_tune.blackbox_repository import UserBlackboxBackend
    from syne_tune.blackbox_repository.blackbox import Blackbox
    from syne_tune.config_space import loguniform, randint, uniform
    from syne_tune.experiments import load_experiment
    from syne_tune.optimizer import baselines

    logging.getLogger("syne_tune").setLevel(logging.ERROR)
    spec = problem.spec()
    domain = {("int", False): randint, ("float", False): uniform, ("float", True): loguniform}
    space = {name: domain[(kind, log)](low, high) for name, kind, low, high, log in spec}
    fidelities = np.arange(1, problem.max_t + 1)

    class ProblemBlackbox(Blackbox):
        def objective_function(self, configuration, fidelity=None, seed=None):
            config = dict(problem.space, **configuration)
            rows = [problem.objective(config, int(e)) for e in fidelities]
            return np.array([[r[problem.metric], t] for r, t in
                             zip(rows, np.cumsum([r["time"] for r in rows]))])

        @property
        def fidelity_values(self):
            return fidelities

    bb = ProblemBlackbox(configuration_space=space, fidelity_space={"epoch": randint(1, problem.max_t)},
                         objectives_names=[problem.metric, "elapsed"])
    cls = {"synetune-bohb": baselines.BOHB, "synetune-mobster": baselines.MOBSTER,
           "synetune-hypertune": baselines.HyperTune}[method]
    kw = {} if method == "synetune-hypertune" else {"type": "stopping"}
    sched = cls(dict(space, max_epochs=problem.max_t), metric=problem.metric, mode="min", resource_attr="epoch",
                max_resource_attr="max_epochs", grace_period=GRACE, reduction_factor=ETA, random_seed=seed,
                search_options=dict(SYNETUNE_SEARCH_OPTIONS), **kw)
    backend = UserBlackboxBackend(blackbox=bb, elapsed_time_attr="elapsed", max_resource_attr="max_epochs")
    tuner = Tuner(trial_backend=backend, scheduler=sched, stop_criterion=StoppingCriterion(max_wallclock_time=budget),
                  n_workers=workers, sleep_time=0, callbacks=[SimulatorCallback()], results_update_interval=1e9,
                  print_update_interval=1e9, save_tuner=False, tuner_name=f"sq-{method}-{seed}")
    tuner.run()
    return _from_rows(load_experiment(tuner.name).results, "st_tuner_time", problem, budget)


def run_method(problem: Problem, method: str, seed: int, workers: int, budget: float) -> dict:
    t0 = time.process_time()
    if method in RAYSHA:
        out = run_raysha(problem, method, seed, workers, budget)
    elif method == "optuna-tpe-hyperband":
        out = run_optuna(problem, seed, workers, budget)
    elif method == "dehb":
        out = run_dehb(problem, seed, workers, budget)
    else:
        out = run_synetune(problem, method, seed, workers, budget)
    out["cpu_s"] = time.process_time() - t0
    return out


# -- running: in this process, or in a peer's own venv (a child that prints JSON lines) ---------

def tool_of(method: str) -> str:
    return "raysha" if method in RAYSHA else PEERS[method]


def peer_python(tool: str):
    """The Python that runs `tool`'s methods: this one for raysha and Optuna, else the tool's venv (or None)."""
    if tool in ("raysha", "optuna"):
        return sys.executable
    py = VENVS[tool] / "bin" / "python"
    probe = {"synetune": "from syne_tune.optimizer.baselines import MOBSTER", "dehb": "import dehb"}[tool]
    if py.exists() and subprocess.run([str(py), "-c", probe], capture_output=True).returncode == 0:
        return str(py)
    return None


def child(argv) -> None:
    """``--child PROBLEM METHOD SEEDS WORKERS BUDGET``: one JSON line per seed on stdout."""
    name, method, seeds, workers, budget = argv
    for seed in json.loads(seeds):
        out = run_method(Problem(name, seed), method, seed, int(workers), float(budget))
        print(json.dumps({"seed": seed, **out}), flush=True)


def run_seeds(problem: str, method: str, seeds: list, workers: int, budget: float, python: str) -> list:
    """Every seed of one (problem, method): in this process, or in `python` (a peer's venv)."""
    if python == sys.executable:
        return [dict(seed=s, **run_method(Problem(problem, s), method, s, workers, budget)) for s in seeds]
    with tempfile.TemporaryDirectory(prefix="raysha_sq_") as tmp:
        env = dict(os.environ, PYTHONPATH=str(HERE.parent), SYNETUNE_FOLDER=tmp)
        cmd = [python, "-m", "benchmarks.search_quality", "--child", problem, method, json.dumps(seeds),
               str(workers), repr(budget)]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(HERE.parent))
    if r.returncode != 0:
        raise RuntimeError(f"{method} on {problem} failed (rc {r.returncode}): {r.stderr[-1500:]}")
    return [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]


def regret_curve(problem: Problem, run: dict, grid: np.ndarray) -> np.ndarray:
    """Best regret so far at each grid time (NaN before the first full-fidelity result)."""
    full = sorted(run["full"], key=lambda tc: tc[0])
    if not full:
        return np.full(len(grid), np.nan)
    times = np.array([t for t, _ in full])
    best = np.minimum.accumulate([problem.regret(c) for _, c in full])
    idx = np.searchsorted(times, grid, side="right") - 1
    return np.where(idx >= 0, best[np.clip(idx, 0, None)], np.nan)


def _quantiles(a: np.ndarray) -> tuple:
    """Median, q1, q3 over seeds (axis 0), a missing value counted as worst (inf)."""
    a = np.where(np.isnan(a), np.inf, a)
    return tuple(np.percentile(a, q, axis=0, method="lower") for q in (50, 25, 75))


def _jsonable(x) -> list:
    return [None if not np.isfinite(v) else round(float(v), 6) for v in x]


def summarize(curves: dict, runs: dict, grid: np.ndarray) -> dict:
    """Per method: final regret quantiles, the median curve and IQR band, trials, CPU; then the goals."""
    rows = {}
    for method, a in curves.items():
        med, q1, q3 = _quantiles(np.array(a))
        rs = runs[method]
        rows[method] = {"final_median": float(med[-1]), "final_q1": float(q1[-1]), "final_q3": float(q3[-1]),
                        "median": _jsonable(med), "q1": _jsonable(q1), "q3": _jsonable(q3),
                        "trials_median": float(np.median([r["trials"] for r in rs])),
                        "cpu_s": round(sum(r["cpu_s"] for r in rs), 2), "seeds": len(rs)}
    return rows


def time_to(curve: list, target: float, grid: np.ndarray):
    """First grid time at which a median curve is at or below `target` (None: never)."""
    for t, v in zip(grid, curve):
        if v is not None and v <= target + 1e-12:
            return float(t)
    return None


def goals(rows: dict, grid: np.ndarray) -> dict:
    """The two goal checks on one problem (see the module docstring)."""
    budget = float(grid[-1])
    model = [m for m in RAYSHA if not m.endswith("+random") and m in rows]
    if "asha+random" not in rows or not model:
        return {}
    best = min(model, key=lambda m: (rows[m]["final_median"], time_to(rows[m]["median"], rows[m]["final_median"],
                                                                        grid) or math.inf))
    target = rows["asha+random"]["final_median"]
    t_best = time_to(rows[best]["median"], target, grid)
    peers = [m for m in PEERS if m in rows]
    best_peer = min(peers, key=lambda m: rows[m]["final_median"]) if peers else None
    out = {"best_model_based": best, "random_asha_final": target, "time_to_random_final": t_best,
           "fraction_of_budget": None if t_best is None else t_best / budget,
           "goal_speed": t_best is not None and t_best <= budget / 3}
    if best_peer:
        out.update(best_peer=best_peer, best_peer_final=rows[best_peer]["final_median"],
                   goal_quality=rows[best]["final_median"] <= rows[best_peer]["final_median"] + 1e-12)
    return out


# -- output -----------------------------------------------------------------------------

def print_table(problem: str, rows: dict, goal: dict, budget: float) -> None:
    print(f"\n{problem}: regret at the budget ({budget:.0f} s simulated), median [IQR] over seeds")
    print(f"  {'method':<24}{'median':>10}{'q1':>10}{'q3':>10}{'trials':>8}{'CPU s':>8}")
    for m, r in rows.items():
        print(f"  {m:<24}{r['final_median']:>10.4g}{r['final_q1']:>10.4g}{r['final_q3']:>10.4g}"
              f"{r['trials_median']:>8.0f}{r['cpu_s']:>8.1f}")
    if goal:
        frac = goal["fraction_of_budget"]
        print(f"  best model-based: {goal['best_model_based']}; reaches random ASHA's final regret "
              f"{goal['random_asha_final']:.4g} at {'never' if frac is None else f'{frac:.0%} of the budget'} "
              f"(goal <= 33 %: {'met' if goal['goal_speed'] else 'NOT met'})")
        if "best_peer" in goal:
            print(f"  best peer: {goal['best_peer']} {goal['best_peer_final']:.4g} "
                  f"(goal raysha <= best peer: {'met' if goal['goal_quality'] else 'NOT met'})")


STYLE = {"asha+random": ("tab:gray", "-"), "asha+kde": ("tab:blue", "-"), "asha+optuna-tpe": ("tab:green", "-"),
         "hyperband+random": ("tab:gray", "--"), "hyperband+kde": ("tab:blue", "--"),
         "hyperband+optuna-tpe": ("tab:green", "--"), "optuna-tpe-hyperband": ("tab:olive", ":"),
         "synetune-bohb": ("tab:orange", ":"), "synetune-mobster": ("tab:red", ":"),
         "synetune-hypertune": ("tab:purple", ":"), "dehb": ("tab:brown", ":")}


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(results)
    fig, axes = plt.subplots(1, len(names), figsize=(5.2 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        res = results[name]
        grid = np.array(res["grid_s"])
        for m, r in res["methods"].items():
            color, ls = STYLE.get(m, ("black", "-"))
            f = lambda v: np.array([np.nan if x is None else max(x, 1e-4) for x in v])  # noqa: E731
            ax.plot(grid, f(r["median"]), color=color, ls=ls, lw=1.6, label=m)
            ax.fill_between(grid, f(r["q1"]), f(r["q3"]), color=color, alpha=0.08, lw=0)
        ax.set_yscale("log")
        ax.set_title(f"{name} ({res['workers']} workers, {res['seeds']} seeds)")
        ax.set_xlabel("simulated wall-clock (s)")
        ax.set_ylabel("regret (median, IQR band; floor 1e-4)")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def install_peers() -> None:
    for tool, venv in VENVS.items():
        if not (venv / "bin" / "python").exists():
            subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *PIP[tool]], check=True)
        print(f"{tool}: {venv}")


def run_problem(name: str, methods: list, args, skipped: dict) -> dict:
    base = Problem(name, 0)
    budget = args.budget_trials * base.full_trial_time()
    grid = np.linspace(0.0, budget, GRID_POINTS + 1)[1:]
    seeds = list(range(args.seeds))
    curves, runs = {}, {}
    for method in methods:
        python = peer_python(tool_of(method))
        if python is None:
            skipped[method] = (f"{tool_of(method)} is not installed ({VENVS[tool_of(method)]} missing or broken); "
                               "`python -m benchmarks.search_quality --install-peers` creates it")
            continue
        try:
            rs = run_seeds(name, method, seeds, args.workers, budget, python)
        except Exception as e:  # a peer that breaks is named, never replaced by a guess
            skipped[f"{method}@{name}"] = f"failed: {e!r}"[:1500]
            print(f"  {method} on {name}: FAILED {e!r}"[:300], flush=True)
            continue
        runs[method] = rs
        curves[method] = [regret_curve(Problem(name, r["seed"]), r, grid) for r in rs]
        print(f"  {name} {method}: done ({sum(r['cpu_s'] for r in rs):.1f} CPU s)", flush=True)
    rows = summarize(curves, runs, grid)
    goal = goals(rows, grid)
    print_table(name, rows, goal, budget)
    return {"budget_s": budget, "full_trial_time_s": budget / args.budget_trials, "optimum": base.optimum,
            "rank_correlation_first_rung": round(base.rank_correlation(), 3),
            "max_t": base.max_t, "noise": NOISE.get(name), "workers": args.workers, "seeds": args.seeds,
            "grid_s": [round(float(x), 3) for x in grid], "methods": rows, "goal": goal,
            "finals": {m: [float(c[-1]) for c in a] for m, a in curves.items()}}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--budget-trials", type=float, default=None,
                    help="budget in median full-trial times per worker (default 6; --quick 2)")
    ap.add_argument("--problems", nargs="+", choices=PROBLEMS, default=list(PROBLEMS))
    ap.add_argument("--methods", nargs="+", choices=METHODS, default=list(DEFAULT_METHODS))
    ap.add_argument("--quick", action="store_true", help="2 seeds, budget 2, raysha and Optuna only (smoke test)")
    ap.add_argument("--out", default=None, help=f"default {OUT} (--quick: search_quality_quick.json)")
    ap.add_argument("--figure", default=None, help=f"default {FIGURE} (--quick: search_quality_quick.png)")
    ap.add_argument("--install-peers", action="store_true", help="create the peers' venvs from PyPI and exit")
    ap.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args.child)
        return {}
    if args.install_peers:
        install_peers()
        return {}
    if args.quick:
        args.seeds = min(args.seeds, 2)
        args.methods = [m for m in args.methods if tool_of(m) in ("raysha", "optuna")]
    quick = "_quick" if args.quick else ""   # a smoke test never overwrites the measured results
    args.out = args.out or str(OUT.with_name(f"search_quality{quick}.json"))
    args.figure = args.figure or str(FIGURE.with_name(f"search_quality{quick}.png"))
    if args.budget_trials is None:
        args.budget_trials = 2.0 if args.quick else 6.0
    t0, c0 = time.perf_counter(), time.process_time()
    skipped: dict = {}
    results = {name: run_problem(name, args.methods, args, skipped) for name in args.problems}
    plot(results, Path(args.figure))
    children_cpu = os.times().children_user + os.times().children_system
    out = {"benchmark": "search_quality", "settings": {"workers": args.workers, "seeds": args.seeds,
           "budget_trials": args.budget_trials, "grace_period": GRACE, "reduction_factor": ETA,
           "regret": "noise-free full-fidelity loss of the best configuration evaluated at the largest "
                     "resource so far, minus the optimum (BOCA's simple regret)"},
           "problems": results, "skipped": skipped, "figure": Path(args.figure).name,
           "command": " ".join([f"OPENBLAS_NUM_THREADS={v}" for v in [os.environ.get("OPENBLAS_NUM_THREADS")] if v]
                               + ["python -m benchmarks.search_quality", *(argv if argv is not None else sys.argv[1:])]),
           "machine": platform.platform(), "cpu_count": os.cpu_count(),
           "wall_seconds": round(time.perf_counter() - t0, 1),
           "cpu_seconds": round(time.process_time() - c0 + children_cpu, 1),
           "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"\nsaved {args.out} and {args.figure} ({out['wall_seconds']} s wall, {out['cpu_seconds']} CPU s)")
    return out


if __name__ == "__main__":
    main()
