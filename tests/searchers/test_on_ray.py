"""Searchers on Ray: a Tuner run proposes exactly the configurations the simulator's run does."""

import importlib.util
import sys

import pytest

ray = pytest.importorskip("ray")

from raysha.runtime import session  # noqa: E402
from raysha.runtime.tuner import Tuner  # noqa: E402
from raysha.searchers import GPSearcher, GridSearcher, KDESearcher  # noqa: E402
from raysha.simulate import simulate  # noqa: E402
from raysha.stop import StopCriterion  # noqa: E402

from raysha.space import uniform  # noqa: E402

from .helpers import asha  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_2cpu_2gpu")]

SPACE = {"x": uniform(0, 1), "y": uniform(0, 1), "max_epochs": 9}
N_TRIALS = 24


def loss(config, epoch):
    return (config["x"] - 0.3) ** 2 + (config["y"] - 0.6) ** 2 + 0.3 / epoch


def trainable(config):
    ckpt = session.get_checkpoint()
    for epoch in range((ckpt or {}).get("epoch", 0) + 1, config["max_epochs"] + 1):
        session.report(epoch=epoch, loss=loss(config, epoch), checkpoint={"epoch": epoch})


def searchers():
    out = [("grid", lambda: GridSearcher(num_samples=3)), ("kde", lambda: KDESearcher(min_points=3)),
           ("gp", lambda: GPSearcher(num_candidates=100))]
    if importlib.util.find_spec("optuna"):
        from raysha.searchers import OptunaSearcher

        out.append(("optuna-tpe", lambda: OptunaSearcher("tpe", min_points=4)))
    return out


@pytest.mark.parametrize("name, factory", searchers(), ids=[n for n, _ in searchers()])
def test_a_tuner_run_proposes_what_the_simulator_proposes(name, factory, tmp_path):
    stop = StopCriterion(max_trials=N_TRIALS)
    on_ray = Tuner(trainable, asha(factory(), 5, space=SPACE), n_workers=1, stop=stop,
                   storage_path=str(tmp_path), name=name, verbose=0).fit()
    simulated = simulate(asha(factory(), 5, space=SPACE), lambda c, e: {"loss": loss(c, e), "time": 1.0},
                         n_workers=1, stop=stop)

    def configs(exp):
        rows = exp.results.drop_duplicates("trial_id").sort_values("trial_id")
        return rows[["trial_id", "config_x", "config_y"]].to_dict("records")

    assert len(configs(on_ray)) == N_TRIALS
    assert configs(on_ray) == configs(simulated)
    assert on_ray.best_config() == simulated.best_config()


def test_tuner_restore_continues_the_searcher_with_what_it_learned(tmp_path):
    from raysha.runtime.journal import read_state

    folder = tmp_path / "kde"
    Tuner(trainable, asha(KDESearcher(min_points=3), 5, space=SPACE), n_workers=1,
          stop=StopCriterion(max_trials=12), storage_path=str(tmp_path), name="kde", verbose=0).fit()
    before = read_state(folder)["scheduler"]["searcher"]
    exp = Tuner.restore(folder, stop=StopCriterion(max_trials=24)).fit()
    after = read_state(folder)["scheduler"]["searcher"]

    def known(state):
        return {(level, tid, repr(loss)) for level, rows in state["results"] for tid, loss in rows}

    assert before["name"] == after["name"] == "kde"
    assert known(before) <= known(after)                      # nothing the searcher learned was lost
    assert {tid for _, tid, _ in known(after)} == set(range(24))
    assert {tid for _, tid, _ in known(before)} == set(range(12))
    rows = exp.results
    assert sorted(rows["trial_id"].unique()) == list(range(24))
    assert not rows.duplicated(["trial_id", "epoch"]).any()
