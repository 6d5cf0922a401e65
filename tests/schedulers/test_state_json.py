"""Every registered scheduler's state is strict JSON (non-finite floats via raysha.floats) and restores exactly."""

import json
import math

import pytest

from raysha.schedulers import registry
from raysha.space import uniform

SPACE = {"x": uniform(0, 1), "max_epochs": 9}


def _metric(config, resource, tid):
    if tid % 7 == 3:
        return {"loss": math.nan}            # a NaN metric is worst: an infinite loss in the rungs
    if tid % 11 == 5:
        return {}                            # a missing one too
    return {"loss": config["x"] / resource + 0.01 * (tid % 5)}


def _drive(s, steps, log, t0=0):
    """A single worker: run each job through its milestones, reporting every resource unit."""
    for i in range(t0, t0 + steps):
        job = s.next_job(float(i))
        log.append((job.kind.value, job.trial_id, job.start, job.until))
        if not job.runs:
            continue
        r = int(job.start)
        while True:
            r += 1
            d = s.on_report(job.trial_id, r, _metric(job.config, r, job.trial_id), float(i))
            log.append((job.trial_id, r, d.value))
            if d.value != "continue" or r >= job.until or r >= 9:
                break


@pytest.mark.parametrize("name", registry.names())
def test_state_is_strict_json_and_restores_the_same_decisions(name):
    kwargs = dict(max_resource_attr="max_epochs", seed=4)
    if name == "random":
        kwargs = dict(seed=4)  # no max_t: jobs run to infinity, stopped by the runner
    a = registry.make(name, SPACE, "loss", **kwargs)
    _drive(a, 40, [])
    text = json.dumps(a.state_dict(), allow_nan=False)   # no Infinity / NaN tokens
    b = registry.make(name, SPACE, "loss", **kwargs)
    b.load_state_dict(json.loads(text))
    assert json.dumps(b.state_dict(), allow_nan=False) == text
    log_a, log_b = [], []
    _drive(a, 40, log_a, 40)
    _drive(b, 40, log_b, 40)
    assert log_a == log_b and len(log_a) > 40


def test_older_sync_state_one_bracket_with_repr_strings_still_loads():
    """The format before brackets could overlap (and before floats.py): one bracket, repr'd losses."""
    a = registry.make("sync-sh-strict", SPACE, "loss", max_resource_attr="max_epochs")
    _drive(a, 5, [])
    state = json.loads(json.dumps(a.state_dict()))
    (bracket,) = state["sync"]["brackets"]
    assert bracket["results"], "the rung has results to encode"
    old = json.loads(json.dumps(state))
    old["sync"] = {"iteration": bracket["id"], "rung": bracket["rung"], "members": bracket["members"],
                   "queue": bracket["queue"],
                   "results": [[t, repr(float(v))] for t, v in bracket["results"]]}
    b = registry.make("sync-sh-strict", SPACE, "loss", max_resource_attr="max_epochs")
    b.load_state_dict(old)
    assert b.state_dict() == state
