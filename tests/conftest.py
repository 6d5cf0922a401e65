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
