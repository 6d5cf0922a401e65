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


def _store(folder):
    """A `Storage` for `folder` (a Storage, a path or a ``pyarrow.fs`` URI)."""
    from raysha.runtime.storage import Storage

    return folder if isinstance(folder, Storage) else Storage(folder)


def _json_bytes(data: Mapping) -> bytes:
    return (json.dumps(data, indent=2, default=_json_default, allow_nan=True) + "\n").encode()


def _read_json(store, rel: str) -> dict:
    try:
        return store.read_json(rel)
    except ValueError as e:
        raise ResultsError(f"{e}; is this a raysha experiment folder?") from None


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def is_part(name: str) -> bool:
    return name.startswith("part-") and name.endswith(".parquet") and name[5:-8].isdigit()


def _part_names(store, sub: str) -> list[str]:
    return [n for n in store.list(sub) if is_part(n)]


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


def _known_types(sub: str) -> dict:
    """Arrow types of the columns raysha itself writes, so that a part where one is all-null still has it."""
    import pyarrow as pa

    text, integer, real = pa.large_string(), pa.int64(), pa.float64()
    if sub == JOBS_DIR:
        return {"worker": integer, "trial_id": integer, "start": real, "end": real, "start_resource": real,
                "end_resource": real, "kind": text, "end_reason": text, "attempt": integer,
                "restored_from": text, "node": text}
    return {"trial_id": integer, "tuner_time": real, "worker_time": real, "node": text, "worker": integer,
            "decision": text}


def _table(df: pd.DataFrame, schema: dict):
    """`df` as an arrow table whose columns take the types the folder already has for them.

    An all-null column gets the type the folder knows (else it stays null until a value comes).
    """
    import pyarrow as pa

    table = pa.Table.from_pandas(_to_arrow_safe(df), preserve_index=False)
    for i, f in enumerate(table.schema):
        known = schema.get(f.name)
        if known is None or f.type == known:
            if not pa.types.is_null(f.type):
                schema.setdefault(f.name, f.type)
            continue
        if pa.types.is_null(f.type):
            table = table.set_column(i, pa.field(f.name, known), pa.nulls(len(table), known))
    return table   # other differences (a metric int here, float there): compaction unites the types


def _parquet_bytes(table) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def read_part(store, rel: str):
    """One parquet part as an arrow table; `ResultsError` naming the file when it is missing or unreadable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(pa.BufferReader(store.read(rel)))
    except FileNotFoundError:
        raise ResultsError(f"{store.where(rel)} is missing") from None
    except (pa.ArrowException, OSError) as e:
        raise ResultsError(f"{store.where(rel)} is not a readable parquet file ({type(e).__name__}: {e})") from None


def _read_parts(store, sub: str, names: Optional[Iterable[str]] = None) -> pd.DataFrame:
    names = _part_names(store, sub) if names is None else list(names)
    frames = [read_part(store, f"{sub}/{n}").to_pandas() for n in names]
    frames = [f for f in frames if len(f.columns)]
    if not frames:
        return pd.DataFrame()
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True, sort=False)


def compact_parts(store, sub: str, names: list[str], first_index: int, max_rows: int = 200_000) -> list:
    """Rewrite the parts `names` of folder `sub` as few parts (`max_rows` rows each) of one schema.

    The new parts are numbered from `first_index` and written before anything is deleted;
    the caller lists them (the journal) and only then deletes the old ones. Returns
    [(new name, its arrow table)].
    """
    import pyarrow as pa

    tables = [read_part(store, f"{sub}/{n}") for n in names]
    tables = [t.replace_schema_metadata(None) for t in tables if t.num_columns]
    if not tables:
        return []
    table = pa.concat_tables(tables, promote_options="permissive")
    out = []
    for k, offset in enumerate(range(0, max(table.num_rows, 1), max_rows)):
        name = part_name(first_index + k)
        piece = table.slice(offset, max_rows)
        store.write(f"{sub}/{name}", _parquet_bytes(piece))
        out.append((name, piece))
    return out


class ResultsWriter:
    """Appends report rows (and job spans) to an experiment folder, one parquet part per flush.

    Used by the Ray runtime (the scheduler actor is the only writer) and by
    `Experiment.save`. `folder` is a path, a ``pyarrow.fs`` URI or a
    `raysha.runtime.storage.Storage`. Reopening a folder of the *same* experiment (same
    ``name`` / ``experiment_id``, e.g. on restore) continues its part numbering;
    a folder of another experiment is refused so results never mix.

    Rows leave the queue only once their part is written completely: a `flush` that
    fails (`raysha.runtime.storage.StorageError`) keeps them queued for the next one,
    and `parts` lists only parts written completely.

    >>> import tempfile
    >>> w = ResultsWriter(tempfile.mkdtemp(), {"name": "demo", "metric": "loss"})
    >>> w.append({"trial_id": 0, "epoch": 1, "loss": 0.5})
    >>> w.pending, w.flush(), w.pending, w.parts["results"]
    (1, None, 0, ['part-00000.parquet'])
    """

    def __init__(self, folder, metadata: Mapping[str, Any]):
        self.storage = _store(folder)
        self.folder = self.storage.root
        if self.storage.is_file(""):
            raise ResultsError(f"{self.storage.where()} exists and is not a folder")
        meta = dict(metadata)
        old = _read_json(self.storage, EXPERIMENT_FILE)
        if old is not None:
            meta = self._reopened(old, meta)
        else:
            meta.setdefault("experiment_id", uuid.uuid4().hex[:12])
            meta.setdefault("name", meta["experiment_id"])
            meta["created"] = datetime.now(timezone.utc).isoformat()
        meta["versions"] = _versions()
        self.metadata = meta
        self.storage.write(EXPERIMENT_FILE, _json_bytes(meta))
        self._rows: list[dict] = []
        self._jobs: list[dict] = []
        self.parts = {RESULTS_DIR: _part_names(self.storage, RESULTS_DIR), JOBS_DIR: _part_names(self.storage, JOBS_DIR)}
        self._schemas: dict = {RESULTS_DIR: _known_types(RESULTS_DIR), JOBS_DIR: _known_types(JOBS_DIR)}
        self.part_rows: dict = {}   # results part -> {trial_id: [resource levels]} (what a lost part held)
        self.closed = False

    def _reopened(self, old: dict, meta: dict) -> dict:
        given = {k: meta.get(k) for k in ("name", "experiment_id") if meta.get(k) is not None}
        if not given:
            raise ResultsError(
                f"{self.storage.where()} already holds an experiment ({old.get('name')!r}, id "
                f"{old.get('experiment_id')!r}); pass its name/experiment_id to continue it, "
                f"or choose another folder")
        for key, value in given.items():
            if old.get(key) is not None and old.get(key) != value:
                raise ResultsError(
                    f"{self.storage.where()} holds results of another experiment: its {key} is "
                    f"{old.get(key)!r}, this one's is {value!r}; choose another folder")
        merged = dict(old)
        merged.update(meta)
        merged["created"] = old.get("created", merged.get("created"))
        merged["reopened"] = datetime.now(timezone.utc).isoformat()
        return merged

    @property
    def pending(self) -> int:
        """Report rows queued and not yet in a part."""
        return len(self._rows)

    def _next_index(self, sub: str) -> int:
        names = self.parts[sub] + _part_names(self.storage, sub)
        return max((int(n[5:10]) for n in names), default=-1) + 1

    def append(self, row: Mapping[str, Any]) -> None:
        """Queue one report row; it reaches storage at the next `flush`."""
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
            self._write(RESULTS_DIR, df.reset_index(drop=True))
        if jobs is not None and len(jobs):
            self._write(JOBS_DIR, jobs.reset_index(drop=True))

    def _write(self, sub: str, df: pd.DataFrame) -> str:
        name = part_name(self._next_index(sub))
        self.storage.write(f"{sub}/{name}", _parquet_bytes(_table(df, self._schemas[sub])))
        self.parts[sub].append(name)
        if sub == RESULTS_DIR:
            self._index(name, df)
        return name

    def _index(self, name: str, df: pd.DataFrame) -> None:
        attr = self.metadata.get("resource_attr")
        if attr in df.columns and "trial_id" in df.columns:
            self.part_rows[name] = {str(int(t)): sorted(float(v) for v in g[attr])
                                    for t, g in df[["trial_id", attr]].groupby("trial_id")}

    def flush(self) -> None:
        """Write pending rows as a new part (atomically); on failure they stay queued and it raises.

        Nothing happens when none are pending.
        """
        if self._rows:
            self._write(RESULTS_DIR, pd.DataFrame(self._rows))
            self._rows = []
        if self._jobs:
            self._write(JOBS_DIR, pd.DataFrame(self._jobs))
            self._jobs = []

    def compact(self, max_rows: int = 200_000) -> list[str]:
        """Rewrite each folder's parts as few parts of one schema; returns the replaced part paths.

        The replaced parts are still there: delete them (`delete_parts`) once whatever lists
        the parts (the journal) names the new ones.
        """
        self.flush()
        replaced = []
        for sub in (RESULTS_DIR, JOBS_DIR):
            old = list(self.parts[sub])
            if len(old) <= 1:
                continue
            new = compact_parts(self.storage, sub, old, self._next_index(sub), max_rows)
            self.parts[sub] = [name for name, _ in new]
            replaced += [f"{sub}/{n}" for n in old]
            if sub == RESULTS_DIR:
                for n in old:
                    self.part_rows.pop(n, None)
                for name, table in new:
                    self._index(name, table.to_pandas())
        return replaced

    def delete_parts(self, paths: Iterable[str]) -> None:
        for rel in paths:
            self.storage.delete(rel)

    def update_metadata(self, **fields) -> None:
        """Add fields to experiment.json (e.g. ``status="finished"``, a summary)."""
        self.metadata.update(fields)
        self.storage.write(EXPERIMENT_FILE, _json_bytes(self.metadata))

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

    # -- checkpoints ------------------------------------------------------------
    def best_checkpoint(self):
        """The final checkpoint of the best trial kept (``Tuner(keep_checkpoints=k)``), or None."""
        kept = self.summary.get("best_checkpoints") or []
        return self.checkpoint(kept[0]["trial_id"]) if kept else None

    def checkpoint(self, trial_id: int):
        """The saved checkpoint of `trial_id` (its kept final one, else its paused one), or None when none is kept."""
        from raysha.runtime import checkpoints as ck

        if self.path is None:
            return None
        store = _store(self.path)
        rel = _checkpoint_path(self.summary, store, int(trial_id))
        return None if rel is None else ck.read_durable(store, rel)

    # -- persistence ------------------------------------------------------------
    def save(self, folder) -> Path:
        """Write this (in-memory, e.g. simulated) experiment as an experiment folder (a path or a URI)."""
        meta = {k: v for k, v in self.metadata.items() if k not in ("versions", "created", "reopened")}
        writer = ResultsWriter(folder, meta)
        writer.append_frame(self.results, self.jobs)
        writer.close()
        self.path = writer.folder
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


def _checkpoint_path(summary: dict, store, trial_id: int) -> Optional[str]:
    """Where `trial_id`'s checkpoint is: the summary's kept finals, else the journal's paused trials."""
    from raysha.runtime import journal as jn
    from raysha.runtime.storage import confine

    for e in summary.get("best_checkpoints") or []:
        if int(e["trial_id"]) == trial_id and e.get("durable"):
            return confine(e["durable"])
    state = jn.read_state(store) or {}
    for source in (state.get("finals") or {}, state.get("checkpoints") or {}):
        e = source.get(str(trial_id)) or {}
        if e.get("durable"):
            return confine(e["durable"])
    return None


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def load_experiment(path) -> Experiment:
    """Read an experiment folder (a path or a ``pyarrow.fs`` URI), finished or still running."""
    store = _store(path)
    meta = _read_json(store, EXPERIMENT_FILE)
    if meta is None:
        if not store.exists(""):
            raise ResultsError(f"no experiment folder at {store.where()}")
        raise ResultsError(f"{store.where()} has no {EXPERIMENT_FILE}: not a raysha experiment folder")
    results = _read_parts(store, RESULTS_DIR)
    jobs = _read_parts(store, JOBS_DIR)
    if "tuner_time" in results.columns and len(results):
        results = results.sort_values("tuner_time", kind="stable").reset_index(drop=True)
    return Experiment(results, meta, jobs if len(jobs.columns) else None, path=store.root)


def as_experiment(obj) -> Experiment:
    """An `Experiment` from an Experiment or a folder path."""
    if isinstance(obj, Experiment):
        return obj
    return load_experiment(obj)
