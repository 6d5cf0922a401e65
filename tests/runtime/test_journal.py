"""The journal (`raysha.runtime.journal`) and its writer (`raysha.runtime.journal_writer`), no Ray."""

import json
import os

from raysha.results import ResultsWriter
from raysha.runtime import checkpoints as ck
from raysha.runtime import journal as jn
from raysha.runtime.journal_writer import JournalWriter


def test_journal_reconcile_drops_parts_written_after_the_snapshot(tmp_path):
    w = ResultsWriter(tmp_path, {"name": "j"})
    w.append({"trial_id": 0, "epoch": 1, "loss": 0.5})
    w.append_job({"worker": 0, "trial_id": 0, "start": 0.0, "end": 1.0})
    w.flush()
    state = {"format": jn.FORMAT, "parts": jn.committed_parts(tmp_path), "max_recorded": {"0": 1}}
    jn.write_state(tmp_path, state)
    w.append({"trial_id": 0, "epoch": 2, "loss": 0.4})      # flushed, but the crash came before the snapshot
    w.flush()
    (tmp_path / "results" / ".part-00002.parquet.tmp").write_bytes(b"half")
    assert len(list((tmp_path / "results").iterdir())) == 3
    removed = jn.reconcile(tmp_path, jn.read_state(tmp_path))
    assert sorted(removed) == ["results/.part-00002.parquet.tmp", "results/part-00001.parquet"]
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["part-00000.parquet"]
    assert jn.max_recorded_from_parts(tmp_path, "epoch") == {0: 1.0}
    # a reopened writer numbers its parts after the ones kept
    w2 = ResultsWriter(tmp_path, {"name": "j"})
    w2.append({"trial_id": 1, "epoch": 1, "loss": 0.3})
    w2.flush()
    assert sorted(p.name for p in (tmp_path / "results").iterdir()) == ["part-00000.parquet", "part-00001.parquet"]
    # an older snapshot without the parts list changes nothing
    assert jn.reconcile(tmp_path, {"scheduler": {}}) == []


def test_write_state_replaces_the_journal_atomically_and_writes_non_finite_floats(tmp_path):
    jn.write_state(tmp_path, {"format": jn.FORMAT, "parts": {}, "best": float("inf"), "seq": 1})
    jn.write_state(tmp_path, {"format": jn.FORMAT, "parts": {}, "seq": 2})
    assert jn.read_state(tmp_path)["seq"] == 2 and os.listdir(tmp_path) == [jn.STATE_FILE]
    assert jn.read_state(tmp_path / "none") is None
    assert jn.is_journal(jn.read_state(tmp_path)) and not jn.is_journal({"format": jn.FORMAT})


def test_stray_checkpoints_are_the_copies_the_journal_does_not_name(tmp_path):
    named, stray = ck.durable_path(str(tmp_path), 0, 1), ck.durable_path(str(tmp_path), 1, 3)
    for path in (named, stray):
        ck.write_durable(path, {"epoch": 1})
    state = {"format": jn.FORMAT, "parts": {}, "checkpoints": {"0": {"resource": 1, "durable": named}}}
    assert jn.stray_checkpoints(str(tmp_path), state) == [stray]
    assert jn.stray_checkpoints("s3://bucket/ckpts", state) == []          # URIs are left alone
    assert jn.stray_checkpoints(str(tmp_path), {"checkpoints": {}}) == []   # not a journal: nothing


def test_the_writer_flushes_then_snapshots_the_committed_parts(tmp_path):
    deleted = []
    jw = JournalWriter(str(tmp_path), {"name": "w"}, flush_every=1.0, state=lambda: {"n_results": 1},
                       on_saved=lambda: deleted.append("now"))
    jw.open()
    jw.append({"trial_id": 0, "epoch": 1, "loss": 0.5})
    jw.periodic(0.5, mark=1)                    # not due yet: nothing written
    assert jn.read_state(tmp_path) is None
    jw.periodic(1.0, mark=1)
    state = jn.read_state(tmp_path)
    assert state["seq"] == 1 and state["n_results"] == 1 and state["parts"]["results"] == ["part-00000.parquet"]
    assert deleted == ["now"]
    jw.periodic(2.0, mark=1)                    # nothing changed since: no new snapshot
    assert jn.read_state(tmp_path)["seq"] == 1
    jw.periodic(3.0, mark=2)
    assert jn.read_state(tmp_path)["seq"] == 2


def test_a_journal_kept_at_a_stop_is_never_overwritten(tmp_path):
    jw = JournalWriter(str(tmp_path), {"name": "w"}, flush_every=1.0, state=lambda: {"n_results": 3})
    jw.open()
    assert jw.keep_at_stop() and jw.frozen
    assert not jw.save() and not jw.keep_at_stop()
    assert jn.read_state(tmp_path)["seq"] == 1
    jw.finish({"n_results": 3})
    meta = json.loads((tmp_path / "experiment.json").read_text())
    assert meta["status"] == "finished" and meta["summary"] == {"n_results": 3}


def test_a_uri_folder_is_written_without_a_journal():
    jw = JournalWriter("s3://bucket/exp", {}, flush_every=1.0, state=dict)
    assert not jw.journaling and jw.found() is None and not jw.save()
