"""`ControllerSettings`: how the scheduler actor runs an experiment (everything but the scheduler and trainable)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from raysha.stop import StopCriterion


@dataclass
class ControllerSettings:
    """The scheduler actor's settings; the `Tuner` fills them from its arguments.

    ``folder`` is the experiment folder (None: results are not written);
    ``checkpoint_dir`` receives durable checkpoint copies (None: object store
    only). ``resume_state`` is a journal to continue from (`Tuner.restore`);
    a journal found in ``folder`` takes precedence (Ray restarted the actor).
    A failed job runs again up to ``max_failures`` times per trial.

    >>> s = ControllerSettings(n_workers=2, folder="/tmp/exp")
    >>> s.stop.max_trials is None, s.journaling, ControllerSettings(folder="s3://b/exp").journaling
    (True, True, False)
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
    max_failures: int = 0
    resume_state: Optional[dict] = None
    events: bool = False                 # keep trial events for the driver's callbacks (poll_events)

    def __post_init__(self):
        if self.stop is None:
            self.stop = StopCriterion()
        self.max_failures = int(self.max_failures)

    @property
    def journaling(self) -> bool:
        """Is the state journaled to the experiment folder (a local or mounted path)?"""
        return self.folder is not None and "://" not in self.folder
