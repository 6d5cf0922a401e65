"""MLflow: one run per trial, under one MLflow experiment named after the raysha experiment."""

from __future__ import annotations

import os
from typing import Optional

from raysha.callbacks import Callback, ExperimentInfo
from raysha.loggers.common import local_folder, metrics_of, plain_params

_STATUS = {"completed": "FINISHED", "stopped": "FINISHED", "failed": "FAILED"}


class MLflowLogger(Callback):
    """Logs each trial as an MLflow run: params = config, metrics at step = resource level.

    ``tracking_uri`` defaults to a local store: the SQLite file ``<experiment>/mlflow.db``
    (MLflow 3 keeps its plain-folder store in maintenance mode; view it with
    ``mlflow ui --backend-store-uri sqlite:///<experiment>/mlflow.db``); pass a server's
    URI (``http://...``) or ``file:///...`` to log there instead.
    The MLflow experiment is ``experiment_name`` or the raysha experiment's name; a
    run's tags hold the trial id, its final status and the raysha experiment folder.

    >>> import tempfile
    >>> from raysha.callbacks import CallbackRunner, ExperimentInfo
    >>> d = tempfile.mkdtemp()
    >>> r = CallbackRunner([MLflowLogger()], ExperimentInfo("demo", d, metric="loss"))
    >>> r.feed(rows=[{"trial_id": 3, "epoch": 1, "loss": 0.25, "config_lr": 0.1}])
    >>> r.end(None)
    >>> os.path.isfile(os.path.join(d, "mlflow.db"))
    True
    """

    def __init__(self, tracking_uri: Optional[str] = None, experiment_name: Optional[str] = None):
        try:
            import mlflow  # noqa: F401
        except ImportError as e:
            raise ImportError(f"MLflowLogger needs mlflow: pip install 'raysha[mlflow]' ({e})") from e
        self.tracking_uri = tracking_uri
        self.experiment_name = experiment_name
        self.client = None
        self.experiment_id: Optional[str] = None
        self.runs: dict[int, str] = {}
        self.steps: dict[int, int] = {}

    def on_experiment_start(self, info: ExperimentInfo) -> None:
        from mlflow.tracking import MlflowClient

        self.info = info
        if self.tracking_uri is None:
            folder = os.path.abspath(local_folder(info.folder, info.name))
            os.makedirs(folder, exist_ok=True)
            self.tracking_uri = "sqlite:///" + os.path.join(folder, "mlflow.db")
        self.experiment_name = self.experiment_name or info.name
        self.client = MlflowClient(tracking_uri=self.tracking_uri)
        found = self.client.get_experiment_by_name(self.experiment_name)
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(self.experiment_name)

    def on_trial_start(self, trial_id: int, config: dict) -> None:
        from mlflow.entities import Param

        run = self.client.create_run(self.experiment_id, run_name=f"trial_{trial_id}",
                                     tags={"raysha.trial_id": str(trial_id), "raysha.folder": self.info.folder})
        self.runs[trial_id] = run.info.run_id
        params = [Param(k, str(v)) for k, v in plain_params(config).items()]
        if params:
            self.client.log_batch(run.info.run_id, params=params)

    def on_report(self, trial_id: int, row: dict) -> None:
        import time

        from mlflow.entities import Metric

        attr = self.info.resource_attr
        level = row.get(attr)
        if isinstance(level, (int, float)) and float(level).is_integer():
            step = int(level)
        else:
            step = self.steps.get(trial_id, 0) + 1
        self.steps[trial_id] = step
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, step) for k, v in metrics_of(row, attr).items()]
        if metrics:
            self.client.log_batch(self.runs[trial_id], metrics=metrics)

    def on_trial_end(self, trial_id: int, status: str, last_row: Optional[dict]) -> None:
        run_id = self.runs.pop(trial_id, None)
        if run_id is None:
            return
        self.client.set_tag(run_id, "raysha.status", status)
        self.client.set_terminated(run_id, status=_STATUS.get(status, "KILLED"))
