"""The scheduler actor's report path as plain Python (no Ray): ordering, decisions, duplicates, stopping."""

import asyncio

from offline_controller import offline_controller, results, start_job
from raysha.schedulers.asha import ASHA
from raysha.schedulers.fifo import RandomSearch
from raysha.space import uniform
from raysha.stop import StopCriterion


def rows(*epochs, x=0.5, **extra):
    return [{"epoch": e, "loss": x / e, "worker_time": 0.01 * e, **extra} for e in epochs]


def test_batches_arriving_out_of_order_are_processed_in_order(tmp_path):
    c = offline_controller(tmp_path, RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=6))

    async def scenario():
        rj = start_job(c)
        # batch 1 (the milestone, wants a decision) overtakes batch 0
        late = asyncio.ensure_future(c.report(rj.key, 1, rows(4, 5, 6), True))
        await asyncio.sleep(0.01)
        assert not late.done() and c.status()["n_results"] == 0      # waits for batch 0: nothing decided yet
        first = await c.report(rj.key, 0, rows(1, 2, 3), False)
        assert first == "continue"
        return await asyncio.wait_for(late, 1.0), rj

    answer, rj = asyncio.run(scenario())
    assert answer == "stop"                               # max_t reached: completed
    df = results(c)
    assert list(df["epoch"]) == [1, 2, 3, 4, 5, 6]
    assert list(df["decision"]) == ["continue"] * 5 + ["stop"]
    row = df.iloc[0]
    assert row["trial_id"] == rj.trial_id and row["node"] == "n0" and row["worker"] == 0
    assert "config_x" in df.columns and row["worker_time"] == 0.01 and row["tuner_time"] >= 0


def test_reports_after_a_final_decision_are_dropped_and_replays_logged_once(tmp_path):
    sched = ASHA({"x": uniform(0, 1)}, metric="loss", max_t=9, grace_period=1, reduction_factor=3,
                 type="promotion")
    c = offline_controller(tmp_path, sched)

    async def scenario():
        rj = start_job(c)
        a = await c.report(rj.key, 0, rows(1, 2), True)   # pauses at 1: epoch 2 must not be logged
        c.jobs.remove(rj)
        again = start_job(c, job=rj.job)                   # the trial runs again from 0 (no checkpoint)
        b = await c.report(again.key, 0, rows(1), False)   # a replay of epoch 1
        return a, b

    a, b = asyncio.run(scenario())
    assert a == "pause"
    assert list(results(c)["epoch"]) == [1]
    s = c.summary()
    assert s["n_dropped"] == 1 and s["n_duplicates"] == 1 and s["n_reports"] == 2


def test_stop_criteria_answer_interrupt(tmp_path):
    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", mode="min")
    c = offline_controller(tmp_path, sched, StopCriterion(metric_threshold=0.1))

    async def scenario():
        rj = start_job(c)
        first = await c.report(rj.key, 0, rows(1, 2, x=0.5), False)
        second = await c.report(rj.key, 1, rows(3, 4, 5, 6, x=0.5), False)   # 0.5/5 = 0.1 reaches it
        unknown = await c.report(12345, 0, rows(1), False)                   # a job that is gone
        return first, second, unknown

    first, second, unknown = asyncio.run(scenario())
    assert first == "continue" and second == "interrupt" and unknown == "interrupt"
    st = c.status()
    assert st["stopping"] and st["stop_reason"] == "metric_threshold"
    assert st["best"]["value"] <= 0.1 + 1e-12 and st["best"]["trial_id"] == 0


def test_metrics_named_like_system_columns_survive_as_metric_columns(tmp_path):
    c = offline_controller(tmp_path, RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=2))

    async def scenario():
        rj = start_job(c)
        return await c.report(rj.key, 0, rows(1, 2, worker="mine", node=7, decision="keep"), True)

    assert asyncio.run(scenario()) == "stop"
    df = results(c)
    assert list(df["metric_worker"]) == ["mine"] * 2 and list(df["metric_node"]) == [7, 7]
    assert list(df["metric_decision"]) == ["keep"] * 2
    assert list(df["worker"]) == [0, 0] and list(df["node"]) == ["n0"] * 2
    assert list(df["decision"]) == ["continue", "stop"]
