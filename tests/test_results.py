"""Experiment folders: parquet parts, reading a running folder, best(), refusing another experiment, plots."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from raysha.objectives import STRAGGLER_SPACE, StragglerObjective
from raysha.results import Experiment, ResultsError, ResultsWriter, load_experiment
from raysha.schedulers import ASHA
from raysha.schedulers.sync import SyncSuccessiveHalving
from raysha.simulate import simulate
from raysha.stop import StopCriterion

META = {"name": "exp-a", "metric": "err", "mode": "min", "resource_attr": "epoch"}


def row(tid, epoch, err, t, **kw):
    r = {"trial_id": tid, "epoch": epoch, "err": err, "tuner_time": t, "worker": tid % 2,
         "node": "n0", "decision": "continue", "config_lr": 0.1 * (tid + 1)}
    r.update(kw)
    return r


def small_sim(**kw):
    s = ASHA(STRAGGLER_SPACE, "validation_error", max_resource_attr="max_epochs", type="promotion", **kw)
    return simulate(s, StragglerObjective(), 3, StopCriterion(max_trials=20), name="small")


def test_writer_creates_folder_and_metadata(tmp_path):
    w = ResultsWriter(tmp_path / "a" / "b", META)
    meta = json.loads((tmp_path / "a" / "b" / "experiment.json").read_text())
    assert meta["name"] == "exp-a" and meta["metric"] == "err"
    assert meta["versions"]["ray"] == "2.60.0" and meta["versions"]["python"].startswith("3.")
    assert meta["versions"]["raysha"] and meta["created"] and meta["experiment_id"]
    w.close()


def test_running_folder_with_several_parts(tmp_path):
    """A reader sees every flushed part while the writer is still open; unflushed rows are not there yet."""
    w = ResultsWriter(tmp_path, META)
    w.append(row(0, 1, 0.5, 1.0))
    w.append(row(1, 1, 0.6, 1.5))
    w.flush()
    w.append(row(0, 2, 0.4, 2.0, acc=0.9))  # a metric only some rows have
    w.flush()
    w.append(row(1, 2, 0.3, 3.0))
    w.flush()
    w.append(row(0, 3, 0.2, 4.0))            # not flushed
    (tmp_path / "results" / ".part-00003.parquet.tmp").write_bytes(b"half a file")
    assert sorted(p.name for p in (tmp_path / "results").glob("part-*.parquet")) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    exp = load_experiment(tmp_path)
    assert len(exp.results) == 4
    assert exp.results["tuner_time"].tolist() == [1.0, 1.5, 2.0, 3.0]
    assert exp.results["acc"].isna().tolist() == [True, True, False, True]
    assert exp.best()["err"] == 0.3
    w.close()
    assert len(load_experiment(tmp_path).results) == 5


def test_best_ignores_nan_and_respects_mode(tmp_path):
    w = ResultsWriter(tmp_path, META)
    for i, v in enumerate([0.5, float("nan"), 0.2, float("nan"), 0.9]):
        w.append(row(i, 1, v, float(i)))
    w.close()
    exp = load_experiment(tmp_path)
    assert exp.best()["trial_id"] == 2
    assert exp.best(mode="max")["trial_id"] == 4
    assert exp.best_config() == {"lr": pytest.approx(0.3)}
    only_nan = Experiment(pd.DataFrame({"err": [float("nan")] * 2, "trial_id": [0, 1]}), META)
    assert only_nan.best() is None
    assert Experiment(pd.DataFrame({"x": [1.0]}), META).best() is None  # metric never reported


def test_another_experiments_folder_is_refused(tmp_path):
    ResultsWriter(tmp_path, META).close()
    with pytest.raises(ResultsError, match="another experiment"):
        ResultsWriter(tmp_path, dict(META, name="exp-b"))
    with pytest.raises(ResultsError, match="already holds an experiment"):
        ResultsWriter(tmp_path, {"metric": "err"})
    # a simulation saved twice into one folder: the second run is another experiment
    small_sim().save(tmp_path / "sim")
    with pytest.raises(ResultsError, match="another experiment"):
        small_sim().save(tmp_path / "sim")


def test_same_experiment_reopened_continues_numbering(tmp_path):
    w = ResultsWriter(tmp_path, META)
    w.append(row(0, 1, 0.5, 1.0))
    w.close()
    old_id = json.loads((tmp_path / "experiment.json").read_text())["experiment_id"]
    w = ResultsWriter(tmp_path, dict(META, experiment_id=old_id))
    w.append(row(0, 2, 0.4, 2.0))
    w.close()
    assert (tmp_path / "results" / "part-00001.parquet").exists()
    exp = load_experiment(tmp_path)
    assert exp.results["epoch"].tolist() == [1, 2] and exp.metadata["experiment_id"] == old_id


def test_mixed_type_column_is_written(tmp_path):
    w = ResultsWriter(tmp_path, META)
    w.append(row(0, 1, 0.5, 1.0, config_width=32))
    w.append(row(1, 1, 0.5, 1.0, config_width="auto"))
    w.close()
    assert load_experiment(tmp_path).results["config_width"].tolist() == ["32", "auto"]


def test_simulated_experiment_round_trips(tmp_path):
    exp = small_sim()
    exp.save(tmp_path / "exp")
    back = load_experiment(tmp_path / "exp")
    pd.testing.assert_frame_equal(back.results, exp.results, check_categorical=False)
    pd.testing.assert_frame_equal(back.jobs, exp.jobs)
    assert back.metadata["summary"] == json.loads(json.dumps(exp.metadata["summary"]))
    assert back.busy_fraction() == pytest.approx(exp.busy_fraction())
    assert back.best()["trial_id"] == exp.best()["trial_id"]


def test_load_errors(tmp_path):
    with pytest.raises(ResultsError, match="no experiment folder"):
        load_experiment(tmp_path / "missing")
    with pytest.raises(ResultsError, match="not a raysha experiment"):
        load_experiment(tmp_path)


def png_ok(path):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_plots_write_pngs(tmp_path):
    exp = small_sim()
    assert png_ok(exp.plot_learning_curves(tmp_path / "lc.png"))
    assert png_ok(exp.plot_best_so_far(tmp_path / "best.png"))
    assert png_ok(exp.plot_timeline(tmp_path / "tl.png"))


def test_best_so_far_and_timeline_compare_experiments(tmp_path):
    from raysha import plots

    sync = simulate(SyncSuccessiveHalving(STRAGGLER_SPACE, "validation_error", max_resource_attr="max_epochs"),
                    StragglerObjective(), 3, StopCriterion(max_trials=20))
    runs = {"ASHA": small_sim(), "sync SH": sync}
    assert png_ok(plots.best_so_far(runs, tmp_path / "b.png"))
    assert png_ok(plots.timeline(runs, tmp_path / "t.png"))
    s = plots.best_so_far_series(sync)
    assert np.all(np.diff(s["best"].to_numpy()) <= 0)
    assert s["best"].iloc[-1] == sync.best()["validation_error"]


def test_timeline_without_recorded_spans_derives_them(tmp_path):
    """A runtime folder may have report rows only: spans come from runs of one trial on one worker."""
    w = ResultsWriter(tmp_path, META)
    for r in [row(0, 1, 0.5, 1.0, epoch_time=1.0), row(0, 2, 0.4, 2.0, epoch_time=1.0),
              row(1, 1, 0.6, 1.5, epoch_time=1.5), row(2, 1, 0.7, 5.0, epoch_time=1.0, worker=0)]:
        w.append(r)
    w.close()
    from raysha import plots

    exp = load_experiment(tmp_path)
    spans = plots.job_spans(exp).sort_values(["worker", "start"]).reset_index(drop=True)
    assert spans[["worker", "trial_id", "start", "end"]].values.tolist() == [
        [0, 0, 0.0, 2.0], [0, 2, 4.0, 5.0], [1, 1, 0.0, 1.5]]
    assert png_ok(exp.plot_timeline(tmp_path / "tl.png"))


def test_timeline_rows_include_workers_that_never_ran():
    """Sync SH with more workers than rung-0 trials: the unused workers are idle rows, not missing."""
    from raysha import plots

    exp = simulate(SyncSuccessiveHalving(STRAGGLER_SPACE, "validation_error", max_t=9),
                   StragglerObjective(), 16, StopCriterion(max_trials=9))
    used = exp.jobs["worker"].nunique()
    assert used == 9
    assert plots._workers(exp, exp.jobs, 64) == list(range(16))
    assert exp.busy_fraction() < used / 16


def test_busy_fraction_of_a_runtime_folder(tmp_path):
    """The Ray runtime writes job spans with append_job and its end as summary["elapsed"]."""
    w = ResultsWriter(tmp_path, dict(META, n_workers=2))
    w.append(row(0, 1, 0.5, 3.0))
    w.append_job({"worker": 0, "trial_id": 0, "start": 0.0, "end": 3.0, "kind": "start", "end_reason": "pause"})
    w.append_job({"worker": 1, "trial_id": 1, "start": 1.0, "end": 5.0, "kind": "start", "end_reason": "stop"})
    w.update_metadata(status="finished", summary={"elapsed": 10.0})
    w.close()
    exp = load_experiment(tmp_path)
    assert exp.end_time == 10.0
    assert exp.busy_fraction() == pytest.approx(7.0 / 20.0)
    assert exp.metadata["status"] == "finished"


def test_simulate_refuses_an_existing_folder_before_running(tmp_path):
    from raysha.results import ResultsError

    small_sim().save(tmp_path)
    calls = []

    def objective(config, epoch):
        calls.append(epoch)
        return {"validation_error": 0.5, "time": 1.0}

    s = ASHA(STRAGGLER_SPACE, "validation_error", max_resource_attr="max_epochs")
    with pytest.raises(ResultsError, match="another experiment"):
        simulate(s, objective, 2, StopCriterion(max_trials=5), out=tmp_path)
    assert calls == []


# -- durability and one schema per folder (storage faults: tests/faulty_fs.py) --------------------------

def test_a_failed_flush_keeps_the_rows_queued_and_lists_only_complete_parts(tmp_path):
    from faulty_fs import faulty_storage

    from raysha.runtime.storage import StorageError

    store, fs = faulty_storage(tmp_path)
    w = ResultsWriter(store, META)
    w.append(row(0, 1, 0.5, 1.0))
    w.flush()
    w.append(row(1, 1, 0.6, 2.0))
    fs.broken.set()
    with pytest.raises(StorageError, match=r"writing .*results/part-00001.parquet failed: .*No space left"):
        w.flush()
    assert w.pending == 1 and w.parts["results"] == ["part-00000.parquet"]
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["part-00000.parquet"]   # no half file
    w.append(row(0, 2, 0.4, 3.0))
    fs.broken.clear()
    w.flush()                                          # the retry writes both rows, once
    assert w.pending == 0 and w.parts["results"] == ["part-00000.parquet", "part-00001.parquet"]
    df = load_experiment(tmp_path).results
    assert sorted(zip(df["trial_id"], df["epoch"])) == [(0, 1), (0, 2), (1, 1)]


def test_a_folder_of_parts_reads_as_one_table_with_plain_pandas(tmp_path):
    """A column all-null in one part and text in another (restored_from, node) no longer breaks reading."""
    w = ResultsWriter(tmp_path, META)
    w.append_job({"worker": 0, "trial_id": 0, "start": 0.0, "end": 1.0, "kind": "start", "end_reason": "pause",
                  "attempt": 0, "restored_from": None, "node": None})
    w.append(row(0, 1, 0.5, 1.0, node=None, worker_time=None))
    w.flush()
    w.append_job({"worker": 1, "trial_id": 0, "start": 1.0, "end": 2.0, "kind": "resume", "end_reason": "stop",
                  "attempt": 0, "restored_from": "object", "node": "n1"})
    w.append(row(0, 2, 0.4, 2.0, node="n1", worker_time=1.5))
    w.close()
    jobs = pd.read_parquet(tmp_path / "jobs")
    assert jobs["restored_from"].isna().tolist() == [True, False] and jobs["restored_from"][1] == "object"
    assert pd.read_parquet(tmp_path / "results")["node"].tolist()[1] == "n1"


def test_compaction_rewrites_many_parts_as_few_of_one_schema(tmp_path):
    w = ResultsWriter(tmp_path, META)
    for i in range(30):
        extra = {"acc": 0.9} if i % 7 == 3 else {}            # a metric only some rows have
        w.append(row(i, 1, float(i) if i % 5 else i, float(i), **extra))   # int in some parts, float in others
        w.flush()
    before = load_experiment(tmp_path).results
    replaced = w.compact(max_rows=20)
    assert len(replaced) == 30 and w.parts["results"] == ["part-00030.parquet", "part-00031.parquet"]
    w.delete_parts(replaced)
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == w.parts["results"]
    after = pd.read_parquet(tmp_path / "results")            # plain pandas, one table
    assert len(after) == 30 and after["acc"].notna().sum() == 4
    pd.testing.assert_frame_equal(load_experiment(tmp_path).results[before.columns], before, check_dtype=False)


def test_a_truncated_part_is_named_when_loading(tmp_path):
    w = ResultsWriter(tmp_path, META)
    w.append(row(0, 1, 0.5, 1.0))
    w.close()
    part = tmp_path / "results" / "part-00000.parquet"
    part.write_bytes(part.read_bytes()[:100])
    with pytest.raises(ResultsError, match="part-00000.parquet is not a readable parquet file"):
        load_experiment(tmp_path)


def test_an_experiment_on_an_s3_server_round_trips(s3_bucket):
    exp = small_sim()
    exp.save(s3_bucket("sims/small"))
    back = load_experiment(s3_bucket("sims/small"))
    assert len(back.results) == len(exp.results) and back.best()["trial_id"] == exp.best()["trial_id"]
    assert back.path == s3_bucket("sims/small")
