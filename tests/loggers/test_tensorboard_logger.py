"""TensorBoardLogger: event files per trial, read back with tensorboard's EventAccumulator."""

import pytest

pytest.importorskip("torch.utils.tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

from raysha.callbacks import CallbackRunner, ExperimentInfo  # noqa: E402
from raysha.loggers import TensorBoardLogger  # noqa: E402


def feed_three_trials(folder):
    info = ExperimentInfo(name="tb", folder=str(folder), metric="loss", mode="min", resource_attr="epoch")
    r = CallbackRunner([TensorBoardLogger()], info)
    configs = {0: {"lr": 0.1, "batch": 32, "act": "relu"}, 1: {"lr": 0.5, "batch": 64, "act": "tanh"},
               2: {"lr": 0.01, "batch": 128, "act": "relu"}}
    rows = []
    for tid, epochs in ((0, 4), (1, 1), (2, 2)):
        for e in range(1, epochs + 1):
            rows.append({"trial_id": tid, "epoch": e, "loss": 1.0 / (e + tid), "acc": 0.1 * e,
                         "tuner_time": float(e), "worker": 0, "decision": "continue",
                         **{f"config_{k}": v for k, v in configs[tid].items()}})
    r.feed(rows=rows, trials={0: {"status": "completed"}, 1: {"status": "stopped"}})
    r.end(None, trials={2: {"status": "paused"}})
    return configs


def hparams_of(acc):
    """The hyperparameters of a run's HParams session-start-info summary."""
    data = acc.PluginTagToContent("hparams")
    content = plugin_data_pb2.HParamsPluginData.FromString(data["_hparams_/session_start_info"])
    return {k: (v.string_value or v.number_value) for k, v in content.session_start_info.hparams.items()}


def test_event_files_per_trial_with_scalars_at_each_epoch_and_hparams(tmp_path):
    configs = feed_three_trials(tmp_path)
    runs = sorted(p.name for p in (tmp_path / "tensorboard").iterdir())
    assert runs == ["trial_0", "trial_1", "trial_2"]
    acc = EventAccumulator(str(tmp_path / "tensorboard" / "trial_0")).Reload()
    loss = acc.Scalars("loss")
    assert [e.step for e in loss] == [1, 2, 3, 4]
    assert [round(e.value, 6) for e in loss] == [round(1.0 / e, 6) for e in range(1, 5)]
    assert [round(e.value, 6) for e in acc.Scalars("acc")] == [0.1, 0.2, 0.3, 0.4]
    assert "tuner_time" not in acc.Tags()["scalars"] and "config_lr" not in acc.Tags()["scalars"]
    hp = hparams_of(acc)
    assert hp["lr"] == pytest.approx(0.1) and hp["batch"] == 32 and hp["act"] == "relu"
    assert hp["status"] == "completed"
    # the paused trial gets its HParams when the experiment ends
    acc2 = EventAccumulator(str(tmp_path / "tensorboard" / "trial_2")).Reload()
    assert hparams_of(acc2)["status"] == "paused" and len(acc2.Scalars("loss")) == 2
    exp = plugin_data_pb2.HParamsPluginData.FromString(acc2.PluginTagToContent("hparams")["_hparams_/experiment"])
    assert {m.name.tag for m in exp.experiment.metric_infos} >= {"loss", "acc"}
    assert configs[2]["batch"] == hparams_of(acc2)["batch"]
