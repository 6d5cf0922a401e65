"""Shared pytest fixtures (add yours; keep the others)."""

import contextlib

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


# -- a Ray head of its own (`ray start --head --block`), as a cluster's head is started ----------------

def free_ports(n):
    import socket

    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def _pids_under(temp_dir):
    """Processes whose command line names this head's temp dir (the ones this test started)."""
    import os

    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if temp_dir.encode() in f.read():
                    out.append(int(d))
        except OSError:
            pass
    return out


@contextlib.contextmanager
def ray_head(tmp_path, num_cpus=2, env=None):
    """A local head with token auth, its own ports and temp dir; yields (dashboard address, env).

    ``env`` adds environment variables for the head (as a pod's container env would). The
    head runs with ``--block`` in its own process group; tearing it down (by its process id,
    then any process left under its temp dir) leaves other Ray instances alone.
    """
    import os
    import secrets
    import shutil
    import signal
    import subprocess
    import sys
    import time
    import urllib.request
    import uuid

    bin_dir = os.path.dirname(sys.executable)
    temp_dir = f"/tmp/raysha_js_{uuid.uuid4().hex[:8]}"   # short: Ray's socket paths have a length limit
    token_file = tmp_path / "auth_token"
    token_file.write_text(secrets.token_hex(32))
    env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(token_file),
               PATH=bin_dir + os.pathsep + os.environ.get("PATH", ""), **(env or {}))
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_TOKEN", None)
    gcs, dash, agent, agent_grpc, metrics, rt_env, client = free_ports(7)
    cmd = [os.path.join(bin_dir, "ray"), "start", "--head", "--block", f"--port={gcs}", f"--num-cpus={num_cpus}",
           "--num-gpus=0", "--include-dashboard=true", "--dashboard-host=127.0.0.1",
           f"--dashboard-port={dash}", f"--dashboard-agent-listen-port={agent}",
           f"--dashboard-agent-grpc-port={agent_grpc}", f"--metrics-export-port={metrics}",
           f"--runtime-env-agent-port={rt_env}", f"--ray-client-server-port={client}",
           f"--temp-dir={temp_dir}", "--disable-usage-stats"]
    log = open(tmp_path / "head.log", "w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    address = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 120
        up = False
        while time.monotonic() < deadline and proc.poll() is None:
            try:   # the job API answers (401 without the token is an answer too)
                urllib.request.urlopen(address + "/api/version", timeout=2)
                up = True
                break
            except urllib.error.HTTPError:
                up = True
                break
            except Exception:
                time.sleep(0.5)
        assert up, f"the Ray head did not come up: {(tmp_path / 'head.log').read_text()[-3000:]}"
        yield address, env
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _pids_under(temp_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        for pid in _pids_under(temp_dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        log.close()
        shutil.rmtree(temp_dir, ignore_errors=True)


# -- an S3-compatible server (moto) on 127.0.0.1, torn down after the test --------------------------

@pytest.fixture
def s3_bucket(monkeypatch):
    """A moto S3 server on a free local port with one empty bucket; yields ``s3://bucket?<options>`` pieces.

    Yields a function ``uri(path) -> "s3://raysha-test-<random>/<path>?endpoint_override=...&scheme=http"``;
    the dummy credentials are in the environment (child processes inherit them).
    """
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    (port,) = free_ports(1)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    for k, v in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                 ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_EC2_METADATA_DISABLED", "true")):
        monkeypatch.setenv(k, v)
    import pyarrow.fs as pafs

    opts = f"endpoint_override=127.0.0.1:{port}&scheme=http&region=us-east-1"
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", region="us-east-1",
                           allow_bucket_creation=True)
    import uuid

    bucket = f"raysha-test-{uuid.uuid4().hex[:8]}"      # moto keeps buckets across servers in one process
    fs.create_dir(bucket)
    try:
        yield lambda path="": f"s3://{bucket}/{path}?{opts}" if path else f"s3://{bucket}?{opts}"
    finally:
        server.stop()


@pytest.fixture
def tmpfs(tmp_path):
    """A 4 MiB tmpfs mounted at a fresh folder (root only), unmounted after the test: a disk that fills up."""
    import os
    import subprocess

    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], check=True)
    try:
        yield str(mnt)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
