"""The life of paused trials' checkpoints on the scheduler actor: kept, replaced, freed, durable copies deleted.

A paused job returns its checkpoint as the job's value, so the scheduler actor
owns the object (`raysha.runtime.checkpoints.CheckpointStore` indexes them,
one per trial). A durable copy that is no longer needed (a newer pause
replaced it, or the scheduler let the trial go) is deleted only once a journal
that no longer names it is on disk, so every checkpoint the journal names
exists; without a journal it is deleted at once. Deletions run in a thread so
the scheduler actor never waits on storage.

Finished trials' final checkpoints (``keep_checkpoints=k``): the best k are kept
(`offer_final`), the others deleted like freed ones; the journal names the kept ones.
"""

from __future__ import annotations

import asyncio
from typing import Iterable, Optional

from raysha.runtime import checkpoints as ck


class CheckpointLifecycle:
    """Paused trials' checkpoints: kept on pause, freed when the scheduler lets go, deleted after the journal.

    >>> life = CheckpointLifecycle(None, journaling=False, keep=1)
    >>> life.on_pause(3, resource=1, ref=None, durable=None, worker=0)
    >>> life.entry(3).resource, life.index(), len(life)
    (1, {'3': {'resource': 1, 'durable': None}}, 1)
    >>> life.release([3]); len(life), life.n_freed
    (0, 1)
    """

    def __init__(self, checkpoint_dir, journaling: bool, keep: int = 1):
        self.store = ck.CheckpointStore()
        self.storage = checkpoint_dir           # the experiment's Storage holding the durable copies
        self.journaling = journaling
        self.keep = keep
        self.finals: dict[int, dict] = {}       # trial_id -> {resource, durable, loss}: the best `keep` finished
        self.free_on_return: set[int] = set()   # let go while their pausing job is still on its way back
        self._pending: list[str] = []           # durable copies to delete once a journal without them is saved
        self._deletes: list = []                # deletions running in threads
        self._frozen: Optional[set] = None      # durable copies the journal kept at a stop

    # -- what there is ----------------------------------------------------------------------
    def load(self, checkpoints: dict, finals: Optional[dict] = None) -> None:
        """Restore: the journal's {trial_id: {resource, durable}} (no object refs: they died with the run)."""
        for t, e in (checkpoints or {}).items():
            self.store.put(int(t), e["resource"], None, e.get("durable"), -1)
        self.finals = {int(t): dict(e) for t, e in (finals or {}).items()}

    def offer_final(self, trial_id: int, resource, durable: Optional[str], loss: float) -> None:
        """A finished trial's final checkpoint: kept while it is among the best `keep` (lowest loss)."""
        if not durable:
            return
        self.finals[trial_id] = {"resource": resource, "durable": durable, "loss": loss}
        ranked = sorted(self.finals, key=lambda t: (self.finals[t]["loss"], t))
        dropped = [self.finals.pop(t)["durable"] for t in ranked[self.keep:]]
        self.delete_later([p for p in dropped if p not in self.named()])

    def best_finals(self) -> list[dict]:
        """The kept final checkpoints, best first: [{trial_id, resource, durable, loss}]."""
        return [dict(self.finals[t], trial_id=t) for t in sorted(self.finals, key=lambda t: (self.finals[t]["loss"], t))]

    def named(self) -> set:
        """Durable copies that must exist: paused trials', the kept finals'."""
        return {e.durable for e in self.store.entries.values() if e.durable} | \
            {e["durable"] for e in self.finals.values()}

    def entry(self, trial_id: int) -> Optional[ck.Entry]:
        return self.store.get(trial_id)

    def index(self) -> dict:
        return self.store.index()

    @property
    def n_freed(self) -> int:
        return self.store.n_freed

    def __len__(self) -> int:
        return len(self.store.entries)

    # -- changes -------------------------------------------------------------------------------
    def on_pause(self, trial_id: int, resource, ref, durable: Optional[str], worker: int) -> None:
        """A paused job returned its checkpoint (``ref``, owned by this actor) and its durable copy."""
        if trial_id in self.free_on_return:
            # the scheduler gave this checkpoint up before the job returned it
            self.free_on_return.discard(trial_id)
            self.release([trial_id], also=[durable] if durable else [])
        else:
            self.delete_later(self.store.put(trial_id, resource, ref, durable, worker))

    def release(self, trial_ids: Iterable[int], also: Iterable[str] = ()) -> None:
        """Free these trials' checkpoints (objects now, durable copies after the next journal)."""
        paths = list(also)
        for t in trial_ids:
            paths += self.store.free(t)
        self.delete_later(paths)

    def release_on_return(self, trial_id: int) -> None:
        """Let go of a checkpoint that the trial's pausing job has not returned yet."""
        self.free_on_return.add(trial_id)

    def delete_later(self, paths: list[str]) -> None:
        """Delete durable copies once the journal no longer names them (at once without a journal)."""
        if not paths:
            return
        self._pending.extend(paths)
        if not self.journaling:
            self.after_journal()

    @property
    def deletes_pending(self) -> bool:
        return bool(self._pending)

    def freeze(self) -> None:
        """The run stops and the journal keeps this moment: its durable copies are never deleted now."""
        self._frozen = {e.durable for e in self.store.entries.values() if e.durable}

    def after_journal(self) -> None:
        """A journal is on disk (or there is none): delete the copies that no longer need to exist."""
        if not self._pending:
            return
        live = self.named() | (self._frozen or set())
        paths = [p for p in self._pending if p not in live]
        self._pending = []
        if not paths:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            _delete_all(self.storage, paths)
            return
        self._deletes = [f for f in self._deletes if not f.done()]
        self._deletes.append(loop.run_in_executor(None, _delete_all, self.storage, paths))

    async def wait_deletes(self, timeout: float = 30.0) -> None:
        """Durable copies of freed checkpoints are gone before the run returns."""
        if self._deletes:
            await asyncio.wait(self._deletes, timeout=timeout)


def _delete_all(storage, paths: list[str]) -> None:
    if storage is None:
        return
    for p in paths:
        ck.delete_durable(storage, p)
