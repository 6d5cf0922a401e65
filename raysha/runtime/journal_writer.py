"""Results and journal as one step: flush the pending rows as a parquet part, then snapshot the state.

The scheduler actor is the only writer of results. `JournalWriter` appends its
rows and job spans to a `raysha.results.ResultsWriter` on the experiment's
`raysha.runtime.storage.Storage`, and every ``flush_every`` seconds (stretched
so that journaling never takes more than ~5 % of the actor's time) flushes them
and, with no await in between, writes the state snapshot
(`raysha.runtime.journal`) that names the parts written completely. At a stop
the journal is written once more and then kept (``frozen``).

A row is durable before it is counted: a flush that fails keeps its rows queued
and is retried with backoff (the journal is not written meanwhile, so it never
names a part or a state that storage does not hold). When storage keeps failing
for ``storage_timeout_s``, `broken` says what failed and where, and the run stops;
nothing more is written then, so a restore continues from the last snapshot. The
journal is written only while the driver's lease is the experiment's (a driver
that lost it to another never overwrites the other's journal). When the run ends,
the parts are compacted (few files, one schema).
"""

from __future__ import annotations

import time
import traceback
from typing import Callable, Optional

from raysha.runtime import checkpoints as ck
from raysha.runtime import journal as jn
from raysha.runtime import lease as ls

_MAX_BACKOFF_S = 10.0


class JournalWriter:
    """Writes rows, job spans and state snapshots for one experiment (nothing when `folder` is None).

    ``state()`` gives the snapshot's content; ``on_saved()`` runs after each
    snapshot (and at each attempt once the journal is frozen): durable copies
    the last snapshot no longer names may be deleted then.

    >>> jw = JournalWriter(None, {}, flush_every=1.5, state=dict)
    >>> jw.append({"trial_id": 0}); jw.flush(), jw.save(), jw.broken
    (True, False, None)
    """

    def __init__(self, folder, metadata: dict, flush_every: float, state: Callable[[], dict],
                 on_saved: Callable[[], None] = lambda: None, storage_timeout_s: float = 60.0,
                 lease: Optional[tuple] = None):
        self.state = state
        self.on_saved = on_saved
        self.folder = folder                 # the experiment's Storage, or None
        self.metadata = metadata
        self.flush_every = flush_every
        self.storage_timeout_s = storage_timeout_s
        self.lease = lease                   # (generation, holder) of the driver's lease, or None
        self.journaling = folder is not None
        self.writer = None
        self.part_rows: dict = {}            # results part -> {trial_id: [levels]} (the journal's part_rows)
        self.seq = 0                         # snapshots written (a continued run carries it on)
        self.frozen = False                  # the journal keeps the state of a stop
        self.broken: Optional[str] = None    # what failed and where, once storage failed for too long
        self._failing_since: Optional[float] = None
        self._failures = 0
        self.n_failed_writes = 0             # storage operations that failed (and were retried)
        self._retry_at = 0.0
        self._final: Optional[dict] = None   # the summary of a run whose end is not written yet
        self._cost = 0.0                     # seconds the last snapshot took
        self._last = 0.0
        self._mark = None

    def found(self) -> Optional[dict]:
        """The folder's journal, the newest truth (a restore, or Ray restarted the scheduler actor), or None."""
        if not self.journaling:
            return None
        try:
            state = jn.read_state(self.folder)
        except Exception:
            traceback.print_exc()
            return None
        return state if jn.is_journal(state) else None

    def reconcile(self, state: dict, checkpoint_dir) -> list[str]:
        """Continue from journal `state`: parts and durable copies written after it go (they come again).

        Returns what was removed (paths relative to the experiment). The snapshot counter
        carries on from the journal's.
        """
        self.seq = int(state.get("seq") or 0)
        self.part_rows = dict(state.get("part_rows") or {})
        if not jn.is_journal(state) or self.folder is None:
            return []
        removed = jn.reconcile(self.folder, state)
        if checkpoint_dir is not None:
            keep = {e.get("durable") for e in (state.get("finals") or {}).values()}
            for path in jn.stray_checkpoints(checkpoint_dir, state, keep):
                ck.delete_durable(checkpoint_dir, path)
                removed.append(path)
        return removed

    def open(self) -> None:
        if self.folder is None:
            return
        from raysha.results import ResultsWriter

        self.writer = ResultsWriter(self.folder, self.metadata)
        self.writer.part_rows.update(self.part_rows)

    def append(self, row: dict) -> None:
        if self.writer is not None:
            self.writer.append(row)

    def append_job(self, span: dict) -> None:
        if self.writer is not None:
            self.writer.append_job(span)

    # -- writing, with retries -------------------------------------------------------------
    def flush(self) -> bool:
        """Write the queued rows as parts; False (rows still queued) when storage failed."""
        if self.writer is None:
            return True
        if self.broken:
            return False
        try:
            self.writer.flush()
        except Exception as e:
            self._failed(e)
            return False
        self._recovered()
        return True

    def _failed(self, e: Exception) -> None:
        now = time.monotonic()
        if self._failing_since is None:
            self._failing_since = now
            print(f"raysha: storage failed, retrying ({self.storage_timeout_s:.0f} s at most): {e}", flush=True)
        self._failures += 1
        self.n_failed_writes += 1
        self._retry_at = now + min(_MAX_BACKOFF_S, self.flush_every * 2 ** min(self._failures, 8) / 4)
        if now - self._failing_since >= self.storage_timeout_s:
            self.broken = (f"storage failed for {now - self._failing_since:.0f} s (storage_timeout_s="
                           f"{self.storage_timeout_s:g}): {e}")
            print(f"raysha: {self.broken}; stopping the experiment", flush=True)

    def _recovered(self) -> None:
        if self._failing_since is not None:
            print(f"raysha: storage works again after {time.monotonic() - self._failing_since:.1f} s; "
                  f"nothing was lost", flush=True)
        self._failing_since, self._failures = None, 0

    def save(self) -> bool:
        """Write the snapshot ``state()`` (plus format, seq, wall time, the parts written); True when written.

        Call it right after a results flush, with no await between, so the two agree; it writes
        nothing while rows are queued (a flush failed), the lease is lost, or storage is broken.
        """
        if not self.journaling or self.broken:
            return False
        if self.frozen:
            self.on_saved()
            return False
        if self.writer is not None and self.writer.pending:
            return False
        t_start = time.monotonic()
        try:
            self._check_lease()
            snap = {"format": jn.FORMAT, "seq": self.seq + 1, "wall_time": time.time()}
            snap.update(self.state())
            if self.writer is not None:
                snap["parts"] = {k: list(v) for k, v in self.writer.parts.items()}
                snap["part_rows"] = dict(self.writer.part_rows)
            else:
                snap["parts"] = jn.committed_parts(self.folder)
            jn.write_state(self.folder, snap)
            self.seq += 1
            self._cost = time.monotonic() - t_start
        except ls.LeaseLost as e:
            self.broken = str(e)
            print(f"raysha: {e}; stopping without writing more", flush=True)
            return False
        except Exception as e:
            self._failed(e)
            return False
        self._recovered()
        self.on_saved()
        return True

    def _check_lease(self) -> None:
        if self.lease is None:
            return
        gen, rec = ls.current(self.folder)
        if gen != self.lease[0] or (rec or {}).get("holder") != self.lease[1]:
            raise ls.LeaseLost(f"the lease of {self.folder.where()} is now held by {ls.describe(rec)}")

    def keep_at_stop(self) -> bool:
        """The run stops: flush and snapshot once more, then keep that journal (True when it was written)."""
        if self.writer is None or self.frozen:
            return False
        if self.flush() and self.save():
            self.frozen = True
        return self.frozen

    def periodic(self, now: float, mark, force: bool = False) -> None:
        """Flush + snapshot every flush_every seconds (stretched: journaling takes at most ~5 % of the
        actor's time; sooner after a failure, with backoff), when ``mark`` (what changed) differs from
        the last snapshot's, or ``force``."""
        if self._failing_since is not None:
            if time.monotonic() < self._retry_at:
                return
        elif now - self._last < max(self.flush_every, 20.0 * self._cost):
            return
        self._last = now
        if (force or mark != self._mark or self._failing_since is not None) and self.flush() and self.save():
            self._mark = mark

    def restart_clock(self, now: float) -> None:
        self._last = now

    def finish(self, summary: dict) -> None:
        """The run ended: metadata says finished with the summary; last rows and journal written; parts compacted.

        When storage fails meanwhile, `done` is False: call `complete` again after `retry_in`
        seconds, until it worked or storage is `broken` (then nothing more is written: the
        last snapshot stays the truth).
        """
        self._final = summary
        self.complete()

    @property
    def done(self) -> bool:
        """The end of the run is written, or never will be (no folder, storage broken, lease lost)."""
        return self._final is None or self.broken is not None or self.writer is None

    def retry_in(self) -> float:
        return max(0.05, self._retry_at - time.monotonic())

    def complete(self) -> None:
        """Try to write the end of the run (see `finish`)."""
        if self.done:
            return
        try:
            self.writer.update_metadata(status="finished", summary=self._final)
            self.writer.flush()
        except Exception as e:
            self._failed(e)
            return
        if self.frozen:
            self.on_saved()
        elif not self.save():
            return
        self._final = None
        self._recovered()
        self.writer.close()
        if not self.frozen:
            self._compact()

    def _compact(self) -> None:
        """Few parts of one schema; the old ones are deleted once a journal names the new ones."""
        try:
            replaced = self.writer.compact()
            if replaced and self.save():
                self.writer.delete_parts(replaced)
        except Exception:
            traceback.print_exc()   # the parts stay as they were, still listed and readable
