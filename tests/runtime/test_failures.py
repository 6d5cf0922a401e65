"""Failures: a killed trial actor or a raising trainable is retried from the trial's last checkpoint.

`Tuner(max_failures=n)`: a failed job runs again (on the replacement actor or any free one)
from the last checkpoint; a trial failing more than n times is FAILED with its tracebacks in
``<experiment>/errors/trial_<id>.txt``, and the experiment goes on.
"""

import os
import sys
import time

import pytest

ray = pytest.importorskip("ray")

from conftest import fit_in_background, wait_for_marker  # noqa: E402
from raysha.runtime import session  # noqa: E402
from raysha.runtime.trainable import Trainable  # noqa: E402
from raysha.runtime.tuner import Tuner, TunerError  # noqa: E402
from raysha.schedulers.asha import ASHA  # noqa: E402
from raysha.schedulers.base import TrialStatus  # noqa: E402
from raysha.schedulers.fifo import RandomSearch  # noqa: E402
from raysha.space import uniform  # noqa: E402
from raysha.stop import StopCriterion  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_2cpu_2gpu")]


def check_no_dup_no_gap(exp, sched):
    df = exp.results
    assert not df.duplicated(["trial_id", "epoch"]).any()
    for tid, g in df.groupby("trial_id"):
        assert sorted(g["epoch"]) == list(range(1, int(sched.trials[tid].resource) + 1)), tid


def stalls_once(config):
    """Promotion ASHA trainable; the first resumed trial to reach epoch 5 stalls mid-epoch (to be killed)."""
    folder = session.get_shared("dir")
    ckpt = session.get_checkpoint()
    start, steps = (ckpt["epoch"], ckpt["steps"]) if ckpt else (0, 0)
    for epoch in range(start + 1, config["max_epochs"] + 1):
        steps += 1
        if epoch == 5 and ckpt is not None:
            marker = os.path.join(folder, "stalled")
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, str(session.get_trial_id()).encode())
                os.close(fd)
                time.sleep(120)             # mid-epoch: the test kills this actor now
        session.report(epoch=epoch, loss=config["x"] + 1.0 / epoch, steps=steps,
                       loaded=int(ckpt is not None), checkpoint={"epoch": epoch, "steps": steps})


def test_killed_trial_actor_resumes_from_its_checkpoint(tmp_path):
    sched = ASHA({"x": uniform(0, 1), "max_epochs": 9}, metric="loss", mode="min",
                 max_resource_attr="max_epochs", grace_period=1, reduction_factor=3,
                 type="promotion", random_seed=1)
    tuner = Tuner(stalls_once, sched, n_workers=2, stop=StopCriterion(max_trials=12),
                  storage_path=str(tmp_path), name="killed", verbose=0, max_failures=2,
                  shared_objects={"dir": str(tmp_path)})
    th, out = fit_in_background(tuner)
    marker_text = wait_for_marker(tmp_path / "stalled", 120)
    assert marker_text, "no trial was resumed up to epoch 5"
    tid = int(marker_text)
    # the scheduler actor tells which trial actor runs the stalled trial: kill that actor
    idx = None
    deadline = time.monotonic() + 60
    while idx is None and time.monotonic() < deadline:
        running = ray.get(tuner.controller.status.remote())["running"]
        idx = next((w for w, t in running.items() if t == tid), None)
    handle = ray.get(tuner.controller.worker_handle.remote(idx))
    ray.kill(handle, no_restart=True)
    th.join(timeout=180)
    assert not th.is_alive()
    exp, s = out["exp"], tuner.summary

    # the trial failed once (its actor died), was retried from its rung-3 checkpoint and completed
    assert [(f["trial_id"], f["worker_died"]) for f in s["failures"]] == [(tid, True)]
    assert sched.trials[tid].status == TrialStatus.COMPLETED and sched.trials[tid].resource == 9
    retries = [j for j in s["job_log"] if j["attempt"] > 0]
    assert len(retries) == 1 and retries[0]["trial_id"] == tid
    assert retries[0]["restored_from"] == "object" and retries[0]["ckpt_resource"] == 3
    # it starts past the levels logged before the kill (epoch 4, unless its report was still buffered)
    assert retries[0]["start"] in (3, 4)
    spans = exp.jobs
    assert list(spans[spans["attempt"] > 0]["restored_from"]) == ["object"]
    check_no_dup_no_gap(exp, sched)
    df = exp.results
    assert (df["steps"] == df["epoch"]).all()      # the state carried across the crash
    assert not (tmp_path / "killed" / "errors").exists()
    assert not any(r.status == TrialStatus.FAILED for r in sched.trials.values())


def flaky(config):
    folder = session.get_shared("dir")
    tid = session.get_trial_id()
    for epoch in range(1, 5):
        if tid == 0:
            raise ValueError(f"always fails (x={config['x']})")
        if tid == 1 and epoch == 3:
            marker = os.path.join(folder, f"raised_{tid}")
            if not os.path.exists(marker):
                open(marker, "w").close()
                raise RuntimeError("fails once")
        session.report(epoch=epoch, loss=config["x"])


def test_raising_trainable_is_retried_then_failed(tmp_path):
    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=4)
    tuner = Tuner(flaky, sched, n_workers=2, stop=StopCriterion(max_trials=8), storage_path=str(tmp_path),
                  name="flaky", verbose=0, max_failures=2, shared_objects={"dir": str(tmp_path)})
    exp = tuner.fit()
    s = tuner.summary
    # trial 0 always raises: max_failures + 1 = 3 attempts, then FAILED with its tracebacks saved
    assert [f["attempt"] for f in s["failures"] if f["trial_id"] == 0] == [0, 1, 2]
    assert sched.trials[0].status == TrialStatus.FAILED
    err = (tmp_path / "flaky" / "errors" / "trial_0.txt").read_text()
    assert "failed 3 time(s)" in err and err.count("ValueError: always fails") == 3
    assert "Traceback" in err
    # trial 1 raised once at epoch 3 (no checkpoint: it ran again from scratch) and completed
    assert [f["attempt"] for f in s["failures"] if f["trial_id"] == 1] == [0]
    assert sched.trials[1].status == TrialStatus.COMPLETED
    retry = [j for j in s["job_log"] if j["trial_id"] == 1 and j["attempt"] == 1]
    assert len(retry) == 1 and retry[0]["restored_from"] == "scratch" and retry[0]["start"] == 2
    # the experiment went on: every other trial completed, logged once per epoch
    assert len(sched.trials) == 8
    assert all(r.status == TrialStatus.COMPLETED for t, r in sched.trials.items() if t != 0)
    df = exp.results
    assert 0 not in set(df["trial_id"])
    assert not df.duplicated(["trial_id", "epoch"]).any()
    assert all(sorted(g["epoch"]) == [1, 2, 3, 4] for _, g in df.groupby("trial_id"))
    assert not (tmp_path / "flaky" / "errors" / "trial_1.txt").exists()


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2"])
def test_max_failures_is_checked(bad):
    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=1)
    with pytest.raises(TunerError, match="max_failures must be an integer >= 0"):
        Tuner(flaky, sched, max_failures=bad)


class RaisesOnceAfterResume(Trainable):
    """Class API: the first resumed trial raises at epoch 6 (after reporting 4 and 5); the state is `steps`."""

    def setup(self, config):
        self.x = config["x"]
        self.steps = 0
        self.resumed = False

    def train_epoch(self, epoch):
        self.steps += 1
        if self.resumed and epoch == 6:
            marker = os.path.join(self.shared["dir"], "raised")
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                raise RuntimeError("fails once in the middle of a resumed job")
        return {"loss": self.x + 1.0 / epoch, "steps": self.steps}

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]
        self.resumed = True


def test_class_trainable_retried_from_its_checkpoint_replays_the_gap_silently(tmp_path):
    sched = ASHA({"x": uniform(0, 1), "max_epochs": 9}, metric="loss", mode="min",
                 max_resource_attr="max_epochs", grace_period=1, reduction_factor=3,
                 type="promotion", random_seed=3)
    tuner = Tuner(RaisesOnceAfterResume, sched, n_workers=2, stop=StopCriterion(max_trials=12),
                  storage_path=str(tmp_path), name="cls", verbose=0, max_failures=1,
                  keep_live_trainables=False, shared_objects={"dir": str(tmp_path)})
    exp = tuner.fit()
    s = tuner.summary
    assert (tmp_path / "raised").exists()
    (f,) = s["failures"]
    assert f["attempt"] == 0 and not f["worker_died"] and "fails once" in f["error"]
    tid = f["trial_id"]
    (retry,) = [j for j in s["job_log"] if j["attempt"] == 1]
    # checkpoint at rung 3, epochs 4-5 already logged: the retry loads 3, replays 4-5 unreported
    assert retry["trial_id"] == tid and retry["start"] == 5 and retry["ckpt_resource"] == 3
    assert retry["restored_from"] in ("object", "durable") and retry["status"] != "failed"
    assert sched.trials[tid].status == TrialStatus.COMPLETED
    check_no_dup_no_gap(exp, sched)
    df = exp.results
    assert (df["steps"] == df["epoch"]).all()
