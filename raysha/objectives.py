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


OBJECTIVES = {
    "straggler": (StragglerObjective, STRAGGLER_SPACE, "validation_error", "min"),
    "curves": (CurvesObjective, CURVES_SPACE, "loss", "min"),
}
