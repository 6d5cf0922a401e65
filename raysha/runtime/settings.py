"""`ControllerSettings`: how the scheduler actor runs an experiment (everything but the scheduler and trainable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from raysha.runtime.failure_policy import FailurePolicy
from raysha.stop import StopCriterion


@dataclass
class ControllerSettings:
    """The scheduler actor's settings; the `Tuner` fills them from its arguments.

    ``folder`` is the experiment's `raysha.runtime.storage.Storage` (a path or URI is
    opened as one; None: results are not written); ``checkpoint_dir`` the storage whose
    ``checkpoints/`` receive durable checkpoint copies (None: object store only).
    ``resume_state`` is a journal to continue from (`Tuner.restore`); a journal found in
    ``folder`` takes precedence (Ray restarted the actor).
    What a failed job leads to is ``failure_policy``'s (`raysha.FailurePolicy`);
    ``trial_timeout_s`` / ``report_timeout_s`` end overdue trials, and
    ``max_checkpoint_bytes`` bounds a paused trial's checkpoint (see `Tuner`).
    ``shared_refs`` may come with `Controller.run` instead (Ray keeps an actor's
    constructor arguments for its restarts and warns about object refs among them).
    ``lease`` is the driver's (generation, holder): the journal is written only while it
    is the experiment's lease. Storage that keeps failing for ``storage_timeout_s`` stops
    the run.

    >>> s = ControllerSettings(n_workers=2, folder="/tmp/exp")
    >>> s.stop.max_trials is None, s.journaling, s.folder.root, ControllerSettings(folder="s3://b/exp").journaling
    (True, True, '/tmp/exp', True)
    """

    n_workers: int = 1
    worker_options: dict = field(default_factory=dict)
    stop: StopCriterion = field(default_factory=StopCriterion)
    folder: Optional[str] = None
    metadata: dict = field(default_factory=dict)
    checkpoint_dir: Optional[str] = None
    shared_refs: dict = field(default_factory=dict)   # name -> [ObjectRef] of the shared objects
    flush_every: float = 1.5             # seconds between results flushes (each followed by a journal)
    report_flush_interval: float = 0.25  # a trial batches its reports this long between decisions
    stop_grace_s: float = 3.0            # running trials get this long to end after a stop
    keep_live: bool = True               # a trial resumed on the same actor keeps its state in memory
    failure_policy: FailurePolicy = field(default_factory=FailurePolicy)
    trial_timeout_s: Optional[float] = None    # a trial's running time, summed over its jobs
    report_timeout_s: Optional[float] = None   # a running job's time without a report
    max_checkpoint_bytes: Optional[int] = None
    resume_state: Optional[dict] = None
    lease: Optional[tuple] = None        # (generation, holder) of the driver's lease
    storage_timeout_s: float = 60.0
    keep_checkpoints: int = 1            # the best trials whose final checkpoint is kept at the end
    events: bool = False                 # keep trial events for the driver's callbacks (poll_events)

    def __post_init__(self):
        from raysha.runtime.storage import Storage

        if self.stop is None:
            self.stop = StopCriterion()
        if self.folder is not None and not isinstance(self.folder, Storage):
            self.folder = Storage(self.folder)
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, Storage):
            self.checkpoint_dir = Storage(self.checkpoint_dir)

    @property
    def journaling(self) -> bool:
        """Is the state journaled to the experiment folder (any storage: local, mounted or a URI)?"""
        return self.folder is not None
