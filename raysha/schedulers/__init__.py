"""The decision core: schedulers with no Ray, no torch and no I/O (see base.py for the contract).

>>> from raysha.schedulers import ASHA, make, names, preview
>>> s = make("asha-promotion", {"lr": 0.1}, "loss", max_t=9)
>>> isinstance(s, ASHA), preview(s, max_trials=9).brackets()
(True, {0: [(1, 9), (3, 3), (9, 1)]})
"""

from raysha.schedulers.base import (  # noqa: F401
    DONE, WAIT, Decision, Job, JobKind, Scheduler, SchedulerError, TrialStatus,
)
from raysha.schedulers.adaptive import AdaptiveASHA  # noqa: F401
from raysha.schedulers.asha import ASHA  # noqa: F401
from raysha.schedulers.fifo import RandomSearch  # noqa: F401
from raysha.schedulers.pasha import PASHA  # noqa: F401
from raysha.schedulers.sync import SyncHyperband, SyncSuccessiveHalving  # noqa: F401
# `preview` the function, not the module of the same name (bound last, so it wins)
from raysha.schedulers.registry import describe, make, names, preview  # noqa: F401
