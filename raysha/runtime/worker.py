"""The trial actor: runs one job at a time (a class or function trainable) and is reused across trials.

`TrialWorker.run(job)` has two return values: an info dict (status, the
reports not sent yet, timings) and the checkpoint (None unless the trial was
paused). The scheduler actor calls it, so it owns both objects: the checkpoint
outlives this actor and can be resumed on any worker on any node.

A trial that pauses here and resumes here again keeps its live trainable (class
API) or its checkpoint object in memory (function API): nothing is fetched or
loaded.
"""

from __future__ import annotations

import inspect
import itertools
import math
import os
import time
import traceback
from typing import Any, Optional

from raysha.runtime import checkpoints as ck
from raysha.runtime import session as ss
from raysha.runtime import trial_logs
from raysha.runtime.trainable import Trainable


def is_class_trainable(trainable) -> bool:
    return inspect.isclass(trainable) and issubclass(trainable, Trainable)


class TrialWorker:
    def __init__(self, index: int, controller, trainable, resource_attr: str,
                 shared_refs: Optional[dict] = None, checkpoint_dir=None,
                 flush_interval: float = 0.25, keep_live: bool = True,
                 max_checkpoint_bytes: Optional[int] = None, keep_final: bool = False):
        self.index = index
        self.controller = controller
        self.trainable = trainable
        self.is_class = is_class_trainable(trainable)
        self.resource_attr = resource_attr
        self._shared_refs = shared_refs or {}
        self._shared: Optional[dict] = None
        self.checkpoint_dir = checkpoint_dir   # the experiment's Storage for durable copies (None: none)
        self.keep_final = keep_final           # also write the final checkpoint of a finished trial
        self.flush_interval = flush_interval
        self.keep_live = keep_live
        self.max_checkpoint_bytes = max_checkpoint_bytes   # a larger checkpoint fails its trial (Session.report)
        # the last paused trial: (trial_id, resource, live trainable or checkpoint object)
        self._live: Optional[tuple] = None

    # -- info ---------------------------------------------------------------------
    def hello(self) -> dict:
        import ray

        ctx = ray.get_runtime_context()
        try:
            gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        except Exception:
            gpu_ids = []
        return {
            "worker": self.index, "node": ctx.get_node_id(), "ip": ray.util.get_node_ip_address(),
            "pid": os.getpid(), "gpu_ids": gpu_ids,
            "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        }

    def set_controller(self, controller) -> None:
        self.controller = controller

    @property
    def shared(self) -> dict:
        if self._shared is None:
            import ray

            self._shared = {name: ray.get(refs[0]) for name, refs in self._shared_refs.items()}
        return self._shared

    # -- a job --------------------------------------------------------------------
    def run(self, job: dict):
        t_start = time.monotonic()
        tid = job["trial_id"]
        info: dict[str, Any] = {"key": job["key"], "trial_id": tid, "worker": self.index,
                                "status": None, "ckpt_source": None, "error": None}
        live = self._take_live(tid, job)
        if live is not None:
            info["ckpt_source"] = "memory"
        loader = None
        if job["kind"] == "resume" and live is None:
            loader = self._loader(job, info)
        elif job["kind"] == "resume" and not self.is_class:
            loader = (lambda obj=live: obj)
        session = ss.Session(self.controller, job, self.resource_attr, self.shared, loader,
                             flush_interval=self.flush_interval, max_checkpoint_bytes=self.max_checkpoint_bytes)
        checkpoint = None
        ss._set_session(session)
        with trial_logs.TrialOutput(tid, self._log_sender(tid)):   # [trial N] lines; trials/<id>/log.txt
            trainable_obj = self._train(job, session, live, info)
        ss._set_session(None)
        if self.keep_final and info["status"] in ("completed", "stopped"):   # (keep_checkpoints)
            self._write_durable(info, tid, session.last_resource, session.last_checkpoint, "final_durable",
                                session.last_checkpoint_data)
        if info["status"] == "paused":
            # the checkpoint of the report that paused it, pickled and checked there (Session.report)
            checkpoint = session.last_checkpoint
            live_obj = trainable_obj if self.is_class else checkpoint
            resource = session.last_resource
            self._write_durable(info, tid, resource, checkpoint, "durable", session.last_checkpoint_data)
            if self.keep_live:
                self._live = (tid, resource, live_obj)
            elif self.is_class:
                _cleanup(trainable_obj)
            info["resource"] = resource
        elif trainable_obj is not None:
            _cleanup(trainable_obj)
        seq, rows = session.tail()
        info["tail_seq"], info["tail"] = seq, rows
        info["last_resource"] = session.last_resource
        info["n_reports"] = session.n_reports
        info["run_s"] = time.monotonic() - t_start
        return info, checkpoint

    def _train(self, job: dict, session: ss.Session, live, info: dict) -> Optional[Trainable]:
        """Run the job's trainable, setting ``info["status"]``; returns the class trainable (None: function API)."""
        trainable_obj = live if self.is_class else None
        try:
            if self.is_class:
                level = job["start"]            # the level the trainable's state is at
                if trainable_obj is None:
                    trainable_obj = self.trainable()
                    trainable_obj.shared = self.shared
                    trainable_obj.setup(dict(job["config"]))
                    level = 0
                    if job["kind"] == "resume":
                        state = session.get_checkpoint()
                        # no checkpoint (its pause never returned one): train again from scratch;
                        # the levels the trial has already are not reported twice
                        if state is not None:
                            trainable_obj.load_state_dict(state)
                            level = job.get("ckpt_resource", job["start"])
                self._loop(trainable_obj, session, level)
            else:
                session.finish(self.trainable(dict(job["config"])))
            info["status"] = "completed"
        except ss._TrialExit as e:
            info["status"] = e.status
        except Exception as e:  # the trainable failed: the trial fails, the worker lives on
            info["status"] = "failed"
            info["error"] = _format(e)
        return trainable_obj

    def _write_durable(self, info: dict, tid: int, resource, checkpoint, key: str, data=None) -> None:
        """The durable copy of `checkpoint` (its path, relative to the experiment, goes to info[key])."""
        if self.checkpoint_dir is None or checkpoint is None or resource is None:
            return
        path = ck.durable_path(tid, resource)
        try:
            ck.write_durable(self.checkpoint_dir, path, checkpoint, data)
            info[key] = path
        except Exception as e:  # the object ref still works; report the problem
            info["durable_error"] = repr(e)

    def _loop(self, t: Trainable, session: ss.Session, level: float) -> None:
        """Train epochs level+1 .. until; those up to the job's start (a replay) are not reported."""
        until = session.until
        first = int(math.floor(level)) + 1
        epochs = itertools.count(first) if math.isinf(until) else range(first, int(until) + 1)
        attr = self.resource_attr
        start = session.start
        for epoch in epochs:
            metrics = t.train_epoch(epoch)
            if epoch <= start:
                continue   # replaying levels lost with a checkpoint: the results have them already
            metrics = dict(metrics) if metrics else {}
            metrics.setdefault(attr, epoch)
            # the job's last epoch: a pause keeps the state, taken (and checked) with this report
            session.report(metrics, t.state_dict() if epoch >= until else None)

    def _log_sender(self, tid: int):
        """Where a trial's captured output goes: the scheduler actor, which appends it to the trial's log."""
        def send(text: str) -> None:
            import ray

            if self.controller is not None:
                ray.get(self.controller.trial_log.remote(tid, text), timeout=30)
        return send

    def _take_live(self, tid: int, job: dict):
        """The live trainable / checkpoint if this worker paused the trial at the job's start level."""
        live, self._live = self._live, None
        if live is None:
            return None
        if job["kind"] == "resume" and live[0] == tid and live[1] == job["start"]:
            return live[2]
        if self.is_class:
            _cleanup(live[2])
        return None

    def _loader(self, job: dict, info: dict):
        def load():
            import ray

            ref = (job.get("ckpt_ref") or [None])[0]
            durable = job.get("ckpt_durable")
            info["ckpt_resource"] = job.get("ckpt_resource")
            if ref is not None and durable and _only_on_dead_nodes(ref):
                # its node is gone: read the durable copy now rather than wait for Ray to give up
                info["ckpt_lost"] = "node lost"
                ref = None
            if ref is not None:
                try:
                    # with a durable copy to fall back on, don't wait out Ray's node-death detection
                    # (~30 s) for an object on a node that just crashed
                    obj = ray.get(ref, timeout=_fetch_timeout(ref) if durable else None)
                    info["ckpt_source"] = "object"
                    return obj
                except ray.exceptions.GetTimeoutError:
                    info["ckpt_lost"] = "GetTimeoutError"
                except ck.lost_errors() as e:
                    info["ckpt_lost"] = type(e).__name__
                    if not durable:
                        info["ckpt_error"] = f"checkpoint object lost ({type(e).__name__}), no durable copy"
                        print(f"raysha: trial {job['trial_id']}: its checkpoint object is lost "
                              f"({type(e).__name__}) and there is no durable copy (give "
                              f"Tuner(storage_path=...)); it restarts from scratch", flush=True)
            if durable:
                try:
                    obj = ck.read_durable(self.checkpoint_dir, durable)
                except Exception as e:  # missing, truncated or corrupted: train again from scratch
                    info["ckpt_error"] = f"durable copy {durable} unreadable: {type(e).__name__}: {e}"
                    print(f"raysha: trial {job['trial_id']}: {info['ckpt_error']}; it restarts from "
                          f"scratch", flush=True)
                    return None
                info["ckpt_source"] = "durable"
                return obj
            info["ckpt_resource"] = None
            return None
        return load

    def drop_live(self) -> None:
        live, self._live = self._live, None
        if live is not None and self.is_class:
            _cleanup(live[2])


def _fetch_timeout(ref) -> float:
    """How long a checkpoint object may take to arrive: 5 s plus 50 MB/s for its size."""
    try:
        from ray.experimental import get_object_locations

        size = (get_object_locations([ref], timeout_ms=2000).get(ref) or {}).get("object_size") or 0
    except Exception:
        size = 0
    return 5.0 + size / 50e6


def _only_on_dead_nodes(ref) -> bool:
    """True when the object's copies are all on nodes that Ray knows are dead (a lost node)."""
    try:
        import ray
        from ray.experimental import get_object_locations

        loc = get_object_locations([ref], timeout_ms=2000).get(ref) or {}
        where = set(loc.get("node_ids") or [])
        if not where:          # small objects live in the owner's memory, or the location is unknown
            return False
        alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
        return not (where & alive)
    except Exception:
        return False


def _format(e: BaseException) -> str:
    return "".join(traceback.format_exception(type(e), e, e.__traceback__))


def _cleanup(t) -> None:
    try:
        t.cleanup()
    except Exception:
        traceback.print_exc()
