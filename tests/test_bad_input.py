"""Bad input: each gives a clear message naming the field, before any cluster work where possible.

The table in docs/bad-input.md lists every case, the message and its test (some live in
tests/test_asha.py, tests/test_space.py, tests/test_runtime_input.py and tests/test_faults.py).
"""

import math
import os
import sys
import threading

import pytest

from raysha.runtime import session
from raysha.runtime.tuner import Tuner, TunerError
from raysha.schedulers.asha import ASHA
from raysha.schedulers.base import SchedulerError, UnknownOptionError
from raysha.schedulers.fifo import RandomSearch
from raysha.schedulers.pasha import PASHA
from raysha.schedulers.sync import SyncHyperband
from raysha.space import SpaceError, uniform


def _fn(config):
    session.report(epoch=1, loss=config["x"])


def _sched():
    return RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=1)


# -- no cluster: checked when the scheduler / Tuner is built, or in fit() before Ray starts ----------
@pytest.mark.parametrize("cls, kw, fragment", [
    (ASHA, dict(max_t=9, grace_perod=2), "ASHA: unknown option 'grace_perod' (did you mean 'grace_period'?)"),
    (PASHA, dict(max_t=9, reduction_facto=2), "PASHA: unknown option 'reduction_facto' (did you mean "
                                              "'reduction_factor'?)"),
    (RandomSearch, dict(max_t=3, max_epochs=3), "RandomSearch: unknown option 'max_epochs'"),
    (SyncHyperband, dict(max_t=9, eta=3), "SyncHyperband: unknown option 'eta'"),
])
def test_unknown_scheduler_option_is_named_with_the_valid_ones(cls, kw, fragment):
    with pytest.raises(UnknownOptionError) as e:
        cls({"x": uniform(0, 1)}, metric="loss", **kw)
    msg = str(e.value)
    assert fragment in msg and "valid options: space, metric, mode" in msg
    assert isinstance(e.value, TypeError) and isinstance(e.value, SchedulerError)


def test_scheduler_options_still_work_and_pickle():
    from ray import cloudpickle

    s = ASHA({"x": uniform(0, 1)}, metric="loss", max_t=9, grace_period=1, reduction_factor=3)
    s2 = cloudpickle.loads(cloudpickle.dumps(s))
    assert s2.levels == s.levels
    assert PASHA({"x": uniform(0, 1)}, metric="loss", max_t=9).max_t == 9


@pytest.mark.parametrize("space, fragment", [
    ({}, "search space is empty"),
    ([("x", 1)], "search space must be a dict"),
    ({"x": object()}, "search space: 'x' must be a domain"),
    ({"": uniform(0, 1)}, "names must be non-empty strings"),
])
def test_empty_or_malformed_search_space(space, fragment):
    with pytest.raises(SpaceError, match=fragment):
        ASHA(space, metric="loss", max_t=9)


def test_unpicklable_trainable_is_refused_at_construction():
    lock = threading.Lock()

    def uses_a_lock(config):
        with lock:
            session.report(epoch=1, loss=config["x"])

    with pytest.raises(TunerError, match="trainable .*uses_a_lock cannot be pickled .*lock"):
        Tuner(uses_a_lock, _sched())


def test_unwritable_storage_path_is_refused_before_ray_starts(tmp_path, monkeypatch):
    import ray

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("ray.init was called"))
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    t = Tuner(_fn, _sched(), storage_path=str(blocker / "runs"), name="x", verbose=0)
    with pytest.raises(TunerError, match=r"storage_path '.*a_file/runs' is not writable \(NotADirectoryError"):
        t.fit()
    # a pyarrow.fs URI is probed the same way
    t = Tuner(_fn, _sched(), storage_path=f"file://{blocker}/runs", name="x", verbose=0)
    with pytest.raises(TunerError, match=r"storage_path 'file://.*' is not writable"):
        t.fit()
    # a writable one leaves no probe behind
    ok = tmp_path / "ok"
    Tuner(_fn, _sched(), storage_path=str(ok), name="x", verbose=0)._check_storage()
    assert ok.is_dir() and os.listdir(ok) == []


def test_results_folder_of_another_experiment_is_refused_before_ray_starts(tmp_path, monkeypatch):
    import ray

    from raysha.results import ResultsError, ResultsWriter

    monkeypatch.setattr(ray, "init", lambda *a, **k: pytest.fail("ray.init was called"))
    with ResultsWriter(tmp_path / "taken", {"name": "someone-else"}):
        pass
    with pytest.raises(TunerError, match="experiment folder .*taken exists already; choose another name"):
        Tuner(_fn, _sched(), storage_path=str(tmp_path), name="taken", verbose=0).fit()
    # the writer itself refuses to mix results of two experiments
    with pytest.raises(ResultsError, match="holds results of another experiment"):
        ResultsWriter(tmp_path / "taken", {"name": "mine"})


# -- on a local Ray (2 CPUs, 2 fake GPUs) ----------------------------------------------------------
def _register():
    import ray

    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])


@pytest.mark.ray
@pytest.mark.usefixtures("ray_2cpu_2gpu")
def test_more_gpus_per_trial_than_any_node_is_refused_before_actors_start(tmp_path):
    import ray

    t = Tuner(_fn, _sched(), resources_per_trial={"gpu": 3}, storage_path=str(tmp_path), name="g",
              verbose=0)
    with pytest.raises(TunerError, match=r"resources_per_trial\['gpu'\]=3 but the largest node of the "
                                         r"cluster has 2 GPU\(s\)"):
        t.fit()
    with pytest.raises(TunerError, match=r"resources_per_trial\['cpu'\]=8"):
        Tuner(_fn, _sched(), resources_per_trial={"cpu": 8}, storage_path=str(tmp_path), name="c",
              verbose=0).fit()
    assert not (tmp_path / "g" / "experiment.json").exists()    # nothing started
    assert ray.available_resources().get("GPU") == 2


def odd_metrics(config):
    tid = session.get_trial_id()
    for e in range(1, 4):
        if tid == 0:
            session.report(epoch=e, val_loss=config["x"], acc=0.5)    # never the scheduler's metric
        elif tid == 1:
            session.report(epoch=e, loss=math.nan if e == 2 else math.inf)
        else:
            session.report(epoch=e, loss=config["x"])


@pytest.mark.ray
@pytest.mark.usefixtures("ray_2cpu_2gpu")
def test_missing_and_non_finite_metric_are_named_once(tmp_path, capfd):
    _register()
    sched = RandomSearch({"x": uniform(0, 1)}, metric="loss", max_t=3)
    tuner = Tuner(odd_metrics, sched, n_workers=2, stop={"max_trials": 5}, storage_path=str(tmp_path),
                  name="odd", verbose=0)
    exp = tuner.fit()
    w = tuner.summary["warnings"]
    assert "without the metric 'loss'" in w["metric_missing"]
    assert "['acc', 'epoch', 'val_loss']" in w["metric_missing"]
    assert "trial 1 reported loss=" in w["metric_not_finite"] and "worst" in w["metric_not_finite"]
    assert exp.metadata["summary"]["warnings"] == w
    # each logged once although 3 reports had no metric and 3 a non-finite one
    import time
    out = ""
    deadline = time.monotonic() + 10
    while out.count("without the metric") == 0 and time.monotonic() < deadline:   # worker logs lag
        out += capfd.readouterr().out
        time.sleep(0.2)
    assert out.count("without the metric 'loss'") == 1
    # the run went on; the best is a finite one
    assert len(sched.trials) == 5 and math.isfinite(exp.best()["loss"])
    assert exp.best()["trial_id"] >= 2


def corrupts_its_checkpoint(config):
    tid = session.get_trial_id()
    folder = session.get_shared("ckpt_dir")
    trial_dir = os.path.join(folder, f"trial_{tid:06d}")
    if tid == 0 and os.path.isdir(trial_dir):       # trial 0, resumed: its durable copy is now garbage
        for name in os.listdir(trial_dir):
            with open(os.path.join(trial_dir, name), "wb") as f:
                f.write(b"\x80\x05 this is not a pickle")
    ckpt = session.get_checkpoint()
    start, steps = (ckpt["epoch"], ckpt["steps"]) if ckpt else (0, 0)
    for epoch in range(start + 1, config["max_epochs"] + 1):
        steps += 1
        session.report(epoch=epoch, loss=config["x"] + 1.0 / epoch, steps=steps,
                       checkpoint={"epoch": epoch, "steps": steps})


@pytest.mark.ray
@pytest.mark.usefixtures("ray_2cpu_2gpu")
def test_corrupted_durable_checkpoint_restarts_the_trial_from_scratch(tmp_path):
    """A restored run has only the durable copies; trial 0's is garbage when it resumes: it trains again."""
    _register()
    sched = ASHA({"x": uniform(0, 1), "max_epochs": 9}, metric="loss", mode="min",
                 max_resource_attr="max_epochs", grace_period=1, reduction_factor=3, type="promotion",
                 points_to_evaluate=[{"x": 0.0}])
    shared = {"ckpt_dir": str(tmp_path / "corrupt" / "checkpoints")}
    first = Tuner(corrupts_its_checkpoint, sched, n_workers=2, stop={"max_trials": 3}, storage_path=str(tmp_path),
                  name="corrupt", verbose=0, keep_live_trainables=False, shared_objects=shared)
    first.fit()
    assert "0" in first.summary["checkpoints"], "trial 0 (the best) is not paused after the first run"
    tuner = Tuner.restore(str(tmp_path / "corrupt"), stop={"max_trials": 12}, shared_objects=shared)
    exp = tuner.fit()
    s = tuner.summary
    resumes = [j for j in s["job_log"] if j["trial_id"] == 0 and j["kind"] == "resume"]
    assert resumes, "trial 0 (the best) was never promoted"
    assert resumes[0]["restored_from"] == "scratch" and "unreadable" in resumes[0]["ckpt_error"]
    assert s["failures"] == []                       # not a failure: trained again from epoch 1
    others = [j for j in s["job_log"] if j["trial_id"] != 0 and j["kind"] == "resume"]
    assert all(j["restored_from"] in ("durable", "object") for j in others)
    df = exp.results
    assert not df.duplicated(["trial_id", "epoch"]).any()
    sched = tuner.scheduler
    for t, g in df.groupby("trial_id"):
        assert sorted(g["epoch"]) == list(range(1, int(sched.trials[t].resource) + 1))
    assert sched.trials[0].resource == 9
    spans = exp.jobs
    # both runs' spans: the first run resumed trial 0 from its object, the restored run from scratch
    assert set(spans[(spans["trial_id"] == 0) & (spans["kind"] == "resume")]["restored_from"]) == {"object", "scratch"}


# -- durable checkpoint formats (docs/security.md) -------------------------------------------------
class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))      # would create the marker file when unpickled


def test_tensor_checkpoints_are_written_with_torch_and_loaded_weights_only(tmp_path):
    torch = pytest.importorskip("torch")
    from raysha.runtime import checkpoints as ck

    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 3)).sum().backward()
    opt.step()
    state = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
             "rng": torch.Generator().get_state(), "seed": 1}      # what LeNet's trainable saves
    from raysha.runtime.storage import Storage

    store, rel = Storage(tmp_path), ck.durable_path(1, 3)
    path = tmp_path / rel
    ck.write_durable(store, rel, state)
    raw = open(path, "rb").read()
    assert raw.startswith(ck.TORCH_HEADER)
    back = ck.read_durable(store, rel)
    assert back["epoch"] == 3 and torch.equal(back["model"]["weight"], state["model"]["weight"])
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)

    # a torch-format file that smuggles code is refused by weights_only=True; nothing runs
    marker = tmp_path / "pwned"
    import io
    buf = io.BytesIO()
    torch.save({"model": _Evil(str(marker))}, buf)
    with open(path, "wb") as f:
        f.write(ck.TORCH_HEADER + buf.getvalue())
    with pytest.raises(Exception, match="(?i)weights.only|unpickl"):
        ck.read_durable(store, rel)
    assert not marker.exists()


def test_other_checkpoints_are_pickled(tmp_path):
    import pickle

    import numpy as np

    from raysha.runtime import checkpoints as ck

    from raysha.runtime.storage import Storage

    store, rel = Storage(tmp_path), ck.durable_path(2, 1)
    path = tmp_path / rel
    ck.write_durable(store, rel, {"w": np.arange(3), "note": "numpy is not in torch's weights_only set"})
    assert open(path, "rb").read().startswith(ck.PICKLE_HEADER)
    assert ck.read_durable(store, rel)["w"].tolist() == [0, 1, 2]
    with open(path, "wb") as f:               # copies written before the header existed still load
        f.write(pickle.dumps({"epoch": 1}))
    assert ck.read_durable(store, rel) == {"epoch": 1}
