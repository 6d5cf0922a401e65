"""The experiment journal: ``scheduler_state.json``, one consistent snapshot of the run per results flush.

Every function takes the experiment root as a `raysha.runtime.storage.Storage` (or a
path / URI, opened as one).

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
                   checkpoint of each trial that has one (paused, or running after a resume);
                   paths are relative to the experiment root (never outside it)
    max_recorded   {trial_id: largest resource level in the committed results}
    n_results, n_started, started_ids
    parts          {"results": [part file names], "jobs": [...]}: the committed parts, each
                   written completely before it is listed
    part_rows      {results part name: {trial_id: [levels]}}: what each part holds, so that
                   a restore with ``repair=True`` re-runs exactly what a lost part held
    best           {"value", "trial_id", <resource attr>} or null
    running        {trial_id: {"start", "until"}}: jobs running when written (information)
    n_restarts     how many times this experiment was continued (restore or actor restart)

Before a restore acts, `check` validates the journal against the folder: the required
fields, every listed part present and readable, every path inside the root. A bad
journal is refused with a `JournalError` naming the file; with ``repair=True`` broken
parts are dropped and their rows are to be produced again (`Checked.redo`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Optional

from raysha.runtime.storage import PathOutsideRoot, Storage, confine, is_uri

STATE_FILE = "scheduler_state.json"
FORMAT = "raysha-journal/1"
KINDS = ("results", "jobs")
REQUIRED = ("format", "scheduler", "parts")


class JournalError(ValueError):
    """The journal cannot be trusted as it is (the message names the file and what is wrong)."""


def _store(folder) -> Storage:
    return folder if isinstance(folder, Storage) else Storage(folder)


def state_path(folder) -> str:
    return _store(folder).uri(STATE_FILE)


def _json_default(o):
    if hasattr(o, "item"):
        return o.item()
    if isinstance(o, float) and not math.isfinite(o):
        return repr(o)
    return str(o)


def write_state(folder, state: dict) -> None:
    """Atomically replace the folder's journal with `state` (readers see the old or the new one)."""
    _store(folder).write(STATE_FILE, json.dumps(state, default=_json_default).encode())


def read_state(folder) -> Optional[dict]:
    """The folder's journal, or None when it has none (`ValueError` naming the file when it is not JSON)."""
    return _store(folder).read_json(STATE_FILE)


def is_journal(state: Optional[dict]) -> bool:
    """A journal written with the committed parts (older snapshots lack them)."""
    return isinstance(state, dict) and state.get("format") == FORMAT and "parts" in state


def committed_parts(folder) -> dict:
    """{"results": [names], "jobs": [names]}: the part files in the folder now."""
    from raysha.results import is_part

    store = _store(folder)
    return {kind: [n for n in store.list(kind) if is_part(n)] for kind in KINDS}


def reconcile(folder, state: dict) -> list[str]:
    """Make the folder's results agree with the journal `state`: delete parts it does not list.

    Also removes half-written temporary parts. Returns the paths removed (relative to the root).
    A snapshot without a parts list (older format) changes nothing.
    """
    from raysha.results import is_part

    if not is_journal(state):
        return []
    store = _store(folder)
    removed = []
    for kind in KINDS:
        keep = set(state["parts"].get(kind) or [])
        for name in store.list(kind):
            stray_tmp = name.startswith(".part-") and ".tmp" in name
            if stray_tmp or (is_part(name) and name not in keep):
                if store.delete(f"{kind}/{name}"):
                    removed.append(f"{kind}/{name}")
    return removed


def durable_paths(state: dict) -> set:
    """The durable checkpoint paths (relative to the root) that the journal `state` names."""
    return {e["durable"] for e in (state.get("checkpoints") or {}).values() if isinstance(e, dict) and e.get("durable")}


def stray_checkpoints(folder, state: dict, keep=()) -> list[str]:
    """Durable copies under ``checkpoints/`` that the journal `state` does not name (nor `keep`).

    They were written after the last snapshot (a pause whose job returned after it) or are
    half-written temporaries; the restored run never reads them.
    """
    if folder is None or not is_journal(state):
        return []
    named = durable_paths(state) | set(keep)
    return [p for p in _store(folder).walk("checkpoints") if p not in named]


def max_recorded_from_parts(folder, resource_attr: str) -> dict:
    """{trial_id: largest resource level} read from the results parts (older snapshots lack it)."""
    from raysha.results import RESULTS_DIR, _read_parts

    df = _read_parts(_store(folder), RESULTS_DIR)
    if not len(df) or "trial_id" not in df.columns or resource_attr not in df.columns:
        return {}
    return {int(t): float(r) for t, r in df.groupby("trial_id")[resource_attr].max().items()}


@dataclass
class Checked:
    """A journal that passed `check`: the state to continue from, what was dropped, what to produce again."""

    state: dict
    dropped: list = field(default_factory=list)     # "results/part-00003.parquet: why"
    redo: dict = field(default_factory=dict)        # {trial_id: [levels whose rows were in dropped parts]}
    # (also in state["redo"]: the scheduler actor produces those rows first, `raysha.runtime.redo`)


def check(folder, state, repair: bool = False) -> Checked:
    """Validate the journal `state` of the experiment at `folder` before a restore acts on it.

    Refused (`JournalError`, naming the file): not a JSON object, a required field missing
    (``format``, ``scheduler``, ``parts``), a part name or checkpoint path outside the root, a
    listed part missing or unreadable. With ``repair=True`` missing or unreadable parts are
    dropped instead and ``redo`` says which (trial, level) rows they held (from ``part_rows``).
    Reads only: the folder is not changed.
    """
    store = _store(folder)
    where = store.where(STATE_FILE)
    if not isinstance(state, dict):
        raise JournalError(f"{where} is not a JSON object ({type(state).__name__}); it cannot be restored")
    missing = [k for k in REQUIRED if k not in state]
    if missing or state.get("format") != FORMAT or not isinstance(state.get("parts"), dict):
        raise JournalError(f"{where} lacks required fields {missing or ['format ' + repr(FORMAT)]} (or they "
                           f"are malformed); it cannot be restored (a run started over in this folder "
                           f"would log results twice)")
    state = json.loads(json.dumps(state))   # a copy the checks may change
    _confine_paths(store, state, where)
    out = Checked(state)
    index = state.get("part_rows") or {}
    for kind in KINDS:
        good = []
        for name in state["parts"].get(kind) or []:
            problem = _part_problem(store, f"{kind}/{name}")
            if problem is None:
                good.append(name)
                continue
            if not repair:
                raise JournalError(f"{where} lists {store.where(kind + '/' + name)}, which {problem}; "
                                   f"restore with repair=True (--repair) to drop it and run its trials' "
                                   f"levels again")
            if kind == "results" and name not in index:
                raise JournalError(f"{where} lists {store.where(kind + '/' + name)}, which {problem}, and "
                                   f"does not say which rows it held (no part_rows); it cannot be repaired")
            out.dropped.append(f"{kind}/{name}: {problem}")
            for tid, levels in (index.get(name) or {}).items() if kind == "results" else ():
                out.redo.setdefault(int(tid), []).extend(levels)
        state["parts"][kind] = good
    if out.redo:
        _forget(state, out.redo)
        for tid, levels in out.redo.items():   # kept in the journal until produced again
            known = (state.setdefault("redo", {}).get(str(tid)) or [])
            state["redo"][str(tid)] = sorted(set(known) | set(levels))
    return out


def _forget(state: dict, redo: dict) -> None:
    """Take the rows of dropped parts out of the counters (they are produced again)."""
    for name in [n for n in (state.get("part_rows") or {}) if n not in state["parts"].get("results", [])]:
        state["part_rows"].pop(name, None)
    state["n_results"] = max(0, int(state.get("n_results") or 0) - sum(len(v) for v in redo.values()))


def _confine_paths(store: Storage, state: dict, where: str) -> None:
    from raysha.results import is_part

    for kind in KINDS:
        names = state["parts"].get(kind) or []
        if not isinstance(names, list) or not all(isinstance(n, str) and is_part(n) for n in names):
            raise JournalError(f"{where}: parts[{kind!r}] must be a list of part file names "
                               f"(part-NNNNN.parquet), got {names!r}")
    for tid, entry in (state.get("checkpoints") or {}).items():
        durable = (entry or {}).get("durable") if isinstance(entry, dict) else None
        if not durable:
            continue
        try:
            entry["durable"] = store.relative(durable) if durable.startswith("/") or is_uri(durable) \
                else confine(durable)
        except PathOutsideRoot as e:
            raise JournalError(f"{where}: the checkpoint of trial {tid} is outside the experiment root "
                               f"({e}); refusing to read or delete it") from None


def _part_problem(store: Storage, rel: str) -> Optional[str]:
    from raysha.results import ResultsError, read_part

    try:
        read_part(store, rel)
    except ResultsError as e:
        return "is missing" if str(e).endswith("is missing") else f"cannot be read ({str(e).split(' (', 1)[-1]}"
    return None


__all__ = ["STATE_FILE", "FORMAT", "write_state", "read_state", "is_journal", "committed_parts",
           "reconcile", "stray_checkpoints", "max_recorded_from_parts", "state_path", "check", "Checked",
           "JournalError", "durable_paths"]
