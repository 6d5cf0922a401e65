"""LeNet on real Fashion-MNIST under ASHA on local Ray: d2l's experiment, shortened for CI."""

import os

import pytest

from raysha.workloads.fashion_mnist import locate

pytestmark = [
    pytest.mark.ray, pytest.mark.slow,
    pytest.mark.skipif(locate() is None, reason="Fashion-MNIST not found: run `make data`"),
]


def test_d2l_experiment_shortened_learns(ray_2cpu_2gpu, tmp_path):
    """2 workers, 2 epochs, a 12k-image subset: every trial's validation error falls with epochs.

    Random search (no early stopping): both trials must train both epochs. Under stopping ASHA the
    second arrival at rung 1 is stopped when it is not better, a chance-level tie (0.9) included.
    """
    from raysha.runs import run_lenet

    good = [{"learning_rate": 0.79, "batch_size": 35}, {"learning_rate": 0.53, "batch_size": 50}]
    exp = run_lenet("random", workers=2, max_wallclock=150, max_epochs=2, grace_period=1, reduction_factor=2,
                    n_train=12_000, n_test=1_000, storage=str(tmp_path), name="d2l-short", max_trials=2,
                    verbose=0, points_to_evaluate=good)
    df = exp.results
    assert sorted(df.trial_id.unique()) == [0, 1]
    assert not df.duplicated(["trial_id", "epoch"]).any()
    for _, curve in df.sort_values("epoch").groupby("trial_id"):
        assert list(curve.epoch) == [1, 2]
        assert curve.validation_error.iloc[1] < curve.validation_error.iloc[0]
    assert df.validation_error.min() < 0.88, "below chance (0.9) after two epochs of 12k images"
    assert {"train_loss", "epoch_time", "config_learning_rate", "config_batch_size"} <= set(df.columns)
    for png in ("learning_curves.png", "best_so_far.png", "timeline.png"):
        assert os.path.getsize(os.path.join(exp.path, png)) > 10_000


def test_run_lenet_command(ray_2cpu_2gpu, tmp_path, capsys):
    from raysha.cli import main

    rc = main(["run", "lenet", "--scheduler", "asha-promotion", "--workers", "2", "--max-trials", "2",
               "--max-epochs", "2", "--grace-period", "1", "--n-train", "2000", "--n-test", "500",
               "--storage", str(tmp_path), "--name", "cli", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "best: validation_error" in out and "(trial " in out
    assert f"experiment folder: {tmp_path / 'cli'}" in out


def test_demo_command_ends_with_the_best_configuration_and_its_plots(ray_2cpu_2gpu, tmp_path, capsys, monkeypatch):
    """What `make demo` runs (`raysha demo --out ...`), with a shorter budget and fewer images than the demo's."""
    from raysha import runs
    from raysha.cli import main

    monkeypatch.setattr(runs, "DEMO", dict(runs.DEMO, max_wallclock=60, max_epochs=2, n_train=2000, n_test=500))
    assert main(["demo", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "best: validation_error" in out and "learning_rate=" in out and "batch_size=" in out
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith("demo_")]
    assert f"experiment folder: {folder}" in out
    for png in runs.PLOTS:
        assert f"plot: {folder / png}" in out and os.path.getsize(folder / png) > 10_000
