"""A noisy multi-fidelity quadratic for searcher tests: optimum 0 at x = (0.3, 0.3, 0.3, 0.3)."""

from __future__ import annotations

from raysha.objectives import _mix, config_code
from raysha.space import uniform

NAMES = ("x0", "x1", "x2", "x3")
SPACE = {name: uniform(0.0, 1.0) for name in NAMES} | {"max_epochs": 27}


def true_loss(config) -> float:
    return sum((config[n] - 0.3) ** 2 for n in NAMES)


class NoisyQuadratic:
    """loss(epoch) = quadratic + a config-dependent 1/epoch term + uniform noise; 1 s per epoch."""

    def __init__(self, seed: int = 0, noise: float = 0.02):
        self.seed, self.noise = seed, noise

    def with_seed(self, seed: int) -> "NoisyQuadratic":
        return NoisyQuadratic(seed, self.noise)

    def __call__(self, config, epoch: int) -> dict:
        code = config_code(config, NAMES, self.seed)
        u = _mix(code + 0.6180339 * epoch)
        value = true_loss(config) + (0.2 + 0.3 * config["x0"]) / epoch + self.noise * (u - 0.5)
        return {"loss": value, "time": 1.0}


def incumbent_regret(exp, max_t: int = 27) -> float:
    """True loss of the best configuration (by its reported final loss) that reached max_t."""
    res = exp.results
    final = res[res["epoch"] >= max_t]
    if final.empty:
        return float("inf")
    best = final.loc[final["loss"].idxmin()]
    return true_loss({n: best[f"config_{n}"] for n in NAMES})
