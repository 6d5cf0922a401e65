"""A driver process for the store tests: ``python store_driver.py run|restore|repair STORAGE NAME [MAX_TRIALS]``.

Promotion ASHA on a cheap deterministic function (as tests/test_restore.py), 2 workers on a
fresh local Ray. Every report a trial makes is also appended to the file named by
``REPORT_LOG`` (one ``trial_id epoch`` line): what the trials reported, to compare with
what the store kept. ``STORAGE_TIMEOUT_S`` and ``EPOCH_S`` tune the run; with ``START_AT`` (a time.time())
the driver calls ``fit()`` at that moment, once its Ray is up (drivers racing). Prints
``SUMMARY {json}`` at the end; a StorageError or a refused run exits 3 with its message.
"""

import json
import os
import sys
import time

import ray

from raysha.runtime import session
from raysha.runtime.lease import ExperimentLocked
from raysha.runtime.storage import StorageError
from raysha.runtime.tuner import Tuner, TunerError
from raysha.schedulers.asha import ASHA
from raysha.space import uniform
from raysha.stop import StopCriterion


def trainable(config):
    ckpt = session.get_checkpoint()
    start, steps = (ckpt["epoch"], ckpt["steps"]) if ckpt else (0, 0)
    for epoch in range(start + 1, config["max_epochs"] + 1):
        time.sleep(float(os.environ.get("EPOCH_S", "0.06")))
        steps += 1
        log = os.environ.get("REPORT_LOG")
        if log:
            with open(log, "a") as f:
                f.write(f"{session.get_trial_id()} {epoch}\n")
        session.report(epoch=epoch, loss=config["x"] + 1.0 / epoch, steps=steps,
                       checkpoint={"epoch": epoch, "steps": steps})


def scheduler():
    return ASHA({"x": uniform(0, 1), "max_epochs": 9}, metric="loss", mode="min", resource_attr="epoch",
                max_resource_attr="max_epochs", grace_period=1, reduction_factor=3, type="promotion",
                random_seed=11)


def main(mode, storage, name, max_trials=24):
    timeout = float(os.environ.get("STORAGE_TIMEOUT_S", "60"))
    stop = StopCriterion(max_trials=int(max_trials))
    try:
        if mode == "run":
            tuner = Tuner(trainable, scheduler(), n_workers=2, stop=stop, storage_path=storage, name=name,
                          verbose=0, flush_every=0.3, storage_timeout_s=timeout)
        else:
            uri = storage if name == "-" else f"{storage.rstrip('/')}/{name}"
            tuner = Tuner.restore(uri, repair=mode == "repair", stop=stop, verbose=0, storage_timeout_s=timeout)
        print("STARTING", flush=True)
        ray.init(address="local", num_cpus=2, num_gpus=0, include_dashboard=False, log_to_driver=False)
        time.sleep(max(0.0, float(os.environ.get("START_AT", "0")) - time.time()))   # racing drivers
        exp = tuner.fit()
    except (StorageError, ExperimentLocked, TunerError) as e:
        print(f"REFUSED {type(e).__name__}: {e}", flush=True)
        return 3
    s = tuner.summary
    print("SUMMARY " + json.dumps({"n_started": s["n_started"], "n_results": s["n_results"], "node": ray.get_runtime_context().get_node_id(),
                                   "reconciled": s.get("reconciled"), "n_rows": len(exp.results),
                                   "storage_failures": s.get("storage_failures")}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
