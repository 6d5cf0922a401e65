"""RecordedObjective: replaying recorded LeNet curves by nearest configuration."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from raysha.space import LogUniform, RandInt
from raysha.workloads.recorded import DEFAULT_PATH, RecordedObjective

COLUMNS = ["config_id", "learning_rate", "batch_size", "epoch", "validation_error",
           "train_loss", "epoch_time", "device"]


@pytest.fixture
def small(tmp_path):
    """Three recorded configurations x 3 epochs with distinct, known numbers."""
    configs = {0: (0.1, 128), 1: (0.9, 40), 2: (0.012, 250)}
    rows = []
    for cid, (lr, bs) in configs.items():
        for e in (1, 2, 3):
            rows.append({"config_id": cid, "learning_rate": lr, "batch_size": bs, "epoch": e,
                         "validation_error": 0.9 - 0.1 * e - 0.01 * cid,
                         "train_loss": 2.3 - 0.2 * e - 0.02 * cid,
                         "epoch_time": 10.0 + cid + 0.5 * e, "device": "cpu"})
    df = pd.DataFrame(rows, columns=COLUMNS).sample(frac=1.0, random_state=0)   # row order must not matter
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({b"raysha": json.dumps({"n_train": 123}).encode()})
    path = tmp_path / "curves.parquet"
    pq.write_table(table, path)
    return RecordedObjective(path)


def test_recorded_configs_return_their_numbers(small):
    assert len(small) == 3 and small.max_epochs == 3 and small.metadata == {"n_train": 123}
    out = small({"learning_rate": 0.9, "batch_size": 40}, 2)
    assert out == {"validation_error": pytest.approx(0.69), "train_loss": pytest.approx(1.88),
                   "time": pytest.approx(12.0)}
    out = small({"learning_rate": 0.1, "batch_size": 128, "max_epochs": 3}, 3)
    assert out["validation_error"] == pytest.approx(0.6) and out["time"] == pytest.approx(11.5)
    assert set(out) == {"validation_error", "train_loss", "time"}


def test_nearest_neighbour_in_log_lr_and_batch_space(small):
    # close in log-lr to 0.1 and near batch 128
    assert small.nearest({"learning_rate": 0.12, "batch_size": 120})["config_id"] == 0
    # 0.5 is nearer 0.9 than 0.1 in log space (log-distance 0.59 vs 1.61)
    assert small.nearest({"learning_rate": 0.5, "batch_size": 60})["config_id"] == 1
    # tiny learning rate, large batch
    assert small.nearest({"learning_rate": 0.01, "batch_size": 256})["config_id"] == 2
    # against a brute-force reference: distance in (log lr, batch), each scaled to d2l's range
    recorded = [(0, 0.1, 128), (1, 0.9, 40), (2, 0.012, 250)]
    rng = np.random.default_rng(1)
    for _ in range(200):
        lr, bs = float(np.exp(rng.uniform(np.log(0.01), 0))), int(rng.integers(32, 257))

        def dist(r):
            return ((math.log(lr) - math.log(r[1])) / math.log(100)) ** 2 + ((bs - r[2]) / 224) ** 2

        assert small.nearest({"learning_rate": lr, "batch_size": bs})["config_id"] == min(recorded, key=dist)[0]
    assert small({"learning_rate": 0.5, "batch_size": 60}, 1) == small({"learning_rate": 0.9, "batch_size": 40}, 1)


def test_space_and_errors(small):
    assert isinstance(small.space["learning_rate"], LogUniform)
    assert (small.space["learning_rate"].lower, small.space["learning_rate"].upper) == (1e-2, 1.0)
    assert isinstance(small.space["batch_size"], RandInt)
    assert (small.space["batch_size"].lower, small.space["batch_size"].upper) == (32, 256)
    assert small.space["max_epochs"] == 3
    with pytest.raises(ValueError, match="epoch"):
        small({"learning_rate": 0.1, "batch_size": 128}, 4)
    with pytest.raises(ValueError, match="epoch"):
        small({"learning_rate": 0.1, "batch_size": 128}, 0)
    with pytest.raises(FileNotFoundError):
        RecordedObjective("/nonexistent/curves.parquet")


@pytest.mark.skipif(not DEFAULT_PATH.exists(), reason="raysha/data/lenet_curves.parquet not recorded yet")
def test_shipped_recording():
    obj = RecordedObjective()
    df = obj.curves
    assert list(df.columns)[:len(COLUMNS)] == COLUMNS
    assert len(obj) >= 65 and obj.max_epochs == 10
    assert (df.groupby("config_id").epoch.apply(lambda e: sorted(e) == list(range(1, 11)))).all()
    assert DEFAULT_PATH.stat().st_size < 500_000
    assert df.validation_error.between(0, 1).all() and (df.epoch_time > 0).all()
    assert df.learning_rate.between(1e-2, 1).all() and df.batch_size.between(32, 256).all()
    # d2l's initial configuration is recorded, and returns its own rows
    d2l = df[(df.learning_rate == 0.1) & (df.batch_size == 128)]
    assert len(d2l) == 10
    for e in (1, 5, 10):
        out = obj({"learning_rate": 0.1, "batch_size": 128}, e)
        row = d2l[d2l.epoch == e].iloc[0]
        assert out["validation_error"] == pytest.approx(row.validation_error)
        assert out["time"] == pytest.approx(row.epoch_time)
    # every recorded configuration maps to itself
    for cid, g in df.groupby("config_id"):
        cfg = {"learning_rate": g.learning_rate.iloc[0], "batch_size": int(g.batch_size.iloc[0])}
        assert obj.nearest(cfg)["config_id"] == cid
    # the recording says how it was made
    for key in ("n_train", "n_test", "device", "config_seed", "command", "recorded"):
        assert key in obj.metadata
    # some configurations learn: the best final error is far below chance
    final = df[df.epoch == 10]
    assert final.validation_error.min() < 0.5
    assert math.isfinite(obj({"learning_rate": 0.3, "batch_size": 64}, 10)["validation_error"])
    # sampled configs all resolve
    rng = np.random.default_rng(0)
    from raysha.space import sample_config
    for _ in range(100):
        out = obj(sample_config(obj.space, rng), 1)
        assert 0 <= out["validation_error"] <= 1 and out["time"] > 0


@pytest.mark.parametrize("variant", ["stopping", "promotion"])
def test_simulated_d2l_experiment_on_recorded_curves(variant):
    """d2l's qualitative outcome: most trials stop at 2 or 4 epochs, a few reach 10."""
    from raysha import StopCriterion, simulate
    from raysha.schedulers import ASHA
    from raysha.workloads.recorded import RecordedObjective

    obj = RecordedObjective()
    s = ASHA(obj.space, metric="validation_error", mode="min", resource_attr="epoch",
             max_resource_attr="max_epochs", grace_period=2, reduction_factor=2, type=variant,
             points_to_evaluate=[{"learning_rate": 0.1, "batch_size": 128}], random_seed=0)
    exp = simulate(s, obj, n_workers=2, stop=StopCriterion(max_wallclock_time=720))
    last = exp.results.groupby("trial_id").epoch.max()
    assert len(last) > 50
    assert last.isin([2, 4]).mean() >= 0.6
    assert 1 <= (last == 10).sum() <= 0.3 * len(last)
    assert exp.best()["validation_error"] < 0.3
