"""The decision core: schedulers with no Ray, no torch and no I/O (see base.py for the contract)."""

from importlib import import_module

from raysha.schedulers.base import (  # noqa: F401
    DONE, WAIT, Decision, Job, JobKind, Scheduler, SchedulerError, TrialStatus,
)

_LAZY = {
    "ASHA": "raysha.schedulers.asha",
    "RandomSearch": "raysha.schedulers.fifo",
    "SyncSuccessiveHalving": "raysha.schedulers.sync",
    "SyncHyperband": "raysha.schedulers.sync",
    "PASHA": "raysha.schedulers.pasha",
    "AdaptiveASHA": "raysha.schedulers.adaptive",
}

# Eager: the module and the function share the name `preview`; importing the
# function here keeps `raysha.schedulers.preview` the function (the module is light).
from raysha.schedulers.preview import preview  # noqa: E402,F401


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raysha.schedulers' has no attribute {name!r}")
