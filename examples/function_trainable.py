"""Function API: your loop calls `report(...)`; a paused trial gets its checkpoint back on resume.

A small noisy linear regression trained by minibatch SGD in numpy. The data is
made once on the driver and shared with every trial through the object store
(`shared_objects` / `get_shared`). Promotion ASHA pauses trials at rung levels
1, 3, 9 and resumes the most promising ones from their checkpoints.

    python examples/function_trainable.py        # ~15 s on a laptop CPU
"""

import numpy as np
import ray

from raysha.runtime.session import get_checkpoint, get_shared, report
from raysha.runtime.tuner import Tuner
from raysha.schedulers.asha import ASHA
from raysha.space import loguniform, randint
from raysha.stop import StopCriterion


def make_data(n=20_000, d=20, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = X @ w + 0.5 * rng.normal(size=n)
    return {"X_train": X[:16_000], "y_train": y[:16_000], "X_val": X[16_000:], "y_val": y[16_000:]}


def train_regression(config):
    data = get_shared("data")                       # fetched once per worker process
    X, y = data["X_train"], data["y_train"]
    rng = np.random.default_rng(0)
    ckpt = get_checkpoint()                          # None for a new trial
    if ckpt is None:
        w, start = np.zeros(X.shape[1]), 0
    else:
        w, start = ckpt["w"], ckpt["epoch"]
    lr, bs = config["learning_rate"], config["batch_size"]
    for epoch in range(start + 1, config["max_epochs"] + 1):
        order = rng.permutation(len(X))
        for i in range(0, len(X), bs):
            idx = order[i:i + bs]
            grad = X[idx].T @ (X[idx] @ w - y[idx]) / len(idx)
            w = w - lr * grad
        val_mse = float(np.mean((data["X_val"] @ w - data["y_val"]) ** 2))
        if not np.isfinite(val_mse):
            val_mse = float("inf")                   # diverged: the scheduler treats it as worst
        # the checkpoint is only stored if the scheduler pauses the trial here
        report(epoch=epoch, val_mse=val_mse, checkpoint={"w": w, "epoch": epoch})


def main():
    ray.init(num_cpus=2)
    space = {"learning_rate": loguniform(1e-4, 1.0), "batch_size": randint(16, 512), "max_epochs": 9}
    scheduler = ASHA(space, metric="val_mse", mode="min", resource_attr="epoch",
                     max_resource_attr="max_epochs", grace_period=1, reduction_factor=3,
                     type="promotion", points_to_evaluate=[{"learning_rate": 0.01, "batch_size": 128}])
    tuner = Tuner(train_regression, scheduler, n_workers=2, stop=StopCriterion(max_trials=27),
                  shared_objects={"data": make_data()})
    exp = tuner.fit()
    best = exp.best()
    if best is None:
        print(f"no finite val_mse was reported (see {exp.path})")
        return
    print(f"{len(exp.results)} reports from {exp.n_trials} trials in {exp.path}")
    print(f"best val_mse {best['val_mse']:.4f} at epoch {int(best['epoch'])} with {exp.best_config()}")
    print("checkpoint loads:", tuner.summary["ckpt_sources"])


if __name__ == "__main__":
    main()
