"""LeNet on Fashion-MNIST, as in d2l's ASHA chapter (the workload raysha is tuned for).

The model is d2l's LeNet (sigmoid activations, average pooling, Xavier-uniform
init of conv and linear weights as ``d2l.init_cnn``) trained with plain SGD at
the tuned ``learning_rate`` and ``batch_size``, one epoch per call; the
validation error is ``1 - accuracy`` on the 10,000-image test split, as d2l's
``validation_error``. Images are scaled to [0, 1] as d2l's ``ToTensor``.

Two ways to run it:

* `LeNetTrainable` (class API): the runtime calls ``setup(config)``, then
  ``train_epoch(epoch)`` per epoch, and ``state_dict()`` when it pauses;
* `train_lenet(config)` (function API): the loop calls ``raysha.report``.

Config keys: ``learning_rate``, ``batch_size``, ``max_epochs`` (function API),
and optionally ``n_train`` / ``n_test`` (subset sizes), ``seed``, ``device``
("cpu", "cuda", "cuda:1"; default: the GPU when ``torch.cuda.is_available()``),
``amp`` (bf16 autocast; also accepted as ``mixed_precision``),
``eval_batch_size``, ``data_dir``.

The whole dataset is moved to the device once per trial (once per worker for
repeated trials on the same device and subset) and batches are indexed there:
no DataLoader, no per-batch host transfer, and no per-batch ``.item()`` sync
(the training loss is summed on the device and read once per epoch).

On the CPU a seeded run is bitwise deterministic, and a checkpoint restores it
exactly: the model, the optimizer, the epoch and the state of the shuffling
generator are all in `state_dict`.

No Ray import at module level (the function API imports ``raysha.runtime.session``
lazily), so this runs on machines without Ray.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from typing import Any, Optional

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from raysha.runtime.trainable import Trainable
from raysha.workloads.fashion_mnist import FashionMNISTData, load_cached

SHARED_KEY = "fashion_mnist"


def init_cnn(module: nn.Module) -> None:
    """d2l's ``init_cnn``: Xavier-uniform weights for Linear and Conv2d layers."""
    if type(module) in (nn.Linear, nn.Conv2d):
        nn.init.xavier_uniform_(module.weight)


class LeNet(nn.Module):
    """LeNet-5 as in d2l (section 7.6), for 1x28x28 inputs and 10 classes."""

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
            nn.Linear(120, 84), nn.Sigmoid(),
            nn.Linear(84, num_classes),
        )
        self.net.apply(init_cnn)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def resolve_device(device: Optional[str] = None) -> torch.device:
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


# Device tensors of the dataset, kept per worker process: a worker that runs
# trial after trial on the same device and subset moves the data only once.
_DEVICE_DATA: dict = {}


def device_tensors(data: FashionMNISTData, device: torch.device):
    """(train_x, train_y, test_x, test_y) on `device`: float32 [N,1,28,28] in [0,1], int64 labels."""
    def where(a):
        a = np.asarray(a)
        return (a.__array_interface__["data"][0], a.shape)

    # Keyed by the buffers' addresses (a subset is a new view of the same buffer);
    # the arrays are kept referenced with the tensors, so an address is not reused.
    key = (where(data.train_x), where(data.train_y), where(data.test_x), where(data.test_y), str(device))
    hit = _DEVICE_DATA.get(key)
    if hit is not None:
        return hit[1]

    def images(a):
        # Arrays from Ray's object store are read-only (zero-copy); the uint8 view
        # is never written (the float copy is), so torch's warning does not apply.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            t = torch.as_tensor(np.asarray(a)).to(device)
        return t.unsqueeze(1).to(torch.float32).div_(255.0)

    def labels(a):
        return torch.tensor(np.asarray(a), dtype=torch.int64, device=device)

    tensors = (images(data.train_x), labels(data.train_y), images(data.test_x), labels(data.test_y))
    _DEVICE_DATA.clear()          # keep one dataset per process: a new subset replaces the old
    _DEVICE_DATA[key] = ((data.train_x, data.train_y, data.test_x, data.test_y), tensors)
    return tensors


def _fresh_seed() -> int:
    return int(np.random.SeedSequence().entropy % (2**63))


class LeNetTrainable(Trainable):
    """d2l's LeNet on Fashion-MNIST, one epoch per `train_epoch` (class API)."""

    def setup(self, config: dict) -> None:
        self.config = dict(config)
        self.lr = float(config["learning_rate"])
        self.batch_size = int(config["batch_size"])
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"learning_rate must be a positive number, got {config['learning_rate']!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {config['batch_size']!r}")
        self.device = resolve_device(config.get("device"))
        self.amp = bool(config.get("amp", config.get("mixed_precision", False)))
        self.eval_batch_size = int(config.get("eval_batch_size")
                                   or (10_000 if self.device.type == "cuda" else 2_000))
        seed = config.get("seed")
        self.seed = int(seed) if seed is not None else _fresh_seed()

        data = (self.shared or {}).get(SHARED_KEY) if isinstance(self.shared, dict) else None
        if data is None:
            data = load_cached(config.get("data_dir"))
        if config.get("n_train") or config.get("n_test"):
            data = data.subset(config.get("n_train"), config.get("n_test"))
        self.train_x, self.train_y, self.test_x, self.test_y = device_tensors(data, self.device)
        self.n_train = len(self.train_y)

        torch.manual_seed(self.seed)
        self.model = LeNet().to(self.device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=self.lr)
        # Shuffling draws from its own CPU generator, saved in the checkpoint.
        self.generator = torch.Generator().manual_seed(self.seed)
        self.epoch = 0

    # -- training -----------------------------------------------------------------
    def _autocast(self):
        if self.amp:
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _train_one_epoch(self) -> torch.Tensor:
        """One pass over the shuffled training set; returns the summed loss (on the device)."""
        model, opt, bs = self.model, self.optimizer, self.batch_size
        model.train()
        perm = torch.randperm(self.n_train, generator=self.generator).to(self.device)
        total = torch.zeros((), dtype=torch.float32, device=self.device)
        x_all, y_all = self.train_x, self.train_y
        for start in range(0, self.n_train, bs):
            idx = perm[start:start + bs]
            x, y = x_all[idx], y_all[idx]
            with self._autocast():
                loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total.add_(loss.detach(), alpha=idx.numel())   # one kernel, no host sync
        return total

    @torch.no_grad()
    def evaluate(self) -> float:
        """Validation error, ``1 - accuracy`` on the test split (one host sync)."""
        self.model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=self.device)
        n = len(self.test_y)
        for start in range(0, n, self.eval_batch_size):
            x = self.test_x[start:start + self.eval_batch_size]
            y = self.test_y[start:start + self.eval_batch_size]
            with self._autocast():
                pred = self.model(x).argmax(dim=1)
            correct += (pred == y).sum()
        return 1.0 - correct.item() / n

    def train_epoch(self, epoch: Optional[int] = None) -> dict[str, Any]:
        t0 = time.perf_counter()
        total = self._train_one_epoch()
        validation_error = self.evaluate()            # .item() here synchronises the device
        train_loss = total.item() / self.n_train
        self.epoch = self.epoch + 1 if epoch is None else int(epoch)
        return {
            "validation_error": float(validation_error),
            "train_loss": train_loss,
            "epoch_time": time.perf_counter() - t0,
        }

    # -- checkpoints ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "model": {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "rng": self.generator.get_state(),
            "seed": self.seed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch = int(state["epoch"])
        self.generator.set_state(state["rng"])
        self.seed = int(state.get("seed", self.seed))

    def cleanup(self) -> None:
        # The dataset tensors stay in the per-process cache for the next trial.
        self.model = self.optimizer = None
        self.train_x = self.train_y = self.test_x = self.test_y = None


def train_lenet(config: dict) -> None:
    """Function-API trainable: trains up to ``config["max_epochs"]`` and reports every epoch.

    Uses ``raysha.get_shared("fashion_mnist")`` when the Tuner shares the data,
    resumes from ``raysha.get_checkpoint()``, and reports ``epoch``,
    ``validation_error``, ``train_loss`` and ``epoch_time`` with the checkpoint
    (the runtime keeps it only when it pauses the trial).
    """
    from raysha.runtime import session

    trainable = LeNetTrainable()
    try:
        shared = {SHARED_KEY: session.get_shared(SHARED_KEY)}
    except KeyError:
        shared = {}
    trainable.shared = shared
    trainable.setup(config)
    ckpt = session.get_checkpoint()
    if ckpt:
        trainable.load_state_dict(ckpt)
    try:
        for epoch in range(trainable.epoch + 1, int(config["max_epochs"]) + 1):
            metrics = trainable.train_epoch(epoch)
            session.report(epoch=epoch, checkpoint=trainable.state_dict(), **metrics)
    finally:
        trainable.cleanup()


__all__ = ["LeNet", "LeNetTrainable", "train_lenet", "init_cnn", "resolve_device", "SHARED_KEY"]
