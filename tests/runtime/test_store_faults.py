"""The experiment store under faults, with real drivers on real Ray (tests/runtime/store_driver.py).

A full disk (a 4 MiB tmpfs) for a while and for good, an S3-compatible server (moto) with a
driver killed by SIGKILL, two drivers racing for one experiment, five SIGKILLs at random
moments each followed by a restore, and a repaired restore after a lost part.
"""

import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from raysha.results import load_experiment
from raysha.runtime import journal as jn
from raysha.runtime.storage import Storage

pytestmark = [pytest.mark.ray, pytest.mark.slow]

DRIVER = Path(__file__).with_name("store_driver.py")
MAX_TRIALS = 24


def _env(tmp_path, **extra):
    env = dict(os.environ, REPORT_LOG=str(tmp_path / "reports.log"))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(Path(__file__).parents[2]), env.get("PYTHONPATH")) if p)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _start(tmp_path, *args, env=None, cwd=None):
    log = open(tmp_path / f"driver-{time.monotonic_ns()}.log", "w+")
    proc = subprocess.Popen([sys.executable, str(DRIVER), *map(str, args)], stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, env=env or _env(tmp_path), cwd=cwd)
    proc.log = log
    return proc


def _output(proc) -> str:
    proc.log.seek(0)
    return proc.log.read()


def _finish(proc, timeout=240):
    proc.wait(timeout=timeout)
    return proc.returncode, _output(proc)


def _summary(out: str) -> dict:
    return json.loads([ln for ln in out.splitlines() if ln.startswith("SUMMARY ")][-1][len("SUMMARY "):])


def _kill(proc) -> None:
    from runtime.test_restore import _kill_session

    _kill_session(proc.pid)
    proc.wait(timeout=10)


def _wait_for(cond, timeout=90, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the driver ended early:\n{_output(proc)[-3000:]}")
        try:
            if cond():
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError("timed out")


def _journal(store):
    state = jn.read_state(store)
    return state if jn.is_journal(state) else None


def _reported(tmp_path) -> set:
    lines = (tmp_path / "reports.log").read_text().split()
    return {(int(t), int(e)) for t, e in zip(lines[::2], lines[1::2])}


def _check(store, max_trials=MAX_TRIALS) -> pd.DataFrame:
    """A finished experiment: no (trial, epoch) twice, none missing below what a trial reached, none RUNNING."""
    df = load_experiment(store).results
    state = jn.read_state(store)
    trials = {t["trial_id"]: t for t in state["scheduler"]["trials"]}
    assert not df.duplicated(["trial_id", "epoch"]).any(), "a (trial_id, epoch) was recorded twice"
    assert df["trial_id"].nunique() == max_trials == len(trials) == state["n_started"]
    for tid, g in df.groupby("trial_id"):
        assert sorted(g["epoch"]) == list(range(1, int(trials[tid]["resource"]) + 1)), (tid, sorted(g["epoch"]))
    assert not [t for t in trials.values() if t["status"] in ("running", "interrupted")]
    assert state["finished"] is True and state["n_results"] == len(df)
    return df


def _fill(folder) -> Path:
    filler = Path(folder) / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_for_a_while_loses_no_row(tmp_path, tmpfs):
    store = Storage(tmpfs).child("full")
    proc = _start(tmp_path, "run", tmpfs, "full", MAX_TRIALS, env=_env(tmp_path, EPOCH_S=0.1))
    _wait_for(lambda: (_journal(store) or {}).get("parts", {}).get("results"), proc=proc)
    filler = _fill(tmpfs)
    time.sleep(3.0)
    filler.unlink()
    code, out = _finish(proc)
    assert code == 0, out[-3000:]
    assert _summary(out)["storage_failures"] >= 1                    # it did fail, and was retried
    df = _check(store)
    got = list(zip(df["trial_id"], df["epoch"]))
    assert sorted(got) == sorted(_reported(tmp_path))       # every reported row, exactly once


def test_storage_broken_past_its_timeout_stops_loudly_and_a_restore_completes_it(tmp_path, tmpfs):
    store = Storage(tmpfs).child("broken")
    proc = _start(tmp_path, "run", tmpfs, "broken", MAX_TRIALS, env=_env(tmp_path, EPOCH_S=0.1, STORAGE_TIMEOUT_S=3))
    _wait_for(lambda: len((_journal(store) or {}).get("parts", {}).get("results", [])) >= 2, proc=proc)
    filler = _fill(tmpfs)
    code, out = _finish(proc)
    assert code == 3 and "REFUSED StorageError" in out, out[-3000:]
    assert "No space left on device" in out and tmpfs in out          # what failed and where
    at_stop = jn.read_state(store)
    assert not at_stop["finished"] and all(store.exists(f"results/{p}") for p in at_stop["parts"]["results"])
    filler.unlink()
    code, out = _finish(_start(tmp_path, "restore", tmpfs, "broken", MAX_TRIALS))
    assert code == 0, out[-3000:]
    df = _check(store)
    committed = {(int(t), int(e)) for name in at_stop["part_rows"] for t, lv in at_stop["part_rows"][name].items()
                 for e in lv}
    assert committed <= set(zip(df["trial_id"], df["epoch"]))      # what was durable before stayed


def test_an_experiment_on_s3_survives_a_killed_driver_and_needs_no_local_disk(tmp_path, s3_bucket):
    homes = [tmp_path / "home1", tmp_path / "home2"]
    cwds = [tmp_path / "cwd1", tmp_path / "cwd2"]
    for d in homes + cwds:
        d.mkdir()
    store = Storage(s3_bucket("runs")).child("s3exp")
    proc = _start(tmp_path, "run", s3_bucket("runs"), "s3exp", MAX_TRIALS, env=_env(tmp_path, HOME=homes[0]),
                  cwd=cwds[0])

    def worth_crashing():
        state = _journal(store)
        return state and len(state["parts"]["results"]) >= 2 and \
            sum(t["status"] == "paused" for t in state["scheduler"]["trials"]) >= 3
    try:
        _wait_for(worth_crashing, timeout=120, proc=proc)
    finally:
        _kill(proc)
    at_crash = jn.read_state(store)
    assert not at_crash["finished"] and any(e.get("durable") for e in at_crash["checkpoints"].values())
    assert store.list("checkpoints", dirs=True) and store.list("lease")
    code, out = _finish(_start(tmp_path, "restore", store.root, "-", MAX_TRIALS, env=_env(tmp_path, HOME=homes[1]),
                               cwd=cwds[1]))
    assert code == 0, out[-3000:]
    df = _check(store)
    assert {"experiment.json", "scheduler_state.json", "tuner.pkl"} <= set(store.list(""))
    for home, cwd in zip(homes, cwds):               # nothing of the experiment on the drivers' disks
        assert not (home / "raysha_results").exists() and os.listdir(cwd) == []
    assert len(df) == _summary(out)["n_rows"]


@pytest.mark.parametrize("mode", ["restore", "run"])
def test_two_drivers_at_once_exactly_one_runs(tmp_path, mode):
    if mode == "restore":
        code, out = _finish(_start(tmp_path, "run", tmp_path, "twice", 6))
        assert code == 0, out[-3000:]
    start_at = time.time() + 20      # both fit() at this moment, each with its Ray up
    procs = [_start(tmp_path, mode, tmp_path, "twice", MAX_TRIALS, env=_env(tmp_path, START_AT=start_at))
             for _ in range(2)]
    results = [_finish(p) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 3], [out[-2000:] for _, out in results]
    loser = [out for code, out in results if code == 3][0]
    winner = _summary([out for code, out in results if code == 0][0])
    assert "held by driver" in loser or "just taken by driver" in loser or "exists already" in loser, loser
    df = _check(Storage(tmp_path / "twice"))
    second = df[df["tuner_time"] > (0 if mode == "run" else df[df["trial_id"] < 6]["tuner_time"].max())]
    assert set(second["node"]) == {winner["node"]}           # the rows of one run only (one Ray node)


def test_five_kills_at_random_moments_then_restores_lose_and_repeat_nothing(tmp_path):
    rng = random.Random(7)
    store = Storage(tmp_path / "kills")
    proc = _start(tmp_path, "run", tmp_path, "kills", MAX_TRIALS, env=_env(tmp_path, EPOCH_S=0.1))
    _wait_for(lambda: _journal(store), proc=proc)
    for cycle in range(5):
        time.sleep(rng.uniform(0.2, 6.0))
        finished = proc.poll() is not None
        _kill(proc)
        if finished:
            break
        proc = _start(tmp_path, "restore", tmp_path, "kills", MAX_TRIALS, env=_env(tmp_path, EPOCH_S=0.1))
    code, out = _finish(proc) if proc.poll() is None else (proc.returncode, _output(proc))
    if code != 0:   # the last kill came after the run ended, or the last restore was killed: run it out
        code, out = _finish(_start(tmp_path, "restore", tmp_path, "kills", MAX_TRIALS))
    assert code == 0, out[-3000:]
    _check(store)


def test_a_lost_part_is_repaired_by_running_exactly_its_rows_again(tmp_path):
    code, out = _finish(_start(tmp_path, "run", tmp_path, "lost", 12))
    assert code == 0, out[-3000:]
    store = Storage(tmp_path / "lost")
    before = _check(store, 12)
    state = jn.read_state(store)
    # the run ended compacted: one part; split it in two as a long run leaves them, then lose one
    part = state["parts"]["results"][0]
    rows = pd.read_parquet(tmp_path / "lost" / "results" / part)
    lost_rows, kept_rows = rows.iloc[::3], rows.drop(rows.index[::3])
    (tmp_path / "lost" / "results" / part).unlink()
    kept_rows.to_parquet(tmp_path / "lost" / "results" / "part-00100.parquet", index=False)
    index = {"part-00100.parquet": {}, "part-00101.parquet": {}}
    for name, df in (("part-00100.parquet", kept_rows), ("part-00101.parquet", lost_rows)):
        for t, g in df.groupby("trial_id"):
            index[name][str(t)] = sorted(float(e) for e in g["epoch"])
    state.update(parts=dict(state["parts"], results=["part-00100.parquet", "part-00101.parquet"]), part_rows=index)
    jn.write_state(store, state)                               # part-00101 is listed but missing
    code, out = _finish(_start(tmp_path, "restore", tmp_path, "lost", 12))
    assert code == 3 and "part-00101.parquet, which is missing" in out, out[-2000:]
    code, out = _finish(_start(tmp_path, "repair", tmp_path, "lost", 12))
    assert code == 0, out[-3000:]
    after = _check(store, 12)
    assert sorted(zip(after["trial_id"], after["epoch"])) == sorted(zip(before["trial_id"], before["epoch"]))
    redone = after[after["decision"] == "redo"]
    assert sorted(zip(redone["trial_id"], redone["epoch"])) == sorted(zip(lost_rows["trial_id"], lost_rows["epoch"]))
    assert (abs(after["loss"] - (after["config_x"] + 1.0 / after["epoch"])) < 1e-12).all()
