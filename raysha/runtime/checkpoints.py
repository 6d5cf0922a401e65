"""Checkpoints of paused trials: Ray object refs owned by the scheduler actor, plus a durable copy.

The trial actor returns a paused trial's checkpoint as a return value of its
job, so the object belongs to the scheduler actor (the caller) and outlives the
trial actor. With ``storage_path`` the trial actor also writes a durable copy
(local folder, NFS, or any ``pyarrow.fs`` URI such as ``s3://bucket/path``);
when the object is gone (its node died: `ObjectLostError`, `OwnerDiedError`,
`ObjectReconstructionFailedError`) a resuming worker reads the durable copy.
"""

from __future__ import annotations

import os
import pickle
import uuid
from dataclasses import dataclass
from typing import Any, Optional


def _fs(uri: str):
    """(pyarrow FileSystem, path inside it) for a local path or a URI."""
    import pyarrow.fs as pafs

    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), os.path.abspath(os.path.expanduser(uri))


def join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/")] + [p.strip("/") for p in parts])


def write_durable(uri: str, obj: Any) -> None:
    """Write `obj` (pickled) to `uri` atomically where the filesystem allows it."""
    try:
        from ray import cloudpickle as cp
    except Exception:  # pragma: no cover
        cp = pickle
    data = cp.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    fs, path = _fs(uri)
    parent = path.rsplit("/", 1)[0]
    fs.create_dir(parent, recursive=True)
    tmp = f"{path}.tmp-{uuid.uuid4().hex[:8]}"
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    try:
        fs.move(tmp, path)
    except Exception:  # object stores without rename: write in place
        with fs.open_output_stream(path) as f:
            f.write(data)
        delete_durable(tmp)


def read_durable(uri: str) -> Any:
    fs, path = _fs(uri)
    with fs.open_input_stream(path) as f:
        data = f.read()
    return pickle.loads(data)


def delete_durable(uri: str) -> None:
    try:
        fs, path = _fs(uri)
        fs.delete_file(path)
    except Exception:
        pass


def durable_path(checkpoint_dir: str, trial_id: int, resource: float) -> str:
    r = int(resource) if float(resource).is_integer() else resource
    return join(checkpoint_dir, f"trial_{trial_id:06d}", f"ckpt_{r}.pkl")


def lost_errors() -> tuple:
    import ray.exceptions as rex

    return (rex.ObjectLostError, rex.OwnerDiedError, rex.ObjectReconstructionFailedError,
            rex.ObjectFetchTimedOutError)


@dataclass
class Entry:
    trial_id: int
    resource: float
    ref: Any = None               # ObjectRef owned by the scheduler actor (None once freed)
    durable: Optional[str] = None
    worker: int = -1              # the worker that made it (it may still hold the live trainable)


class CheckpointStore:
    """The scheduler actor's index of paused trials' checkpoints (one per trial, the latest)."""

    def __init__(self, checkpoint_dir: Optional[str]):
        self.checkpoint_dir = checkpoint_dir
        self.entries: dict[int, Entry] = {}
        self.n_freed = 0

    def put(self, trial_id: int, resource: float, ref, durable: Optional[str], worker: int) -> list[str]:
        """Record the trial's new checkpoint; returns durable copies that are now obsolete."""
        old = self.entries.get(trial_id)
        self.entries[trial_id] = Entry(trial_id, resource, ref, durable, worker)
        if old is not None and old.durable and old.durable != durable:
            return [old.durable]
        return []

    def get(self, trial_id: int) -> Optional[Entry]:
        return self.entries.get(trial_id)

    def free(self, trial_id: int, keep_durable: bool = False) -> list[str]:
        """Drop the object ref (Ray frees the object) and return the durable copy to delete."""
        e = self.entries.pop(trial_id, None)
        if e is None:
            return []
        self.n_freed += 1
        if e.durable and not keep_durable:
            return [e.durable]
        return []

    def index(self) -> dict:
        """{trial_id: {resource, durable}} for the experiment folder (used by restore)."""
        return {str(t): {"resource": e.resource, "durable": e.durable} for t, e in self.entries.items()}
