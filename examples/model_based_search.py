"""Model-based search with asynchronous Hyperband: random vs. BOHB's model vs. MOBSTER's, 8 simulated workers.

The objective is the noisy multi-fidelity Branin of Kandasamy et al. (BOCA),
27 epochs of one simulated second each, with a known optimum, so the script
prints the regret (BOCA's simple regret): how far the best configuration
trained for all 27 epochs is from the optimum, in noise-free terms. Every searcher gets the same scheduler, budget and seeds;
``"gp"`` fits one Gaussian process over configuration and epoch and learns
from every rung's results (needs scipy: ``pip install raysha[search]``).

    python examples/model_based_search.py [SEEDS]      # default 5 seeds, ~20 s
"""

import statistics
import sys

from raysha.objectives import MFBranin
from raysha.schedulers import registry
from raysha.simulate import simulate
from raysha.stop import StopCriterion


def regret(searcher: str, seed: int, budget: float = 160.0) -> float:
    objective = MFBranin(seed=seed, noise=0.5)
    scheduler = registry.make("hyperband", dict(objective.space), "loss", "min", max_resource_attr="max_epochs",
                              grace_period=1, reduction_factor=3, seed=seed, searcher=searcher)
    exp = simulate(scheduler, objective, 8, StopCriterion(max_wallclock_time=budget))
    full = exp.results[exp.results["epoch"] == 27]
    configs = full[[f"config_{n}" for n in objective.names]].to_numpy()
    values = [objective.value(dict(zip(objective.names, c))) for c in configs]
    return min(values, default=float("inf")) - objective.optimum


def main(seeds: int = 5) -> dict:
    out = {}
    for searcher in ("random", "kde", "gp"):
        values = [regret(searcher, s) for s in range(seeds)]
        out[searcher] = statistics.median(values)
        print(f"{searcher:<7} median regret {out[searcher]:.4f}  (seeds: {', '.join(f'{v:.4f}' for v in values)})")
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
