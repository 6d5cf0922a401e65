"""Watching a real run on Ray: callbacks and loggers through Tuner, named actors, per-trial logs."""

import os
import sys
import time

import pytest

ray = pytest.importorskip("ray")

from raysha.callbacks import Callback  # noqa: E402
from raysha.runtime import session  # noqa: E402
from raysha.runtime.tuner import Tuner, TunerError  # noqa: E402
from raysha.schedulers.asha import ASHA  # noqa: E402
from raysha.space import uniform  # noqa: E402
from raysha.stop import StopCriterion  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [pytest.mark.ray, pytest.mark.usefixtures("ray_2cpu_2gpu")]


def asha(max_epochs=6):
    return ASHA({"x": uniform(0, 1), "max_epochs": max_epochs}, metric="loss", mode="min", resource_attr="epoch",
                max_resource_attr="max_epochs", grace_period=1, reduction_factor=2, type="promotion", random_seed=3)


def chatty(config):
    """Prints on stdout and stderr; pauses and resumes (promotion ASHA)."""
    ckpt = session.get_checkpoint()
    start = ckpt["epoch"] if ckpt else 0
    tid = session.get_trial_id()
    print(f"hello from x={config['x']:.6f} (from epoch {start})", file=sys.stderr)
    for epoch in range(start + 1, config["max_epochs"] + 1):
        print(f"trial {tid} epoch {epoch} loss {config['x'] + 1.0 / epoch:.6f}")
        if tid == 0 and epoch == 1:
            wait_for_the_driver()
        session.report(epoch=epoch, loss=config["x"] + 1.0 / epoch, checkpoint={"epoch": epoch})


def wait_for_the_driver():
    """With shared_objects={"marker": path}: hold on until the driver's callback has made that file."""
    try:
        marker = session.get_shared("marker")
    except KeyError:
        return
    deadline = time.monotonic() + 60
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)


class Recorder(Callback):
    """Records every hook call, and which named actors Ray lists while the run goes on."""

    def __init__(self, marker=None):
        self.calls = []
        self.named = None     # the names of the actors alive, as Ray lists them while the run goes on
        self.marker = marker

    def on_experiment_start(self, info):
        self.calls.append(("experiment_start", info.name, info.metric))

    def on_trial_start(self, trial_id, config):
        self.calls.append(("start", trial_id, config))
        if self.named is None:   # trial 0 waits for this before its first report: the actors are alive
            self.named = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}
            open(self.marker, "w").close()

    def on_report(self, trial_id, row):
        self.calls.append(("report", trial_id, row["epoch"], row["loss"]))

    def on_trial_end(self, trial_id, status, last_row):
        self.calls.append(("end", trial_id, status, last_row and last_row["epoch"]))

    def on_experiment_end(self, experiment):
        self.calls.append(("experiment_end", experiment))


class Broken(Callback):
    def on_report(self, trial_id, row):
        raise RuntimeError("dashboard down")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One real experiment watched by a recorder, a raising callback and both loggers."""
    pytest.importorskip("mlflow")
    pytest.importorskip("torch.utils.tensorboard")
    from raysha.loggers import MLflowLogger, TensorBoardLogger

    root = tmp_path_factory.mktemp("observe")
    rec = Recorder(marker=str(root / "driver-saw-a-report"))
    tuner = Tuner(chatty, asha(), n_workers=2, stop=StopCriterion(max_trials=6), storage_path=str(root),
                  name="watched", verbose=0, shared_objects={"marker": rec.marker},
                  callbacks=[rec, Broken(), TensorBoardLogger(), MLflowLogger()])
    exp = tuner.fit()
    return tuner, exp, rec


def test_every_report_reaches_on_report_in_order_between_start_and_end(run):
    tuner, exp, rec = run
    assert rec.calls[0] == ("experiment_start", "watched", "loss")
    assert rec.calls[-1][0] == "experiment_end" and rec.calls[-1][1].path == exp.path
    reports = [c for c in rec.calls if c[0] == "report"]
    df = exp.results
    assert sorted((c[1], c[2]) for c in reports) == sorted(zip(df["trial_id"], df["epoch"]))
    assert len(reports) == len(df) > 6
    for tid, g in df.groupby("trial_id"):
        mine = [i for i, c in enumerate(rec.calls) if c[1:2] == (tid,)]
        kinds = [rec.calls[i][0] for i in mine]
        assert kinds[0] == "start" and kinds[-1] == "end" and kinds.count("start") == kinds.count("end") == 1
        assert [rec.calls[i][2] for i in mine if rec.calls[i][0] == "report"] == sorted(g["epoch"])
        start, end = rec.calls[mine[0]], rec.calls[mine[-1]]
        assert start[2]["x"] == pytest.approx(g["config_x"].iloc[0])
        status = tuner.scheduler.trials[tid].status.value
        assert end[2:] == (status, g["epoch"].max())


def test_a_raising_callback_is_reported_once_and_the_run_finishes(run, capfd):
    # the report went to the driver's stderr while fit() ran (module fixture): the run finished anyway
    tuner, exp, rec = run
    assert tuner.summary["finished"] and len(exp.results) > 6


def test_the_actors_have_their_names_in_ray_while_it_runs(run):
    assert {"raysha:watched:controller", "raysha:watched:worker-0", "raysha:watched:worker-1"} <= run[2].named


def test_tensorboard_and_mlflow_files_read_back(run):
    from mlflow.tracking import MlflowClient
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    _, exp, _ = run
    df = exp.results
    tids = sorted(df["trial_id"].unique())
    assert sorted(os.listdir(os.path.join(exp.path, "tensorboard"))) == sorted(f"trial_{t}" for t in tids)
    for tid in tids:
        acc = EventAccumulator(os.path.join(exp.path, "tensorboard", f"trial_{tid}")).Reload()
        g = df[df["trial_id"] == tid].sort_values("epoch")
        assert [e.step for e in acc.Scalars("loss")] == list(g["epoch"])
        assert "_hparams_/session_start_info" in acc.PluginTagToContent("hparams")
    client = MlflowClient(tracking_uri=f"sqlite:///{exp.path}/mlflow.db")
    runs = client.search_runs([client.get_experiment_by_name("watched").experiment_id])
    assert sorted(int(r.data.tags["raysha.trial_id"]) for r in runs) == tids
    for r in runs:
        tid = int(r.data.tags["raysha.trial_id"])
        history = client.get_metric_history(r.info.run_id, "loss")
        g = df[df["trial_id"] == tid].sort_values("epoch")
        assert [m.step for m in history] == list(g["epoch"])


def test_each_trial_has_its_output_in_its_log_file(run):
    _, exp, _ = run
    for tid, g in exp.results.groupby("trial_id"):
        text = open(os.path.join(exp.path, "trials", str(tid), "log.txt")).read()
        assert text.count("hello from x=") >= 1                      # stderr too, once per job
        for epoch, loss in zip(g["epoch"], g["loss"]):
            assert f"trial {tid} epoch {epoch} loss {loss:.6f}\n" in text


def test_the_driver_shows_trial_output_prefixed_with_the_trial_id(tmp_path, capfd):
    def one_line(config):
        print(f"unique-marker-{config['x']:.9f}")
        session.report(epoch=1, loss=config["x"])

    exp = Tuner(one_line, asha(max_epochs=1), n_workers=1, stop=StopCriterion(max_trials=2),
                storage_path=str(tmp_path), name="prefixed", verbose=0).fit()
    wanted = {f"[trial {t}] unique-marker-{x:.9f}" for t, x in zip(exp.results["trial_id"], exp.results["config_x"])}
    seen, deadline = "", time.monotonic() + 20     # Ray forwards worker output to the driver asynchronously
    while not all(w in seen for w in wanted) and time.monotonic() < deadline:
        time.sleep(0.2)
        seen += "".join(capfd.readouterr())
    assert all(w in seen for w in wanted), seen[-2000:]


def test_callbacks_must_be_callback_objects():
    with pytest.raises(TunerError, match=r"callbacks\[1\] must be a raysha.callbacks.Callback"):
        Tuner(chatty, asha(), callbacks=[Recorder(), print])
    with pytest.raises(TunerError, match="callbacks must be a list"):
        Tuner(chatty, asha(), callbacks=Recorder())


def test_a_slow_callback_does_not_slow_the_run(tmp_path):
    class Slow(Callback):
        def __init__(self):
            self.reports = 0

        def on_report(self, trial_id, row):
            self.reports += 1
            time.sleep(0.5)

    def quick(config):
        for epoch in range(1, 5):
            session.report(epoch=epoch, loss=config["x"] / epoch)

    slow = Slow()
    tuner = Tuner(quick, asha(max_epochs=4), n_workers=2, stop=StopCriterion(max_trials=8),
                  storage_path=str(tmp_path), name="slow-callback", verbose=0, callbacks=[slow])
    exp = tuner.fit()
    assert slow.reports == len(exp.results) >= 8                     # every report, once the driver caught up
    # the scheduler actor's run took less than the callback's share alone: it never waited for the driver
    assert tuner.summary["elapsed"] < 0.5 * slow.reports
