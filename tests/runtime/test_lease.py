"""The experiment lease: one driver at a time, refused drivers change nothing, crashed drivers are taken over."""

import json
import subprocess
import sys
import threading
import time

import pytest

import raysha.runtime.lease
from raysha.runtime.lease import ExperimentLocked, Lease, LeaseLost, current, is_free
from raysha.runtime.storage import Storage
from raysha.status import read_status


def _snapshot(root):
    return {p: root.read(p) for p in root.walk()}


def test_a_held_lease_refuses_a_second_driver_naming_the_holder_and_changes_nothing(tmp_path):
    root = Storage(tmp_path)
    first = Lease(root).acquire()
    before = _snapshot(root)
    with pytest.raises(ExperimentLocked, match=f"held by driver {first.holder}.*pid"):
        Lease(root).acquire()
    assert _snapshot(root) == before
    first.release()
    assert current(root)[1]["released"] is True
    second = Lease(root).acquire()
    assert second.generation == 2 and current(root)[1]["holder"] == second.holder


def test_racing_drivers_get_exactly_one_lease(tmp_path):
    root = Storage(tmp_path)
    results = []
    barrier = threading.Barrier(6)

    def take():
        lease = Lease(root)
        barrier.wait()
        try:
            lease.acquire()
            results.append(lease.holder)
        except ExperimentLocked:
            results.append(None)
    threads = [threading.Thread(target=take) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    winners = [h for h in results if h]
    assert len(winners) == 1 and current(root)[1]["holder"] == winners[0]


def test_a_stale_heartbeat_is_taken_over_and_the_old_holder_notices(tmp_path):
    root = Storage(tmp_path)
    old = Lease(root, stale_after=0.5).acquire()
    time.sleep(0.7)
    new = Lease(root, stale_after=0.5).acquire()
    assert new.generation == 2
    with pytest.raises(LeaseLost, match="taken over by driver"):
        old.renew()
    new.renew()


def test_a_driver_killed_on_this_host_is_taken_over_at_once(tmp_path):
    code = ("import sys, time; from raysha.runtime.lease import Lease; from raysha.runtime.storage import Storage;"
            "Lease(Storage(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    with pytest.raises(ExperimentLocked):
        Lease(Storage(tmp_path)).acquire()
    p.kill()
    p.wait()
    assert Lease(Storage(tmp_path)).acquire().generation == 2


def test_heartbeats_keep_it_fresh_and_raysha_status_reads_them(tmp_path):
    root = Storage(tmp_path)
    root.write_json("experiment.json", {"name": "x", "metric": "loss"})
    lease = Lease(root).acquire().keep_alive(every=0.1)
    t0 = current(root)[1]["heartbeat"]
    time.sleep(0.35)
    assert current(root)[1]["heartbeat"] > t0 and lease.lost is None
    assert read_status(str(tmp_path))["state"].startswith(f"running (driver {lease.holder}")
    lease.release()
    assert read_status(str(tmp_path))["state"].startswith("stopped")


def test_withdraw_leaves_the_folder_as_it_was(tmp_path):
    root = Storage(tmp_path)
    Lease(root).acquire().withdraw()
    assert root.walk() == []
    assert is_free(None) and is_free({"released": True}) and is_free({"heartbeat": 0})
    assert not is_free({"heartbeat": time.time(), "host": "elsewhere", "pid": 1})


def test_only_the_last_generations_are_kept(tmp_path):
    root = Storage(tmp_path)
    for _ in range(9):
        Lease(root).acquire().release()
    assert root.list("lease") == [f"{g:08d}.json" for g in range(5, 10)]
    assert json.loads(root.read("lease/00000009.json"))["generation"] == 9


def test_on_an_s3_server_a_second_driver_is_refused(s3_bucket):
    root = Storage(s3_bucket("exp"))
    first = Lease(root).acquire()
    with pytest.raises(ExperimentLocked, match=first.holder):
        Lease(root).acquire()
    first.release()
    assert Lease(root).acquire().generation == 2


def test_the_docstring_example_runs():
    import doctest

    result = doctest.testmod(raysha.runtime.lease, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted >= 4
