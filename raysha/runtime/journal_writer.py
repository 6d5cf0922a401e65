"""Results and journal as one step: flush the pending rows as a parquet part, then snapshot the state.

The scheduler actor is the only writer of results. `JournalWriter` appends its
rows and job spans to a `raysha.results.ResultsWriter`, and every
``flush_every`` seconds (stretched so that journaling never takes more than
~5 % of the actor's time) flushes them and, with no await in between, writes
the state snapshot (`raysha.runtime.journal`) that names the committed parts.
At a stop the journal is written once more and then kept (``frozen``).
"""

from __future__ import annotations

import time
import traceback
from typing import Callable, Optional

from raysha.runtime import checkpoints as ck
from raysha.runtime import journal as jn


class JournalWriter:
    """Writes rows, job spans and state snapshots for one experiment folder (nothing when it is None).

    ``state()`` gives the snapshot's content; ``on_saved()`` runs after each
    snapshot (and at each attempt once the journal is frozen): durable copies
    the last snapshot no longer names may be deleted then.

    >>> jw = JournalWriter(None, {}, flush_every=1.5, state=dict)
    >>> jw.append({"trial_id": 0}); jw.flush(), jw.save()
    (True, False)
    """

    def __init__(self, folder: Optional[str], metadata: dict, flush_every: float,
                 state: Callable[[], dict], on_saved: Callable[[], None] = lambda: None):
        self.state = state
        self.on_saved = on_saved
        self.folder = folder
        self.metadata = metadata
        self.flush_every = flush_every
        self.journaling = folder is not None and "://" not in folder
        self.writer = None
        self.seq = 0                    # snapshots written (a continued run carries it on)
        self.frozen = False             # the journal keeps the state of a stop
        self._cost = 0.0                # seconds the last snapshot took
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

    def reconcile(self, state: dict, checkpoint_dir: Optional[str]) -> list[str]:
        """Continue from journal `state`: parts and durable copies written after it go (they come again).

        Returns what was removed. The snapshot counter carries on from the journal's.
        """
        self.seq = int(state.get("seq") or 0)
        if not jn.is_journal(state):
            return []
        removed = jn.reconcile(self.folder, state)
        for path in jn.stray_checkpoints(checkpoint_dir, state):
            ck.delete_durable(path)
            removed.append(path)
        return removed

    def open(self) -> None:
        if self.folder is None:
            return
        from raysha.results import ResultsWriter

        self.writer = ResultsWriter(self.folder, self.metadata)

    def append(self, row: dict) -> None:
        if self.writer is not None:
            self.writer.append(row)

    def append_job(self, span: dict) -> None:
        if self.writer is not None:
            self.writer.append_job(span)

    def flush(self) -> bool:
        if self.writer is not None:
            try:
                self.writer.flush()
            except Exception:
                traceback.print_exc()
                return False
        return True

    def save(self) -> bool:
        """Write the snapshot ``state()`` (plus format, seq, wall time, committed parts); True when written.

        Call it right after a results flush, with no await between, so the two agree.
        """
        if not self.journaling:
            return False
        if self.frozen:
            self.on_saved()
            return False
        t_start = time.monotonic()
        try:
            self.seq += 1
            snap = {"format": jn.FORMAT, "seq": self.seq, "wall_time": time.time()}
            snap.update(self.state())
            snap["parts"] = jn.committed_parts(self.folder)
            jn.write_state(self.folder, snap)
            self._cost = time.monotonic() - t_start
        except Exception:
            traceback.print_exc()
            return False
        self.on_saved()
        return True

    def keep_at_stop(self) -> bool:
        """The run stops: flush and snapshot once more, then keep that journal (True when it was written)."""
        if self.writer is None or self.frozen:
            return False
        if self.flush() and self.save():
            self.frozen = True
        return self.frozen

    def periodic(self, now: float, mark, force: bool = False) -> None:
        """Flush + snapshot every flush_every seconds (stretched: journaling takes at most ~5 % of the
        actor's time), when ``mark`` (what changed) differs from the last snapshot's, or ``force``."""
        if now - self._last < max(self.flush_every, 20.0 * self._cost):
            return
        self._last = now
        if (force or mark != self._mark) and self.flush() and self.save():
            self._mark = mark

    def restart_clock(self, now: float) -> None:
        self._last = now

    def finish(self, summary: dict) -> None:
        """The run ended: metadata says finished with the summary; last rows written; writer closed."""
        if self.writer is None:
            return
        try:
            self.writer.update_metadata(status="finished", summary=summary)
            self.writer.flush()
            self.writer.close()
        except Exception:
            traceback.print_exc()
