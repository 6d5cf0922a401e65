"""The failure policy: what a failed trial job leads to (run it again, fail the trial, or end the experiment).

Pure bookkeeping, no Ray: the scheduler actor tells a `FailureLedger` every
failed job (the trainable raised, its trial actor died, it timed out, its
checkpoint could not be stored) and every recorded report, and does what the
ledger answers. When the ledger says stop, the experiment ends and
`Tuner.fit()` raises `TrialFailedError` carrying the first traceback.

The default policy catches a systematic failure (a typo in the trainable, a
missing file): 5 trials in a row that fail without any trial reporting a result
in between end the experiment, rather than failing every trial the budget allows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Optional


class ExperimentFailedError(RuntimeError):
    """The experiment ended for a failure, or produced no result; ``.path`` is its folder (when known).

    >>> str(ExperimentFailedError("no trial actor could start"))
    'no trial actor could start'
    """

    def __init__(self, message: str, path: Optional[str] = None):
        super().__init__(message)
        self.path = path


class TrialFailedError(ExperimentFailedError):
    """Trials failed and the failure policy ended the experiment; carries the first failure's traceback.

    >>> e = TrialFailedError("5 trials in a row failed", trial_id=0, traceback="KeyError: 'lr'")
    >>> e.trial_id, e.traceback
    (0, "KeyError: 'lr'")
    >>> print(e)
    5 trials in a row failed; the first failure (trial 0):
    KeyError: 'lr'
    """

    def __init__(self, reason: str, trial_id: Optional[int], traceback: Optional[str],
                 path: Optional[str] = None):
        first = f"; the first failure (trial {trial_id}):\n{traceback}" if traceback else ""
        super().__init__(f"{reason}{first}", path)
        self.reason = reason
        self.trial_id = trial_id
        self.traceback = traceback

    def one_line(self) -> str:
        """The reason and the last line of the first traceback (what the CLI prints).

        >>> TrialFailedError("trial 2 failed", 2, "Traceback ...\\nKeyError: 'lr'\\n", "/r/x").one_line()
        "trial 2 failed; the first failure (trial 2): KeyError: 'lr'; tracebacks in /r/x/errors"
        """
        lines = [ln for ln in (self.traceback or "").splitlines() if ln.strip()]
        first = f"; the first failure (trial {self.trial_id}): {lines[-1].strip()}" if lines else ""
        where = f"; tracebacks in {self.path.rstrip('/')}/errors" if self.path else ""
        return f"{self.reason}{first}{where}"


class Verdict(enum.Enum):
    """What happens after a failed job.

    >>> FailurePolicy(max_failures=1).ledger().job_failed(0, "boom") is Verdict.RETRY
    True
    """

    RETRY = "retry"             # run the job again (from the trial's last checkpoint)
    FAIL_TRIAL = "fail_trial"   # the trial is FAILED; the experiment goes on
    STOP = "stop"               # the trial is FAILED and the experiment ends (`FailureLedger.stop_reason`)


def _check_count(name: str, value, allow_none: bool = False, minimum: int = 0) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"FailurePolicy: {name} must be {what}, got {value!r}")


@dataclass(frozen=True)
class FailurePolicy:
    """How many failures a trial and the experiment may have.

    Args:
        max_failures: how often one trial's failed job runs again (from its last checkpoint)
            before the trial is FAILED (default 0: its first failure fails it).
        fail_fast: end the experiment at the first FAILED trial (after its retries).
        max_consecutive_failures: end the experiment when this many trials in a row are FAILED
            with no report recorded from any trial in between (default 5; None: never).
            The first N trials of a trainable with a typo are such a run.

    >>> ledger = FailurePolicy(max_failures=1, max_consecutive_failures=2).ledger()
    >>> ledger.job_failed(0, "KeyError: 'lr'")           # the first failure of trial 0: run it again
    <Verdict.RETRY: 'retry'>
    >>> ledger.job_failed(0, "KeyError: 'lr'")
    <Verdict.FAIL_TRIAL: 'fail_trial'>
    >>> ledger.job_failed(1, "KeyError: 'lr'", can_retry=False)
    <Verdict.STOP: 'stop'>
    >>> ledger.stop_reason
    '2 trials in a row failed and no trial reported a result in between (max_consecutive_failures=2)'
    """

    max_failures: int = 0
    fail_fast: bool = False
    max_consecutive_failures: Optional[int] = 5

    def __post_init__(self):
        _check_count("max_failures", self.max_failures)
        if not isinstance(self.fail_fast, bool):
            raise ValueError(f"FailurePolicy: fail_fast must be True or False, got {self.fail_fast!r}")
        _check_count("max_consecutive_failures", self.max_consecutive_failures, allow_none=True, minimum=1)

    def ledger(self) -> "FailureLedger":
        """A fresh ledger for one experiment run under this policy."""
        return FailureLedger(self)


class FailureLedger:
    """The failures of one experiment, counted under a `FailurePolicy`.

    >>> ledger = FailurePolicy(max_consecutive_failures=2).ledger()
    >>> ledger.job_failed(0, "boom"), ledger.streak
    (<Verdict.FAIL_TRIAL: 'fail_trial'>, 1)
    >>> ledger.reported()                          # a result from any trial ends the streak
    >>> ledger.job_failed(1, "boom"), ledger.failed_trials
    (<Verdict.FAIL_TRIAL: 'fail_trial'>, [0, 1])
    """

    def __init__(self, policy: FailurePolicy):
        self.policy = policy
        self.failures: dict[int, int] = {}        # trial_id -> failed jobs so far
        self.failed_trials: list[int] = []        # trials marked FAILED
        self.streak = 0                           # FAILED trials since the last recorded report
        self.streak_first: Optional[tuple[int, str]] = None   # (trial_id, error) that began the streak
        self.stop_reason: Optional[str] = None

    def job_failed(self, trial_id: int, error: Optional[str], can_retry: bool = True) -> Verdict:
        """A job of `trial_id` failed with `error` (a traceback); `can_retry=False`: retrying is pointless."""
        n = self.failures[trial_id] = self.failures.get(trial_id, 0) + 1
        if can_retry and n <= self.policy.max_failures:
            return Verdict.RETRY
        self.failed_trials.append(trial_id)
        if self.streak == 0:
            self.streak_first = (trial_id, error or "")
        self.streak += 1
        limit = self.policy.max_consecutive_failures
        if self.stop_reason is None:
            if self.policy.fail_fast:
                self.stop_reason = f"trial {trial_id} failed and the failure policy has fail_fast=True"
            elif limit is not None and self.streak >= limit:
                self.stop_reason = (f"{self.streak} trials in a row failed and no trial reported a result "
                                    f"in between (max_consecutive_failures={limit})")
        return Verdict.STOP if self.stop_reason is not None else Verdict.FAIL_TRIAL

    def reported(self) -> None:
        """A trial's report was recorded: the experiment works, the streak of failed trials ends."""
        self.streak = 0
        self.streak_first = None

    def summary(self) -> dict:
        """What the experiment summary records (JSON-ready)."""
        first = None if self.streak_first is None else {"trial_id": self.streak_first[0],
                                                        "error": self.streak_first[1]}
        return {"failed_trials": list(self.failed_trials), "failure_stop_reason": self.stop_reason,
                "first_failure": first if self.stop_reason else None}

    def error(self, path: Optional[str] = None) -> Optional[TrialFailedError]:
        """The `TrialFailedError` to raise when the policy ended the experiment, else None."""
        if self.stop_reason is None:
            return None
        trial_id, tb = self.streak_first or (None, None)
        return TrialFailedError(self.stop_reason, trial_id, tb, path)


__all__ = ["FailurePolicy", "FailureLedger", "Verdict", "TrialFailedError", "ExperimentFailedError"]
