"""One driver owns an experiment: a lease in its root, ``lease/<generation>.json``, kept alive by heartbeats.

A driver that runs or restores an experiment first takes its lease: it creates
the next generation's file (``lease/00000003.json`` after ``00000002.json``)
*only if it does not exist yet*, so of two drivers racing for the same
experiment exactly one gets it. The newest generation is the lease; its record::

    holder      a name unique to this driver (host:pid:random)
    host, pid   where the driver runs
    heartbeat   time.time() of the last renewal (every few seconds while it runs)
    generation  the number in the file name
    released    true once the driver let go (the run ended, or it stopped)

The lease is free when released, when its heartbeat is older than
`HEARTBEAT_STALE_S` (its driver crashed or hung: it is taken over), or when its
holder ran on this host and that process is gone (a ``kill -9`` on this machine
is taken over at once). A driver that finds the lease held refuses and changes
nothing in the folder; the message names the holder. A driver whose lease was
taken over (it hung past the stale limit) notices at its next renewal: `LeaseLost`.

>>> import tempfile
>>> from raysha.runtime.storage import Storage
>>> root = Storage(tempfile.mkdtemp())
>>> mine = Lease(root).acquire()
>>> Lease(root).acquire()
Traceback (most recent call last):
...
raysha.runtime.lease.ExperimentLocked: the experiment ... is held by driver ..., heartbeat 0 s ago); ...
>>> mine.release()
>>> Lease(root).acquire().generation
2
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from typing import Optional

from raysha.runtime.storage import Storage, StorageError

HEARTBEAT_STALE_S = 30.0    # a lease whose heartbeat is older is taken over (raysha status reads the same)
HEARTBEAT_EVERY_S = 5.0
FOLDER = "lease"
_SETTLE_S = 1.0             # object stores: how long to wait before reading back a lease just written


class ExperimentLocked(ValueError):
    """Another driver holds the experiment's lease (the message names it)."""


class LeaseLost(StorageError):
    """This driver's lease was taken over by another driver, or could not be renewed."""


def _name(generation: int) -> str:
    return f"{FOLDER}/{generation:08d}.json"


def current(storage: Storage) -> tuple[int, Optional[dict]]:
    """(newest generation, its record) of the experiment at `storage`; (0, None) when it has no lease."""
    gens = [int(n[:-5]) for n in storage.list(FOLDER) if n.endswith(".json") and n[:-5].isdigit()]
    if not gens:
        return 0, None
    gen = max(gens)
    try:
        rec = storage.read_json(_name(gen))
    except (ValueError, FileNotFoundError):
        rec = None
    return gen, rec if isinstance(rec, dict) else {}


def is_free(rec: Optional[dict], now: Optional[float] = None, stale_after: float = HEARTBEAT_STALE_S) -> bool:
    """Whether a lease record may be taken: none, released, stale heartbeat, or its process here is gone."""
    if rec is None or rec.get("released"):
        return True
    now = time.time() if now is None else now
    try:
        age = now - float(rec.get("heartbeat") or 0)
    except (TypeError, ValueError):
        return True
    if age > stale_after:
        return True
    return rec.get("host") == socket.gethostname() and not _alive(rec.get("pid"))


def _alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def describe(rec: Optional[dict], now: Optional[float] = None) -> str:
    rec = rec or {}
    age = (time.time() if now is None else now) - float(rec.get("heartbeat") or 0)
    return (f"driver {rec.get('holder')} (host {rec.get('host')}, pid {rec.get('pid')}, "
            f"heartbeat {max(0.0, age):.0f} s ago)")


class Lease:
    """This driver's claim on the experiment at `storage` (see the module doc); `acquire` before writing."""

    def __init__(self, storage: Storage, stale_after: float = HEARTBEAT_STALE_S):
        self.storage = storage
        self.stale_after = float(stale_after)
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.holder = f"{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.generation: Optional[int] = None
        self.lost: Optional[str] = None       # why the lease was lost (set by the heartbeat thread)
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def _record(self, **extra) -> dict:
        return dict(holder=self.holder, host=self.host, pid=self.pid, heartbeat=time.time(),
                    generation=self.generation, **extra)

    def acquire(self) -> "Lease":
        """Take the lease, or raise `ExperimentLocked` naming its holder (nothing is written then)."""
        gen, rec = current(self.storage)
        where = self.storage.where()
        if not is_free(rec, stale_after=self.stale_after):
            raise ExperimentLocked(f"the experiment {where} is held by {describe(rec)}; wait for it to end, "
                                   f"or stop that driver (a crashed driver's lease is taken over after "
                                   f"{self.stale_after:.0f} s without heartbeat)")
        self.generation = gen + 1
        data = json.dumps(self._record()).encode()
        if not self.storage.create(_name(self.generation), data) or not self._settled():
            winner = current(self.storage)[1]
            self.generation = None
            raise ExperimentLocked(f"the experiment {where} was just taken by {describe(winner)}")
        for name in self.storage.list(FOLDER):   # keep the last few generations (who ran before)
            if name[:-5].isdigit() and int(name[:-5]) <= self.generation - 5:
                self._quiet_delete(f"{FOLDER}/{name}")
        return self

    def _settled(self) -> bool:
        """On object stores (no create-if-absent), read back after a moment: still the newest and ours?"""
        if not self.storage.object_store:
            return True
        time.sleep(_SETTLE_S)
        gen, rec = current(self.storage)
        return gen == self.generation and (rec or {}).get("holder") == self.holder

    def check(self) -> None:
        """Raise `LeaseLost` unless this driver still holds the lease (newest generation, its holder)."""
        if self.generation is None:
            raise LeaseLost(f"{self.storage.where()}: this driver holds no lease")
        gen, rec = current(self.storage)
        if gen != self.generation or (rec or {}).get("holder") != self.holder:
            raise LeaseLost(f"the lease of {self.storage.where()} was taken over by {describe(rec)} "
                            f"(this driver's heartbeat stopped for more than {self.stale_after:.0f} s)")

    def renew(self) -> None:
        """Heartbeat: check the lease is still ours, then write a fresh heartbeat."""
        self.check()
        self.storage.write(_name(self.generation), json.dumps(self._record()).encode())

    def keep_alive(self, every: float = HEARTBEAT_EVERY_S) -> "Lease":
        """Renew every `every` seconds in a daemon thread; `lost` says why when the lease is gone."""
        def loop():
            while not self._stop.wait(every):
                try:
                    self.renew()
                except LeaseLost as e:
                    self.lost = str(e)
                    return
                except Exception:
                    pass   # storage down: the run's own writes notice and retry (a taker is fenced off)
        self._thread = threading.Thread(target=loop, name="raysha-lease", daemon=True)
        self._thread.start()
        return self

    def release(self) -> None:
        """Stop the heartbeat and mark the lease released (another driver may take it at once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.generation is None or self.lost:
            return
        try:
            self.check()
            self.storage.write(_name(self.generation), json.dumps(self._record(released=True)).encode())
        except Exception:
            pass   # a stale heartbeat frees it as well
        self.generation = None

    def withdraw(self) -> None:
        """Undo `acquire` as if it never happened (a run refused right after taking the lease)."""
        self._stop.set()
        if self.generation is not None:
            self._quiet_delete(_name(self.generation))
            if not self.storage.list(FOLDER):
                self._quiet_delete_tree(FOLDER)
        self.generation = None

    def _quiet_delete(self, rel: str) -> None:
        try:
            self.storage.delete(rel)
        except Exception:
            pass

    def _quiet_delete_tree(self, rel: str) -> None:
        try:
            self.storage.delete_tree(rel)
        except Exception:
            pass


__all__ = ["Lease", "ExperimentLocked", "LeaseLost", "current", "is_free", "HEARTBEAT_STALE_S"]
