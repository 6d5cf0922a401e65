"""Synthetic objectives for the simulator: ``objective(config, epoch) -> {metrics..., "time": s}``.

They are pure functions of (config, epoch, seed): no state, no numpy Generator
per call, so a report's value never depends on the order in which the
simulator happens to run trials, and a million-trial simulation stays cheap
(a few µs per call). Randomness comes from a small deterministic hash of the
config values, not from Python's ``hash`` (randomised for strings per process).

* `StragglerObjective`: epoch time grows as the batch size shrinks and carries a
  heavy-tailed (lognormal) per-trial multiplier plus a little per-epoch jitter;
  some trials are many times slower than others, which is what makes
  synchronous successive halving wait at its rungs. Space: `STRAGGLER_SPACE`.
* `CurvesObjective`: smooth learning curves ``err(epoch) = a + b * epoch**-c``
  with config-dependent a, b, c and small noise, constant-ish epoch time.
  Space: `CURVES_SPACE`.
* `MFHartmann6`, `MFBranin`: the multi-fidelity Hartmann-6 and Branin functions
  of Kandasamy et al. (2017, "Multi-fidelity Bayesian optimisation with
  continuous approximations", BOCA), with the epoch as the fidelity and
  Gaussian observation noise; their optimum is known (``optimum``), so the
  benchmarks report regret. Spaces: `MF_HARTMANN6_SPACE`, `MF_BRANIN_SPACE`.
"""

from __future__ import annotations

import math
import zlib
from typing import Any, Mapping

from raysha.space import choice, loguniform, randint, uniform

STRAGGLER_SPACE = {
    "learning_rate": loguniform(1e-2, 1.0),
    "batch_size": randint(32, 256),
    "max_epochs": 27,
}

CURVES_SPACE = {
    "x1": uniform(0.0, 1.0),
    "x2": loguniform(1e-3, 1.0),
    "width": choice([16, 32, 64, 128]),
    "max_epochs": 27,
}

_TWO_PI = 2.0 * math.pi
_CACHE_SIZE = 50_000
_sin, _floor = math.sin, math.floor


def _mix(h: float) -> float:
    """A number in (0, 1) from a float, deterministic across processes."""
    x = math.sin(h * 12.9898 + 78.233) * 43758.5453
    u = x - math.floor(x)
    return u if 1e-12 < u < 0.999999999999 else 0.5


def _value_code(v: Any) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)):
        return float(v)
    return float(zlib.crc32(repr(v).encode()) % 1_000_003)


def config_code(config: Mapping[str, Any], names, seed: int) -> float:
    """One float identifying a configuration (over `names`) and a seed."""
    h = 0.1234 + 0.7071 * seed
    for i, name in enumerate(names):
        h = _mix(h * 1.618 + _value_code(config.get(name, 0.0)) * (i + 1.37)) * 1000.0
    return h


def _normal(u1: float, u2: float) -> float:
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


class StragglerObjective:
    """Validation error of a LeNet-like model whose epochs take very different times.

    ``time = base_time * (1 + 128 / batch_size) / 2 * exp(sigma * z_trial) * jitter``:
    small batches are slower, and the lognormal trial factor (sigma 0.8 by
    default) makes a few trials stragglers. Error follows a power law whose
    floor is lowest near learning_rate 0.1 and batch size 128.
    """

    names = ("learning_rate", "batch_size")

    def __init__(self, seed: int = 0, base_time: float = 10.0, sigma: float = 0.8, noise: float = 0.005):
        self.seed = int(seed)
        self.base_time = float(base_time)
        self.sigma = float(sigma)
        self.noise = float(noise)
        self._cache: dict = {}  # per-trial constants, keyed by the config values that matter

    def with_seed(self, seed: int) -> "StragglerObjective":
        return StragglerObjective(seed, self.base_time, self.sigma, self.noise)

    def __repr__(self) -> str:
        return f"StragglerObjective(seed={self.seed}, base_time={self.base_time}, sigma={self.sigma})"

    def _trial(self, lr: float, bs: float, config) -> tuple:
        """Per-trial constants (h, time scale, error floor, span, power), cached by (lr, bs)."""
        h = _mix(lr * 1234.567 + bs * 0.7071 + self.seed * 17.17) * 1000.0
        u1 = _mix(h)
        x = u1 * 9973.0
        u2 = x - _floor(x)
        x = u1 * 7919.0
        u3 = x - _floor(x)
        x = u1 * 6101.0
        u4 = x - _floor(x)
        slow = math.exp(self.sigma * _normal(u1, u2 if u2 > 0.0 else 0.5))
        dist = (math.log10(lr) + 1.0) ** 2 + 0.3 * (math.log2(bs / 128.0) / 3.0) ** 2
        floor = 0.09 + 0.25 * dist
        return (h, self.base_time * 0.5 * (1.0 + 128.0 / bs) * slow, floor,
                0.5 + 0.4 * u3, 0.5 + 0.5 * u4)

    def __call__(self, config: Mapping[str, Any], epoch: int) -> dict:
        # hot path of every simulation: one dict lookup, one sin, no function calls of our own
        key = (config["learning_rate"], config["batch_size"])
        trial = self._cache.get(key)
        if trial is None:
            if len(self._cache) > _CACHE_SIZE:
                self._cache.clear()
            trial = self._cache[key] = self._trial(float(key[0]), float(key[1]), config)
        h, time, floor, span, power = trial
        x = _sin(h + epoch * 0.917) * 43758.5453
        u = x - _floor(x)                 # per-epoch uniform: time jitter
        x = u * 9973.0
        u2 = x - _floor(x)                # a second one: metric noise
        err = floor + span * epoch ** -power + self.noise * (2.0 * u2 - 1.0) if epoch >= 1 else 0.9
        return {"validation_error": err if err < 0.9 else 0.9,  # 0.9: chance level, 10 classes
                "time": time * (0.9 + 0.2 * u)}


class CurvesObjective:
    """Smooth learning curves ``a + b * epoch**-c`` (the shape ASHA's rank correlation relies on)."""

    names = ("x1", "x2", "width")

    def __init__(self, seed: int = 0, epoch_time: float = 1.0, noise: float = 0.01):
        self.seed = int(seed)
        self.epoch_time = float(epoch_time)
        self.noise = float(noise)
        self._cache: dict = {}

    def with_seed(self, seed: int) -> "CurvesObjective":
        return CurvesObjective(seed, self.epoch_time, self.noise)

    def __repr__(self) -> str:
        return f"CurvesObjective(seed={self.seed}, epoch_time={self.epoch_time})"

    def _trial(self, x1: float, x2: float, width: float, config) -> tuple:
        h = config_code(config, self.names, self.seed)
        a = 0.05 + 0.3 * (x1 - 0.3) ** 2 + 0.05 * abs(math.log10(x2) + 2.0)
        return h, a, 0.5 + 0.5 * x1, 0.3 + 1.2 * _mix(h), self.epoch_time * (0.5 + width / 128.0)

    def __call__(self, config: Mapping[str, Any], epoch: int) -> dict:
        key = (config["x1"], config["x2"], config.get("width", 64))
        trial = self._cache.get(key)
        if trial is None:
            if len(self._cache) > _CACHE_SIZE:
                self._cache.clear()
            trial = self._cache[key] = self._trial(float(key[0]), float(key[1]), float(key[2]), config)
        h, a, b, c, time = trial
        x = _sin(h + epoch * 0.37) * 43758.5453
        u = x - _floor(x)
        x = u * 9973.0
        u2 = x - _floor(x)
        err = a + b * max(epoch, 1) ** -c + self.noise * (2.0 * u - 1.0)
        return {"loss": err, "time": time * (0.95 + 0.1 * u2)}


MF_MAX_EPOCHS = 27

MF_HARTMANN6_SPACE = dict({f"x{i}": uniform(0.0, 1.0) for i in range(1, 7)}, max_epochs=MF_MAX_EPOCHS)

MF_BRANIN_SPACE = {"x1": uniform(-5.0, 10.0), "x2": uniform(0.0, 15.0), "max_epochs": MF_MAX_EPOCHS}


class _MultiFidelity:
    """A closed-form function ``f(x, z)`` of a fidelity ``z = epoch / max_epochs`` in (0, 1].

    ``max_epochs`` is the config's own (the space's constant) when it has one.

    A report is ``loss = f(x, z) + noise * N(0, 1)`` (the normal draw a
    deterministic function of config, epoch and seed) and ``time = epoch_time``
    with a ±5 % jitter. ``value(config)`` is the noise-free loss at full fidelity,
    ``optimum`` its minimum over the space: regret is ``value(config) - optimum``.
    Subclasses set ``names``, ``space``, ``optimum`` and ``_f(x, z)``.
    """

    names: tuple = ()
    space: dict = {}
    optimum: float = 0.0
    metric = "loss"

    def __init__(self, seed: int = 0, noise: float = 0.0, epoch_time: float = 1.0,
                 max_epochs: int = MF_MAX_EPOCHS):
        if not (math.isfinite(noise) and noise >= 0):
            raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
        if not (math.isfinite(epoch_time) and epoch_time > 0):
            raise ValueError(f"epoch_time must be a finite number > 0, got {epoch_time!r}")
        if isinstance(max_epochs, bool) or not isinstance(max_epochs, int) or max_epochs < 1:
            raise ValueError(f"max_epochs must be an integer >= 1, got {max_epochs!r}")
        self.seed, self.noise, self.epoch_time, self.max_epochs = int(seed), float(noise), float(epoch_time), max_epochs

    def with_seed(self, seed: int):
        return type(self)(seed, self.noise, self.epoch_time, self.max_epochs)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(seed={self.seed}, noise={self.noise}, epoch_time={self.epoch_time}, "
                f"max_epochs={self.max_epochs})")

    def _x(self, config: Mapping[str, Any]) -> list:
        return [float(config[name]) for name in self.names]

    def value(self, config: Mapping[str, Any], z: float = 1.0) -> float:
        """The noise-free loss of `config` at fidelity `z` (1: full fidelity)."""
        return self._f(self._x(config), z)

    def __call__(self, config: Mapping[str, Any], epoch: int) -> dict:
        top = config.get("max_epochs", self.max_epochs)
        if not 1 <= epoch <= top:
            raise ValueError(f"epoch {epoch} outside 1..{top}")
        h = config_code(config, self.names, self.seed) + epoch * 0.917
        u1, u2 = _mix(h), _mix(h + 0.5)
        loss = self._f(self._x(config), epoch / top) + self.noise * _normal(u1, u2)
        return {self.metric: loss, "time": self.epoch_time * (0.95 + 0.1 * _mix(h + 0.25))}


_H6_ALPHA = (1.0, 1.2, 3.0, 3.2)
_H6_A = ((10.0, 3.0, 17.0, 3.5, 1.7, 8.0), (0.05, 10.0, 17.0, 0.1, 8.0, 14.0),
         (3.0, 3.5, 1.7, 10.0, 17.0, 8.0), (17.0, 8.0, 0.05, 10.0, 0.1, 14.0))
_H6_P = ((0.1312, 0.1696, 0.5569, 0.0124, 0.8283, 0.5886), (0.2329, 0.4135, 0.8307, 0.3736, 0.1004, 0.9991),
         (0.2348, 0.1451, 0.3522, 0.2883, 0.3047, 0.6650), (0.4047, 0.8828, 0.8732, 0.5743, 0.1091, 0.0381))


class MFHartmann6(_MultiFidelity):
    """Multi-fidelity Hartmann-6 (BOCA, Kandasamy et al. 2017), as a loss to minimise.

    ``loss(x, z) = -sum_i (alpha_i - 0.1 (1 - z)) exp(-sum_j A_ij (x_j - P_ij)^2)``
    on ``[0, 1]^6``, BOCA's four fidelity coordinates all set to ``z``. At
    ``z = 1`` it is the standard Hartmann-6; its minimum is -3.32237 at
    ``x* = (0.20169, 0.15001, 0.47687, 0.27533, 0.31165, 0.65730)``.

    >>> f = MFHartmann6(noise=0.0)
    >>> round(f.value(dict(zip(f.names, MFHartmann6.argmin))) - f.optimum, 5)
    0.0
    >>> f(dict(zip(f.names, MFHartmann6.argmin)), 1)["loss"] > f.optimum   # a low fidelity is worse
    True
    """

    names = tuple(f"x{i}" for i in range(1, 7))
    space = MF_HARTMANN6_SPACE
    argmin = (0.20168952, 0.15001069, 0.47687398, 0.27533243, 0.31165162, 0.65730054)
    optimum = -3.322368011415512

    def _f(self, x: list, z: float) -> float:
        total = 0.0
        for alpha, a_row, p_row in zip(_H6_ALPHA, _H6_A, _H6_P):
            total += (alpha - 0.1 * (1.0 - z)) * math.exp(-sum(a * (xj - p) ** 2
                                                                for a, xj, p in zip(a_row, x, p_row)))
        return -total


class MFBranin(_MultiFidelity):
    """Multi-fidelity Branin (BOCA, Kandasamy et al. 2017) on ``[-5, 10] x [0, 15]``.

    ``loss(x, z) = (x2 - b(z) x1^2 + c(z) x1 - 6)^2 + 10 (1 - t(z)) cos(x1) + 10`` with
    ``b(z) = 5.1 / (4 pi^2) - 0.01 (1 - z)``, ``c(z) = 5 / pi - 0.1 (1 - z)``,
    ``t(z) = 1 / (8 pi) + 0.05 (1 - z)`` (BOCA's three fidelity coordinates all
    ``z``). At ``z = 1`` it is the standard Branin: minimum 0.397887 at
    ``(-pi, 12.275)``, ``(pi, 2.275)`` and ``(9.42478, 2.475)``.

    >>> f = MFBranin()
    >>> round(f.value({"x1": math.pi, "x2": 2.275}) - f.optimum, 5)
    0.0
    """

    names = ("x1", "x2")
    space = MF_BRANIN_SPACE
    argmin = (math.pi, 2.275)
    optimum = 0.397887357729738

    def _f(self, x: list, z: float) -> float:
        x1, x2 = x
        b = 5.1 / (4.0 * math.pi ** 2) - 0.01 * (1.0 - z)
        c = 5.0 / math.pi - 0.1 * (1.0 - z)
        t = 1.0 / (8.0 * math.pi) + 0.05 * (1.0 - z)
        return (x2 - b * x1 ** 2 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * math.cos(x1) + 10.0


OBJECTIVES = {
    "straggler": (StragglerObjective, STRAGGLER_SPACE, "validation_error", "min"),
    "curves": (CurvesObjective, CURVES_SPACE, "loss", "min"),
    "mf-hartmann6": (MFHartmann6, MF_HARTMANN6_SPACE, "loss", "min"),
    "mf-branin": (MFBranin, MF_BRANIN_SPACE, "loss", "min"),
}
