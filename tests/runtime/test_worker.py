"""`TrialWorker.run` as plain Python (no Ray): a job's reports, its end, checkpoints loaded and written.

Without a scheduler actor and with no milestone in the job, every report stays in the
session's buffer and comes back as the job's ``tail``, as it does with a job's last reports.
"""

import pytest

from raysha.runtime import checkpoints as ck
from raysha.runtime import session
from raysha.runtime.storage import Storage
from raysha.runtime.trainable import Trainable
from raysha.runtime.worker import TrialWorker


class Counter(Trainable):
    def setup(self, config):
        self.x, self.steps = config["x"], 0

    def train_epoch(self, epoch):
        self.steps += 1
        return {"loss": self.x / epoch, "steps": self.steps}

    def state_dict(self):
        return {"steps": self.steps}

    def load_state_dict(self, state):
        self.steps = state["steps"]


def job(kind="start", trial_id=3, start=0, until=3, **extra):
    return {"key": 0, "kind": kind, "trial_id": trial_id, "config": {"x": 0.6}, "start": start, "until": until,
            "milestones": (), "bracket": 0, **extra}


def worker(trainable, tmp_path=None):
    return TrialWorker(0, None, trainable, "epoch", checkpoint_dir=Storage(str(tmp_path)) if tmp_path else None,
                       flush_interval=3600.0, keep_live=False)


def test_a_class_trainable_runs_its_job_and_returns_every_report():
    info, checkpoint = worker(Counter).run(job(until=3))
    assert info["status"] == "completed" and info["error"] is None and checkpoint is None
    assert [(r["epoch"], r["steps"]) for r in info["tail"]] == [(1, 1), (2, 2), (3, 3)]
    assert info["last_resource"] == 3 and info["n_reports"] == 3
    assert all(r["worker_time"] >= 0 for r in info["tail"])


def test_a_resume_loads_the_durable_copy_and_replays_levels_below_start_silently(tmp_path):
    path = ck.durable_path(3, 1)       # relative to the experiment's storage root
    ck.write_durable(Storage(str(tmp_path)), path, {"steps": 1})
    # the checkpoint is at epoch 1, the results already have epoch 2: epoch 2 is trained, not reported
    info, _ = worker(Counter, tmp_path).run(job("resume", start=2, until=4, ckpt_ref=None, ckpt_durable=path,
                                                ckpt_resource=1))
    assert info["status"] == "completed" and info["ckpt_source"] == "durable"
    assert [(r["epoch"], r["steps"]) for r in info["tail"]] == [(3, 3), (4, 4)]


def test_an_unreadable_durable_copy_trains_the_trial_again_from_scratch(tmp_path):
    path = ck.durable_path(3, 2)
    ck.write_durable(Storage(str(tmp_path)), path, {"steps": 2})
    (tmp_path / path).write_bytes(b"\x80\x05 not a pickle")
    info, _ = worker(Counter, tmp_path).run(job("resume", start=2, until=3, ckpt_ref=None, ckpt_durable=path,
                                                ckpt_resource=2))
    assert "unreadable" in info["ckpt_error"] and info["ckpt_source"] is None
    assert [(r["epoch"], r["steps"]) for r in info["tail"]] == [(3, 3)]   # 1 and 2 trained again, unreported


def test_a_raising_trainable_fails_its_job_and_the_worker_runs_the_next():
    calls = []

    def fn(config):
        calls.append(config["x"])
        if len(calls) == 1:
            raise ValueError("diverged")
        session.report(epoch=1, loss=config["x"])

    w = worker(fn)
    info, _ = w.run(job(until=1))
    assert info["status"] == "failed" and "ValueError: diverged" in info["error"]
    info, _ = w.run(job(trial_id=4, until=1))
    assert info["status"] == "completed" and [r["loss"] for r in info["tail"]] == [0.6]


def test_a_function_trainable_gets_its_checkpoint_back_on_resume(tmp_path):
    seen = []

    def fn(config):
        ckpt = session.get_checkpoint()
        seen.append(ckpt)
        start = ckpt["epoch"] if ckpt else 0
        for epoch in range(start + 1, config["max_epochs"] + 1):
            session.report(epoch=epoch, loss=1.0 / epoch, checkpoint={"epoch": epoch})

    path = ck.durable_path(3, 2)
    ck.write_durable(Storage(str(tmp_path)), path, {"epoch": 2})
    j = job("resume", start=2, until=4, ckpt_ref=None, ckpt_durable=path, ckpt_resource=2)
    j["config"] = {"max_epochs": 4}
    info, _ = worker(fn, tmp_path).run(j)
    assert seen == [{"epoch": 2}] and [r["epoch"] for r in info["tail"]] == [3, 4]


@pytest.mark.parametrize("kind", ["start", "resume"])
def test_a_job_without_a_checkpoint_starts_from_epoch_one(kind):
    info, _ = worker(Counter).run(job(kind, until=2))
    assert [r["epoch"] for r in info["tail"]] == [1, 2] and info["ckpt_source"] is None
