"""What both loggers need from a result row: its numeric metrics and a printable config."""

from __future__ import annotations

import math
import os
import numbers
from typing import Mapping

# bookkeeping columns of a result row: not metrics
NOT_METRICS = {"trial_id", "tuner_time", "worker_time", "node", "worker", "decision", "bracket"}


def metrics_of(row: Mapping, resource_attr: str) -> dict[str, float]:
    """The row's finite numeric metrics (config columns, bookkeeping and the resource left out)."""
    out = {}
    for k, v in row.items():
        if k in NOT_METRICS or k == resource_attr or str(k).startswith("config_"):
            continue
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            continue
        v = float(v)
        if math.isfinite(v):
            out[str(k)] = v
    return out


def plain_params(config: Mapping) -> dict:
    """The config with values a logger accepts as hyperparameters: bool, int, float or str."""
    out = {}
    for k, v in config.items():
        if isinstance(v, (bool, str)):
            out[str(k)] = v
        elif isinstance(v, numbers.Integral):
            out[str(k)] = int(v)
        elif isinstance(v, numbers.Real):
            out[str(k)] = float(v)
        else:
            out[str(k)] = str(v)
    return out


def local_folder(folder: str, name: str) -> str:
    """Where a logger writes by default: the experiment folder, or ``./raysha-logs/<name>`` for a URI."""
    from raysha.runtime.storage import Storage

    store = Storage(folder)
    return store.base if store.local else os.path.join("raysha-logs", name)
