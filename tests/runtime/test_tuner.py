"""The Ray runtime on local Ray (2 CPUs, 2 fake GPUs): actors, pause/resume, checkpoints, results, stopping."""

import os
import sys
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from raysha.runtime import session  # noqa: E402
from raysha.runtime.trainable import Trainable  # noqa: E402
from raysha.runtime.tuner import Tuner  # noqa: E402
from raysha.schedulers.asha import ASHA  # noqa: E402
from raysha.schedulers.base import TrialStatus  # noqa: E402
from raysha.schedulers.fifo import RandomSearch  # noqa: E402
from raysha.space import uniform  # noqa: E402
from raysha.stop import StopCriterion  # noqa: E402

# the trial actors cannot import this test module: ship its functions and classes by value
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_2cpu_2gpu")]

SPACE = {"x": uniform(0, 1), "max_epochs": 9}


def promotion_asha(seed=0, **kw):
    return ASHA(SPACE, metric="loss", mode="min", resource_attr="epoch", max_resource_attr="max_epochs",
                grace_period=1, reduction_factor=3, type="promotion", random_seed=seed, **kw)


def barrier():
    """With shared_objects={"barrier": folder}: hold a trial until both trial actors are up.

    Makes tests that need both actors (resume elsewhere, one GPU each) independent of how
    late the second actor starts on a loaded machine.
    """
    try:
        folder = session.get_shared("barrier")
    except KeyError:
        return
    open(os.path.join(folder, f"pid_{os.getpid()}"), "w").close()
    deadline = time.monotonic() + 60
    while len([p for p in os.listdir(folder) if p.startswith("pid_")]) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)


# -- trainables: the state ("steps") must survive pause/resume, so steps == epoch on every row --------
def fn_trainable(config):
    barrier()
    ckpt = session.get_checkpoint()
    start, steps = (ckpt["epoch"], ckpt["steps"]) if ckpt else (0, 0)
    for epoch in range(start + 1, config["max_epochs"] + 1):
        steps += 1
        session.report(epoch=epoch, loss=config["x"] + 1.0 / epoch, steps=steps,
                       loaded=int(ckpt is not None), pid=os.getpid(),
                       checkpoint={"epoch": epoch, "steps": steps})


class ClassTrainable(Trainable):
    def setup(self, config):
        barrier()
        self.x = config["x"]
        self.steps = 0

    def train_epoch(self, epoch):
        self.steps += 1
        return {"loss": self.x + 1.0 / epoch, "steps": self.steps, "pid": os.getpid()}

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


def check_results(exp, sched, resource="epoch"):
    """Every report is there exactly once, and each trial's state carried across pauses."""
    df = exp.results
    assert not df.duplicated(["trial_id", resource]).any()
    for tid, g in df.groupby("trial_id"):
        epochs = sorted(g[resource])
        assert epochs == list(range(1, len(epochs) + 1)), (tid, epochs)       # no gap, no repeat
        assert epochs[-1] == sched.trials[tid].resource                        # nothing lost at the end
        assert (g["steps"] == g[resource]).all(), g[[resource, "steps"]]        # resumed, not restarted
    for col in ("trial_id", "tuner_time", "worker_time", "node", "worker", "decision", "bracket", "config_x"):
        assert col in df.columns, col


def resumed_elsewhere(df) -> int:
    """Number of trials that continued on another worker than the one they paused on."""
    n = 0
    for _, g in df.sort_values("epoch").groupby("trial_id"):
        paused = g[g["decision"] == "pause"]
        for _, row in paused.iterrows():
            nxt = g[g["epoch"] == row["epoch"] + 1]
            if len(nxt) and nxt["worker"].iloc[0] != row["worker"]:
                n += 1
    return n


def test_two_gpu_actors_have_their_own_gpu(tmp_path):
    def gpu_fn(config):
        barrier()
        for e in range(1, 4):
            session.report(epoch=e, loss=config["x"], gpu=int(os.environ["CUDA_VISIBLE_DEVICES"]),
                           pid=os.getpid())

    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=3)
    (tmp_path / "b").mkdir()
    tuner = Tuner(gpu_fn, sched, stop=StopCriterion(max_trials=8), storage_path=str(tmp_path),
                  name="gpus", verbose=0, shared_objects={"barrier": str(tmp_path / "b")})
    exp = tuner.fit()
    assert tuner.worker_options == {"num_gpus": 1, "num_cpus": 1.0}
    assert len(tuner.worker_info) == 2                      # one actor per GPU by default
    cvd = sorted(w["cuda_visible_devices"] for w in tuner.worker_info)
    assert cvd[0] != cvd[1] and all(c is not None for c in cvd)
    df = exp.results
    assert len(df) == 8 * 3
    by_worker = df.groupby("worker")["gpu"].unique()
    assert sorted(int(v[0]) for v in by_worker) == [0, 1] and all(len(v) == 1 for v in by_worker)
    # actors are reused: 8 trials ran in 2 processes
    assert df["pid"].nunique() == 2
    assert exp.metadata["resources_per_trial"] == {"num_gpus": 1, "num_cpus": 1.0}


def test_promotion_function_trainable_pauses_and_resumes(tmp_path):
    sched = promotion_asha(max_trials=40)   # knows its budget: frees never-promotable checkpoints
    (tmp_path / "b").mkdir()
    tuner = Tuner(fn_trainable, sched, n_workers=2, storage_path=str(tmp_path), name="fn", verbose=0,
                  shared_objects={"barrier": str(tmp_path / "b")})
    exp = tuner.fit()
    check_results(exp, sched)
    df = exp.results
    assert (df["decision"] == "pause").sum() >= 10
    assert df["epoch"].max() == 9 and sched.counts()["completed"] >= 1
    resumed = df[df["epoch"] > 1]
    assert len(resumed) and (resumed["loaded"] == 1).all()   # every resume started from its checkpoint
    assert resumed_elsewhere(df) >= 1
    s = tuner.summary
    assert s["ckpt_sources"].get("object", 0) >= 1           # fetched from the object store elsewhere
    assert s["n_duplicates"] == 0 and s["failures"] == []
    assert len(sched.trials) == 40
    # every checkpoint was freed once the scheduler proved it could not be resumed
    assert s["n_checkpoints_freed"] >= 10 and s["n_paused_checkpoints"] == 0
    # ... except the final checkpoint of the best finished trial (keep_checkpoints=1, the default)
    left = [str(p.relative_to(tmp_path / "fn")) for p in (tmp_path / "fn" / "checkpoints").rglob("*.pkl")]
    best = s["best_checkpoints"]
    assert len(best) == 1 and left == [best[0]["durable"]] and best[0]["durable"].endswith("ckpt_9.pkl")
    assert best[0]["trial_id"] == exp.best()["trial_id"]
    assert exp.best_checkpoint() == {"epoch": 9, "steps": 9} == exp.checkpoint(best[0]["trial_id"])
    assert (tmp_path / "fn" / "experiment.json").exists()
    assert (tmp_path / "fn" / "scheduler_state.json").exists()


def test_promotion_class_trainable_keeps_live_state(tmp_path):
    sched = promotion_asha(seed=1)
    (tmp_path / "b").mkdir()
    tuner = Tuner(ClassTrainable, sched, n_workers=2, stop=StopCriterion(max_trials=30),
                  storage_path=str(tmp_path), name="cls", verbose=0, shared_objects={"barrier": str(tmp_path / "b")})
    exp = tuner.fit()
    check_results(exp, sched)
    s = tuner.summary
    # resumed on the pausing actor: live object, nothing loaded; elsewhere: the object store
    n_resumes = sum(1 for j in s["job_log"] if j["kind"] == "resume")
    assert s["ckpt_sources"].get("memory", 0) >= 1
    assert s["ckpt_sources"].get("memory", 0) + s["ckpt_sources"].get("object", 0) == n_resumes
    # checkpoints written durably for paused trials; finished trials' copies are deleted but the best one's
    ck_dir = tmp_path / "cls" / "checkpoints"
    files = {int(p.parent.name.split("_")[1]) for p in ck_dir.rglob("*.pkl")}
    paused = {t for t, r in sched.trials.items() if r.status == TrialStatus.PAUSED}
    assert files and files <= paused | {e["trial_id"] for e in s["best_checkpoints"]}
    assert all(len(list((ck_dir / f"trial_{t:06d}").glob("*.pkl"))) == 1 for t in files)


def test_a_restored_run_resumes_paused_trials_from_their_durable_copies(tmp_path):
    """The checkpoint objects die with the first run's scheduler actor; the restored run reads the copies."""
    first = Tuner(fn_trainable, promotion_asha(seed=2), n_workers=2, stop=StopCriterion(max_trials=8),
                  storage_path=str(tmp_path), name="lost", verbose=0, keep_live_trainables=False)
    first.fit()
    paused = {int(t) for t in first.summary["checkpoints"]}
    assert paused, "the first run left no paused trial"
    tuner = Tuner.restore(str(tmp_path / "lost"), stop=StopCriterion(max_trials=24))
    exp = tuner.fit()
    check_results(exp, tuner.scheduler)
    first_resumes = {}
    for j in tuner.summary["job_log"]:
        if j["kind"] == "resume" and j["trial_id"] in paused:
            first_resumes.setdefault(j["trial_id"], j)
    assert first_resumes, "no trial paused in the first run was resumed"
    assert all(j["restored_from"] == "durable" and j["ckpt_lost"] is None for j in first_resumes.values())
    resumed = exp.results[exp.results["trial_id"].isin(list(first_resumes))]
    assert (resumed[resumed["epoch"] > 1]["loaded"] == 1).all()


def test_stopping_asha_with_shared_objects_and_results_streamed(tmp_path):
    big = np.arange(100_000, dtype=np.float64)

    class Shared(Trainable):
        def setup(self, config):
            self.x = config["x"]
            self.total = float(self.shared["data"].sum())

        def train_epoch(self, epoch):
            time.sleep(0.01)
            return {"loss": self.x / epoch, "total": self.total}

        def state_dict(self):
            return {}

        def load_state_dict(self, state):
            pass

    sched = ASHA({"x": uniform(0, 1)}, metric="loss", mode="min", max_t=27, grace_period=1,
                 reduction_factor=3, type="stopping")
    tuner = Tuner(Shared, sched, n_workers=2, stop=StopCriterion(max_trials=40), storage_path=str(tmp_path),
                  name="shared", verbose=1, shared_objects={"data": big}, flush_every=0.3)
    exp = tuner.fit()
    df = exp.results
    assert (df["total"] == big.sum()).all()
    assert not df.duplicated(["trial_id", "epoch"]).any()
    assert set(df["decision"]) <= {"continue", "stop"} and (df["decision"] == "stop").sum() == 40
    parts = list((tmp_path / "shared" / "results").glob("part-*.parquet"))
    # streamed in parts while running (part-00000, -00001, ...), compacted into one at the end
    assert len(parts) == 1 and int(parts[0].name[5:10]) >= 2
    assert exp.metadata["status"] == "finished" and exp.metadata["metric"] == "loss"
    assert len(exp.jobs) == 40                               # one job span per trial


def test_function_get_shared_and_failures(tmp_path):
    def fn(config):
        data = session.get_shared("table")
        if config["x"] > 0.7:
            raise ValueError("bad config")
        for e in range(1, 4):
            session.report(epoch=e, loss=config["x"], n=len(data))

    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=3)
    tuner = Tuner(fn, sched, n_workers=2, stop=StopCriterion(max_trials=20), storage_path=str(tmp_path),
                  name="fail", verbose=0, shared_objects={"table": list(range(7))})
    exp = tuner.fit()
    failed = {f["trial_id"] for f in tuner.summary["failures"]}
    assert failed and all("bad config" in f["error"] for f in tuner.summary["failures"])
    assert {t for t, r in sched.trials.items() if r.status == TrialStatus.FAILED} == failed
    assert len(sched.trials) == 20
    assert (exp.results["n"] == 7).all() and set(exp.results["trial_id"]).isdisjoint(failed)


def test_stop_is_prompt_even_inside_a_long_epoch(tmp_path):
    def slow(config):
        for e in range(1, 1000):
            time.sleep(0.05 if config["x"] < 0.5 else 30)
            session.report(epoch=e, loss=config["x"])

    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", points_to_evaluate=[{"x": 0.1}, {"x": 0.9}])
    t0 = time.monotonic()
    tuner = Tuner(slow, sched, n_workers=2, stop=StopCriterion(max_wallclock_time=3.0),
                  storage_path=str(tmp_path), name="stop", verbose=0, stop_grace_s=1.0)
    exp = tuner.fit()
    took = time.monotonic() - t0
    assert took < 12, took   # 3 s + actor start-up + 1 s grace, on a loaded 2-core machine
    assert tuner.summary["stop_reason"] == "max_wallclock_time"
    assert {r.status for r in sched.trials.values()} == {TrialStatus.INTERRUPTED}
    df = exp.results
    # trial 1 never reported (killed inside its 30 s epoch); trial 0 stopped at its next flush
    assert set(df["trial_id"]) == {0} and df["tuner_time"].max() < 3.0 + 1.5
    assert list(df["epoch"]) == list(range(1, len(df) + 1))
    # resources are released: the actors are gone (the raylet's view lags a little)
    deadline = time.monotonic() + 15
    while ray.available_resources().get("GPU", 0) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert ray.available_resources().get("GPU", 0) == 2


def test_max_results_and_metric_threshold(tmp_path):
    def fn(config):
        for e in range(1, 100):
            session.report(epoch=e, loss=config["x"] / e)

    sched = RandomSearch({"x": uniform(0.5, 1)}, metric="loss", max_t=99)
    tuner = Tuner(fn, sched, n_workers=2, stop=StopCriterion(max_results=120), storage_path=str(tmp_path),
                  name="maxres", verbose=0)
    exp = tuner.fit()
    assert tuner.summary["stop_reason"] == "max_results"
    assert 120 <= len(exp.results) < 600

    sched = RandomSearch({"x": uniform(0.5, 1)}, metric="loss", max_t=99)
    tuner = Tuner(fn, sched, n_workers=2, stop=StopCriterion(metric_threshold=0.02), storage_path=str(tmp_path),
                  name="target", verbose=0)
    exp = tuner.fit()
    assert tuner.summary["stop_reason"] == "metric_threshold"
    assert exp.results["loss"].min() <= 0.02
    assert len(exp.results) < 2 * 99 + 50


def test_reports_are_batched_and_replayed_epochs_are_logged_once(tmp_path):
    def no_resume(config):
        # ignores get_checkpoint(): every resume replays epochs 1.. that are logged already
        for e in range(1, config["max_epochs"] + 1):
            session.report(epoch=e, loss=config["x"])

    sched = promotion_asha(seed=3)
    tuner = Tuner(no_resume, sched, n_workers=2, stop=StopCriterion(max_trials=12), storage_path=str(tmp_path),
                  name="replay", verbose=0)
    exp = tuner.fit()
    df = exp.results
    assert not df.duplicated(["trial_id", "epoch"]).any()
    for tid, g in df.groupby("trial_id"):
        assert sorted(g["epoch"]) == list(range(1, sched.trials[tid].resource + 1))

    def long_fn(config):
        for e in range(1, 501):
            session.report(loss=config["x"] / e)   # no epoch key: numbered 1, 2, ... by the session

    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=500)
    tuner = Tuner(long_fn, sched, n_workers=2, stop=StopCriterion(max_trials=6), storage_path=str(tmp_path),
                  name="batched", verbose=0)
    exp = tuner.fit()
    assert len(exp.results) == 3000 == tuner.summary["n_reports"]
    assert all(sorted(g["epoch"]) == list(range(1, 501)) for _, g in exp.results.groupby("trial_id"))
    # one call at the milestone (500) per trial, plus a flush every 0.25 s at most
    assert tuner.summary["n_report_calls"] <= 6 * 3


def test_a_dead_worker_fails_its_trial_and_is_replaced(tmp_path):
    def crashy(config):
        for e in range(1, 4):
            if config["x"] > 0.8 and e == 2:
                os._exit(1)                      # the trial actor's process dies
            session.report(epoch=e, loss=config["x"])

    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=3,
                         points_to_evaluate=[{"x": 0.9}, {"x": 0.1}])
    tuner = Tuner(crashy, sched, n_workers=2, stop=StopCriterion(max_trials=10), storage_path=str(tmp_path),
                  name="crash", verbose=0)
    exp = tuner.fit()
    failed = {t for t, r in sched.trials.items() if r.status == TrialStatus.FAILED}
    assert 0 in failed and failed == {f["trial_id"] for f in tuner.summary["failures"]}
    assert len(sched.trials) == 10
    ok = set(sched.trials) - failed
    assert ok and all(sched.trials[t].status == TrialStatus.COMPLETED for t in ok)
    df = exp.results
    assert set(df[df["epoch"] == 3]["trial_id"]) == ok
    assert not df.duplicated(["trial_id", "epoch"]).any()


def test_an_experiment_continues_from_its_folder(tmp_path):
    """The hooks a restore builds on: tuner.pkl, scheduler_state.json, durable checkpoints, resume_state."""
    import json

    from ray import cloudpickle

    sched = promotion_asha(seed=4)
    tuner = Tuner(fn_trainable, sched, n_workers=2, stop=StopCriterion(max_trials=12),
                  storage_path=str(tmp_path), name="cont", verbose=0)
    first = tuner.fit()
    folder = tmp_path / "cont"
    saved = cloudpickle.loads((folder / "tuner.pkl").read_bytes())
    assert saved["kwargs"]["name"] == "cont" and len(saved["scheduler"].trials) == 0
    state = json.loads((folder / "scheduler_state.json").read_text())
    paused = {t for t, r in sched.trials.items() if r.status == TrialStatus.PAUSED}
    assert {int(t) for t in state["checkpoints"]} == paused and paused
    assert all((folder / e["durable"]).exists() for e in state["checkpoints"].values())   # relative to it

    # continue: the scheduler from its saved state, checkpoints only on disk now (the objects are gone)
    sched2 = saved["scheduler"]
    sched2.load_state_dict(state["scheduler"])
    max_recorded = first.results.groupby("trial_id")["epoch"].max().to_dict()
    resume = dict(state, max_recorded=max_recorded)
    tuner2 = Tuner(saved["trainable"], sched2, n_workers=2, stop=StopCriterion(max_trials=24),
                   storage_path=str(tmp_path), name="cont", verbose=0, _resume_state=resume)
    exp = tuner2.fit()
    check_results(exp, sched2)
    assert len(sched2.trials) == 24
    assert tuner2.summary["ckpt_sources"].get("durable", 0) >= 1
    old = exp.results[exp.results["trial_id"].isin(paused)]
    assert (old[old["epoch"] > 1]["loaded"] == 1).all()


class DiesAtSecondPause(ClassTrainable):
    """The actor dies after the scheduler paused the trial at 3, before the checkpoint is returned.

    (With keep_live_trainables=False the paused trainable is cleaned up right after the pause: the
    state it reported with is taken before the report, so cleanup is where the pause is past.)
    """

    def cleanup(self):
        marker = os.path.join(self.shared["dir"], f"died_{self.trial_id}")
        if self.steps == 3 and not os.path.exists(marker):
            open(marker, "w").close()
            os._exit(1)

    def train_epoch(self, epoch):
        self.trial_id = session.get_trial_id()
        return super().train_epoch(epoch)


def test_a_pause_whose_checkpoint_never_came_back_resumes_from_the_previous_one(tmp_path):
    sched = promotion_asha(seed=5)
    tuner = Tuner(DiesAtSecondPause, sched, n_workers=2, stop=StopCriterion(max_trials=20),
                  storage_path=str(tmp_path), name="died", verbose=0, shared_objects={"dir": str(tmp_path)},
                  keep_live_trainables=False)
    exp = tuner.fit()
    died = {int(p.name.split("_")[1]) for p in tmp_path.glob("died_*")}
    assert died and {f["trial_id"] for f in tuner.summary["failures"]} == died
    check_results(exp, sched)            # state consistent: epochs 2-3 were replayed, not reported twice
    df = exp.results
    went_on = set(df[(df["epoch"] > 3) & df["trial_id"].isin(died)]["trial_id"])
    assert went_on, "no trial whose checkpoint was lost was promoted again"
