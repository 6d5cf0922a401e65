"""MLflowLogger: a run per trial under one experiment, read back with MlflowClient."""

import pytest

pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

from raysha.callbacks import CallbackRunner, ExperimentInfo  # noqa: E402
from raysha.loggers import MLflowLogger  # noqa: E402


def test_a_run_per_trial_with_params_metrics_per_epoch_and_final_status(tmp_path):
    info = ExperimentInfo(name="mlf", folder=str(tmp_path), metric="loss", mode="min", resource_attr="epoch")
    r = CallbackRunner([MLflowLogger()], info)
    rows = [{"trial_id": tid, "epoch": e, "loss": 1.0 / (e + tid), "config_lr": 0.1 * (tid + 1),
             "config_act": "relu", "tuner_time": float(e), "decision": "continue"}
            for tid, n in ((0, 3), (1, 1), (2, 2)) for e in range(1, n + 1)]
    r.feed(rows=rows, trials={0: {"status": "completed"}, 1: {"status": "stopped"}, 2: {"status": "failed"}})
    r.end(None)

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    exp = client.get_experiment_by_name("mlf")
    runs = {run.data.tags["raysha.trial_id"]: run for run in client.search_runs([exp.experiment_id])}
    assert sorted(runs) == ["0", "1", "2"]
    run0 = runs["0"]
    assert run0.info.run_name == "trial_0" and run0.info.status == "FINISHED"
    assert run0.data.params == {"lr": "0.1", "act": "relu"}
    history = client.get_metric_history(run0.info.run_id, "loss")
    assert [(m.step, round(m.value, 6)) for m in history] == [(e, round(1.0 / e, 6)) for e in (1, 2, 3)]
    assert "tuner_time" not in run0.data.metrics and "epoch" not in run0.data.metrics
    assert runs["1"].data.tags["raysha.status"] == "stopped" and runs["1"].info.status == "FINISHED"
    assert runs["2"].info.status == "FAILED"
