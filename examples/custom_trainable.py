"""Class API: subclass `Trainable`; the runtime owns the epoch loop, pauses and resumes.

A small torch MLP on a synthetic two-spirals classification task. `setup` builds
the model and optimizer, `train_epoch` trains one epoch and returns its metrics,
`state_dict`/`load_state_dict` move a paused trial to any worker. A trial resumed
on the worker that paused it keeps its live model: nothing is loaded.

    python examples/custom_trainable.py          # ~30 s on a laptop CPU
"""

import math

import numpy as np
import ray

from raysha.runtime.trainable import Trainable
from raysha.runtime.tuner import Tuner
from raysha.schedulers.asha import ASHA
from raysha.space import choice, loguniform
from raysha.stop import StopCriterion


def spirals(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    t = np.sqrt(rng.uniform(0, 1, n)) * 3 * math.pi
    sign = rng.integers(0, 2, n)
    r = t * np.where(sign == 1, 1, -1)
    X = np.stack([r * np.cos(t), r * np.sin(t)], 1) / 10 + 0.05 * rng.normal(size=(n, 2))
    return X.astype(np.float32), sign.astype(np.int64)


class SpiralMLP(Trainable):
    def setup(self, config):
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(1)
        X, y = self.shared["spirals"]
        # the shared arrays are read-only views of the object store: torch.tensor copies them
        self.X, self.y = torch.tensor(X[:1500]), torch.tensor(y[:1500])
        self.Xv, self.yv = torch.tensor(X[1500:]), torch.tensor(y[1500:])
        h = config["hidden"]
        self.model = torch.nn.Sequential(torch.nn.Linear(2, h), torch.nn.ReLU(), torch.nn.Linear(h, h),
                                         torch.nn.ReLU(), torch.nn.Linear(h, 2))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=config["lr"], momentum=0.9)
        self.batch_size = 64

    def train_epoch(self, epoch):
        import torch

        perm = torch.randperm(len(self.X))
        for i in range(0, len(self.X), self.batch_size):
            idx = perm[i:i + self.batch_size]
            loss = torch.nn.functional.cross_entropy(self.model(self.X[idx]), self.y[idx])
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        with torch.no_grad():
            err = (self.model(self.Xv).argmax(1) != self.yv).float().mean().item()
        return {"validation_error": err, "train_loss": loss.item()}

    def state_dict(self):
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state):
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])


def main():
    ray.init(num_cpus=2)
    space = {"lr": loguniform(1e-3, 0.5), "hidden": choice([16, 32, 64]), "max_epochs": 27}
    scheduler = ASHA(space, metric="validation_error", mode="min", resource_attr="epoch",
                     max_resource_attr="max_epochs", grace_period=1, reduction_factor=3, type="promotion")
    tuner = Tuner(SpiralMLP, scheduler, n_workers=2,
                  stop=StopCriterion(max_trials=30, max_wallclock_time=45),
                  shared_objects={"spirals": spirals()})
    exp = tuner.fit()
    best = exp.best()
    if best is None:
        print(f"no finite validation_error was reported (see {exp.path})")
        return
    print(f"{len(exp.results)} reports from {exp.n_trials} trials in {exp.path}")
    print(f"best validation error {best['validation_error']:.3f} at epoch {int(best['epoch'])} "
          f"with {exp.best_config()}")
    print("checkpoint loads:", tuner.summary["ckpt_sources"])


if __name__ == "__main__":
    main()
