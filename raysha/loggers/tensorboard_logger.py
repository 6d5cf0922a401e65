"""TensorBoard: one run (event files) per trial, with the HParams view's hyperparameters and final metrics."""

from __future__ import annotations

import os
from typing import Optional

from raysha.callbacks import Callback, ExperimentInfo
from raysha.loggers.common import local_folder, metrics_of, plain_params


class TensorBoardLogger(Callback):
    """Writes ``<logdir>/trial_<id>/events.out.tfevents.*``; ``logdir`` defaults to ``<experiment>/tensorboard``
    (``./raysha-logs/<name>/tensorboard`` when the experiment lives at a URI).

    Each report becomes scalars (one per numeric metric) at step = the resource level
    (the epoch); when the trial ends, its config and final metrics go to the HParams
    view (``tensorboard --logdir <logdir>``, tab HPARAMS).

    >>> import tempfile
    >>> from raysha.callbacks import CallbackRunner, ExperimentInfo
    >>> d = tempfile.mkdtemp()
    >>> r = CallbackRunner([TensorBoardLogger()], ExperimentInfo("demo", d, metric="loss"))
    >>> r.feed(rows=[{"trial_id": 3, "epoch": 1, "loss": 0.25, "config_lr": 0.1}])
    >>> r.end(None)
    >>> sorted(os.listdir(os.path.join(d, "tensorboard")))
    ['trial_3']
    """

    def __init__(self, logdir: Optional[str] = None):
        try:
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError as e:
            raise ImportError("TensorBoardLogger needs torch and tensorboard: pip install 'raysha[tensorboard]' "
                              f"torch ({e})") from e
        self.logdir = logdir
        self.info: Optional[ExperimentInfo] = None
        self.writers: dict = {}
        self.configs: dict[int, dict] = {}

    def on_experiment_start(self, info: ExperimentInfo) -> None:
        self.info = info
        self.logdir = self.logdir or os.path.join(local_folder(info.folder, info.name), "tensorboard")

    def on_trial_start(self, trial_id: int, config: dict) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.configs[trial_id] = plain_params(config)
        self.writers[trial_id] = SummaryWriter(os.path.join(self.logdir, f"trial_{trial_id}"), flush_secs=10)

    def on_report(self, trial_id: int, row: dict) -> None:
        attr = self.info.resource_attr
        w = self.writers[trial_id]
        step = row.get(attr)
        step = int(step) if isinstance(step, (int, float)) and float(step).is_integer() else None
        for tag, value in metrics_of(row, attr).items():
            w.add_scalar(tag, value, global_step=step, walltime=None)

    def on_trial_end(self, trial_id: int, status: str, last_row: Optional[dict]) -> None:
        from torch.utils.tensorboard.summary import hparams

        w = self.writers.pop(trial_id, None)
        if w is None:
            return
        final = metrics_of(last_row or {}, self.info.resource_attr)
        if last_row and self.info.resource_attr in last_row:
            final[self.info.resource_attr] = float(last_row[self.info.resource_attr])
        params = dict(self.configs.get(trial_id, {}), status=status)
        # the HParams plugin pairs the hyperparameters with the last value of these scalar tags
        for summary in hparams(params, {tag: 0.0 for tag in final}):
            w.file_writer.add_summary(summary)
        if self.info.resource_attr in final:
            w.add_scalar(self.info.resource_attr, final[self.info.resource_attr])
        w.close()

    def on_experiment_end(self, experiment) -> None:
        for w in self.writers.values():
            w.close()
        self.writers.clear()
