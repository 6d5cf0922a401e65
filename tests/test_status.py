"""`raysha status PATH` on finished, running and crashed experiment folders (written by the real writers)."""

import json
import time

import pytest

from raysha.cli import main
from raysha.objectives import STRAGGLER_SPACE, StragglerObjective
from raysha.results import ResultsWriter
from raysha.runtime import journal as jn
from raysha.schedulers import ASHA
from raysha.simulate import simulate
from raysha.status import read_status
from raysha.stop import StopCriterion


def finished_simulation(folder):
    sched = ASHA(STRAGGLER_SPACE, metric="validation_error", mode="min", resource_attr="epoch",
                 max_resource_attr="max_epochs", grace_period=1, reduction_factor=3)
    return simulate(sched, StragglerObjective(), n_workers=4, stop=StopCriterion(max_trials=40), out=folder)


def test_finished_experiment_counts_best_rungs_and_stop_reason(tmp_path, capsys):
    exp = finished_simulation(tmp_path / "sim")
    assert main(["status", str(tmp_path / "sim")]) == 0
    out = capsys.readouterr().out
    best = exp.best()
    assert "state        finished" in out
    assert "trials       40 reported" in out
    assert f"results      {len(exp.results)} rows" in out
    assert f"best         validation_error {best['validation_error']:.4g} (trial {best['trial_id']}" in out
    sizes = exp.metadata["summary"]["rung_sizes"]["0"]
    assert "rungs        bracket 0  " + "  ".join(f"{lv}: {n}" for lv, n in sizes.items()) in out
    assert "stop reason  exhausted" in out and "running  " not in out
    st = read_status(str(tmp_path / "sim"))
    assert sum(st["counts"].values()) == 40


def write_midrun(folder, wall_time, running=True):
    """A folder as the runtime leaves it mid-run: metadata, one results part, a journal snapshot."""
    meta = {"name": "midrun", "metric": "loss", "mode": "min", "resource_attr": "epoch",
            "scheduler": "ASHA", "scheduler_settings": {"levels": [1, 3, 9]}}
    with ResultsWriter(folder, meta) as w:
        for tid, epochs in ((0, 3), (1, 1), (2, 2), (3, 1)):
            for e in range(1, epochs + 1):
                w.append({"trial_id": tid, "epoch": e, "loss": 1.0 / e + tid / 10, "config_x": tid / 10,
                          "tuner_time": float(e + tid), "decision": "continue", "bracket": 0})
    trials = [{"trial_id": t, "status": s} for t, s in ((0, "running"), (1, "stopped"), (2, "running"),
                                                         (3, "paused"))]
    jn.write_state(folder, {"format": jn.FORMAT, "seq": 3, "wall_time": wall_time, "elapsed": 42.0,
                            "finished": False, "scheduler": {"trials": trials},
                            "running": {"0": {"start": 3, "until": 9}, "2": {"start": 1, "until": 3}}
                            if running else {}})


def test_running_experiment_shows_running_trials_and_rungs_from_the_results(tmp_path, capsys):
    write_midrun(tmp_path / "exp", wall_time=time.time() - 2)
    assert main(["status", str(tmp_path / "exp")]) == 0
    out = capsys.readouterr().out
    assert "state        running (journal written 2 s ago)" in out
    assert "trials       4 reported; running 2, stopped 1, paused 1" in out
    assert "best         loss 0.3333 (trial 0, epoch 3): x=0" in out
    assert "rungs        bracket 0  1: 4  3: 1  9: 0" in out
    assert "running      trial 0 (epoch 3 of 9), trial 2 (epoch 2 of 3)" in out
    assert "stop reason" not in out


def test_crashed_experiment_says_so_and_how_to_continue(tmp_path):
    write_midrun(tmp_path / "exp", wall_time=time.time() - 600)
    st = read_status(str(tmp_path / "exp"))
    assert st["state"].startswith("crashed or killed (journal last written 10 min ago)")
    assert "--resume" in st["state"]


@pytest.mark.parametrize("age, released, expect", [
    (1, False, "running (driver d1 on h1, heartbeat 1 s ago)"),
    (300, False, "crashed or killed (last heartbeat 5 min ago)"),
    (1, True, "stopped (its driver released"),
])
def test_the_lease_decides_whether_it_runs(tmp_path, age, released, expect):
    write_midrun(tmp_path / "exp", wall_time=time.time() - 1000)
    (tmp_path / "exp" / "lease").mkdir()
    rec = {"holder": "d1", "host": "h1", "pid": 1, "heartbeat": time.time() - age, "generation": 2}
    if released:
        rec["released"] = True
    (tmp_path / "exp" / "lease" / "00000001.json").write_text(json.dumps(dict(rec, holder="old")))
    (tmp_path / "exp" / "lease" / "00000002.json").write_text(json.dumps(rec))
    assert read_status(str(tmp_path / "exp"))["state"].startswith(expect)


def test_a_uri_is_read_through_pyarrow_fs_and_json_output(tmp_path, capsys):
    write_midrun(tmp_path / "exp", wall_time=time.time())
    assert main(["status", f"file://{tmp_path}/exp", "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["n_results"] == 7 and st["best"]["trial_id"] == 0 and st["best"]["config"] == {"x": 0.0}


def test_not_an_experiment_folder_is_a_clear_error(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert f"{tmp_path}: no experiment.json there" in capsys.readouterr().err


def wait_for_marker_file(config):
    """A trial that reports epoch 1, then waits until the test creates the marker file, then ends."""
    import os

    from raysha.runtime import session

    session.report(epoch=1, loss=config["x"])
    marker = session.get_shared("marker")
    deadline = time.monotonic() + 60
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    session.report(epoch=2, loss=config["x"] / 2)


@pytest.mark.ray
@pytest.mark.usefixtures("ray_2cpu_2gpu")
def test_a_real_run_is_running_while_it_runs_and_finished_after(tmp_path):
    import sys

    import ray

    from raysha.runtime.tuner import Tuner
    from raysha.space import uniform
    from conftest import fit_in_background

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    marker = tmp_path / "go-on"
    # a rung at epoch 1 (a report there is sent at once); with fewer than 3 trials in it both go on
    sched = ASHA({"x": uniform(0, 1)}, metric="loss", mode="min", resource_attr="epoch", max_t=2,
                 grace_period=1, reduction_factor=3)
    tuner = Tuner(wait_for_marker_file, sched, n_workers=2, stop=StopCriterion(max_trials=2),
                  storage_path=str(tmp_path), name="live", verbose=0, flush_every=0.2,
                  shared_objects={"marker": str(marker)})
    thread, out = fit_in_background(tuner)
    folder = str(tmp_path / "live")
    st, deadline = None, time.monotonic() + 60
    while time.monotonic() < deadline:   # both trials reported epoch 1 and wait: the journal says so
        try:
            st = read_status(folder)
        except Exception:   # the folder is not written yet
            st = None
        if st and st["n_results"] == 2 and len(st["running"]) == 2:
            break
        time.sleep(0.1)
    try:
        assert st is not None and st["state"].startswith("running"), st
        assert st["n_results"] == 2 and sorted(r["trial_id"] for r in st["running"]) == [0, 1]
        assert st["counts"]["running"] == 2 and st["stop_reason"] is None
    finally:
        marker.write_text("go")
        thread.join(60)
    assert len(out["exp"].results) == 4
    st = read_status(folder)
    assert st["state"] == "finished" and st["n_results"] == 4 and st["running"] == []
    assert st["best"]["trial_id"] == int(out["exp"].best()["trial_id"])
