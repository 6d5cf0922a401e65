"""A paused trial's checkpoint is checked when it is made: picklable, and within max_checkpoint_bytes."""

import threading

import pytest

from raysha.runtime import checkpoints as ck


def test_a_picklable_checkpoint_gives_the_bytes_a_durable_copy_is_written_from(tmp_path):
    data = ck.encode_checked({"w": [1.0, 2.0], "epoch": 3}, None, "trial 1's checkpoint at epoch=3")
    from raysha.runtime.storage import Storage

    store = Storage(tmp_path)
    ck.write_durable(store, "c.pkl", None, data=data)
    assert ck.read_durable(store, "c.pkl") == {"w": [1.0, 2.0], "epoch": 3}


def test_no_checkpoint_is_not_an_error():
    assert ck.encode_checked(None, 10, "trial 1's checkpoint") is None


def test_an_unpicklable_checkpoint_names_the_trial_the_level_and_the_type():
    with pytest.raises(ck.CheckpointError, match=r"trial 4's checkpoint at epoch=2 \(dict\) cannot be pickled "
                                                 r"\(TypeError: cannot pickle '_thread.lock' object\)"):
        ck.encode_checked({"lock": threading.Lock()}, None, "trial 4's checkpoint at epoch=2")


def test_an_oversized_checkpoint_names_its_size_and_the_limit():
    with pytest.raises(ck.CheckpointError, match=r"trial 4's checkpoint at epoch=2 \(bytes\) is [\d,]+ bytes, "
                                                 r"over max_checkpoint_bytes=1,000"):
        ck.encode_checked(b"x" * 5000, 1000, "trial 4's checkpoint at epoch=2")
    assert len(ck.encode_checked(b"x" * 500, 1000, "t")) <= 1000
