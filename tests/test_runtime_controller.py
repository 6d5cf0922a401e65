"""The scheduler actor's report path as plain Python (no Ray): ordering, decisions, duplicates, stopping."""

import asyncio

from raysha.runtime.controller import Controller, RunningJob
from raysha.schedulers.asha import ASHA
from raysha.schedulers.fifo import RandomSearch
from raysha.space import uniform
from raysha.stop import StopCriterion


class ListWriter:
    def __init__(self):
        self.rows = []

    def append(self, row):
        self.rows.append(dict(row))


def make(sched, stop=None):
    c = Controller(sched, trainable=None, n_workers=1, worker_options={}, stop=stop, folder=None, metadata={})
    c.writer = ListWriter()
    c.worker_info = [{"node": "n0"}]
    return c


def start_job(c, worker=0):
    job = c.scheduler.next_job(0.0, True)
    rj = RunningJob(key=c._next_key, worker=worker, job=job, t0=0.0)
    c._next_key += 1
    c.jobs[rj.key] = rj
    c.running_trials[job.trial_id] = rj.key
    return rj


def rows(*epochs, x=0.5):
    return [{"epoch": e, "loss": x / e, "worker_time": 0.01 * e} for e in epochs]


def test_batches_arriving_out_of_order_are_processed_in_order():
    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=6)
    c = make(sched)

    async def scenario():
        c._wake = asyncio.Event()
        rj = start_job(c)
        # batch 1 (the milestone, wants a decision) overtakes batch 0
        late = asyncio.ensure_future(c.report(rj.key, 1, rows(4, 5, 6), True))
        await asyncio.sleep(0.01)
        assert not late.done() and c.n_results == 0      # waits for batch 0: nothing decided yet
        first = await c.report(rj.key, 0, rows(1, 2, 3), False)
        assert first == "continue"
        return await asyncio.wait_for(late, 1.0), rj

    answer, rj = asyncio.run(scenario())
    assert answer == "stop"                               # max_t reached: completed
    assert [r["epoch"] for r in c.writer.rows] == [1, 2, 3, 4, 5, 6]
    assert [r["decision"] for r in c.writer.rows] == ["continue"] * 5 + ["stop"]
    row = c.writer.rows[0]
    assert row["trial_id"] == rj.trial_id and row["node"] == "n0" and row["worker"] == 0
    assert "config_x" in row and row["worker_time"] == 0.01 and "tuner_time" in row


def test_reports_after_a_final_decision_are_dropped_and_replays_logged_once():
    sched = ASHA({"x": uniform(0, 1)}, metric="loss", max_t=9, grace_period=1, reduction_factor=3,
                 type="promotion")
    c = make(sched)

    async def scenario():
        c._wake = asyncio.Event()
        rj = start_job(c)
        a = await c.report(rj.key, 0, rows(1, 2), True)   # pauses at 1: epoch 2 must not be logged
        c.jobs.pop(rj.key)
        rj2 = RunningJob(key=99, worker=0, job=rj.job, t0=0.0)
        c.jobs[99] = rj2
        b = await c.report(99, 0, rows(1), False)          # a replay of epoch 1 (restart from 0)
        return a, b

    a, b = asyncio.run(scenario())
    assert a == "pause"
    assert [r["epoch"] for r in c.writer.rows] == [1]
    assert c.n_dropped == 1 and c.n_duplicates == 1


def test_stop_criteria_answer_interrupt():
    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", mode="min")
    c = make(sched, StopCriterion(metric_threshold=0.1))

    async def scenario():
        c._wake = asyncio.Event()
        rj = start_job(c)
        first = await c.report(rj.key, 0, rows(1, 2, x=0.5), False)
        second = await c.report(rj.key, 1, rows(3, 4, 5, 6, x=0.5), False)   # 0.5/5 = 0.1 reaches it
        unknown = await c.report(12345, 0, rows(1), False)                   # a job that is gone
        return first, second, unknown

    first, second, unknown = asyncio.run(scenario())
    assert first == "continue" and second == "interrupt" and unknown == "interrupt"
    assert c.stopping and c.stop_reason == "metric_threshold"
    assert c.best[1] <= 0.1 + 1e-12
