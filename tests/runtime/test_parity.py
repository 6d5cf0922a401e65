"""The same scheduler, seed and objective give the same decisions and rows in the simulator and on Ray.

One trial actor (one simulated worker), so the order of events is the same in both runners;
a deterministic objective with fixed epoch times. Only what a runner measures may differ:
``tuner_time``, ``worker_time``, ``node`` and the simulator's ``epoch_time``.
"""

import sys

import pandas as pd
import pytest

ray = pytest.importorskip("ray")

from raysha.runtime import session  # noqa: E402
from raysha.runtime.tuner import Tuner  # noqa: E402
from raysha.schedulers.asha import ASHA  # noqa: E402
from raysha.schedulers.sync import SyncHyperband  # noqa: E402
from raysha.simulate import simulate  # noqa: E402
from raysha.space import uniform  # noqa: E402
from raysha.stop import StopCriterion  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_2cpu_2gpu")]

SPACE = {"x": uniform(0, 1), "max_epochs": 9}
MEASURED = ["tuner_time", "worker_time", "node", "epoch_time"]


def metrics(config, epoch):
    """Deterministic: a learning curve per config, and a metric named like a system column."""
    return {"loss": config["x"] + 1.0 / epoch, "worker": round(10 * config["x"]) + epoch}


def objective(config, epoch):
    return {**metrics(config, epoch), "time": 1.0 + config["x"]}


def trainable(config):
    ckpt = session.get_checkpoint()
    for epoch in range((ckpt or {}).get("epoch", 0) + 1, config["max_epochs"] + 1):
        session.report(epoch=epoch, **metrics(config, epoch), checkpoint={"epoch": epoch})


SCHEDULERS = {
    "asha-promotion": lambda: ASHA(SPACE, metric="loss", max_resource_attr="max_epochs", grace_period=1,
                                   reduction_factor=3, type="promotion", random_seed=4),
    "asha-stopping": lambda: ASHA(SPACE, metric="loss", max_resource_attr="max_epochs", grace_period=1,
                                  reduction_factor=3, type="stopping", random_seed=5),
    "sync-hyperband": lambda: SyncHyperband(SPACE, metric="loss", max_resource_attr="max_epochs",
                                            reduction_factor=3, random_seed=6),
}


def comparable(df: pd.DataFrame) -> pd.DataFrame:
    df = df.drop(columns=[c for c in MEASURED if c in df.columns])
    df["decision"] = df["decision"].astype(str)
    return df.sort_index(axis=1).reset_index(drop=True)


@pytest.mark.parametrize("name", sorted(SCHEDULERS))
def test_simulator_and_ray_make_the_same_decisions_and_rows(name, tmp_path):
    stop = StopCriterion(max_trials=12)
    sim_sched, ray_sched = SCHEDULERS[name](), SCHEDULERS[name]()
    sim = simulate(sim_sched, objective, n_workers=1, stop=stop)
    exp = Tuner(trainable, ray_sched, n_workers=1, stop=stop, storage_path=str(tmp_path), name=name,
                verbose=0).fit()
    assert len(sim.results) > 12 and set(sim.results["decision"]) - {"continue"}   # decisions were made
    assert "metric_worker" in exp.results.columns
    pd.testing.assert_frame_equal(comparable(sim.results), comparable(exp.results), check_dtype=False)
    assert sim_sched.state_dict() == ray_sched.state_dict()
    assert sim.summary["stop_reason"] == exp.summary["stop_reason"] == "exhausted"
    assert sim.summary["counts"] == exp.summary["counts"] and sim.summary["best"]["value"] == exp.best()["loss"]
