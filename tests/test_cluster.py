"""A node is lost mid-run (ray.cluster_utils.Cluster): its trials continue on the other node from durable copies.

Head (1 CPU, runs the driver and the scheduler actor) + two worker nodes with one fake GPU
each (one trial actor per node). One worker node is removed while trials run and others
are paused with their checkpoints in that node's object store.
"""

import os
import sys
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

from conftest import fit_in_background, wait_for_marker  # noqa: E402
from raysha.runtime import session  # noqa: E402
from raysha.runtime.tuner import Tuner  # noqa: E402
from raysha.schedulers.asha import ASHA  # noqa: E402
from raysha.schedulers.base import TrialStatus  # noqa: E402
from raysha.space import uniform  # noqa: E402
from raysha.stop import StopCriterion  # noqa: E402

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def trainable(config):
    folder = session.get_shared("dir")
    here = ray.get_runtime_context().get_node_id()
    ckpt = session.get_checkpoint()
    start, steps = (ckpt["epoch"], ckpt["steps"]) if ckpt else (0, 0)
    for epoch in range(start + 1, config["max_epochs"] + 1):
        steps += 1
        time.sleep(0.15)
        if ckpt is not None and ckpt["node"] == here and epoch == start + 1:
            # the first trial resumed on the node where it paused (its checkpoint object lives
            # there) stalls mid-epoch: the test removes this node now
            try:
                fd = os.open(os.path.join(folder, "stalled"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                pass
            else:
                os.write(fd, f"{session.get_trial_id()} {here}".encode())
                os.close(fd)
                time.sleep(30)
        # ~400 KB: kept in the object store of the node that made it (not inlined in the owner)
        weights = np.full(50_000, float(steps))
        session.report(epoch=epoch, loss=config["x"] + 1.0 / epoch, steps=steps,
                       loaded=int(ckpt is not None),
                       checkpoint={"epoch": epoch, "steps": steps, "weights": weights, "node": here})


@pytest.fixture
def cluster():
    if ray.is_initialized():
        ray.shutdown()
    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 1, "num_gpus": 0, "object_store_memory": 80 * 1024 ** 2, "include_dashboard": False})
    nodes = [c.add_node(num_cpus=1, num_gpus=1, object_store_memory=80 * 1024 ** 2) for _ in range(2)]
    c.wait_for_nodes()
    ray.init(address=c.address)
    try:
        yield c, nodes
    finally:
        ray.shutdown()
        c.shutdown()


def test_a_lost_node_s_trials_continue_elsewhere_from_durable_copies(cluster, tmp_path):
    c, nodes = cluster
    t0 = time.monotonic()
    sched = ASHA({"x": uniform(0, 1), "max_epochs": 9}, metric="loss", mode="min",
                 max_resource_attr="max_epochs", grace_period=1, reduction_factor=3,
                 type="promotion", random_seed=2)
    tuner = Tuner(trainable, sched, n_workers=2, stop=StopCriterion(max_trials=14),
                  storage_path=str(tmp_path), name="nodelost", verbose=0, max_failures=2,
                  shared_objects={"dir": str(tmp_path)})
    th, out = fit_in_background(tuner)
    marker_text = wait_for_marker(tmp_path / "stalled", 60)
    assert marker_text, "no trial resumed on the node where it paused"
    tid, node_id = marker_text.split()
    tid = int(tid)
    victim = next(n for n in nodes if n.node_id == node_id)
    c.remove_node(victim, allow_graceful=False)
    th.join(timeout=150)
    assert not th.is_alive(), "the experiment did not finish after the node was lost"
    exp, s = out["exp"], tuner.summary
    took = time.monotonic() - t0

    # the trial actor on the lost node died; its running trial was retried on the other node
    assert [(f["trial_id"], f["worker_died"]) for f in s["failures"]] == [(tid, True)]
    assert not any(r.status == TrialStatus.FAILED for r in sched.trials.values())
    assert len(sched.trials) == 14
    # the stalled trial's checkpoint object was on the lost node: its retry read the durable copy
    retry = [j for j in s["job_log"] if j["trial_id"] == tid and j["attempt"] == 1]
    assert len(retry) == 1 and retry[0]["restored_from"] == "durable" and retry[0]["ckpt_lost"]
    assert retry[0]["status"] != "failed"
    # every checkpoint found lost was read from its durable copy
    lost = [j for j in s["job_log"] if j["ckpt_lost"]]
    assert all(j["restored_from"] == "durable" for j in lost)
    df = exp.results
    assert not df.duplicated(["trial_id", "epoch"]).any()
    for t, g in df.groupby("trial_id"):
        assert sorted(g["epoch"]) == list(range(1, int(sched.trials[t].resource) + 1)), t
    assert (df["steps"] == df["epoch"]).all()      # every trial's state carried across the loss
    # trials that ran on the lost node went on on the surviving one
    lost_node = victim.node_id
    on_lost = set(df[df["node"] == lost_node]["trial_id"])
    assert tid in on_lost
    later = df[(df["node"] != lost_node) & df["trial_id"].isin(on_lost)]
    assert set(later["trial_id"]) >= {tid}
    spans = exp.jobs
    assert (spans["restored_from"] == "durable").any()
    assert took < 90, took
    print(f"node-loss test: {took:.1f} s, {len(df)} results, {len(lost)} checkpoints from durable copies")
