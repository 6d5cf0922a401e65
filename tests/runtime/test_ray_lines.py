"""What Ray itself prints during a normal run: no red error line about raysha's scheduler actor."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

RUN_WITH_SHARED_OBJECTS = """
import sys, ray
from raysha import Tuner, report, StopCriterion
from raysha.schedulers.fifo import RandomSearch
from raysha.space import uniform
def f(config):
    for e in range(1, 3):
        report(epoch=e, loss=config["x"])
ray.init(address="local", num_cpus=2, include_dashboard=False)
exp = Tuner(f, RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=2), n_workers=2,
            stop=StopCriterion(max_trials=2), storage_path=sys.argv[1], verbose=0,
            shared_objects={"data": b"x" * 1_000_000}).fit()
print("rows", len(exp.results))
"""


@pytest.mark.ray
def test_a_normal_run_prints_no_red_line_about_the_scheduler_actors_arguments(tmp_path):
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env.pop("RAY_ADDRESS", None)
    r = subprocess.run([sys.executable, "-c", RUN_WITH_SHARED_OBJECTS, str(tmp_path)], capture_output=True,
                       text=True, env=env, timeout=180)
    assert r.returncode == 0 and "rows 4" in r.stdout, r.stderr
    assert "constructor arguments in the object store" not in r.stderr + r.stdout
    assert "core_worker.cc" not in r.stderr
