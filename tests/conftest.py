"""Shared pytest fixtures (add yours; keep the others)."""

import pytest


@pytest.fixture(scope="module")
def ray_2cpu_2gpu():
    """One local Ray session per test module: 2 CPUs and 2 (fake) GPUs; shut down after the module."""
    ray = pytest.importorskip("ray")
    if ray.is_initialized():
        ray.shutdown()
    # address="local": always a fresh local instance, never a cluster another process left running
    ray.init(address="local", num_cpus=2, num_gpus=2, include_dashboard=False, log_to_driver=True)
    yield ray
    ray.shutdown()


def fit_in_background(tuner):
    """Start `tuner.fit()` in a daemon thread; returns (thread, out) where out["exp"] is its result."""
    import threading

    out = {}
    th = threading.Thread(target=lambda: out.setdefault("exp", tuner.fit()), daemon=True)
    th.start()
    return th, out


def wait_for_marker(path, timeout: float) -> str:
    """Poll until the file at `path` exists and is non-empty (a trial's signal); returns its text or ''."""
    import time

    deadline = time.monotonic() + timeout
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return path.read_text() if path.exists() else ""
