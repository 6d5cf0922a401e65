"""Test helper: a scheduler actor (`Controller`) driven without Ray, through its public parts.

It writes results to a real experiment folder; jobs are entered in its job table as
`Controller._launch` would after the trial actor took them, and reports go through
`Controller.report`, the method trial sessions call.
"""

from raysha.results import load_experiment
from raysha.runtime.controller import Controller
from raysha.runtime.settings import ControllerSettings


def offline_controller(folder, scheduler, stop=None, node="n0") -> Controller:
    c = Controller(scheduler, None, ControllerSettings(n_workers=1, stop=stop, folder=str(folder),
                                                      metadata={"name": "offline"}))
    c.journal.open()
    c.pool.info[0] = {"node": node}      # what trial actor 0 said when it came up
    return c


def start_job(c: Controller, worker: int = 0, job=None):
    """The scheduler's next job (or ``job``), running on trial actor ``worker``."""
    job = job or c.scheduler.next_job(0.0, True)
    c.ledger.start(job.trial_id)
    return c.jobs.add(worker, job, 0.0)


def results(c: Controller):
    """The rows the controller wrote so far, as the experiment folder has them."""
    c.journal.flush()
    return load_experiment(c.settings.folder).results
