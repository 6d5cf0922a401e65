"""Driver progress: plain lines when stdout is not a terminal, a live table on a terminal, an
updating display in a real Jupyter kernel."""

import io
import os
import pty
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from raysha.runtime.progress import Progress, line

ROOT = Path(__file__).resolve().parents[1]


def status(i, **kw):
    return dict({"elapsed": float(i), "counts": {"running": 2, "stopped": i}, "n_results": 3 * i,
                 "metric": "loss", "best": {"value": 1.0 / (i + 1), "trial_id": i}, "rungs": {0: {1: i, 3: 0}}}, **kw)


def test_plain_lines_are_spaced_and_the_last_state_is_printed_at_the_end():
    out = io.StringIO()
    with Progress(1, "exp", file=out, every_s=0.3) as p:
        for i in range(10):
            p.update(status(i))
            time.sleep(0.1)
        p.update(status(10, stopping=True, stop_reason="max_wallclock_time"))
    lines = out.getvalue().splitlines()
    assert 3 <= len(lines) <= 6, lines          # about one per 0.3 s over 1 s, plus the last
    assert lines[0] == line(status(0), "exp")
    assert lines[-1].endswith("| 30 results | best loss 0.09091 (trial 10) | stop: max_wallclock_time")


def run_script(code, **popen):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env, **popen)


SCRIPT = """
    import time
    from raysha.runtime.progress import Progress
    with Progress(1, "piped", every_s=0.2) as p:
        for i in range(40):
            p.update({"elapsed": i, "counts": {"running": 1}, "n_results": i, "metric": "loss",
                      "best": {"value": 0.5, "trial_id": 0}, "rungs": {0: {1: i}}})
            time.sleep(0.05)
"""


def test_a_pipe_gets_lines_while_the_run_goes_on():
    """As `ray job logs` / `kubectl logs` would: the first line arrives long before the end."""
    proc = run_script(SCRIPT, stdout=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    first = proc.stdout.readline()
    t_first = time.monotonic() - t0
    rest = proc.stdout.read()
    t_end = time.monotonic() - t0
    proc.wait(timeout=30)
    assert first.startswith("raysha piped | 0:00 | running 1 ")
    assert t_first < t_end - 1.0, (t_first, t_end)
    assert "\x1b[" not in first + rest and "┏" not in rest       # no terminal control, no table


def test_a_terminal_gets_the_live_table():
    master, slave = pty.openpty()
    proc = run_script(SCRIPT, stdout=slave, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=30)
    text = b"".join(chunks).decode(errors="replace")
    assert "rung occupancy" in text and "best loss" in text and "raysha piped" in text
    assert "| running 1 " not in text                              # not the plain lines


def test_a_jupyter_kernel_gets_one_display_updated_in_place():
    jupyter_client = pytest.importorskip("jupyter_client")
    pytest.importorskip("ipykernel")
    km = jupyter_client.KernelManager(kernel_name="python3")
    km.start_kernel(env=dict(os.environ, PYTHONPATH=str(ROOT)))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        code = textwrap.dedent("""
            from raysha.runtime.progress import Progress
            with Progress(1, "nb") as p:
                for i in range(3):
                    p.update({"elapsed": i, "counts": {"running": 1, "stopped": i}, "n_results": i,
                              "metric": "loss", "best": {"value": 0.5, "trial_id": i}})
        """)
        msg_id = kc.execute(code)
        msgs = []
        while True:
            m = kc.get_iopub_msg(timeout=60)
            if m["parent_header"].get("msg_id") != msg_id:
                continue
            msgs.append(m)
            if m["msg_type"] == "status" and m["content"]["execution_state"] == "idle":
                break
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    kinds = [m["msg_type"] for m in msgs]
    assert "error" not in kinds, [m["content"] for m in msgs if m["msg_type"] == "error"]
    shown = [m for m in msgs if m["msg_type"] == "display_data"]
    updates = [m for m in msgs if m["msg_type"] == "update_display_data"]
    assert len(shown) == 1 and len(updates) == 2
    display_id = shown[0]["content"]["transient"]["display_id"]
    assert all(u["content"]["transient"]["display_id"] == display_id for u in updates)
    assert "trial 2" in updates[-1]["content"]["data"]["text/html"]
