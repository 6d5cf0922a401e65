"""raysha: asynchronous successive halving (ASHA) and its family, at cluster scale on Ray.

The top-level names are imported lazily so that `import raysha` stays cheap
and the decision core never pulls in Ray or torch.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "Tuner": "raysha.runtime.tuner",
    "StopCriterion": "raysha.stop",
    "FailurePolicy": "raysha.runtime.failure_policy",
    "TrialFailedError": "raysha.runtime.failure_policy",
    "ExperimentFailedError": "raysha.runtime.failure_policy",
    "report": "raysha.runtime.session",
    "get_checkpoint": "raysha.runtime.session",
    "get_shared": "raysha.runtime.session",
    "get_trial_id": "raysha.runtime.session",
    "get_config": "raysha.runtime.session",
    "Trainable": "raysha.runtime.trainable",
    "simulate": "raysha.simulate",
    "preview": "raysha.schedulers.registry",
    "load_experiment": "raysha.results",
    "Experiment": "raysha.results",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'raysha' has no attribute {name!r}")
