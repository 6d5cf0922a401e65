"""Checkpoints of paused trials: Ray object refs owned by the scheduler actor, plus a durable copy.

The trial actor returns a paused trial's checkpoint as a return value of its
job, so the object belongs to the scheduler actor (the caller) and outlives the
trial actor. With durable storage the trial actor also writes a durable copy under
``checkpoints/`` of the experiment's root (`raysha.runtime.storage.Storage`: a local
folder, NFS, or any ``pyarrow.fs`` URI such as ``s3://bucket/path``);
when the object is gone (its node died: `ObjectLostError`, `OwnerDiedError`,
`ObjectReconstructionFailedError`) a resuming worker reads the durable copy.

Durable copies have two formats (a short header tells which):

* **torch** (``RAYSHA-TORCH1``): when torch is loaded in the trial's process and the
  checkpoint holds only tensors, numbers, strings, bools, None and dicts / lists /
  tuples of them (LeNet's model + optimizer state is such a checkpoint), it is written
  with ``torch.save`` and read back with ``torch.load(weights_only=True)``, which
  executes no code from the file.
* **pickle** (``RAYSHA-PICKLE1``, and files without a header): anything else, written with
  cloudpickle and read with ``pickle.loads``. Unpickling runs code named in the file, so
  whoever can write to the storage path can run code in the trial actors: the storage
  path must be trusted (see docs/security.md).
"""

from __future__ import annotations

import io
import pickle
import sys
from dataclasses import dataclass
from typing import Any, Optional


FOLDER = "checkpoints"


TORCH_HEADER = b"RAYSHA-TORCH1\n"
PICKLE_HEADER = b"RAYSHA-PICKLE1\n"


def _is_plain(obj, torch, depth: int = 0) -> bool:
    """Only tensors, numbers, strings, bools, None and dicts/lists/tuples of them (torch's weights_only set)."""
    if depth > 50:
        return False
    if obj is None or type(obj) in (bool, int, float, str):
        return True
    if isinstance(obj, torch.Tensor):
        return type(obj) is torch.Tensor or isinstance(obj, torch.nn.Parameter)
    if type(obj) in (list, tuple):
        return all(_is_plain(v, torch, depth + 1) for v in obj)
    if isinstance(obj, dict) and type(obj).__name__ in ("dict", "OrderedDict"):
        return all(type(k) in (str, int) and _is_plain(v, torch, depth + 1) for k, v in obj.items())
    return False


def encode(obj: Any) -> bytes:
    """The bytes of a durable copy: torch format for plain tensor checkpoints, else pickle."""
    torch = sys.modules.get("torch")   # never imported here: a checkpoint with tensors has it loaded
    if torch is not None and _is_plain(obj, torch):
        buf = io.BytesIO()
        torch.save(obj, buf)
        return TORCH_HEADER + buf.getvalue()
    try:
        from ray import cloudpickle as cp
    except Exception:  # pragma: no cover
        cp = pickle
    return PICKLE_HEADER + cp.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def decode(data: bytes) -> Any:
    if data.startswith(TORCH_HEADER):
        import torch

        return torch.load(io.BytesIO(data[len(TORCH_HEADER):]), weights_only=True, map_location="cpu")
    if data.startswith(PICKLE_HEADER):
        data = data[len(PICKLE_HEADER):]
    return pickle.loads(data)


class CheckpointError(ValueError):
    """A paused trial's checkpoint cannot be pickled, or is over ``max_checkpoint_bytes``."""


def encode_checked(obj: Any, max_bytes: Optional[int], what: str) -> Optional[bytes]:
    """`encode(obj)`, or a `CheckpointError` naming `what` (the trial and level) and the object's type.

    Run when a trial pauses, so a checkpoint that could not be stored fails its trial at the report
    that made it, not at a resume much later. None for no checkpoint.
    """
    if obj is None:
        return None
    kind = type(obj).__name__
    try:
        data = encode(obj)
    except Exception as e:
        raise CheckpointError(f"{what} ({kind}) cannot be pickled ({type(e).__name__}: {e}); a checkpoint "
                              f"must be picklable: tensors, arrays, numbers, strings and dicts/lists of them, "
                              f"not locks, open files, sockets or clients") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise CheckpointError(f"{what} ({kind}) is {len(data):,} bytes, over max_checkpoint_bytes={max_bytes:,}")
    return data


def write_durable(store, rel: str, obj: Any, data: Optional[bytes] = None) -> None:
    """Write `obj` (or its bytes `data`, from `encode`) at `rel` in the experiment's
    `raysha.runtime.storage.Storage`, atomically (format: see above)."""
    store.write(rel, encode(obj) if data is None else data)


def read_durable(store, rel: str) -> Any:
    return decode(store.read(rel))


def delete_durable(store, rel: str) -> None:
    try:
        store.delete(rel)
    except Exception:
        pass


def durable_path(trial_id: int, resource: float) -> str:
    """Where a trial's checkpoint at `resource` goes, relative to the experiment root."""
    r = int(resource) if float(resource).is_integer() else resource
    return f"{FOLDER}/trial_{trial_id:06d}/ckpt_{r}.pkl"


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

    def __init__(self):
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
