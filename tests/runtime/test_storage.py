"""Storage: one root (path, file:// or s3:// on a real S3-compatible server), confined paths, atomic writes."""

import os
import pickle
import threading

import pytest

import raysha.runtime.storage

from raysha.runtime.storage import PathOutsideRoot, Storage, StorageError, confine, is_uri, redact


@pytest.mark.parametrize("bad", ["/etc/passwd", "../x", "a/../../x", "..", "s3://other/x", "file:///etc/x",
                                 "C:\\x", "a\\..\\..\\x", "\\\\srv\\share"])
def test_paths_outside_the_root_are_refused(tmp_path, bad):
    s = Storage(tmp_path / "exp")
    with pytest.raises(PathOutsideRoot):
        s.write(bad, b"x")
    assert not (tmp_path / "x").exists() and not (tmp_path / "exp").exists()


def test_relative_paths_are_normalised_inside_the_root():
    assert confine("a/./b/../c") == "a/c"
    assert confine("") == "" and confine(".") == "" and confine("a/") == "a"
    assert is_uri("s3://b/x") and is_uri("file:///x") and not is_uri("/x") and not is_uri("a/b://c")


def test_a_local_path_and_its_file_uri_are_the_same_store(tmp_path):
    local = Storage(tmp_path)
    local.write("results/part-0.txt", b"a")
    uri = Storage(f"file://{tmp_path}")
    assert uri.read("results/part-0.txt") == b"a" and uri.local and uri.base == str(tmp_path)
    assert uri.walk() == ["results/part-0.txt"]
    assert Storage("~").base == os.path.expanduser("~")
    rel = Storage("relative/dir")
    assert rel.root == os.path.abspath("relative/dir")            # made absolute once, at parse time


def test_write_replaces_atomically_and_leaves_no_temporary(tmp_path):
    s = Storage(tmp_path)
    s.write("j.json", b"old")
    seen = set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            seen.add(s.read("j.json"))
    th = threading.Thread(target=reader)
    th.start()
    for i in range(200):
        s.write("j.json", b"new" * 10_000 if i % 2 else b"old")
    stop.set()
    th.join()
    assert seen <= {b"old", b"new" * 10_000}
    assert os.listdir(tmp_path) == ["j.json"]


def test_create_writes_only_once_among_racing_threads(tmp_path):
    s = Storage(tmp_path)
    wins = []
    threads = [threading.Thread(target=lambda i=i: wins.append((i, s.create("lease/1.json", str(i).encode()))))
               for i in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    winners = [i for i, won in wins if won]
    assert len(winners) == 1 and s.read("lease/1.json") == str(winners[0]).encode()
    assert s.list("lease") == ["1.json"]


def test_list_walk_delete_and_child(tmp_path):
    s = Storage(tmp_path).child("exp")
    for rel in ("results/part-00001.parquet", "results/part-00000.parquet", "checkpoints/trial_1/c.pkl"):
        s.write(rel, b"x")
    assert s.list("results") == ["part-00000.parquet", "part-00001.parquet"]
    assert s.list("", dirs=True) == ["checkpoints", "results"] and s.list("nothing") == []
    assert s.walk("checkpoints") == ["checkpoints/trial_1/c.pkl"]
    assert s.delete("results/part-00000.parquet") and not s.delete("results/part-00000.parquet")
    s.delete_tree("checkpoints")
    assert not s.exists("checkpoints") and s.size("results/part-00001.parquet") == 1
    with pytest.raises(PathOutsideRoot):
        s.delete_tree("")
    assert s.relative(str(tmp_path / "exp" / "results" / "x")) == "results/x"
    with pytest.raises(PathOutsideRoot):
        s.relative(str(tmp_path / "other"))
    assert pickle.loads(pickle.dumps(s)) == s


def test_a_full_disk_raises_storage_error_and_keeps_the_old_file(tmpfs):
    s = Storage(tmpfs)
    s.write("journal.json", b"v1")
    with open(os.path.join(tmpfs, "filler"), "wb") as f:
        try:
            f.write(b"\0" * (8 << 20))
        except OSError:
            pass
    with pytest.raises(StorageError, match=r"writing .*journal.json failed: .*No space left"):
        s.write("journal.json", b"v2" * 100_000)
    assert s.read("journal.json") == b"v1"
    assert sorted(os.listdir(tmpfs)) == ["filler", "journal.json"]      # no temporary left behind
    os.remove(os.path.join(tmpfs, "filler"))
    s.write("journal.json", b"v2")
    assert s.read("journal.json") == b"v2"


def test_credentials_in_a_uri_never_reach_messages():
    assert redact("s3://AK:SK@bucket/x?secret_key=abc&region=r") == "s3://***@bucket/x?secret_key=***&region=r"
    assert "SK" not in repr(Storage("s3://AK:SK@bucket/x?endpoint_override=127.0.0.1:1&scheme=http"))


def test_an_s3_root_on_a_real_s3_server(s3_bucket):
    s = Storage(s3_bucket("exp"))
    assert s.object_store and not s.local
    s.write("results/part-00000.parquet", b"rows")
    s.write_json("scheduler_state.json", {"seq": 1})
    s.write_json("scheduler_state.json", {"seq": 2})
    assert s.read_json("scheduler_state.json") == {"seq": 2} and s.read_json("nothing.json") is None
    assert s.create("lease/00000001.json", b"a") and not s.create("lease/00000001.json", b"b")
    assert s.walk() == ["lease/00000001.json", "results/part-00000.parquet", "scheduler_state.json"]
    assert s.list("", dirs=True) == ["lease", "results"]
    child = s.child("results")
    assert child.list() == ["part-00000.parquet"] and child.root == s3_bucket("exp/results")
    assert pickle.loads(pickle.dumps(child)).read("part-00000.parquet") == b"rows"
    assert s.delete("results/part-00000.parquet") and s.list("results") == []
    with pytest.raises(FileNotFoundError):
        s.read("results/part-00000.parquet")


def test_the_docstring_example_runs():
    import doctest

    result = doctest.testmod(raysha.runtime.storage, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 5
