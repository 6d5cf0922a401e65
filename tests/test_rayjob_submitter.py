"""cluster/rayjob.yaml's entrypoint, run as KubeRay's submitter runs it, against a local head.

KubeRay (v1.7.0, K8sJobMode, `BuildJobSubmitCommand` in ray-operator/controllers/ray/common/job.go)
runs ``/bin/bash -ce -- "<command>"`` in the submitter pod, where <command> waits for the
dashboard, then ``if ! ray job status ...; then ray job submit --address ... --no-wait
--runtime-env-json "<runtimeEnvYAML as JSON>" --submission-id ID -- <entrypoint> ; fi ;
ray job logs --address ... --follow ID``. This test builds that string the same way from
the YAML and runs it. The local head stands in for the cluster: token auth on (what
``authOptions: {mode: token}`` sets up), 4 CPU slots for the 4 trial actors (no GPU here),
and raysha importable (the image has it installed). The one substitution: RAYSHA_STORAGE
in the runtime env points at a temp folder instead of the S3 bucket.

The run is LeNet on the full Fashion-MNIST for an hour, so the test stops the job once the
first results are durable in storage, then reads them with `raysha status`.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ray_head
from raysha.status import read_status
from raysha.workloads.fashion_mnist import locate

yaml = pytest.importorskip("yaml")
pytest.importorskip("torch")

pytestmark = [pytest.mark.ray, pytest.mark.slow,
              pytest.mark.skipif(locate() is None, reason="Fashion-MNIST not found: run `make data`")]

ROOT = Path(__file__).resolve().parents[1]


def go_quote(s: str) -> str:
    """Go's strconv.Quote for printable ASCII: double quotes, with backslash and quote escaped."""
    assert s.isascii() and s.isprintable(), s
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def submitter_command(spec: dict, address: str, job_id: str) -> str:
    runtime_env = json.dumps(yaml.safe_load(spec["runtimeEnvYAML"]), sort_keys=True, separators=(",", ":"))
    health = (f"python -c \"import urllib.request; r=urllib.request.urlopen('{address}/api/gcs_healthz', "
              f"timeout=10); exit(0 if b'success' in r.read() else 1)\"")
    cmd = ["until", health, ">/dev/null", "2>&1", ";", "do", "echo",
           go_quote(f"Waiting for Ray Dashboard GCS to become healthy at {address} ..."), ";", "sleep", "2", ";",
           "done", ";",
           "if", "!", "ray", "job", "status", "--address", address, job_id, ">/dev/null", "2>&1", ";", "then",
           "ray", "job", "submit", "--address", address, "--no-wait", "--runtime-env-json", go_quote(runtime_env),
           "--submission-id", job_id, "--", spec["entrypoint"].strip(), ";",
           "fi", ";", "ray", "job", "logs", "--address", address, "--follow", job_id]
    return " ".join(cmd)


def wait_for_results(folder: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if list(folder.glob("*/results/part-*.parquet")):
            return True
        time.sleep(1)
    return False


def test_the_rayjob_entrypoint_runs_as_kuberays_submitter_runs_it(tmp_path):
    spec = yaml.safe_load((ROOT / "cluster" / "rayjob.yaml").read_text())["spec"]
    storage = tmp_path / "bucket"
    env_vars = yaml.safe_load(spec["runtimeEnvYAML"])
    env_vars["env_vars"]["RAYSHA_STORAGE"] = str(storage)
    spec["runtimeEnvYAML"] = yaml.safe_dump(env_vars)
    job_id = f"rayjob-{uuid.uuid4().hex[:8]}"
    with ray_head(tmp_path, num_cpus=4, env={"PYTHONPATH": str(ROOT)}) as (address, env):
        env = dict(env, PYTHONUNBUFFERED="1", RAY_DASHBOARD_ADDRESS=address, RAY_JOB_SUBMISSION_ID=job_id)
        env.pop("RAYSHA_STORAGE", None)            # the submitter pod has no such variable
        log = open(tmp_path / "submitter.log", "w")
        submitter = subprocess.Popen(["/bin/bash", "-ce", "--", submitter_command(spec, address, job_id)],
                                     env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            got = wait_for_results(storage, timeout=170)
            ray_cli = os.path.join(os.path.dirname(sys.executable), "ray")
            subprocess.run([ray_cli, "job", "stop", "--address", address, job_id], env=env,
                           capture_output=True, timeout=60)
            submitter.wait(timeout=60)
        finally:
            if submitter.poll() is None:
                submitter.kill()
            log.close()
        out = (tmp_path / "submitter.log").read_text()
        assert got, out[-4000:]
    folder = storage / "lenet-asha"                # --name in the entrypoint
    assert (folder / "experiment.json").exists(), out[-4000:]
    st = read_status(str(folder))
    assert st["n_results"] >= 1 and st["best"]["metric"] == "validation_error"
    assert f"Job '{job_id}' submitted successfully" in out
    # not a terminal: the job's log carries plain progress lines while it runs
    assert "raysha lenet-asha | " in out, out[-4000:]
