"""A trial's output: prefixed with its id on the driver, and kept in ``trials/<id>/log.txt``.

On the trial actor, `TrialOutput` stands in for ``sys.stdout`` and ``sys.stderr``
while a job runs: each line goes on to the actor's own stream as
``[trial 3] line`` (Ray forwards it to the driver), and the raw text is collected
and handed to ``send`` about once a second and when the job ends. The trial
actor sends it to the scheduler actor, which appends it to the trial's log file
in the experiment's store (`append`: a local folder or a URI), so the file is
complete wherever the trial ran, whichever actors ran its jobs.

Python-level writes are captured (``print``, ``sys.stdout.write``, logging handlers
that write to ``sys.stderr`` at the time of the call); output that C code or a
subprocess writes straight to file descriptors 1 and 2 still reaches the driver
through Ray, without the prefix and not in the log file.
"""

from __future__ import annotations

import io
import sys
import threading
from typing import Callable, Optional


def log_path(trial_id: int) -> str:
    """``trials/<id>/log.txt``, relative to the experiment folder."""
    return f"trials/{int(trial_id)}/log.txt"


def append(store, trial_id: int, text: str) -> None:
    """Append ``text`` to the trial's log file in the experiment's `raysha.runtime.storage.Storage`.

    The store replaces files whole (object stores cannot append): the file is read and
    written again with the new text at its end.
    """
    rel = log_path(trial_id)
    try:
        old = store.read(rel)
    except FileNotFoundError:
        old = b""
    store.write(rel, old + text.encode("utf-8"))


class _PrefixedStream(io.TextIOBase):
    """A text stream that writes whole lines, each prefixed, to ``out``, and passes the raw text to ``collect``."""

    def __init__(self, out, prefix: str, collect: Callable[[str], None]):
        super().__init__()
        self.out = out
        self.prefix = prefix
        self.collect = collect
        self.partial = ""
        self.lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        with self.lock:
            self.collect(s)
            lines = (self.partial + s).split("\n")
            self.partial = lines.pop()
            if lines:
                self.out.write("".join(f"{self.prefix}{line}\n" for line in lines))
        return len(s)

    def flush(self) -> None:
        self.out.flush()

    def finish(self) -> None:
        """Write the last line even without its newline."""
        with self.lock:
            if self.partial:
                self.out.write(f"{self.prefix}{self.partial}\n")
                self.partial = ""
        self.out.flush()

    def fileno(self) -> int:
        return self.out.fileno()

    @property
    def encoding(self):
        return getattr(self.out, "encoding", "utf-8")


class TrialOutput:
    """Captures ``sys.stdout``/``sys.stderr`` of one trial's job: prefixed lines out, raw text to ``send``.

    >>> sent = []
    >>> with TrialOutput(3, sent.append):
    ...     print("epoch 1 done")
    [trial 3] epoch 1 done
    >>> sent
    ['epoch 1 done\\n']
    """

    def __init__(self, trial_id: int, send: Callable[[str], None], interval: float = 1.0):
        self.trial_id = trial_id
        self.send = send
        self.interval = interval
        self.pending: list[str] = []
        self.lock = threading.Lock()          # guards pending
        self.send_lock = threading.Lock()     # one send at a time: the log keeps the order of writes
        self.stop = threading.Event()
        self.failed = False
        self.thread: Optional[threading.Thread] = None   # started at the first output (a silent job has none)

    def _collect(self, s: str) -> None:
        with self.lock:
            self.pending.append(s)
            if self.thread is None:   # the first output of this job: from now on, sent about once a second
                self.thread = threading.Thread(target=self._loop, name=f"raysha-trial-{self.trial_id}-output",
                                               daemon=True)
                self.thread.start()

    def _send_pending(self) -> None:
        with self.send_lock:
            with self.lock:
                text, self.pending = "".join(self.pending), []
            if not text:
                return
            try:
                self.send(text)
            except Exception as e:   # the log file misses this part; the trial goes on
                if not self.failed:
                    self.failed = True
                    print(f"raysha: trial {self.trial_id}: could not save its output ({type(e).__name__}: {e})",
                          file=self.old[1], flush=True)

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            self._send_pending()

    def __enter__(self) -> "TrialOutput":
        self.old = (sys.stdout, sys.stderr)
        prefix = f"[trial {self.trial_id}] "
        self.streams = (_PrefixedStream(sys.stdout, prefix, self._collect),
                        _PrefixedStream(sys.stderr, prefix, self._collect))
        sys.stdout, sys.stderr = self.streams
        return self

    def __exit__(self, *exc) -> bool:
        sys.stdout, sys.stderr = self.old
        for s in self.streams:
            s.finish()
        self.stop.set()
        with self.lock:
            thread = self.thread
        if thread is not None:
            thread.join()
        self._send_pending()
        return False
