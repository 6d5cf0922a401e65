"""Experiment folders: metadata, results as parquet parts, job spans, and the `Experiment` view.

Layout of an experiment folder::

    experiment.json            metadata (name, experiment_id, metric, mode, resource_attr,
                               scheduler, n_workers, seed, ...) + versions + created time
    results/part-00000.parquet one row per report; written in parts so that a crash loses
    results/part-00001.parquet at most the rows not flushed yet
    jobs/part-00000.parquet    one row per job (optional): worker, trial_id, start, end,
                               start_resource, end_resource, kind, end_reason
                               -- the spans that the worker timeline draws

A report row holds ``trial_id``, the resource attribute (e.g. ``epoch``), the
metrics, ``config_*`` columns, ``tuner_time`` (seconds since the experiment
started, on the tuner's clock), optionally ``worker_time``, ``node``, ``worker``,
``decision`` and ``bracket``. Rows of different trials may carry different
metric keys: columns are united on read. The simulator also writes
``epoch_time`` (simulated seconds of that epoch) and uses ``worker_time`` for
the trial's cumulative training seconds; its end time is ``summary.end_time``
in experiment.json (the runtime's is ``summary.elapsed``).

Job spans live in their own parquet (not as report columns) because a job
can end without a report (interrupted, failed) and a timeline needs its true
start and end.

Parts are written to a hidden temporary name and renamed into place, so a
reader of a still-running folder never sees half a file.
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import uuid
from datetime import datetime, timezone
from importlib import metadata as _importlib_metadata
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import numpy as np
import pandas as pd

EXPERIMENT_FILE = "experiment.json"
RESULTS_DIR = "results"
JOBS_DIR = "jobs"
JOB_COLUMNS = ["worker", "trial_id", "start", "end", "start_resource", "end_resource", "kind", "end_reason"]


class ResultsError(ValueError):
    """An experiment folder cannot be written or read as asked (the message says why)."""


def _version(dist: str) -> Optional[str]:
    try:
        return _importlib_metadata.version(dist)
    except _importlib_metadata.PackageNotFoundError:
        return None


def _versions() -> dict:
    from raysha import __version__
    return {
        "raysha": __version__,
        "ray": _version("ray"),
        "python": platform.python_version(),
    }


def _json_default(obj):
    # numpy scalars, enums, Domains and Paths end up in metadata; keep them readable
    if hasattr(obj, "item") and callable(obj.item):
        return obj.item()
    if hasattr(obj, "value") and isinstance(getattr(obj, "value"), (str, int, float)):
        return obj.value
    if hasattr(obj, "to_json"):
        return obj.to_json()
    return str(obj)


def _write_json_atomic(path: Path, data: Mapping) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w") as f:
        json.dump(data, f, indent=2, default=_json_default, allow_nan=True)
        f.write("\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ResultsError(f"{path} is not valid JSON ({e}); is this a raysha experiment folder?") from None


def _part_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.startswith("part-") and p.name.endswith(".parquet"))


def _to_arrow_safe(df: pd.DataFrame) -> pd.DataFrame:
    """Object columns with mixed types (e.g. choice([32, "auto"])) become strings; parquet needs one type."""
    import pyarrow as pa

    for col in df.columns:
        if df[col].dtype != object:
            continue
        try:
            pa.array(df[col], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            df[col] = df[col].map(lambda v: None if v is None else (v if isinstance(v, str) else json.dumps(v, default=str)))
    return df


def _write_part(folder: Path, index: int, df: pd.DataFrame) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"part-{index:05d}.parquet"
    tmp = folder / f".part-{index:05d}.parquet.tmp"
    _to_arrow_safe(df).to_parquet(tmp, index=False)
    os.replace(tmp, final)
    return final


def _read_parts(folder: Path) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in _part_files(folder)]
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame()
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True, sort=False)


class ResultsWriter:
    """Appends report rows (and job spans) to an experiment folder, one parquet part per flush.

    Used by the Ray runtime (the scheduler actor is the only writer) and by
    `Experiment.save`. Reopening a folder of the *same* experiment (same
    ``name`` / ``experiment_id``, e.g. on restore) continues its part numbering;
    a folder of another experiment is refused so results never mix.
    """

    def __init__(self, folder, metadata: Mapping[str, Any]):
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ResultsError(f"{self.folder} exists and is not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        meta = dict(metadata)
        path = self.folder / EXPERIMENT_FILE
        if path.exists():
            old = _read_json(path)
            given = {k: meta.get(k) for k in ("name", "experiment_id") if meta.get(k) is not None}
            if not given:
                raise ResultsError(
                    f"{self.folder} already holds an experiment ({old.get('name')!r}, id "
                    f"{old.get('experiment_id')!r}); pass its name/experiment_id to continue it, "
                    f"or choose another folder"
                )
            for key, value in given.items():
                if old.get(key) is not None and old.get(key) != value:
                    raise ResultsError(
                        f"{self.folder} holds results of another experiment: its {key} is "
                        f"{old.get(key)!r}, this one's is {value!r}; choose another folder"
                    )
            merged = dict(old)
            merged.update(meta)
            merged["created"] = old.get("created", merged.get("created"))
            merged["reopened"] = datetime.now(timezone.utc).isoformat()
            meta = merged
        else:
            meta.setdefault("experiment_id", uuid.uuid4().hex[:12])
            meta.setdefault("name", meta["experiment_id"])
            meta["created"] = datetime.now(timezone.utc).isoformat()
        meta["versions"] = _versions()
        self.metadata = meta
        _write_json_atomic(path, meta)
        self._rows: list[dict] = []
        self._jobs: list[dict] = []
        self._next_part = self._next_index(self.folder / RESULTS_DIR)
        self._next_job_part = self._next_index(self.folder / JOBS_DIR)
        self.closed = False

    @staticmethod
    def _next_index(folder: Path) -> int:
        parts = _part_files(folder)
        if not parts:
            return 0
        return max(int(p.name[5:10]) for p in parts) + 1

    def append(self, row: Mapping[str, Any]) -> None:
        """Queue one report row; it reaches disk at the next `flush`."""
        if self.closed:
            raise ResultsError("ResultsWriter is closed")
        self._rows.append(dict(row))

    def append_job(self, span: Mapping[str, Any]) -> None:
        """Queue one job span (worker, trial_id, start, end, ...) for the timeline."""
        if self.closed:
            raise ResultsError("ResultsWriter is closed")
        self._jobs.append(dict(span))

    def append_frame(self, df: pd.DataFrame, jobs: Optional[pd.DataFrame] = None) -> None:
        """Write a whole DataFrame as one part now (the simulator's bulk path)."""
        self.flush()
        if len(df):
            _write_part(self.folder / RESULTS_DIR, self._next_part, df.reset_index(drop=True))
            self._next_part += 1
        if jobs is not None and len(jobs):
            _write_part(self.folder / JOBS_DIR, self._next_job_part, jobs.reset_index(drop=True))
            self._next_job_part += 1

    def flush(self) -> None:
        """Write pending rows as a new part (atomic rename); nothing happens when none are pending."""
        if self._rows:
            rows, self._rows = self._rows, []
            _write_part(self.folder / RESULTS_DIR, self._next_part, pd.DataFrame(rows))
            self._next_part += 1
        if self._jobs:
            jobs, self._jobs = self._jobs, []
            _write_part(self.folder / JOBS_DIR, self._next_job_part, pd.DataFrame(jobs))
            self._next_job_part += 1

    def update_metadata(self, **fields) -> None:
        """Add fields to experiment.json (e.g. ``status="finished"``, a summary)."""
        self.metadata.update(fields)
        _write_json_atomic(self.folder / EXPERIMENT_FILE, self.metadata)

    def close(self) -> None:
        if not self.closed:
            self.flush()
            self.closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Experiment:
    """One experiment's results: ``results`` (one row per report), ``jobs`` (spans), ``metadata``."""

    def __init__(self, results: pd.DataFrame, metadata: Mapping[str, Any],
                 jobs: Optional[pd.DataFrame] = None, path: Optional[str] = None):
        self.results = results
        self.metadata = dict(metadata)
        self.jobs = jobs if jobs is not None else pd.DataFrame(columns=JOB_COLUMNS)
        self.path = path

    def __repr__(self) -> str:
        return (f"Experiment({self.metadata.get('name')!r}, {len(self.results)} results, "
                f"{self.n_trials} trials)")

    # -- views ----------------------------------------------------------------
    @property
    def metric(self) -> Optional[str]:
        return self.metadata.get("metric")

    @property
    def mode(self) -> str:
        return self.metadata.get("mode", "min")

    @property
    def resource_attr(self) -> Optional[str]:
        return self.metadata.get("resource_attr")

    @property
    def summary(self) -> dict:
        return dict(self.metadata.get("summary") or {})

    @property
    def end_time(self) -> Optional[float]:
        """When the experiment ended on the tuner's clock: ``end_time`` (simulator) or ``elapsed`` (runtime)."""
        s = self.summary
        v = s.get("end_time", s.get("elapsed"))
        return float(v) if v is not None else None

    @property
    def n_trials(self) -> int:
        if "trial_id" in self.results.columns:
            return int(self.results["trial_id"].nunique())
        return int(self.summary.get("n_trials", 0))

    def config_columns(self) -> list[str]:
        return [c for c in self.results.columns if isinstance(c, str) and c.startswith("config_")]

    def best(self, metric: Optional[str] = None, mode: Optional[str] = None) -> Optional[pd.Series]:
        """The best report row by `metric`/`mode` (from metadata by default); NaN never wins.

        Returns None when no row has a finite value.
        """
        metric = metric or self.metric
        mode = mode or self.mode
        if metric is None:
            raise ResultsError("no metric: pass best(metric=...) or record 'metric' in the metadata")
        if mode not in ("min", "max"):
            raise ResultsError(f"mode must be 'min' or 'max', got {mode!r}")
        if metric not in self.results.columns:
            return None
        values = pd.to_numeric(self.results[metric], errors="coerce")
        values = values[np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))]
        if values.empty:
            return None
        idx = values.idxmin() if mode == "min" else values.idxmax()
        return self.results.loc[idx]

    def best_config(self, metric: Optional[str] = None, mode: Optional[str] = None) -> Optional[dict]:
        row = self.best(metric, mode)
        if row is None:
            return None
        return {c[len("config_"):]: _plain(row[c]) for c in self.config_columns()}

    def busy_fraction(self) -> Optional[float]:
        """Share of worker time spent running jobs, from time 0 to the end (from the job spans)."""
        jobs = self.jobs
        if jobs is None or jobs.empty:
            return None
        end = float(self.end_time or jobs["end"].max())
        n_workers = self.metadata.get("n_workers") or jobs["worker"].nunique()
        if end <= 0 or not n_workers:
            return None
        return float((jobs["end"] - jobs["start"]).sum()) / (end * float(n_workers))

    # -- persistence ------------------------------------------------------------
    def save(self, folder) -> Path:
        """Write this (in-memory, e.g. simulated) experiment as an experiment folder."""
        meta = {k: v for k, v in self.metadata.items() if k not in ("versions", "created", "reopened")}
        writer = ResultsWriter(folder, meta)
        writer.append_frame(self.results, self.jobs)
        writer.close()
        self.path = str(folder)
        self.metadata = writer.metadata
        return Path(folder)

    # -- plots ------------------------------------------------------------------
    def plot_learning_curves(self, path, **kw):
        from raysha import plots
        return plots.learning_curves(self, path, **kw)

    def plot_best_so_far(self, path, **kw):
        from raysha import plots
        return plots.best_so_far(self, path, **kw)

    def plot_timeline(self, path, **kw):
        from raysha import plots
        return plots.timeline(self, path, **kw)


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def load_experiment(path) -> Experiment:
    """Read an experiment folder, finished or still running (all parts present now)."""
    folder = Path(path)
    meta_path = folder / EXPERIMENT_FILE
    if not meta_path.exists():
        if not folder.exists():
            raise ResultsError(f"no experiment folder at {folder}")
        raise ResultsError(f"{folder} has no {EXPERIMENT_FILE}: not a raysha experiment folder")
    meta = _read_json(meta_path)
    results = _read_parts(folder / RESULTS_DIR)
    jobs = _read_parts(folder / JOBS_DIR)
    if "tuner_time" in results.columns and len(results):
        results = results.sort_values("tuner_time", kind="stable").reset_index(drop=True)
    return Experiment(results, meta, jobs if len(jobs.columns) else None, path=str(folder))


def as_experiment(obj) -> Experiment:
    """An `Experiment` from an Experiment or a folder path."""
    if isinstance(obj, Experiment):
        return obj
    return load_experiment(obj)
