"""The experiment journal: ``scheduler_state.json``, one consistent snapshot of the run per results flush.

The scheduler actor journals its state to the experiment folder in one step
with the results: it writes the pending report rows and job spans as parquet
parts, then atomically replaces ``scheduler_state.json`` (write to a temporary
name, ``os.replace``). The snapshot names the part files it has seen committed,
so results and state always describe the same moment:

* a part written after the last snapshot (the crash came between the two
  writes) is not listed; on restore it is deleted and its reports are produced
  again by the trials that re-run, so nothing is logged twice;
* a report in a listed part is also in the snapshot's scheduler state and in
  ``max_recorded``, so it is never logged again and never lost.

Durable checkpoint copies that a newer pause replaced, or that the scheduler
freed, are deleted only after a snapshot that no longer refers to them is on
disk, so every checkpoint the journal names exists.

When the run stops on purpose (time budget, Ctrl-C, ``max_results``, target
metric), the journal is written once more at that moment and then kept: a
restore re-runs the trials that were running then, instead of leaving them
"interrupted" (their reports during the stop's grace period are in parts the
restore drops and re-produces). A run that ends because the scheduler has
nothing left to do writes its final snapshot with ``finished: true``.

Format (JSON, ``"format": "raysha-journal/1"``)::

    seq            snapshots written by this run (restarts carry it on)
    wall_time      time.time() when written
    elapsed        seconds on the experiment's clock (tuner_time) when written
    finished       true once the run ended with nothing left to run
    scheduler      scheduler.state_dict() (rungs, trials, rng, counters)
    checkpoints    {trial_id: {"resource": level, "durable": path or null}}: the latest
                   checkpoint of each trial that has one (paused, or running after a resume)
    max_recorded   {trial_id: largest resource level in the committed results}
    n_results, n_started, started_ids
    parts          {"results": [part file names], "jobs": [...]}: the committed parts
    best           {"value", "trial_id", <resource attr>} or null
    running        {trial_id: {"start", "until"}}: jobs running when written (information)
    n_restarts     how many times this experiment was continued (restore or actor restart)
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Optional

STATE_FILE = "scheduler_state.json"
FORMAT = "raysha-journal/1"
KINDS = ("results", "jobs")


def state_path(folder) -> str:
    return os.path.join(str(folder), STATE_FILE)


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return repr(o)
    return str(o)


def write_state(folder, state: dict) -> None:
    """Atomically replace the folder's journal with `state` (readers see the old or the new one)."""
    path = state_path(folder)
    tmp = os.path.join(str(folder), f".{STATE_FILE}.tmp")
    with open(tmp, "w") as f:
        json.dump(state, f, default=_json_default)
    os.replace(tmp, path)


def read_state(folder) -> Optional[dict]:
    """The folder's journal, or None when it has none."""
    path = state_path(folder)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def is_journal(state: Optional[dict]) -> bool:
    """A journal written with the committed parts (older snapshots lack them)."""
    return bool(state) and state.get("format") == FORMAT and "parts" in state


def committed_parts(folder) -> dict:
    """{"results": [names], "jobs": [names]}: the part files in the folder now."""
    from raysha.results import JOBS_DIR, RESULTS_DIR, _part_files

    return {"results": [p.name for p in _part_files(Path(folder) / RESULTS_DIR)],
            "jobs": [p.name for p in _part_files(Path(folder) / JOBS_DIR)]}


def reconcile(folder, state: dict) -> list[str]:
    """Make the folder's results agree with the journal `state`: delete parts it does not list.

    Also removes half-written temporary parts. Returns the names of the files removed.
    A snapshot without a parts list (older format) changes nothing.
    """
    from raysha.results import JOBS_DIR, RESULTS_DIR

    if not is_journal(state):
        return []
    removed = []
    for kind, sub in (("results", RESULTS_DIR), ("jobs", JOBS_DIR)):
        keep = set(state["parts"].get(kind) or [])
        d = Path(folder) / sub
        if not d.is_dir():
            continue
        for p in d.iterdir():
            stray_tmp = p.name.startswith(".part-") and p.name.endswith(".tmp")
            unlisted = p.name.startswith("part-") and p.name.endswith(".parquet") and p.name not in keep
            if stray_tmp or unlisted:
                try:
                    p.unlink()
                    removed.append(f"{sub}/{p.name}")
                except FileNotFoundError:
                    pass
    return removed


def stray_checkpoints(checkpoint_dir: Optional[str], state: dict) -> list[str]:
    """Durable copies in a local `checkpoint_dir` that the journal `state` does not name.

    They were written after the last snapshot (a pause whose job returned after it) or are
    half-written temporaries; the restored run never reads them. URIs are left alone.
    """
    if not checkpoint_dir or "://" in checkpoint_dir or not is_journal(state):
        return []
    root = Path(os.path.expanduser(checkpoint_dir))
    if not root.is_dir():
        return []
    named = {os.path.abspath(e["durable"]) for e in (state.get("checkpoints") or {}).values()
             if e.get("durable") and "://" not in e["durable"]}
    return [str(p) for p in root.glob("trial_*/*") if p.is_file() and str(p.absolute()) not in named]


def max_recorded_from_parts(folder, resource_attr: str) -> dict:
    """{trial_id: largest resource level} read from the results parts (older snapshots lack it)."""
    from raysha.results import RESULTS_DIR, _read_parts

    df = _read_parts(Path(folder) / RESULTS_DIR)
    if not len(df) or "trial_id" not in df.columns or resource_attr not in df.columns:
        return {}
    return {int(t): float(r) for t, r in df.groupby("trial_id")[resource_attr].max().items()}


__all__ = ["STATE_FILE", "FORMAT", "write_state", "read_state", "is_journal", "committed_parts",
           "reconcile", "stray_checkpoints", "max_recorded_from_parts", "state_path"]
