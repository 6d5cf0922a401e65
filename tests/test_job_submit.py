"""`ray job submit` of a tiny raysha experiment to a local head started with `ray start --head`.

Token authentication stays on (``RAY_AUTH_MODE=token``): the test writes its own token to a
file in a temp folder and points ``RAY_AUTH_TOKEN_PATH`` at it for the head and the CLI; a
client with another token is refused. The head runs with ``--block`` in its own process
group and its own ``--temp-dir`` and ports, so tearing it down (by its process id, then any
process left under that temp dir) leaves other Ray instances on the machine alone
(``ray stop`` would stop every Ray instance of the machine).
"""

import os
import secrets
import subprocess
import sys
import textwrap
import uuid

import pytest

from conftest import ray_head

pytest.importorskip("ray")

pytestmark = [pytest.mark.ray, pytest.mark.slow]

BIN = os.path.dirname(sys.executable)

SCRIPT = textwrap.dedent("""
    import sys
    import ray
    from raysha.runtime import session
    from raysha.runtime.tuner import Tuner
    from raysha.schedulers.asha import ASHA
    from raysha.space import uniform
    from raysha.stop import StopCriterion

    def fn(config):                     # zero-cost trainable
        for e in range(1, config["max_epochs"] + 1):
            session.report(epoch=e, loss=(config["x"] - 0.3) ** 2 + 1.0 / e)

    ray.init(address="auto")
    sched = ASHA({"x": uniform(0, 1), "max_epochs": 9}, metric="loss", mode="min",
                 max_resource_attr="max_epochs", grace_period=1, reduction_factor=3,
                 points_to_evaluate=[{"x": 0.3}])
    exp = Tuner(fn, sched, n_workers=2, stop=StopCriterion(max_trials=10),
                storage_path=sys.argv[1], name="submitted", verbose=0).fit()
    best = exp.best()
    print(f"RAYSHA_RESULT trials={exp.n_trials} rows={len(exp.results)} "
          f"best_x={best['config_x']:.3f} best_epoch={int(best['epoch'])}")
""")


@pytest.fixture
def head(tmp_path):
    with ray_head(tmp_path, num_cpus=2) as (address, env):
        yield address, env, tmp_path


def test_ray_job_submit_runs_a_raysha_experiment(head):
    address, env, tmp_path = head
    work = tmp_path / "job"
    work.mkdir()
    (work / "script.py").write_text(SCRIPT)
    storage = tmp_path / "results"
    sub_id = f"raysha_{uuid.uuid4().hex[:8]}"
    ray_cli = os.path.join(BIN, "ray")
    r = subprocess.run([ray_cli, "job", "submit", "--address", address, "--submission-id", sub_id,
                        "--working-dir", str(work), "--", sys.executable, "script.py", str(storage)],
                       env=env, capture_output=True, text=True, timeout=240)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:]
    assert "RAYSHA_RESULT trials=10" in out, out[-4000:]
    assert "best_x=0.300 best_epoch=9" in out, out[-4000:]   # the given point wins and runs to max_t
    st = subprocess.run([ray_cli, "job", "status", "--address", address, sub_id], env=env,
                        capture_output=True, text=True, timeout=60)
    assert f"Job '{sub_id}' succeeded" in st.stdout + st.stderr, st.stdout + st.stderr
    assert (storage / "submitted" / "experiment.json").exists()

    # token authentication is on: a client with another token is refused
    bad = tmp_path / "wrong_token"
    bad.write_text(secrets.token_hex(32))
    r = subprocess.run([ray_cli, "job", "list", "--address", address],
                       env=dict(env, RAY_AUTH_TOKEN_PATH=str(bad)), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and sub_id not in r.stdout
