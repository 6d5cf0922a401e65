"""Progress on the driver, fed by polling the scheduler actor about once a second.

Where it shows depends on where stdout goes:

* a terminal: a live rich table (counts, best, rung occupancy), redrawn in place;
* a Jupyter kernel: the same table as one HTML output updated in place
  (``IPython.display`` with a display id; ipywidgets are not needed);
* anything else (``ray job logs``, ``kubectl logs``, a file, a pipe): one plain
  line every ``every_s`` seconds (and a last one at the end), flushed at once.
"""

from __future__ import annotations

import io
import sys
import time
from typing import Optional, TextIO


def _fmt_time(s: float) -> str:
    s = int(s)
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m:d}:{sec:02d}"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def render(status: dict, name: str = ""):
    """A rich Table for one status snapshot of the scheduler actor."""
    from rich.table import Table

    counts = status.get("counts") or {}
    title = f"raysha {name}".strip() + f"  elapsed {_fmt_time(status.get('elapsed', 0))}"
    if status.get("stopping"):
        title += f"  (stopping: {status.get('stop_reason')})"
    t = Table(title=title, show_header=True, header_style="bold")
    for col in ("running", "paused", "stopped", "completed", "failed", "results", "best " + str(status.get("metric"))):
        t.add_column(col, justify="right")
    best = status.get("best")
    best_s = "-" if not best else f"{_fmt(best['value'])} (trial {best['trial_id']})"
    t.add_row(str(counts.get("running", 0)), str(counts.get("paused", 0)), str(counts.get("stopped", 0)),
              str(counts.get("completed", 0)), str(counts.get("failed", 0)),
              str(status.get("n_results", 0)), best_s)
    rungs = status.get("rungs")
    if rungs:
        r = Table(title="rung occupancy", show_header=True)
        r.add_column("bracket")
        levels = sorted({lv for b in rungs.values() for lv in b})
        for lv in levels:
            r.add_column(_fmt(lv), justify="right")
        for b, sizes in sorted(rungs.items(), key=lambda kv: int(kv[0])):
            r.add_row(str(b), *[str(sizes.get(lv, "")) for lv in levels])
        from rich.console import Group

        return Group(t, r)
    return t


def line(status: dict, name: str = "") -> str:
    """One plain progress line: elapsed, counts, results, best (for logs that are not a terminal)."""
    counts = status.get("counts") or {}
    parts = [f"raysha {name}".strip(), _fmt_time(status.get("elapsed", 0))]
    parts.append(" ".join(f"{k} {counts.get(k, 0)}" for k in ("running", "paused", "stopped", "completed", "failed")))
    parts.append(f"{status.get('n_results', 0)} results")
    best = status.get("best")
    if best:
        parts.append(f"best {status.get('metric')} {_fmt(best['value'])} (trial {best['trial_id']})")
    if status.get("stopping") or status.get("finished"):
        parts.append(f"stop: {status.get('stop_reason')}")
    return " | ".join(parts)


def in_jupyter() -> bool:
    """True inside a Jupyter (ipykernel) kernel, where rich's Live needs ipywidgets to show anything."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and hasattr(shell, "kernel")


def _html(renderable) -> str:
    from rich.console import Console

    console = Console(record=True, file=io.StringIO(), width=110, force_jupyter=False)
    console.print(renderable)
    return console.export_html(inline_styles=True, code_format='<pre style="font-family:monospace">{code}</pre>')


class Progress:
    """Context manager: ``with Progress(verbose, name) as p: p.update(status)``.

    ``file`` (default stdout) decides the display; ``every_s`` spaces the plain lines.

    >>> import io
    >>> out = io.StringIO()
    >>> with Progress(1, "demo", file=out, every_s=0) as p:
    ...     p.update({"elapsed": 75, "counts": {"running": 2}, "n_results": 9, "metric": "loss",
    ...               "best": {"value": 0.25, "trial_id": 3}})
    >>> print(out.getvalue().strip())
    raysha demo | 1:15 | running 2 paused 0 stopped 0 completed 0 failed 0 | 9 results | best loss 0.25 (trial 3)
    """

    def __init__(self, verbose: int, name: str = "", file: Optional[TextIO] = None, every_s: float = 5.0):
        self.verbose = verbose
        self.name = name
        self.file = file
        self.every_s = every_s
        self.mode = None
        self._live = None
        self._handle = None
        self._last_line = -float("inf")
        self._pending: Optional[dict] = None

    def __enter__(self):
        if self.verbose < 1:
            return self
        out = self.file or sys.stdout
        if self.file is None and in_jupyter():
            self.mode = "jupyter"
        elif hasattr(out, "isatty") and out.isatty():
            from rich.console import Console
            from rich.live import Live

            self.mode = "terminal"
            self._live = Live(console=Console(file=out), auto_refresh=False, transient=False)
            self._live.__enter__()
        else:
            self.mode = "lines"
        return self

    def update(self, status: Optional[dict]) -> None:
        if status is None or self.mode is None:
            return
        if self.mode == "terminal":
            self._live.update(render(status, self.name), refresh=True)
        elif self.mode == "jupyter":
            from IPython.display import HTML, display

            html = HTML(_html(render(status, self.name)))
            if self._handle is None:
                self._handle = display(html, display_id=True)
            else:
                self._handle.update(html)
        else:
            now = time.monotonic()
            if now - self._last_line >= self.every_s:
                self._last_line = now
                self._pending = None
                print(line(status, self.name), file=self.file or sys.stdout, flush=True)
            else:
                self._pending = status   # printed at the end if nothing newer was

    def __exit__(self, *exc):
        if self._live is not None:
            console = self._live.console
            self._live.__exit__(*exc)
            console.print()
            self._live = None
        elif self.mode == "lines" and self._pending is not None:
            print(line(self._pending, self.name), file=self.file or sys.stdout, flush=True)
        self._pending = None
