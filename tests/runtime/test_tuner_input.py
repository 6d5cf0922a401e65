"""Tuner input validation and the function API outside a trial: no Ray cluster is started."""

import pytest

from raysha.runtime import session
from raysha.runtime.trainable import Trainable
from raysha.runtime.tuner import Tuner, TunerError
from raysha.schedulers.fifo import RandomSearch
from raysha.space import uniform
from raysha.stop import StopCriterion


def _sched():
    return RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=3)


def _fn(config):
    session.report(epoch=1, loss=config["x"])


def test_n_workers_must_be_positive():
    with pytest.raises(TunerError, match="n_workers"):
        Tuner(_fn, _sched(), n_workers=0)
    with pytest.raises(TunerError, match="n_workers"):
        Tuner(_fn, _sched(), n_workers=1.5)


def test_unknown_resource_key_is_named():
    with pytest.raises(TunerError, match="resources_per_trial.*'gpus'"):
        Tuner(_fn, _sched(), resources_per_trial={"gpus": 1})
    with pytest.raises(TunerError, match="resources_per_trial"):
        Tuner(_fn, _sched(), resources_per_trial={"cpu": -1})
    t = Tuner(_fn, _sched(), resources_per_trial={"cpu": 2, "gpu": 0.5, "resources": {"TPU": 1}})
    assert t.resources == {"num_cpus": 2, "num_gpus": 0.5, "resources": {"TPU": 1}}


def test_trainable_must_be_callable_or_trainable_class():
    with pytest.raises(TunerError, match="trainable"):
        Tuner(42, _sched())

    class NotATrainable:
        pass

    with pytest.raises(TunerError, match="trainable"):
        Tuner(NotATrainable, _sched())

    class Good(Trainable):
        pass

    Tuner(Good, _sched())


def test_other_fields_are_checked():
    with pytest.raises(TunerError, match="scheduler"):
        Tuner(_fn, object())
    with pytest.raises(TunerError, match="stop"):
        Tuner(_fn, _sched(), stop=5)
    with pytest.raises(TunerError, match="verbose"):
        Tuner(_fn, _sched(), verbose=3)
    with pytest.raises(TunerError, match="name"):
        Tuner(_fn, _sched(), name="a/b")
    with pytest.raises(TunerError, match="shared_objects"):
        Tuner(_fn, _sched(), shared_objects={1: "x"})
    assert Tuner(_fn, _sched(), stop={"max_trials": 3}).stop == StopCriterion(max_trials=3)


def test_storage_path_sets_folder_and_durable_checkpoints(tmp_path):
    t = Tuner(_fn, _sched(), storage_path=str(tmp_path), name="exp")
    assert t.folder == str(tmp_path / "exp")
    assert t.checkpoint_dir == str(tmp_path / "exp" / "checkpoints")
    t = Tuner(_fn, _sched(), storage_path="s3://bucket/runs", name="exp")
    assert t.checkpoint_dir == "s3://bucket/runs/exp/checkpoints"
    assert Tuner(_fn, _sched()).checkpoint_dir is None


def test_session_functions_outside_a_trial_raise():
    with pytest.raises(RuntimeError, match="inside a trial"):
        session.report(epoch=1, loss=0.5)
    with pytest.raises(RuntimeError, match="inside a trial"):
        session.get_checkpoint()
    with pytest.raises(RuntimeError, match="inside a trial"):
        session.get_shared("data")


def test_trial_exit_is_not_an_exception():
    # user code with `except Exception` must not swallow a pause or stop
    assert not issubclass(session._PauseTrial, Exception)
    assert not issubclass(session._StopTrial, Exception)


def test_durable_round_trip(tmp_path):
    from raysha.runtime import checkpoints as ck

    from raysha.runtime.storage import Storage

    store, path = Storage(tmp_path / "exp"), ck.durable_path(7, 3)
    assert path == "checkpoints/trial_000007/ckpt_3.pkl"
    ck.write_durable(store, path, {"w": [1, 2, 3]})
    assert ck.read_durable(store, path) == {"w": [1, 2, 3]}
    ck.delete_durable(store, path)
    with pytest.raises(FileNotFoundError):
        ck.read_durable(store, path)
