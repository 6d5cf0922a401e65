"""Restore after a crash: the journal (scheduler_state.json), Tuner.restore, `raysha run lenet --resume`.

The acceptance test kills a driver process with SIGKILL in the middle of a promotion
ASHA run, restores the experiment from its folder in a fresh process, and checks the
restored run against an uninterrupted reference run of the same seeded experiment.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from raysha.runtime import journal as jn
from raysha.status import read_status
from raysha.runtime.tuner import Tuner, TunerError

# -- the experiment: promotion ASHA on a cheap deterministic function ---------------------------
MAX_TRIALS = 36
COMMON = textwrap.dedent(f"""
    import json, os, sys, time
    import ray
    from raysha.runtime import session
    from raysha.runtime.tuner import Tuner
    from raysha.schedulers.asha import ASHA
    from raysha.space import uniform
    from raysha.stop import StopCriterion

    def trainable(config):
        ckpt = session.get_checkpoint()
        start, steps = (ckpt["epoch"], ckpt["steps"]) if ckpt else (0, 0)
        for epoch in range(start + 1, config["max_epochs"] + 1):
            time.sleep(float(os.environ.get("EPOCH_S", "0.06")))
            steps += 1
            session.report(epoch=epoch, loss=config["x"] + 1.0 / epoch, steps=steps,
                           loaded=int(ckpt is not None), checkpoint={{"epoch": epoch, "steps": steps}})

    def scheduler():
        return ASHA({{"x": uniform(0, 1), "max_epochs": 9}}, metric="loss", mode="min",
                    resource_attr="epoch", max_resource_attr="max_epochs", grace_period=1,
                    reduction_factor=3, type=os.environ.get("ASHA_TYPE", "promotion"), random_seed=11)

    def summary_out(tuner, exp):
        s = tuner.summary
        print("SUMMARY " + json.dumps({{"n_started": s["n_started"], "n_restarts": s.get("n_restarts"),
                                       "ckpt_sources": s["ckpt_sources"], "reconciled": s.get("reconciled"),
                                       "stop_reason": s["stop_reason"], "n_results": s["n_results"]}}),
              flush=True)

    ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
""")

RUN = COMMON + textwrap.dedent(f"""
    storage, name = sys.argv[1], sys.argv[2]
    tuner = Tuner(trainable, scheduler(), n_workers=2, stop=StopCriterion(max_trials={MAX_TRIALS}),
                  storage_path=storage, name=name, verbose=0, flush_every=0.5)
    exp = tuner.fit()
    summary_out(tuner, exp)
""")

# the scheduler actor (not the driver) dies mid-run: Ray restarts it, it continues from the journal
RESTART = COMMON + textwrap.dedent(f"""
    import signal, threading
    from raysha.runtime import journal as jn
    storage, name = sys.argv[1], sys.argv[2]
    folder = os.path.join(storage, name)
    tuner = Tuner(trainable, scheduler(), n_workers=2, stop=StopCriterion(max_trials={MAX_TRIALS}),
                  storage_path=storage, name=name, verbose=0, flush_every=0.5)
    out = {{}}
    th = threading.Thread(target=lambda: out.update(exp=tuner.fit()))
    th.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            st = jn.read_state(folder)
        except Exception:
            st = None
        if st and len(st["parts"]["results"]) >= 2 and \
                sum(t["status"] == "paused" for t in st["scheduler"]["trials"]) >= 4:
            break
        time.sleep(0.05)
    pid = ray.get(tuner.controller.__ray_call__.remote(lambda self: os.getpid()))
    print("KILLED", pid, st["n_started"], flush=True)
    os.kill(pid, signal.SIGKILL)
    th.join(120)
    summary_out(tuner, out["exp"])
""")

# stopped by its time budget (running trials interrupted), then continued with a new budget
STOP_THEN_RESTORE = COMMON + textwrap.dedent(f"""
    storage, name = sys.argv[1], sys.argv[2]
    tuner = Tuner(trainable, scheduler(), n_workers=2, verbose=0, flush_every=0.5, storage_path=storage,
                  name=name, stop=StopCriterion(max_trials={MAX_TRIALS}, max_wallclock_time=float(sys.argv[3])))
    tuner.fit()
    s = tuner.summary
    print("FIRST " + json.dumps({{"stop_reason": s["stop_reason"], "n_started": s["n_started"],
                                  "counts": s["counts"], "elapsed": s["elapsed"]}}), flush=True)
    tuner = Tuner.restore(os.path.join(storage, name), stop=StopCriterion(max_trials={MAX_TRIALS}))
    summary_out(tuner, tuner.fit())
""")

RESTORE = COMMON + textwrap.dedent("""
    tuner = Tuner.restore(sys.argv[1], verbose=0)
    exp = tuner.fit()
    summary_out(tuner, exp)
""")


def _run_script(tmp_path, name, code, *args, timeout=120, env=None, lines=None):
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    p = subprocess.run([sys.executable, str(script), *map(str, args)], capture_output=True, text=True,
                       timeout=timeout, start_new_session=True, env=dict(os.environ, **(env or {})))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-5000:]
    if lines is not None:
        lines.extend(p.stdout.splitlines())
    line = [ln for ln in p.stdout.splitlines() if ln.startswith("SUMMARY ")][-1]
    return json.loads(line[len("SUMMARY "):])


def _session_pids(sid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,sid=,stat="], capture_output=True, text=True).stdout
    rows = [ln.split() for ln in out.splitlines() if ln.strip()]
    return [int(r[0]) for r in rows if int(r[1]) == sid and not r[2].startswith("Z")]   # zombies are dead


def _kill_session(pid: int) -> None:
    """SIGKILL the driver and every process of its session (its local Ray: GCS, raylet, workers)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        left = _session_pids(pid)
        for p in left:   # processes of the session that left its process group
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if not left:
            return
        time.sleep(0.2)
    raise AssertionError(f"processes of the killed driver's session survive: {_session_pids(pid)}")


def _check(folder: Path):
    """Invariants of a finished experiment; returns (results, final journal)."""
    from raysha.results import load_experiment

    exp = load_experiment(folder)
    df = exp.results
    state = jn.read_state(folder)
    trials = {t["trial_id"]: t for t in state["scheduler"]["trials"]}
    assert not df.duplicated(["trial_id", "epoch"]).any(), "a (trial_id, epoch) was recorded twice"
    assert df["trial_id"].nunique() == MAX_TRIALS == len(trials) == state["n_started"]
    for tid, g in df.groupby("trial_id"):
        epochs = sorted(g["epoch"])
        assert epochs == list(range(1, len(epochs) + 1)), (tid, epochs)      # every epoch, exactly once
        assert epochs[-1] == trials[tid]["resource"], (tid, epochs, trials[tid])
        assert (g["steps"] == g["epoch"]).all(), (tid, g[["epoch", "steps"]])  # resumed, not restarted
        assert (abs(g["loss"] - (g["config_x"] + 1.0 / g["epoch"])) < 1e-12).all()
    # the rung sizes in the final state: the distinct trials that reported at each rung level
    levels = state["scheduler"]["systems"][0]
    sizes = _rung_sizes(state)
    for level, size in sizes.items():
        assert size == df[df["epoch"] == level]["trial_id"].nunique(), (level, size, levels)
    counts = pd.Series([t["status"] for t in trials.values()]).value_counts().to_dict()
    assert "running" not in counts and "interrupted" not in counts, counts
    assert state["finished"] is True
    assert {int(t): float(r) for t, r in state["max_recorded"].items()} == \
        {int(t): float(g["epoch"].max()) for t, g in df.groupby("trial_id")}
    return df, state


def _rung_sizes(state) -> dict:
    """{level: size} of the (single) rung system in a journal's scheduler state."""
    from raysha.schedulers.asha import ASHA
    from raysha.space import uniform

    sched = ASHA({"x": uniform(0, 1), "max_epochs": 9}, metric="loss", mode="min", resource_attr="epoch",
                 max_resource_attr="max_epochs", grace_period=1, reduction_factor=3, type="promotion",
                 random_seed=11)
    sched.load_state_dict(state["scheduler"])
    return sched.rung_sizes()[0]


@pytest.mark.ray
@pytest.mark.slow
def test_a_driver_killed_mid_run_is_restored_without_duplicated_or_lost_results(tmp_path):
    t0 = time.monotonic()
    # the reference: the same seeded experiment, uninterrupted
    ref = _run_script(tmp_path, "ref", RUN, tmp_path, "ref")
    ref_df, ref_state = _check(tmp_path / "ref")
    assert ref["n_started"] == MAX_TRIALS

    # the crash: SIGKILL the driver (and its local Ray) once parts are written and trials are paused
    script = tmp_path / "run.py"
    script.write_text(RUN)
    log = open(tmp_path / "crash.log", "w")
    proc = subprocess.Popen([sys.executable, str(script), str(tmp_path), "crash"], stdout=log, stderr=log,
                            start_new_session=True)
    folder = tmp_path / "crash"
    deadline = time.monotonic() + 90
    before = None
    try:
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "crash.log").read_text()[-3000:]
            try:
                state = jn.read_state(folder)
            except (OSError, ValueError):
                state = None
            if state is not None and jn.is_journal(state):
                paused = [t for t in state["scheduler"]["trials"] if t["status"] == "paused"]
                promoted = [t for t in state["scheduler"]["trials"] if t["resource"] > 1]
                if len(state["parts"]["results"]) >= 2 and len(paused) >= 4 and promoted \
                        and state["n_started"] < MAX_TRIALS - 6:
                    before = state
                    break
            time.sleep(0.05)
        assert before is not None, "the run never reached a state worth crashing in"
        time.sleep(0.3)   # crash between snapshots, typically with rows not yet flushed
    finally:
        _kill_session(proc.pid)
        proc.wait(timeout=10)
        log.close()
    at_crash = jn.read_state(folder)
    assert not at_crash["finished"] and at_crash["n_started"] < MAX_TRIALS
    assert at_crash["running"], "no trial was running at the crash"   # these re-run from their checkpoints
    kept = set(at_crash["parts"]["results"])
    on_disk = {p.name for p in (folder / "results").glob("part-*.parquet")}   # may be newer than the journal
    # `raysha status` on the crashed folder, looked at later (no heartbeat, no fresh journal)
    crashed = read_status(str(folder), now=time.time() + 600)
    assert crashed["state"].startswith("crashed or killed") and "--resume" in crashed["state"]
    assert {r["trial_id"] for r in crashed["running"]} == {int(t) for t in at_crash["running"]}
    assert kept <= on_disk

    committed = pd.concat([pd.read_parquet(folder / "results" / p) for p in sorted(kept)], ignore_index=True)

    # the restore, in a fresh process with a fresh local Ray
    out = _run_script(tmp_path, "restore", RESTORE, folder)
    assert out["n_restarts"] == 1 and out["n_started"] == MAX_TRIALS
    # parts flushed after the last snapshot were dropped (their reports came again), no others
    assert {r for r in out["reconciled"] if r.startswith("results/part-")} == \
        {f"results/{p}" for p in on_disk - kept}
    df, state = _check(folder)
    # what the journal had committed before the crash is still there, unchanged (compacted at the end)
    assert len(list((folder / "results").glob("part-*.parquet"))) == 1
    merged = committed.merge(df, on=["trial_id", "epoch"], suffixes=("", "_after"))
    assert len(merged) == len(committed)
    assert (merged["loss"] == merged["loss_after"]).all()
    # paused trials were resumed from their durable checkpoints after the restore
    assert out["ckpt_sources"].get("durable", 0) >= 1
    after = df[df["tuner_time"] > at_crash["elapsed"]]
    assert len(after) and after["loaded"].max() == 1
    assert df["tuner_time"].max() > at_crash["elapsed"]   # the clock goes on from the time already spent
    from raysha.results import load_experiment

    assert load_experiment(folder).summary["elapsed"] > at_crash["elapsed"]
    assert (df["tuner_time"] <= load_experiment(folder).summary["elapsed"] + 1e-6).all()
    assert read_status(str(folder))["state"] == "finished"
    # against the reference: the same trials (configs) and the same bottom rung
    cfg = df.groupby("trial_id")["config_x"].first()
    ref_cfg = ref_df.groupby("trial_id")["config_x"].first()
    assert (cfg.sort_index() == ref_cfg.sort_index()).all()
    assert _rung_sizes(state)[1] == _rung_sizes(ref_state)[1] == MAX_TRIALS
    print(f"restore test: {time.monotonic() - t0:.1f} s; {len(df)} results ({len(ref_df)} in the reference)")


@pytest.mark.ray
@pytest.mark.slow
def test_a_scheduler_actor_that_died_is_restarted_and_continues_from_the_journal(tmp_path):
    out = _run_script(tmp_path, "restart", RESTART, tmp_path, "restart")
    assert out["n_restarts"] == 1 and out["n_started"] == MAX_TRIALS
    df, state = _check(tmp_path / "restart")
    assert state["n_restarts"] == 1
    assert out["ckpt_sources"].get("durable", 0) >= 1   # the objects died with the actor: durable copies
    assert df["loaded"].max() == 1


@pytest.mark.ray
@pytest.mark.slow
def test_a_run_stopped_by_its_time_budget_continues_its_running_trials(tmp_path):
    """Stopping ASHA (jobs run to 9 epochs, so the stop cuts trials short), restored without a time limit."""
    lines: list = []
    out = _run_script(tmp_path, "stopped", STOP_THEN_RESTORE, tmp_path, "stopped", 6.0,
                      env={"EPOCH_S": "0.3", "ASHA_TYPE": "stopping"}, lines=lines)
    first = json.loads([ln for ln in lines if ln.startswith("FIRST ")][0][len("FIRST "):])
    assert first["stop_reason"] == "max_wallclock_time" and first["n_started"] < MAX_TRIALS, first
    assert first["counts"]["interrupted"] >= 1, first        # trials were cut short by the stop ...
    df, state = _check(tmp_path / "stopped")                 # ... and finished after the restore
    assert out["n_restarts"] == 1 and out["n_started"] == MAX_TRIALS
    assert df["tuner_time"].max() > first["elapsed"] - 3.0


# -- fast tests ----------------------------------------------------------------------------------

def test_restore_refuses_a_folder_that_is_not_an_experiment(tmp_path):
    with pytest.raises(TunerError, match="no experiment folder"):
        Tuner.restore(tmp_path / "nothing")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("hi")
    with pytest.raises(TunerError, match="not a raysha experiment folder"):
        Tuner.restore(tmp_path / "plain")
    # a simulated experiment: an experiment folder, but not one a Tuner ran
    from raysha.results import ResultsWriter

    with ResultsWriter(tmp_path / "sim", {"name": "sim", "metric": "loss"}) as w:
        w.append({"trial_id": 0, "epoch": 1, "loss": 0.5})
    with pytest.raises(TunerError, match="tuner.pkl"):
        Tuner.restore(tmp_path / "sim")


def test_cli_resume_of_a_folder_that_is_not_a_lenet_experiment(tmp_path, capsys):
    from raysha.cli import main
    from raysha.results import ResultsWriter

    assert main(["run", "lenet", "--resume", str(tmp_path / "nope")]) == 2
    assert "no experiment folder" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    assert main(["run", "lenet", "--resume", str(tmp_path / "plain")]) == 2
    assert "not a raysha experiment folder" in capsys.readouterr().err
    ResultsWriter(tmp_path / "other", {"name": "other"}).close()
    assert main(["run", "lenet", "--resume", str(tmp_path / "other")]) == 2
    assert "not made by `raysha run lenet`" in capsys.readouterr().err


def _fn(config):
    pass


def _saved_experiment(tmp_path, shared=()):
    """An experiment folder as Tuner.fit leaves it at its start (no Ray needed)."""
    from raysha.results import ResultsWriter
    from raysha.schedulers.asha import ASHA
    from raysha.space import uniform
    from raysha.stop import StopCriterion

    sched = ASHA({"x": uniform(0, 1)}, metric="loss", max_t=9, grace_period=1, reduction_factor=3,
                 type="promotion", random_seed=3)
    t = Tuner(_fn, sched, n_workers=2, stop=StopCriterion(max_trials=10), storage_path=str(tmp_path),
              name="exp", verbose=0, shared_objects={k: 1 for k in shared})
    t._fresh_scheduler = sched
    t._save_tuner_pickle()
    ResultsWriter(t.folder, {"name": "exp"}).close()
    jn.write_state(t.folder, {"format": jn.FORMAT, "scheduler": sched.state_dict(), "parts": {},
                              "elapsed": 12.5, "started_ids": []})
    return Path(t.folder)


def test_restore_rebuilds_the_tuner_from_the_folder(tmp_path):
    from raysha.stop import StopCriterion

    folder = _saved_experiment(tmp_path)
    t = Tuner.restore(folder)
    assert t.folder == str(folder) and t.name == "exp" and t.n_workers == 2 and t.trainable.__name__ == "_fn"
    assert t.stop.max_trials == 10 and t._resume_state["elapsed"] == 12.5
    assert len(t.scheduler.trials) == 0                      # the state is loaded by the scheduler actor
    t = Tuner.restore(folder, stop=StopCriterion(max_trials=20), n_workers=1)
    assert t.stop.max_trials == 20 and t.n_workers == 1
    with pytest.raises(TunerError, match="cannot override"):
        Tuner.restore(folder, scheduler=None)
    with pytest.raises(TunerError, match="name is the folder's"):
        Tuner.restore(folder, name="other")
    # the trainable cannot be unpickled any more: give it again
    (folder / "tuner.pkl").write_bytes(b"not a pickle")
    with pytest.raises(TunerError, match="trainable=") as e:
        Tuner.restore(folder)
    assert "unpickled" in str(e.value)
    t = Tuner.restore(folder, trainable=_fn)
    assert t.trainable is _fn and t.stop.max_trials == 10
    # no journal: the experiment never started
    os.remove(folder / jn.STATE_FILE)
    with pytest.raises(TunerError, match="never started"):
        Tuner.restore(folder, trainable=_fn)


def test_restore_asks_for_the_shared_objects_again(tmp_path):
    folder = _saved_experiment(tmp_path, shared=("data",))
    with pytest.raises(TunerError, match=r"shared_objects \['data'\]"):
        Tuner.restore(folder)
    assert Tuner.restore(folder, shared_objects={"data": [1, 2]}).shared_objects == {"data": [1, 2]}


def test_the_scheduler_actor_loads_the_journal_it_finds(tmp_path):
    """The Controller's constructor (no Ray needed): state, counters, clock, running trials, stale parts."""
    from raysha.results import ResultsWriter
    from raysha.runtime.controller import Controller
    from raysha.runtime.settings import ControllerSettings
    from raysha.schedulers.asha import ASHA
    from raysha.schedulers.base import JobKind
    from raysha.space import uniform

    def sched():
        return ASHA({"x": uniform(0, 1), "max_epochs": 9}, metric="loss", resource_attr="epoch",
                    max_resource_attr="max_epochs", grace_period=1, reduction_factor=3, type="promotion",
                    random_seed=5)

    s = sched()
    for _ in range(4):                                          # trials 0-3 start
        s.next_job(0.0)
    for tid, loss in ((0, 0.1), (1, 0.5), (2, 0.9)):
        assert s.on_report(tid, 1, {"loss": loss}, 1.0).value == "pause"
    promoted = s.next_job(2.0)                                  # trial 0 goes on to epoch 3
    assert promoted.kind == JobKind.RESUME and promoted.trial_id == 0
    s.on_report(0, 2, {"loss": 0.05}, 3.0)                      # epoch 2 recorded, then the crash
    w = ResultsWriter(tmp_path, {"name": "c"})
    for tid, ep, loss in ((0, 1, 0.1), (1, 1, 0.5), (2, 1, 0.9), (0, 2, 0.05)):
        w.append({"trial_id": tid, "epoch": ep, "loss": loss})
    w.flush()
    ck = "checkpoints/trial_000000/ckpt_1.pkl"                 # relative to the experiment root
    jn.write_state(tmp_path, {
        "format": jn.FORMAT, "seq": 7, "elapsed": 40.0, "scheduler": s.state_dict(),
        "checkpoints": {"0": {"resource": 1, "durable": ck}, "1": {"resource": 1, "durable": None}},
        "n_results": 4, "n_started": 4, "started_ids": [0, 1, 2, 3],
        "max_recorded": {"0": 2, "1": 1, "2": 1}, "parts": jn.committed_parts(tmp_path),
        "best": {"value": 0.05, "trial_id": 0, "epoch": 2}})
    w.append({"trial_id": 3, "epoch": 1, "loss": 0.3})         # flushed after the snapshot
    w.flush()
    from raysha.runtime import checkpoints as cks

    from raysha.runtime.storage import Storage

    stray = "checkpoints/trial_000002/ckpt_1.pkl"               # its job returned after the snapshot
    for path in (ck, stray):
        cks.write_durable(Storage(tmp_path), path, {"epoch": 1})

    c = Controller(sched(), _fn, ControllerSettings(n_workers=2, folder=str(tmp_path), metadata={"name": "c"},
                                                  checkpoint_dir=str(tmp_path)))
    summary, status = c.summary(), c.status()
    assert summary["reconciled"] == ["results/part-00001.parquet", stray]
    assert (tmp_path / ck).exists() and not (tmp_path / stray).exists()
    assert summary["scheduler_state"] == s.state_dict()
    assert (summary["n_results"], summary["n_started"], summary["n_restarts"]) == (4, 4, 1)
    assert 40.0 <= status["elapsed"] < 45.0                    # the clock goes on from the journal's
    assert c.journal.seq == 7 and c.ledger.max_recorded == {0: 2, 1: 1, 2: 1}
    assert summary["best"] == {"value": 0.05, "trial_id": 0, "epoch": 2}
    assert summary["checkpoints"] == {"0": {"resource": 1, "durable": ck}, "1": {"resource": 1, "durable": None}}
    j0, j3 = c.resumed.relaunch                # the running trials run again first
    # trial 0 from its checkpoint at 1 (epoch 2 is replayed silently), trial 3 from scratch to its first rung
    assert (j0.trial_id, j0.kind, j0.start, j0.until, j0.milestones, j0.config["max_epochs"]) == \
        (0, JobKind.RESUME, 2, 3, (3,), 3)
    assert (j3.trial_id, j3.kind, j3.start, j3.until, j3.milestones) == (3, JobKind.RESUME, 0, 1, (1,))


@pytest.mark.ray
@pytest.mark.slow
def test_raysha_run_lenet_resume_continues_the_experiment(tmp_path, capsys):
    """`raysha run lenet` with 2 trials, then `--resume --max-trials 4`: 2 more trials, nothing twice."""
    from raysha.workloads.fashion_mnist import locate

    if locate() is None:
        pytest.skip("Fashion-MNIST not installed")
    import ray

    from raysha.cli import main
    from raysha.results import load_experiment

    if ray.is_initialized():
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        args = ["run", "lenet", "--workers", "2", "--max-trials", "2", "--max-epochs", "2", "--grace-period", "1",
                "--n-train", "2000", "--n-test", "500", "--storage", str(tmp_path), "--name", "cli", "--quiet"]
        assert main(args) == 0
        first = load_experiment(tmp_path / "cli")
        elapsed = first.summary["elapsed"]
        assert first.results["trial_id"].nunique() == 2
        capsys.readouterr()
        assert main(["run", "lenet", "--resume", str(tmp_path / "cli"), "--max-trials", "4", "--quiet"]) == 0
        assert "4 trials" in capsys.readouterr().out
    finally:
        ray.shutdown()
    exp = load_experiment(tmp_path / "cli")
    df = exp.results
    assert sorted(df["trial_id"].unique()) == [0, 1, 2, 3]
    assert not df.duplicated(["trial_id", "epoch"]).any()
    old = df[df["trial_id"] < 2].sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    assert old.equals(first.results.sort_values(["trial_id", "epoch"]).reset_index(drop=True)[old.columns])
    assert df[df["trial_id"] >= 2]["tuner_time"].min() >= elapsed   # the clock went on
    state = jn.read_state(tmp_path / "cli")
    assert state["n_restarts"] == 1 and state["n_started"] == 4 and state["finished"]
