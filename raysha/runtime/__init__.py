"""Ray execution: the scheduler actor, trial actors, checkpoints, the session API and the Tuner driver.

Modules (one idea each):

* `session`     -- function API: ``report``, ``get_checkpoint``, ``get_shared`` (+ report batching)
* `trainable`   -- class API: ``Trainable`` (setup / train_epoch / state_dict / load_state_dict)
* `worker`      -- ``TrialWorker``, the trial actor that runs one job at a time
* `checkpoints` -- object refs owned by the scheduler actor + durable copies via pyarrow.fs
* `controller`  -- ``Controller``, the asyncio scheduler actor (the only writer of results): a
  dispatch loop over the parts below
* `settings`    -- ``ControllerSettings``: how the scheduler actor runs an experiment
* `actors`      -- ``WorkerPool``: making, naming, replacing and killing the trial actors
* `jobs`        -- ``JobTable``: which job runs where; the message that launches a job
* `reports`     -- ``ReportSequencer``: a job's report batches processed in the order sent
* `checkpoint_lifecycle` -- ``CheckpointLifecycle``: paused trials' checkpoints, deferred deletes
* `failure_policy` -- ``FailurePolicy``: retries, fail_fast, the streak of failed trials (pure)
* `failures`    -- ``FailureHandler``: retries from the last checkpoint, FAILED trials, replacements
* `finish`      -- ``RunEnd`` (the controller's base): the run's stop and end, its status and summary
* `journal_writer` -- ``JournalWriter``: results parts and the state snapshot, one step
* `journal`     -- the journal's format: read, write, reconcile
* `events`      -- ``EventBuffer``: trial events the scheduler actor keeps for the driver's callbacks
* `watch`       -- ``EventFeed``: the driver polls those events and feeds ``raysha.callbacks``
* `trial_logs`  -- ``TrialOutput``: a trial's stdout/stderr, ``[trial N]`` on the driver, ``trials/<id>/log.txt``
* `naming`      -- actor names ``raysha:<experiment>:controller`` / ``...:worker-<N>``
* `progress`    -- the live rich table on the driver
* `tuner`       -- ``Tuner(...).fit()``

Names are imported lazily so that importing this package does not import Ray.
"""

from importlib import import_module

_LAZY = {
    "Tuner": "raysha.runtime.tuner",
    "TunerError": "raysha.runtime.tuner",
    "FailurePolicy": "raysha.runtime.failure_policy",
    "TrialFailedError": "raysha.runtime.failure_policy",
    "ExperimentFailedError": "raysha.runtime.failure_policy",
    "Trainable": "raysha.runtime.trainable",
    "report": "raysha.runtime.session",
    "get_checkpoint": "raysha.runtime.session",
    "get_shared": "raysha.runtime.session",
    "get_trial_id": "raysha.runtime.session",
    "get_config": "raysha.runtime.session",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raysha.runtime' has no attribute {name!r}")
