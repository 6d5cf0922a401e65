"""The driver: `Tuner(trainable, scheduler, ...).fit()` runs an experiment on Ray and returns an `Experiment`.

::

    exp = Tuner(train_fn, ASHA(space, metric="loss", mode="min", max_t=27),
                n_workers=2, stop=StopCriterion(max_wallclock_time=600),
                storage_path="~/raysha_results", name="asha-lenet").fit()

`fit()` validates its input before any cluster work, connects to Ray (or uses
the running session), starts the scheduler actor and the trial actors, shows a
live progress table (``verbose=1``), and returns the experiment read back from
its folder. Ctrl-C stops the experiment promptly and still returns it.

The experiment folder holds a journal of the scheduler's state, written with
every results flush; after a crash of the driver (or of the scheduler actor,
which Ray restarts) ``Tuner.restore(folder).fit()`` continues the experiment
without duplicated or lost results.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import os
import uuid
import warnings
import weakref
from datetime import datetime
from typing import Any, Callable, Mapping, Optional, Sequence, Union

from raysha.callbacks import Callback
from raysha.results import EXPERIMENT_FILE
from raysha.runtime import checkpoints as ck
from raysha.runtime import journal as jn
from raysha.runtime import naming
from raysha.runtime.lease import LeaseLost
from raysha.runtime.storage import Storage, StorageError, redact
from raysha.runtime.failure_policy import ExperimentFailedError, FailurePolicy, TrialFailedError
from raysha.runtime.worker import is_class_trainable
from raysha.schedulers.base import Scheduler
from raysha.stop import StopCriterion

_RESOURCE_KEYS = {"cpu": "num_cpus", "num_cpus": "num_cpus", "gpu": "num_gpus", "num_gpus": "num_gpus",
                  "memory": "memory", "resources": "resources"}


#: how often Ray restarts a scheduler actor that died; it continues from the journal in the folder
_CONTROLLER_RESTARTS = 3


class TunerError(ValueError):
    """Bad input to `Tuner` (the message names the field)."""


def _default_root() -> str:
    return os.path.join(os.path.expanduser("~"), "raysha_results")


class Tuner:
    """Run `trainable` under `scheduler` on Ray.

    Args:
        trainable: a function ``f(config)`` that calls `raysha.report(...)` (function API), or a
            `raysha.Trainable` subclass (class API; the runtime owns the epoch loop).
        scheduler: any scheduler of `raysha.schedulers` (ASHA, RandomSearch, ...).
        n_workers: trial actors (concurrent trials); default: one per GPU in the cluster, or
            one per CPU when it has none.
        resources_per_trial: per trial actor, e.g. ``{"gpu": 1, "cpu": 2}``; keys ``cpu``/``num_cpus``,
            ``gpu``/``num_gpus``, ``memory`` (bytes), ``resources`` (custom Ray resources).
            Default: one GPU and a share of a CPU (``min(1, CPUs/GPUs)`` of the GPU nodes), or
            one CPU on clusters without GPUs.
        stop: a `StopCriterion` (wall-clock time, trials, results, target metric value).
        storage_path: where experiment folders go (default ``~/raysha_results``); a local
            folder or a ``pyarrow.fs`` URI (``s3://...``, ``gs://...``). Paused trials'
            checkpoints are also written there (durable copies: what a restore after a driver
            crash resumes from). Without it, on a one-node cluster the durable copies go to
            ``<experiment folder>/checkpoints``; on a multi-node cluster there are none (give a
            shared path or URI). Everything of the experiment (results, journal, metadata,
            checkpoints, errors, the lease) lives under ``<storage_path>/<name>``, local or not.
        name: the experiment folder's name (default: ``raysha_<date>_<time>``).
        verbose: 0 silent, 1 live progress table.
        keep_checkpoints: how many of the best trials keep their final checkpoint when the
            experiment ends (default 1: `Experiment.best_checkpoint`); 0 keeps none. Paused trials'
            checkpoints stay as long as a restore needs them.
        storage_timeout_s: how long the storage may fail (writes are retried with backoff) before
            the experiment stops and `fit()` raises `raysha.runtime.storage.StorageError`.
        files: ``{relative path: bytes or JSON-able object}`` written into the experiment folder
            once this driver holds it (e.g. how to load the data again).
        shared_objects: ``{name: object}`` put once into Ray's object store and fetched once
            per worker process: ``self.shared[name]`` (class API) or
            `raysha.runtime.session.get_shared(name)` (function API).
        flush_every: seconds between results flushes (parquet parts).
        stop_grace_s: when stopping, how long running trials get to reach their next report
            before their actors are killed.
        max_failures: how many times a trial's job may fail (the trainable raised, or its trial
            actor died: killed, out of memory, node lost) and be run again, on any free trial
            actor, from the trial's last checkpoint (object store, else its durable copy, else
            from scratch); levels already reported are not reported again. A trial that fails
            more often is marked FAILED, its tracebacks go to ``<experiment>/errors/trial_<id>.txt``,
            and the experiment goes on (unless the failure policy ends it). Default 0: the first
            failure fails the trial. Shorthand for ``failure_policy=FailurePolicy(max_failures=n)``.
        failure_policy: a `raysha.FailurePolicy`: ``max_failures`` (as above), ``fail_fast`` (end the
            experiment at the first FAILED trial) and ``max_consecutive_failures`` (default 5: that
            many FAILED trials in a row, with no report recorded in between, end it). When the policy
            ends the experiment, `fit()` raises `raysha.TrialFailedError` carrying the first traceback.
            A trial actor that dies is always replaced: its death is a failed job of its trial, so
            the policy bounds the replacements (there is no other cap).
        trial_timeout_s: most seconds a trial may run, summed over its jobs; a trial past it is ended
            (its trial actor killed and replaced) and FAILED, never retried. Default None: no limit.
        report_timeout_s: most seconds a running trial may go without a report (from its job's start,
            then between reports); a trial past it is ended (its trial actor killed and replaced) and
            counted as a failed job under the failure policy (retried up to ``max_failures``).
            Reports are batched: one is sent at once when the previous batch left at least 0.25 s
            before, so give the longest epoch (plus set-up and checkpoint loading) and some margin.
            Default None: no limit.
        max_checkpoint_bytes: largest checkpoint (pickled) a paused trial may store; a larger or
            unpicklable one fails the trial at the report that paused it. Default None: no limit.
        callbacks: `raysha.callbacks.Callback` objects (e.g. `raysha.loggers.TensorBoardLogger()`,
            `raysha.loggers.MLflowLogger()`), called on the driver: ``on_trial_start``,
            ``on_report`` (every result row, in order), ``on_trial_end``, ``on_experiment_end``.
            The driver polls the scheduler actor for them about once a second; a callback that
            raises is reported once and the experiment goes on. Not saved with the experiment:
            pass them again to `Tuner.restore`.

    A scheduler instance belongs to one experiment: giving one to a second `Tuner` (or one that has
    run, e.g. in `raysha.simulate`) is refused; build a new scheduler for each experiment.
    """

    def __init__(
        self,
        trainable: Union[Callable, type],
        scheduler,
        n_workers: Optional[int] = None,
        resources_per_trial: Optional[Mapping[str, Any]] = None,
        stop: Optional[StopCriterion] = None,
        storage_path: Optional[str] = None,
        name: Optional[str] = None,
        verbose: int = 1,
        shared_objects: Optional[Mapping[str, Any]] = None,
        flush_every: float = 1.5,
        stop_grace_s: float = 3.0,
        keep_live_trainables: bool = True,
        max_failures: int = 0,
        keep_checkpoints: int = 1,
        storage_timeout_s: float = 60.0,
        files: Optional[Mapping[str, Any]] = None,
        failure_policy: Optional[FailurePolicy] = None,
        trial_timeout_s: Optional[float] = None,
        report_timeout_s: Optional[float] = None,
        max_checkpoint_bytes: Optional[int] = None,
        callbacks: Optional[Sequence[Callback]] = None,
        _resume_state: Optional[dict] = None,
    ):
        _check_trainable(trainable, scheduler, n_workers)
        self.resources = self._check_resources(resources_per_trial)
        stop = _checked_stop(stop)
        _check_output(storage_path, name, verbose, shared_objects)
        _check_intervals(flush_every, stop_grace_s, storage_timeout_s)
        self.failure_policy = _failure_policy(max_failures, failure_policy)
        self.max_failures = self.failure_policy.max_failures
        _check_limits(trial_timeout_s, report_timeout_s, max_checkpoint_bytes)
        self.trial_timeout_s, self.report_timeout_s = trial_timeout_s, report_timeout_s
        self.max_checkpoint_bytes = max_checkpoint_bytes
        if _resume_state is None:
            _claim(scheduler)
        _check_keep_and_files(keep_checkpoints, files)
        self.keep_checkpoints = keep_checkpoints
        self.storage_timeout_s = float(storage_timeout_s)
        self.files = dict(files or {})
        self.callbacks = _check_callbacks(callbacks)
        self.trainable = trainable
        self.scheduler = scheduler
        self.n_workers = n_workers
        self.stop = stop
        self.storage_path = None if storage_path is None else str(storage_path)
        self.name = name or datetime.now().strftime("raysha_%Y-%m-%d_%H-%M-%S_") + uuid.uuid4().hex[:4]
        self.verbose = verbose
        self.shared_objects = dict(shared_objects or {})
        self.flush_every = float(flush_every)
        self.stop_grace_s = float(stop_grace_s)
        self.keep_live_trainables = bool(keep_live_trainables)
        self._resume_state = _resume_state
        self._init_kwargs = {
            "n_workers": n_workers, "resources_per_trial": resources_per_trial, "stop": stop,
            "storage_path": storage_path, "name": self.name,
            "verbose": verbose, "flush_every": flush_every, "stop_grace_s": stop_grace_s,
            "keep_live_trainables": keep_live_trainables, "failure_policy": self.failure_policy,
            "trial_timeout_s": trial_timeout_s, "report_timeout_s": report_timeout_s,
            "max_checkpoint_bytes": max_checkpoint_bytes, "keep_checkpoints": keep_checkpoints,
            "storage_timeout_s": storage_timeout_s}
        try:
            self.root = Storage(self.storage_path if self.storage_path is not None else _default_root())
        except ValueError as e:
            raise TunerError(f"Tuner: storage_path {storage_path!r}: {e}") from None
        self.experiment = self.root.child(self.name)     # where everything of this experiment lives
        self.folder = self.experiment.root
        self.checkpoint_dir = self.experiment.uri(ck.FOLDER) if self.storage_path is not None else None
        self._repair = False
        self.summary: Optional[dict] = None
        self._feed = None    # the driver's callback feed while fit() runs (raysha.runtime.watch)
        self.worker_info: list = []
        self.worker_options: Optional[dict] = None

    @staticmethod
    def _check_resources(res) -> Optional[dict]:
        if res is None:
            return None
        if not isinstance(res, Mapping):
            raise TunerError(f"Tuner: resources_per_trial must be a dict, got {res!r}")
        out: dict[str, Any] = {}
        for k, v in res.items():
            if k not in _RESOURCE_KEYS:
                raise TunerError(
                    f"Tuner: resources_per_trial has an unknown key {k!r} (known: "
                    f"{sorted(_RESOURCE_KEYS)}; put custom Ray resources under 'resources')")
            if k == "resources":
                if not isinstance(v, Mapping):
                    raise TunerError("Tuner: resources_per_trial['resources'] must be a dict {name: amount}")
                out["resources"] = dict(v)
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or not math.isfinite(v):
                raise TunerError(f"Tuner: resources_per_trial[{k!r}] must be a number >= 0, got {v!r}")
            out[_RESOURCE_KEYS[k]] = v
        return out

    def _check_storage(self) -> None:
        """The experiments folder must be writable: probe it (create and delete a file) before anything starts."""
        field = "storage_path" if self.storage_path is not None else "the default results folder"
        probe = f".raysha_probe_{uuid.uuid4().hex[:8]}"
        try:
            self.root.write(probe, b"raysha")
            self.root.delete(probe)
        except (StorageError, OSError) as e:
            cause = e.__cause__ or e
            raise TunerError(f"Tuner: {field} {self.root.where()!r} is not writable "
                             f"({type(cause).__name__}: {cause})") from None

    # -- cluster -----------------------------------------------------------------------
    def _worker_options(self) -> tuple[dict, int]:
        import ray

        nodes = [n for n in ray.nodes() if n.get("Alive")]
        total_gpu = sum(n["Resources"].get("GPU", 0) for n in nodes)
        total_cpu = sum(n["Resources"].get("CPU", 0) for n in nodes)
        if self.resources is not None:
            opts = dict(self.resources)
            opts.setdefault("num_cpus", 0 if opts.get("num_gpus") else 1)
            _check_fits_a_node(opts, nodes)
            per = opts.get("num_gpus") and total_gpu / opts["num_gpus"] or \
                (opts["num_cpus"] and total_cpu / opts["num_cpus"]) or 1
            slots = max(1, int(per))
        elif total_gpu >= 1:
            ratios = [n["Resources"].get("CPU", 0) / n["Resources"]["GPU"]
                      for n in nodes if n["Resources"].get("GPU", 0) >= 1]
            cpu_share = max(0.0, min(1.0, min(ratios))) if ratios else 0.0
            cpu_share = math.floor(cpu_share * 100) / 100
            opts = {"num_gpus": 1, "num_cpus": cpu_share}
            slots = int(total_gpu)
        else:
            opts = {"num_cpus": 1}
            slots = max(1, int(total_cpu))
            if self.verbose:
                print(f"raysha: the cluster has no GPU; trial actors use CPU slots "
                      f"({slots} x num_cpus=1)", flush=True)
        n = self.n_workers or slots
        if n > slots:
            warnings.warn(f"raysha: n_workers={n} but the cluster has room for {slots} trial actors "
                          f"with {opts}; the others wait for resources", stacklevel=3)
        return opts, n

    def _metadata(self, n_workers: int, worker_options: dict) -> dict:
        sched = self.scheduler
        settings = {}
        for k, v in vars(sched).items():
            if k.startswith("_") or k in ("trials", "rng", "space", "systems"):
                continue
            if isinstance(v, (int, float, str, bool, type(None))) or (
                    isinstance(v, (list, tuple)) and all(isinstance(x, (int, float)) for x in v)):
                settings[k] = list(v) if isinstance(v, tuple) else v
        try:
            from raysha import space as sp
            space = sp.space_to_json(sched.space) if hasattr(sp, "space_to_json") else \
                {k: repr(v) for k, v in sched.space.items()}
        except Exception:
            space = {k: repr(v) for k, v in sched.space.items()}
        stop = {k: getattr(self.stop, k) for k in ("max_wallclock_time", "max_trials", "max_results",
                                                  "metric_threshold")}
        import ray
        import sys
        torch_version = getattr(sys.modules.get("torch"), "__version__", None)  # never import it here
        return {
            "name": self.name, "metric": sched.metric, "mode": sched.mode,
            "resource_attr": sched.resource_attr, "scheduler": type(sched).__name__,
            "scheduler_settings": settings, "space": space, "seed": getattr(sched, "random_seed", None),
            "n_workers": n_workers, "resources_per_trial": worker_options, "stop": stop,
            "storage_path": redact(self.storage_path) if self.storage_path else None,
            "checkpoint_dir": redact(self.checkpoint_dir) if self.checkpoint_dir else None,
            "keep_checkpoints": self.keep_checkpoints,
            "trainable": getattr(self.trainable, "__qualname__", repr(self.trainable)),
            "trainable_api": "class" if is_class_trainable(self.trainable) else "function",
            "runtime": "ray", "ray_version": ray.__version__, "torch_version": torch_version,
            "status": "running",
        }

    def _save_tuner_pickle(self) -> None:
        """``tuner.pkl`` in the experiment folder: trainable, the scheduler as configured, Tuner arguments.

        What a restore needs to rebuild this Tuner (then the scheduler's state comes from
        ``scheduler_state.json``). Skipped with a warning when the trainable cannot be pickled.
        """
        from ray import cloudpickle

        try:
            data = cloudpickle.dumps({"trainable": self.trainable, "scheduler": self._fresh_scheduler,
                                      "kwargs": self._init_kwargs, "name": self.name,
                                      "shared_objects": sorted(self.shared_objects)})
            self.experiment.write("tuner.pkl", data)
        except Exception as e:
            warnings.warn(f"raysha: could not save tuner.pkl ({e!r}); a restore needs the trainable again")
        try:  # the same without the trainable: restore(path, trainable=...) when tuner.pkl cannot be read
            data = cloudpickle.dumps({"scheduler": self._fresh_scheduler, "kwargs": self._init_kwargs,
                                      "name": self.name, "shared_objects": sorted(self.shared_objects)})
            self.experiment.write("scheduler.pkl", data)
        except Exception as e:
            warnings.warn(f"raysha: could not save scheduler.pkl ({e!r})")

    @classmethod
    def restore(cls, path, trainable=None, repair: bool = False, **overrides) -> "Tuner":
        """A Tuner that continues the experiment at `path` (interrupted, crashed or finished).

        ``Tuner.restore(path).fit()`` goes on where the journal (``scheduler_state.json``)
        left off: the same scheduler state (rungs, trials, random state), paused trials resume
        from their durable checkpoints, trials that were running (at a crash, or when a stop
        cut them short) resume from their last durable checkpoint (from scratch when they
        have none), results already recorded are not logged
        again (result parts newer than the journal are dropped and re-produced), and
        ``max_trials`` / ``max_results`` count what the experiment did before. The wall-clock
        budget (``max_wallclock_time``) is the experiment's total: the time already spent (up
        to the last journal snapshot) counts, the time between the crash and the restore does
        not; ``tuner_time`` goes on from there.

        The journal is checked first (`raysha.runtime.journal.check`): one that lacks its
        fields, names a missing or unreadable part, or names paths outside the experiment is
        refused (`TunerError` naming the file) and nothing is changed.

        Args:
            path: the experiment folder: a path or a ``pyarrow.fs`` URI (``s3://...``,
                ``file:///...``).
            trainable: needed again only when the one saved in ``tuner.pkl`` cannot be unpickled.
            repair: drop results parts that are missing or unreadable and run again exactly the
                trials' levels they held (instead of refusing).
            **overrides: Tuner arguments to change (``stop``, ``n_workers``, ``verbose``, ...);
                ``shared_objects`` must be given again when the experiment had any (they are not
                saved). The others come from the saved experiment.
        """
        try:
            store = path if isinstance(path, Storage) else Storage(path)
            saved, err = _saved_tuner(store)
            checked = _checked_journal(store, repair)
        except (StorageError, ValueError) as e:
            raise TunerError(f"Tuner.restore: {e}") from None
        if trainable is None:
            trainable = saved.get("trainable")
            if trainable is None:
                raise TunerError(f"Tuner.restore: the trainable saved in {store.where('tuner.pkl')} cannot be "
                                 f"unpickled ({err!r}); pass it again: Tuner.restore(path, trainable=...)")
        kwargs = dict(saved["kwargs"])
        if "max_failures" in overrides and "failure_policy" in kwargs:   # the shorthand, into the saved policy
            overrides = dict(overrides)
            kwargs["failure_policy"] = _with_max_failures(kwargs["failure_policy"], overrides.pop("max_failures"))
        bad = sorted(set(overrides) - set(kwargs) - {"shared_objects", "keep_checkpoints", "storage_timeout_s",
                                                      "callbacks"})
        if bad:
            raise TunerError(f"Tuner.restore: cannot override {bad} "
                             f"(known: {sorted(kwargs) + ['callbacks', 'shared_objects']})")
        if "name" in overrides and overrides["name"] != store.name:
            raise TunerError("Tuner.restore: the name is the folder's; it cannot be changed")
        kwargs.update(overrides)
        kwargs["name"] = store.name
        missing = sorted(set(saved.get("shared_objects") or []) - set(kwargs.get("shared_objects") or {}))
        if missing:
            raise TunerError(f"Tuner.restore: the experiment used shared_objects {missing}; pass them again "
                             f"(Tuner.restore(path, shared_objects={{...}}))")
        storage = kwargs.pop("storage_path", None)
        tuner = cls(trainable, saved["scheduler"], _resume_state=checked.state, **kwargs)
        tuner.experiment, tuner.folder = store, store.root       # where it is now
        tuner.storage_path = None if storage is None else store.root
        tuner.checkpoint_dir = None if storage is None else store.uri(ck.FOLDER)
        tuner._repair = repair
        return tuner

    # -- run ----------------------------------------------------------------------------
    def fit(self):
        """Run the experiment to its end (or Ctrl-C) and return its `Experiment`.

        Raises `raysha.runtime.lease.ExperimentLocked` when another driver holds the experiment
        (nothing is changed then), and `raysha.runtime.storage.StorageError` when the storage
        failed for longer than ``storage_timeout_s`` (the experiment stopped; restore it once
        the storage works again).
        """
        import ray

        from raysha.runtime.lease import Lease

        if self._resume_state is None:   # (a restore's folder was read; taking its lease writes there)
            if self.experiment.exists(EXPERIMENT_FILE):
                raise TunerError(f"Tuner: the experiment folder {self.experiment.where()} exists already; choose "
                                 f"another name (or storage_path), or continue it with Tuner.restore")
            self._check_storage()
        lease = Lease(self.experiment).acquire()
        try:
            self._take_over()
        except BaseException:
            lease.withdraw()
            raise
        lease.keep_alive()
        try:
            if not ray.is_initialized():
                ray.init()
            summary = self._run(lease)
        finally:
            lease.release()
        try:
            self._after(summary, lease)
        except BaseException:
            if self._feed is not None:
                self._feed.end(None)
            raise
        from raysha.results import load_experiment

        experiment = load_experiment(self.experiment)
        if self._feed is not None:
            self._feed.end(experiment)
        return experiment

    def _take_over(self) -> None:
        """With the lease held: check the folder again (it may have changed), repair, write `files`."""
        if self._resume_state is None:
            if self.experiment.exists(EXPERIMENT_FILE):   # another driver made it since the first look
                raise TunerError(f"Tuner: the experiment folder {self.experiment.where()} was just created by "
                                 f"another driver; choose another name, or continue it with Tuner.restore")
        else:
            try:
                checked = _checked_journal(self.experiment, self._repair)
            except ValueError as e:
                raise TunerError(f"Tuner.restore: {e}") from None
            if checked.dropped:
                print(f"raysha: repair: dropped {len(checked.dropped)} broken part(s) of "
                      f"{self.experiment.where()}: {'; '.join(checked.dropped)}; their rows are produced again",
                      flush=True)
                jn.write_state(self.experiment, checked.state)    # the journal no longer names them
            self._resume_state = checked.state   # (with the rows to produce again: redo)
        for rel, data in self.files.items():
            self.experiment.write(rel, data if isinstance(data, bytes) else
                                  (json.dumps(data, indent=2, default=str) + "\n").encode())

    def _run(self, lease) -> Optional[dict]:
        """Start the scheduler actor and wait for it (progress table, Ctrl-C, restarts, a lost lease)."""
        import ray
        from ray import cloudpickle

        from raysha.runtime.progress import Progress

        self._fresh_scheduler = cloudpickle.loads(cloudpickle.dumps(self.scheduler))
        opts, n = self._worker_options()
        self.worker_options = opts
        self._feed = feed = self._event_feed()
        ctrl, run_ref, shared_refs = self._start_controller(opts, n, lease, events=feed is not None)
        if self._resume_state is None:
            self._save_tuner_pickle()
        summary = None
        ctrl_restarts = 0
        stop_sent = False
        try:
            with Progress(self.verbose, self.name) as progress:
                while True:
                    ready, _ = ray.wait([run_ref], timeout=1.0)
                    if lease.lost and not stop_sent:   # another driver took the experiment over
                        stop_sent = True
                        ctrl.request_stop.remote("lease lost")
                    if ready:
                        try:
                            summary = ray.get(run_ref)
                        except ray.exceptions.RayActorError as e:
                            # the scheduler actor died: Ray restarts it (max_restarts), its constructor
                            # loads the journal from the folder, and run() continues the experiment
                            ctrl_restarts += 1
                            if ctrl_restarts > _CONTROLLER_RESTARTS:
                                raise
                            print(f"raysha: the scheduler actor died ({type(e).__name__}); continuing from "
                                  f"the experiment's journal (restart {ctrl_restarts})", flush=True)
                            run_ref = ctrl.run.remote(self.trainable, shared_refs)
                            continue
                        break
                    if feed is not None:
                        _poll_events(feed, ctrl)
                    if self.verbose:
                        try:
                            progress.update(ray.get(ctrl.status.remote(), timeout=5))
                        except Exception:
                            pass
                if summary is not None:
                    progress.update(summary)
        except KeyboardInterrupt:
            print("raysha: interrupted; stopping the experiment", flush=True)
            try:
                ctrl.request_stop.remote("KeyboardInterrupt")
                summary = ray.get(run_ref, timeout=self.stop_grace_s + 10)
            except BaseException:
                summary = None
        finally:
            if feed is not None:
                _poll_events(feed, ctrl, drain=True)
            try:
                ray.kill(ctrl, no_restart=True)
            except Exception:
                pass
        return summary

    def _start_controller(self, opts: dict, n: int, lease, events: bool = False):
        import ray
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        from raysha.runtime.controller import Controller
        from raysha.runtime.settings import ControllerSettings

        ckpt_store = self.experiment if self.storage_path is not None else None
        if ckpt_store is None and len([nd for nd in ray.nodes() if nd.get("Alive")]) <= 1:
            # no storage_path on one machine: the experiment folder keeps the durable copies, so a
            # driver crash (the object store dies with the driver on local Ray) can be restored
            ckpt_store = self.experiment
            self.checkpoint_dir = self.experiment.uri(ck.FOLDER)
        shared_refs = {k: [ray.put(v)] for k, v in self.shared_objects.items()}
        meta = self._metadata(n, opts)
        node = ray.get_runtime_context().get_node_id()
        ctrl_options = dict(num_cpus=0, max_concurrency=10_000, max_restarts=_CONTROLLER_RESTARTS,
                            scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False))
        # the trainable and the shared objects' refs go with run(), not the constructor: Ray keeps
        # constructor arguments for the actor's restarts and warns (red) about refs among them
        ctrl = naming.start_named(
            ray.remote(Controller), ctrl_options, naming.actor_name(self.name, "controller"),
            self.scheduler, None, ControllerSettings(
                n_workers=n, worker_options=opts, stop=self.stop, folder=self.experiment, metadata=meta,
                checkpoint_dir=ckpt_store, flush_every=self.flush_every,
                stop_grace_s=self.stop_grace_s, keep_live=self.keep_live_trainables,
                resume_state=self._resume_state, failure_policy=self.failure_policy,
                trial_timeout_s=self.trial_timeout_s, report_timeout_s=self.report_timeout_s,
                max_checkpoint_bytes=self.max_checkpoint_bytes, lease=(lease.generation, lease.holder),
                storage_timeout_s=self.storage_timeout_s, keep_checkpoints=self.keep_checkpoints, events=events))
        self.controller = ctrl   # the scheduler actor while fit() runs (status(), worker_handle(i))
        return ctrl, ctrl.run.remote(self.trainable, shared_refs), shared_refs

    def _after(self, summary: Optional[dict], lease) -> None:
        """Keep the summary; raise when the storage failed or the lease was lost."""
        self.summary = summary
        if summary is not None:
            self.worker_info = summary.get("worker_info", [])
            try:
                self.scheduler.load_state_dict(summary["scheduler_state"])
            except Exception:
                pass
            if summary.get("failures") and self.verbose:
                print(f"raysha: {len(summary['failures'])} trial job(s) failed; see tuner.summary['failures']",
                      flush=True)
        error = (summary or {}).get("storage_error") or lease.lost
        if error:
            print(f"raysha: the experiment stopped: {error}. Its results up to the last journal snapshot are "
                  f"safe; once the storage works again, continue it with Tuner.restore("
                  f"{self.experiment.where()!r}) (raysha run --resume)", flush=True)
            raise (LeaseLost if lease.lost and not (summary or {}).get("storage_error") else StorageError)(error)
        failure = experiment_failure(summary, self.experiment.where())
        if failure is not None:
            raise failure

    def _event_feed(self):
        """With callbacks: the driver's `EventFeed` (``on_experiment_start`` is called here); else None."""
        if not self.callbacks:
            return None
        from raysha.callbacks import CallbackRunner, ExperimentInfo
        from raysha.runtime.watch import EventFeed

        sched = self.scheduler
        info = ExperimentInfo(name=self.name, folder=self.experiment.where(), metric=sched.metric,
                              mode=sched.mode, resource_attr=sched.resource_attr)
        return EventFeed(CallbackRunner(self.callbacks, info))


def _check_trainable(trainable, scheduler, n_workers) -> None:
    """The trainable (a function or a Trainable subclass, picklable), the scheduler and ``n_workers``."""
    if not callable(trainable):
        raise TunerError(f"Tuner: trainable must be a function f(config) or a raysha.Trainable "
                         f"subclass, got {trainable!r}")
    if inspect.isclass(trainable) and not is_class_trainable(trainable):
        raise TunerError(f"Tuner: trainable class {trainable.__name__} must subclass "
                         f"raysha.runtime.trainable.Trainable")
    _check_picklable(trainable)
    if not isinstance(scheduler, Scheduler):
        raise TunerError(f"Tuner: scheduler must be a raysha scheduler (a raysha.schedulers.base.Scheduler), "
                         f"got {scheduler!r}")
    if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int)
                                  or n_workers < 1):
        raise TunerError(f"Tuner: n_workers must be an integer >= 1, got {n_workers!r}")


def _checked_stop(stop) -> StopCriterion:
    """``stop`` as a `StopCriterion` (None: no criterion; a dict: its keyword arguments)."""
    if stop is None:
        stop = StopCriterion()
    elif isinstance(stop, Mapping):
        stop = StopCriterion(**stop)
    elif not isinstance(stop, StopCriterion):
        raise TunerError(f"Tuner: stop must be a StopCriterion, got {stop!r}")
    return stop


def _check_output(storage_path, name, verbose, shared_objects) -> None:
    """Where the experiment goes (``storage_path``, ``name``), ``verbose`` and ``shared_objects``."""
    if storage_path is not None and (not isinstance(storage_path, (str, os.PathLike)) or not str(storage_path)):
        raise TunerError(f"Tuner: storage_path must be a folder or a URI, got {storage_path!r}")
    if name is not None and (not isinstance(name, str) or not name or "/" in name or name in (".", "..")):
        raise TunerError(f"Tuner: name must be a non-empty string without '/', got {name!r}")
    if verbose not in (0, 1, 2) or isinstance(verbose, bool):
        raise TunerError(f"Tuner: verbose must be 0, 1 or 2, got {verbose!r}")
    if shared_objects is not None:
        if not isinstance(shared_objects, Mapping) or not all(isinstance(k, str) for k in shared_objects):
            raise TunerError("Tuner: shared_objects must be a dict {name (str): object}")


def _check_intervals(flush_every, stop_grace_s, storage_timeout_s) -> None:
    """The positive numbers of seconds: ``flush_every``, ``stop_grace_s``, ``storage_timeout_s``."""
    for fname, v in (("flush_every", flush_every), ("stop_grace_s", stop_grace_s),
                     ("storage_timeout_s", storage_timeout_s)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 or not math.isfinite(v):
            raise TunerError(f"Tuner: {fname} must be a positive number, got {v!r}")


def _check_limits(trial_timeout_s, report_timeout_s, max_checkpoint_bytes) -> None:
    """The optional limits: the two timeouts (positive seconds) and ``max_checkpoint_bytes``."""
    for fname, v in (("trial_timeout_s", trial_timeout_s), ("report_timeout_s", report_timeout_s)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0
                              or not math.isfinite(v)):
            raise TunerError(f"Tuner: {fname} must be a positive number of seconds or None, got {v!r}")
    if max_checkpoint_bytes is not None and (isinstance(max_checkpoint_bytes, bool) or not isinstance(
            max_checkpoint_bytes, int) or max_checkpoint_bytes < 1):
        raise TunerError(f"Tuner: max_checkpoint_bytes must be a positive integer or None, "
                         f"got {max_checkpoint_bytes!r}")


def _check_keep_and_files(keep_checkpoints, files) -> None:
    """``keep_checkpoints`` (an integer >= 0) and ``files`` (a dict keyed by relative paths)."""
    if isinstance(keep_checkpoints, bool) or not isinstance(keep_checkpoints, int) or keep_checkpoints < 0:
        raise TunerError(f"Tuner: keep_checkpoints must be an integer >= 0, got {keep_checkpoints!r}")
    if files is not None and not (isinstance(files, Mapping) and all(isinstance(k, str) for k in files)):
        raise TunerError("Tuner: files must be a dict {relative path (str): bytes or JSON-able object}")


def _poll_events(feed, ctrl, drain: bool = False) -> None:
    """Hand the scheduler actor's new trial events to the callbacks (errors of the poll itself are not fatal)."""
    import ray

    def fetch(ack, limit, instance):
        return ray.get(ctrl.poll_events.remote(ack, limit, instance), timeout=30)

    try:
        (feed.drain if drain else feed.poll)(fetch)
    except (ray.exceptions.RayError, TimeoutError):
        pass   # the scheduler actor is restarting or gone; the next poll (or the results) has the events


def _check_callbacks(callbacks) -> list:
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise TunerError(f"Tuner: callbacks must be a list of raysha.callbacks.Callback objects, got {callbacks!r}")
    for i, cb in enumerate(callbacks):
        if not isinstance(cb, Callback):
            raise TunerError(f"Tuner: callbacks[{i}] must be a raysha.callbacks.Callback (subclass it, or use "
                             f"raysha.loggers.TensorBoardLogger / MLflowLogger), got {cb!r}")
    return list(callbacks)


def _saved_tuner(store: Storage) -> tuple[dict, Optional[Exception]]:
    """What `Tuner._save_tuner_pickle` saved in the experiment at `store` (and why tuner.pkl failed, if so)."""
    from ray import cloudpickle

    if not store.exists(""):
        raise TunerError(f"no experiment folder at {store.where()}")
    if not store.exists(EXPERIMENT_FILE):
        raise TunerError(f"{store.where()} is not a raysha experiment folder (no {EXPERIMENT_FILE})")
    err = None
    for fname in ("tuner.pkl", "scheduler.pkl"):
        try:
            return cloudpickle.loads(store.read(fname)), err
        except FileNotFoundError:
            continue
        except Exception as e:
            err = err or e
    why = f"they cannot be unpickled ({err!r})" if err else "it has none: not run by raysha.Tuner"
    raise TunerError(f"{store.where()} has no readable tuner.pkl / scheduler.pkl ({why})")


def _checked_journal(store: Storage, repair: bool):
    """The experiment's journal, checked (`raysha.runtime.journal.check`); refused ones raise naming the file."""
    try:
        state = jn.read_state(store)
    except ValueError as e:
        raise TunerError(f"{e}; restore with repair=True cannot help: the journal itself is broken") from None
    if state is None:
        raise TunerError(f"{store.where()} has no {jn.STATE_FILE}: the experiment never started; start it again")
    return jn.check(store, state, repair=repair)


def _failure_policy(max_failures, policy) -> FailurePolicy:
    """The run's `FailurePolicy`: ``failure_policy``, or one built from the ``max_failures`` shorthand."""
    if policy is not None and not isinstance(policy, FailurePolicy):
        raise TunerError(f"Tuner: failure_policy must be a raysha.FailurePolicy, got {policy!r}")
    if policy is not None and max_failures:
        raise TunerError("Tuner: give max_failures inside failure_policy=FailurePolicy(max_failures=...), "
                         "not both")
    if policy is not None:
        return policy
    try:
        return FailurePolicy(max_failures=max_failures)
    except ValueError:
        raise TunerError(f"Tuner: max_failures must be an integer >= 0, got {max_failures!r}") from None


def _with_max_failures(policy: FailurePolicy, max_failures) -> FailurePolicy:
    try:
        return dataclasses.replace(policy, max_failures=max_failures)
    except ValueError:
        raise TunerError(f"Tuner: max_failures must be an integer >= 0, got {max_failures!r}") from None


#: schedulers given to a Tuner in this process (a scheduler instance belongs to one experiment)
_CLAIMED: "weakref.WeakSet" = weakref.WeakSet()


def _claim(scheduler) -> None:
    """Refuse a scheduler that a Tuner took already or that has run (its trials would carry over)."""
    trials = getattr(scheduler, "trials", None)
    try:
        taken = scheduler in _CLAIMED
    except TypeError:         # not hashable / not weakly referable: only the trials tell
        taken = False
    if taken or trials:
        ran = f" (it holds {len(trials)} trials)" if trials else ""
        raise TunerError(f"Tuner: this {type(scheduler).__name__} belongs to another experiment already{ran}; "
                         f"a scheduler instance keeps its trials and rungs, so build a new one for each Tuner "
                         f"(continue an experiment with Tuner.restore)")
    try:
        _CLAIMED.add(scheduler)
    except TypeError:
        pass


#: stop reasons of a stop the user asked for: the experiment is returned even without a result
_USER_STOPS = ("KeyboardInterrupt", "requested")


def experiment_failure(summary: Optional[dict], folder: str) -> Optional[ExperimentFailedError]:
    """The error `fit()` raises for a run's summary: the failure policy ended it, no actor started, no result.

    >>> experiment_failure({"stop_reason": "max_trials", "n_results": 12}, "/r/x") is None
    True
    >>> experiment_failure({"stop_reason": "KeyboardInterrupt", "n_results": 0}, "/r/x") is None
    True
    >>> experiment_failure({"stop_reason": "no trial actor could start", "n_results": 0}, "/r/x")
    ExperimentFailedError("no trial actor could start (see the lines 'trial actor N did not start' above); experiment folder /r/x")
    >>> experiment_failure({"stop_reason": "max_wallclock_time", "n_results": 0}, "/r/x")
    ExperimentFailedError('the experiment produced no result: no trial reported (stop reason: max_wallclock_time)')
    >>> e = experiment_failure({"stop_reason": "2 trials in a row failed", "failure_stop_reason": "2 trials in a row "
    ...                         "failed", "first_failure": {"trial_id": 0, "error": "KeyError: 'lr'"}}, "/r/x")
    >>> type(e).__name__, e.trial_id, e.traceback
    ('TrialFailedError', 0, "KeyError: 'lr'")
    """
    if summary is None:
        return None
    if summary.get("failure_stop_reason"):
        first = summary.get("first_failure") or {}
        return TrialFailedError(summary["failure_stop_reason"], first.get("trial_id"), first.get("error"), folder)
    reason = summary.get("stop_reason")
    if reason in _USER_STOPS:
        return None
    if reason == "no trial actor could start":
        return ExperimentFailedError(f"no trial actor could start (see the lines 'trial actor N did not start' "
                                     f"above); experiment folder {folder}", folder)
    if not summary.get("n_results"):
        failed = summary.get("failed_trials") or []
        why = f"{len(failed)} trial(s) failed, see {os.path.join(folder, 'errors')}" if failed else \
            f"stop reason: {reason}"
        return ExperimentFailedError(f"the experiment produced no result: no trial reported ({why})", folder)
    return None


def _check_picklable(trainable) -> None:
    """Ray ships the trainable to the trial actors: refuse one that cannot be pickled now, not on the cluster."""
    from ray import cloudpickle

    try:
        cloudpickle.dumps(trainable)
    except Exception as e:
        name = getattr(trainable, "__qualname__", repr(trainable))
        raise TunerError(f"Tuner: trainable {name} cannot be pickled ({type(e).__name__}: {e}); Ray sends it "
                         f"to the trial actors, so it must not capture locks, open files, sockets or "
                         f"live clients (create those inside the trainable)") from None


def _check_fits_a_node(opts: dict, nodes: list) -> None:
    """resources_per_trial must fit on one node of the cluster, else the trial actors never start."""
    for key, res in (("num_gpus", "GPU"), ("num_cpus", "CPU")):
        want = opts.get(key) or 0
        most = max((n["Resources"].get(res, 0) for n in nodes), default=0)
        if want > most:
            field = "gpu" if res == "GPU" else "cpu"
            raise TunerError(f"Tuner: resources_per_trial[{field!r}]={want} but the largest node of the cluster "
                             f"has {most:g} {res}(s); no trial actor could start")
    for name, want in (opts.get("resources") or {}).items():
        most = max((n["Resources"].get(name, 0) for n in nodes), default=0)
        if want > most:
            raise TunerError(f"Tuner: resources_per_trial['resources'][{name!r}]={want} but no node of the "
                             f"cluster has more than {most:g}")


__all__ = ["Tuner", "TunerError", "experiment_failure"]

