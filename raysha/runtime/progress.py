"""A live progress table on the driver (rich), fed by polling the scheduler actor about once a second."""

from __future__ import annotations

from typing import Optional


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


class Progress:
    """Context manager: ``with Progress(verbose, name) as p: p.update(status)``."""

    def __init__(self, verbose: int, name: str = ""):
        self.verbose = verbose
        self.name = name
        self._live = None

    def __enter__(self):
        if self.verbose >= 1:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(console=Console(), auto_refresh=False, transient=False)
            self._live.__enter__()
        return self

    def update(self, status: Optional[dict]) -> None:
        if self._live is not None and status is not None:
            self._live.update(render(status, self.name), refresh=True)

    def __exit__(self, *exc):
        if self._live is not None:
            console = self._live.console
            self._live.__exit__(*exc)
            console.print()
            self._live = None
