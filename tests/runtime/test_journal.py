"""The journal checked before a restore acts: refused with the file named, or repaired; the folder unchanged."""

import json

import pytest

from raysha.results import ResultsWriter
from raysha.runtime import journal as jn
from raysha.runtime.storage import Storage


def _folder(tmp_path):
    """An experiment folder with three committed results parts and a journal that indexes them."""
    w = ResultsWriter(tmp_path, {"name": "j", "resource_attr": "epoch"})
    for tid, epochs in ((0, [1, 2]), (1, [1]), (2, [1, 2, 3])):
        for e in epochs:
            w.append({"trial_id": tid, "epoch": e, "loss": 1.0 / e})
        w.flush()
    assert w.part_rows["part-00002.parquet"] == {"2": [1.0, 2.0, 3.0]}
    state = {"format": jn.FORMAT, "scheduler": {"trials": []}, "parts": dict(w.parts), "part_rows": w.part_rows,
             "n_results": 6, "checkpoints": {"2": {"resource": 3, "durable": "checkpoints/trial_000002/ckpt_3.pkl"}}}
    jn.write_state(tmp_path, state)
    return Storage(tmp_path), state


def _files(store):
    return {p: store.read(p) for p in store.walk()}


def test_a_sound_journal_passes_unchanged(tmp_path):
    store, state = _folder(tmp_path)
    checked = jn.check(store, jn.read_state(store))
    assert checked.state["parts"] == state["parts"] and checked.dropped == [] and checked.redo == {}


@pytest.mark.parametrize("journal, match", [
    ({}, r"lacks required fields \['format', 'scheduler', 'parts'\]"),
    ({"format": jn.FORMAT, "scheduler": {}}, r"lacks required fields \['parts'\]"),
    ({"format": "other/9", "scheduler": {}, "parts": {}}, "lacks required fields"),
    ([1, 2], "not a JSON object"),
])
def test_a_journal_without_its_fields_is_refused_naming_the_file(tmp_path, journal, match):
    store, _ = _folder(tmp_path)
    before = _files(store)
    with pytest.raises(jn.JournalError, match=match) as e:
        jn.check(store, journal, repair=True)
    assert "scheduler_state.json" in str(e.value)
    assert _files(store) == before


def test_a_deleted_or_truncated_part_is_refused_then_repaired(tmp_path):
    store, state = _folder(tmp_path)
    (tmp_path / "results" / "part-00000.parquet").unlink()
    part = tmp_path / "results" / "part-00002.parquet"
    part.write_bytes(part.read_bytes()[:50])
    before = _files(store)
    with pytest.raises(jn.JournalError, match=r"results/part-00000.parquet, which is missing; restore with repair"):
        jn.check(store, jn.read_state(store))
    checked = jn.check(store, jn.read_state(store), repair=True)
    assert _files(store) == before                                  # checking changes nothing
    assert checked.state["parts"]["results"] == ["part-00001.parquet"]
    assert [d.split(":")[0] for d in checked.dropped] == ["results/part-00000.parquet", "results/part-00002.parquet"]
    assert "cannot be read" in checked.dropped[1]
    assert checked.redo == {0: [1.0, 2.0], 2: [1.0, 2.0, 3.0]}
    assert checked.state["n_results"] == 1 and list(checked.state["part_rows"]) == ["part-00001.parquet"]


def test_a_broken_part_without_an_index_cannot_be_repaired(tmp_path):
    store, state = _folder(tmp_path)
    (tmp_path / "results" / "part-00001.parquet").unlink()
    state.pop("part_rows")
    with pytest.raises(jn.JournalError, match="no part_rows"):
        jn.check(store, state, repair=True)


@pytest.mark.parametrize("tamper", [
    lambda s: s["checkpoints"]["2"].update(durable="../../../etc/passwd"),
    lambda s: s["checkpoints"]["2"].update(durable="/etc/passwd"),
    lambda s: s["checkpoints"]["2"].update(durable="s3://elsewhere/x.pkl"),
    lambda s: s["parts"]["results"].append("../../outside.parquet"),
])
def test_paths_outside_the_root_are_refused_even_with_repair(tmp_path, tamper):
    store, state = _folder(tmp_path)
    tamper(state)
    with pytest.raises(jn.JournalError, match="scheduler_state.json"):
        jn.check(store, state, repair=True)


def test_absolute_checkpoint_paths_inside_the_root_become_relative(tmp_path):
    store, state = _folder(tmp_path)
    state["checkpoints"]["2"]["durable"] = str(tmp_path / "checkpoints" / "trial_000002" / "ckpt_3.pkl")
    assert jn.check(store, state).state["checkpoints"]["2"]["durable"] == "checkpoints/trial_000002/ckpt_3.pkl"


def test_reconcile_and_stray_checkpoints_stay_inside_the_root(tmp_path):
    store, state = _folder(tmp_path)
    store.write("results/part-00009.parquet", b"after the snapshot")
    store.write("checkpoints/trial_000002/ckpt_3.pkl", b"named")
    store.write("checkpoints/trial_000005/ckpt_1.pkl", b"stray")
    assert jn.reconcile(store, state) == ["results/part-00009.parquet"]
    assert jn.stray_checkpoints(store, state) == ["checkpoints/trial_000005/ckpt_1.pkl"]
    assert json.loads(store.read(jn.STATE_FILE))["parts"] == state["parts"]
