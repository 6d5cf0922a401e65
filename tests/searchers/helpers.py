"""A noisy multi-fidelity quadratic for searcher tests: optimum 0 at x = (0.3, 0.3, 0.3, 0.3).

The objective is the benchmark's (`benchmarks/searchers_quadratic.py`), so the tests
and the published figures measure the same function.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.searchers_quadratic import NoisyQuadratic  # noqa: E402

NAMES = NoisyQuadratic.names
SPACE = NoisyQuadratic.space
true_loss = NoisyQuadratic().true_loss


def incumbent_regret(exp, max_t: int = 27) -> float:
    """True loss of the best configuration (by its reported final loss) that reached max_t."""
    res = exp.results
    final = res[res["epoch"] >= max_t]
    if final.empty:
        return float("inf")
    best = final.loc[final["loss"].idxmin()]
    return true_loss({n: best[f"config_{n}"] for n in NAMES})


def fed(searcher, results, space=None):
    """`searcher` bound to x in [0, 1] (or `space`), told `results`: {level: [(x or config, loss), ...]}.

    One trial a row; returns (searcher, the next free trial id, {trial_id: config}).
    """
    import numpy as np

    from raysha import space as sp

    configs = {}
    searcher.bind(space or {"x": sp.uniform(0, 1)}, np.random.default_rng(0), configs.get)
    tid = 0
    for level, rows in results.items():
        for x, loss in rows:
            configs[tid] = x if isinstance(x, dict) else {"x": x}
            searcher.on_report(tid, level, loss)
            tid += 1
    return searcher, tid, configs


def conditional_space():
    """A conditional, quantized, log space: "adam" and 6 layers are best (`conditional_loss`)."""
    from raysha import space as sp

    return {"opt": sp.choice({"sgd": {"lr": sp.loguniform(1e-4, 1)},
                              "adam": {"lr2": sp.loguniform(1e-5, 1e-2), "b1": sp.quniform(0.8, 0.99, 0.01)}}),
            "layers": sp.qrandint(2, 10, 2)}


def conditional_loss(config) -> float:
    return (0.0 if config["opt"] == "adam" else 1.0) + abs(config["layers"] - 6) / 10


def assert_valid_conditional(config) -> None:
    from raysha import space as sp

    assert config["layers"] in (2, 4, 6, 8, 10)
    if config["opt"] == "sgd":
        assert set(config) == {"opt", "lr", "layers"} and 1e-4 <= config["lr"] <= 1
    else:
        assert set(config) == {"opt", "lr2", "b1", "layers"}
        assert sp.quniform(0.8, 0.99, 0.01).contains(config["b1"]) and 1e-5 <= config["lr2"] <= 1e-2


def asha(searcher=None, seed: int = 0, **options):
    """Promotion ASHA on `SPACE` (rungs 1, 3, 9, 27) with `searcher`."""
    from raysha.schedulers import ASHA

    return ASHA(options.pop("space", SPACE), metric="loss", mode="min", resource_attr="epoch",
                max_resource_attr="max_epochs", grace_period=1, reduction_factor=3, type="promotion",
                random_seed=seed, searcher=searcher, **options)


def simulated_regret(searcher, seed: int, budget: float = 600, workers: int = 4) -> float:
    """Regret of ASHA with `searcher` on the noisy quadratic after `budget` simulated seconds."""
    from raysha.simulate import simulate
    from raysha.stop import StopCriterion

    exp = simulate(asha(searcher, seed), NoisyQuadratic(), n_workers=workers,
                   stop=StopCriterion(max_wallclock_time=budget), seed=seed)
    return incumbent_regret(exp)


class Driver:
    """One simulated worker driving a scheduler by hand: each job's epochs reported in turn.

    `run(n)` hands out `n` jobs and returns (kind, trial_id, config) of each, so two
    schedulers driven alike can be compared job by job (before and after a restore).
    """

    def __init__(self, scheduler, objective=None, now: float = 0.0):
        self.scheduler, self.objective, self.now = scheduler, objective or NoisyQuadratic(), now

    def run(self, n_jobs: int) -> list:
        from raysha.schedulers import Decision, JobKind

        jobs = []
        for _ in range(n_jobs):
            job = self.scheduler.next_job(self.now)
            if job.kind in (JobKind.WAIT, JobKind.DONE):
                break
            config = self.scheduler.trial_config(job.trial_id)
            jobs.append((job.kind.value, job.trial_id, config))
            for epoch in range(int(job.start) + 1, int(job.until) + 1):
                self.now += 1.0
                loss = self.objective(config, epoch)["loss"]
                if self.scheduler.on_report(job.trial_id, epoch, {"loss": loss}, self.now) != Decision.CONTINUE:
                    break
        return jobs
