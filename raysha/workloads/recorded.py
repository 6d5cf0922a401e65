"""Replay recorded LeNet learning curves: a tabulated objective for the simulator.

``raysha/data/lenet_curves.parquet`` holds real per-epoch curves of d2l's
LeNet on Fashion-MNIST (see ``raysha/data/README.md`` for how they were
recorded). `RecordedObjective` answers ``objective(config, epoch)`` with the
curve of the recorded configuration nearest to ``config`` (distance in
``log(learning_rate)`` and ``batch_size``, each scaled to its range in d2l's
space), so the simulator can run ASHA against real learning curves and real
epoch times in seconds instead of minutes::

    from raysha import simulate, StopCriterion
    objective = RecordedObjective()
    scheduler = ASHA(objective.space, metric="validation_error", mode="min", ...)
    simulate(scheduler, objective, n_workers=4, stop=StopCriterion(max_wallclock_time=720))

No torch, no Ray: pandas and numpy only.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Optional, Union

import numpy as np

DEFAULT_PATH = Path(__file__).resolve().parent.parent / "data" / "lenet_curves.parquet"

LR_RANGE = (1e-2, 1.0)
BATCH_RANGE = (32, 256)


class RecordedObjective:
    """``objective(config, epoch)`` → ``{"validation_error", "train_loss", "time"}`` from recorded curves.

    ``time`` is the recorded wall-clock seconds of that epoch (training plus
    evaluation). The answer is the row of the nearest recorded configuration at
    that epoch; `nearest(config)` tells which one. Epochs beyond the recording
    raise ``ValueError``.
    """

    def __init__(self, path: Optional[Union[str, Path]] = None):
        import pandas as pd
        import pyarrow.parquet as pq

        from raysha.space import loguniform, randint

        self.path = Path(path) if path is not None else DEFAULT_PATH
        if not self.path.exists():
            raise FileNotFoundError(f"recorded curves not found: {self.path}")
        table = pq.read_table(self.path)
        raw = (table.schema.metadata or {}).get(b"raysha")
        self.metadata: dict = json.loads(raw) if raw else {}
        df: pd.DataFrame = table.to_pandas().sort_values(["config_id", "epoch"]).reset_index(drop=True)
        self.curves = df
        configs = df.groupby("config_id", sort=True)[["learning_rate", "batch_size"]].first()
        self.config_ids = configs.index.to_numpy()
        self._lr = configs["learning_rate"].to_numpy(dtype=float)
        self._bs = configs["batch_size"].to_numpy(dtype=float)
        self._points = np.stack([self._scale_lr(self._lr), self._scale_bs(self._bs)], axis=1)
        self.max_epochs = int(df["epoch"].max())
        # Dense [config, epoch] arrays for O(1) lookup.
        n, m = len(self.config_ids), self.max_epochs
        pos = {cid: i for i, cid in enumerate(self.config_ids)}
        self._err = np.full((n, m), np.nan)
        self._loss = np.full((n, m), np.nan)
        self._time = np.full((n, m), np.nan)
        rows = np.fromiter((pos[c] for c in df["config_id"]), dtype=np.int64, count=len(df))
        cols = df["epoch"].to_numpy(dtype=np.int64) - 1
        self._err[rows, cols] = df["validation_error"].to_numpy(dtype=float)
        self._loss[rows, cols] = df["train_loss"].to_numpy(dtype=float)
        self._time[rows, cols] = df["epoch_time"].to_numpy(dtype=float)
        self.space = {"learning_rate": loguniform(*LR_RANGE), "batch_size": randint(*BATCH_RANGE),
                      "max_epochs": self.max_epochs}

    @staticmethod
    def _scale_lr(lr):
        lo, hi = math.log(LR_RANGE[0]), math.log(LR_RANGE[1])
        return (np.log(lr) - lo) / (hi - lo)

    @staticmethod
    def _scale_bs(bs):
        return (np.asarray(bs, dtype=float) - BATCH_RANGE[0]) / (BATCH_RANGE[1] - BATCH_RANGE[0])

    def _index(self, config: Mapping[str, Any]) -> int:
        lr = float(config["learning_rate"])
        bs = float(config["batch_size"])
        if not lr > 0:
            raise ValueError(f"learning_rate must be > 0, got {lr}")
        q = np.array([self._scale_lr(lr), self._scale_bs(bs)])
        d = ((self._points - q) ** 2).sum(axis=1)
        return int(np.argmin(d))     # ties: the lowest config_id

    def nearest(self, config: Mapping[str, Any]) -> dict:
        """The recorded configuration used for `config`: config_id, learning_rate, batch_size."""
        i = self._index(config)
        return {"config_id": int(self.config_ids[i]), "learning_rate": float(self._lr[i]),
                "batch_size": int(self._bs[i])}

    def curve(self, config: Mapping[str, Any]):
        """The nearest recorded configuration's rows (a pandas DataFrame, one per epoch)."""
        cid = self.nearest(config)["config_id"]
        return self.curves[self.curves.config_id == cid].reset_index(drop=True)

    def __call__(self, config: Mapping[str, Any], epoch: int) -> dict:
        epoch = int(epoch)
        if not 1 <= epoch <= self.max_epochs:
            raise ValueError(f"epoch {epoch} outside the recorded range 1..{self.max_epochs}")
        i = self._index(config)
        j = epoch - 1
        return {"validation_error": float(self._err[i, j]), "train_loss": float(self._loss[i, j]),
                "time": float(self._time[i, j])}

    def __len__(self) -> int:
        return len(self.config_ids)

    def __repr__(self) -> str:
        return (f"RecordedObjective({len(self)} configurations x {self.max_epochs} epochs, "
                f"path={str(self.path)!r})")


__all__ = ["RecordedObjective", "DEFAULT_PATH"]
