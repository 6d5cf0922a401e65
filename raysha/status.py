"""``raysha status PATH``: where an experiment stands, read from its folder (local or URI).

Works on a running, crashed or finished experiment: it reads only what the run
writes (``experiment.json``, the journal ``scheduler_state.json``, the lease, the
results parts), never talks to Ray, and changes nothing.

Whether it still runs: a lease (``lease/<generation>.json``) with a fresh heartbeat
means running, a released one means ended; without a lease the journal's age
decides (written in the last `RECENT_S` seconds: running).

>>> import tempfile, json, os
>>> d = tempfile.mkdtemp()
>>> _ = open(os.path.join(d, "experiment.json"), "w").write(json.dumps({"name": "x", "metric": "loss"}))
>>> read_status(d)["state"]
'not running (no journal, no summary)'
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import time
from typing import Any, Optional

RECENT_S = 120.0           # a journal written this recently (and no lease): the run is taken as running
HEARTBEAT_STALE_S = 30.0   # a lease whose heartbeat is older: its driver is gone (as raysha.runtime.lease)


class StatusError(Exception):
    """PATH is not an experiment folder (no experiment.json)."""


class _Folder:
    """Read-only files under an experiment root (a `raysha.runtime.storage.Storage`: a folder or any URI)."""

    def __init__(self, root: str):
        from raysha.runtime.storage import Storage

        self.store = Storage(root)

    def read_bytes(self, rel: str) -> Optional[bytes]:
        try:
            return self.store.read(rel)
        except (FileNotFoundError, OSError, RuntimeError):
            return None

    def read_json(self, rel: str) -> Optional[dict]:
        data = self.read_bytes(rel)
        return None if data is None else json.loads(data)

    def list(self, rel: str) -> list[str]:
        try:
            return self.store.list(rel)
        except (OSError, RuntimeError):
            return []

    def results(self):
        import pandas as pd

        parts = [p for p in self.list("results") if p.startswith("part-") and p.endswith(".parquet")]
        frames = [pd.read_parquet(io.BytesIO(b)) for b in (self.read_bytes(f"results/{p}") for p in parts) if b]
        frames = [f for f in frames if len(f)]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _lease(folder: _Folder) -> Optional[dict]:
    gens = [n for n in folder.list("lease") if n.endswith(".json") and n[:-5].isdigit()]
    if not gens:
        return None
    return folder.read_json(f"lease/{max(gens, key=lambda n: int(n[:-5]))}") or {}


def _state(meta: dict, journal: Optional[dict], lease: Optional[dict], now: float) -> str:
    if meta.get("status") == "finished" or meta.get("summary") or (journal or {}).get("finished"):
        return "finished"
    if lease is not None:
        age = now - float(lease.get("heartbeat") or 0)
        if not lease.get("released") and age <= HEARTBEAT_STALE_S:
            return f"running (driver {lease.get('holder')} on {lease.get('host')}, heartbeat {age:.0f} s ago)"
        if lease.get("released"):
            return "stopped (its driver released the experiment before the end; continue it with --resume)"
        return f"crashed or killed (last heartbeat {_ago(age)} ago); continue it with `raysha run --resume`"
    if journal is None:
        return "not running (no journal, no summary)"
    age = now - float(journal.get("wall_time") or 0)
    if age <= RECENT_S:
        return f"running (journal written {age:.0f} s ago)"
    return f"crashed or killed (journal last written {_ago(age)} ago); continue it with `raysha run --resume`"


def _ago(seconds: float) -> str:
    s = int(max(0, seconds))
    return f"{s // 3600} h {s % 3600 // 60} min" if s >= 3600 else (f"{s // 60} min" if s >= 60 else f"{s} s")


def _counts(summary: dict, journal: Optional[dict]) -> dict:
    counts = summary.get("counts") or summary.get("trial_status")
    if counts:
        return {k: int(v) for k, v in counts.items()}
    out: dict = {}
    for t in ((journal or {}).get("scheduler") or {}).get("trials", []):
        out[t["status"]] = out.get(t["status"], 0) + 1
    return out


def _rungs(meta: dict, summary: dict, journal: Optional[dict], results) -> dict:
    """{bracket: {level: trials recorded there}}: from the run's summary or journal, else from the results."""
    rungs = summary.get("rung_sizes") or summary.get("rungs") or (journal or {}).get("rungs")
    if rungs:
        return {str(b): {str(lv): n for lv, n in sizes.items()} for b, sizes in rungs.items()}
    sched = meta.get("scheduler")   # the simulator's: a dict; the runtime's: a name, with scheduler_settings
    levels = ((sched if isinstance(sched, dict) else meta.get("scheduler_settings")) or {}).get("levels") or []
    attr = meta.get("resource_attr")
    if not levels or results.empty or attr not in results.columns:
        return {}
    df = results[results[attr].isin(levels)]
    brackets = df["bracket"].fillna(0).astype(int) if "bracket" in df.columns else 0
    df = df.assign(_b=brackets)
    return {str(b): {_num(lv): int(g[g[attr] == lv]["trial_id"].nunique()) for lv in levels}
            for b, g in df.groupby("_b")} or {"0": {_num(lv): 0 for lv in levels}}


def _num(v) -> str:
    return f"{float(v):g}"


def _best(meta: dict, results) -> Optional[dict]:
    metric, attr = meta.get("metric"), meta.get("resource_attr")
    if not metric or results.empty or metric not in results.columns:
        return None
    vals = results[metric].astype(float)
    vals = vals[vals.apply(math.isfinite)]
    if vals.empty:
        return None
    row = results.loc[vals.idxmin() if meta.get("mode", "min") == "min" else vals.idxmax()]
    config = {c[len("config_"):]: _plain(row[c]) for c in results.columns if str(c).startswith("config_")}
    return {"metric": metric, "value": float(row[metric]), "trial_id": int(row["trial_id"]),
            attr: _plain(row.get(attr)), "config": config}


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def _running(journal: Optional[dict], results, attr: Optional[str]) -> list[dict]:
    out = []
    for tid, job in sorted(((journal or {}).get("running") or {}).items(), key=lambda kv: int(kv[0])):
        tid = int(tid)
        mine = results[results["trial_id"] == tid] if not results.empty else results
        reached = float(mine[attr].max()) if attr and len(mine) and attr in mine.columns else job.get("start")
        out.append({"trial_id": tid, "reached": reached, "until": job.get("until")})
    return out


def read_status(path: str, now: Optional[float] = None) -> dict:
    """The status of the experiment at `path` as a dict (what `format_status` prints)."""
    folder = _Folder(str(path))
    meta = folder.read_json("experiment.json")
    if meta is None:
        raise StatusError(f"{path}: no experiment.json there; expected a raysha experiment folder "
                          f"(<storage_path>/<name>)")
    journal = folder.read_json("scheduler_state.json")
    results = folder.results()
    summary = meta.get("summary") or {}
    state = _state(meta, journal, _lease(folder), time.time() if now is None else now)
    finished = state == "finished"
    return {
        "path": str(path), "name": meta.get("name"), "state": state,
        "elapsed": summary.get("elapsed", summary.get("end_time", (journal or {}).get("elapsed"))),
        "counts": _counts(summary, journal), "n_results": int(len(results)),
        "n_trials": int(results["trial_id"].nunique()) if "trial_id" in results.columns else 0,
        "best": _best(meta, results), "rungs": _rungs(meta, summary, journal, results),
        "running": [] if finished else _running(journal, results, meta.get("resource_attr")),
        "stop_reason": summary.get("stop_reason") or summary.get("stopped_by"),
        "resource_attr": meta.get("resource_attr"),
    }


def format_status(st: dict) -> str:
    """Plain lines, one fact each (the output of ``raysha status``)."""
    attr = st.get("resource_attr") or "resource"
    lines = [f"experiment   {st['name']}  ({st['path']})", f"state        {st['state']}"]
    if st.get("elapsed") is not None:
        lines.append(f"elapsed      {float(st['elapsed']):.1f} s")
    counts = ", ".join(f"{k} {v}" for k, v in st["counts"].items() if v) or "none yet"
    lines.append(f"trials       {st['n_trials']} reported; {counts}")
    lines.append(f"results      {st['n_results']} rows")
    b = st.get("best")
    if b:
        cfg = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in b["config"].items())
        lines.append(f"best         {b['metric']} {b['value']:.4g} (trial {b['trial_id']}, {attr} "
                     f"{b.get(attr)}): {cfg}")
    for bracket, sizes in sorted(st["rungs"].items(), key=lambda kv: int(kv[0])):
        occ = "  ".join(f"{lv}: {n}" for lv, n in sizes.items())
        lines.append(f"rungs        bracket {bracket}  {occ}   ({attr}: trials recorded)")
    if st["running"]:
        lines.append("running      " + ", ".join(
            f"trial {r['trial_id']} ({attr} {_num(r['reached']) if r['reached'] is not None else '-'}"
            f" of {_num(r['until']) if r['until'] is not None else '?'})" for r in st["running"]))
    if st.get("stop_reason"):
        lines.append(f"stop reason  {st['stop_reason']}")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", help="the experiment folder (<storage_path>/<name>), local or a URI (s3://...)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")


def handler(args: argparse.Namespace) -> int:
    import sys

    try:
        st = read_status(args.path)
    except StatusError as e:
        print(f"raysha status: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(st, indent=2, default=str) if args.json else format_status(st))
    return 0


HELP = "where an experiment stands (running, crashed or finished): counts, best, rungs, running trials"

__all__ = ["read_status", "format_status", "StatusError", "add_arguments", "handler", "HELP"]
