"""DEPRECATED shim, to be removed when raysha/cli.py and raysha/runs.py use raysha.schedulers.registry."""
from raysha.schedulers.registry import make
SCHEDULERS = ("asha", "asha-promotion", "hyperband", "pasha", "sync-sh", "sync-hyperband", "random")
def make_scheduler(kind, space, metric, mode, max_resource_attr, grace_period=1, reduction_factor=3, seed=0, points_to_evaluate=None):  # noqa: E302,E501
    return make(kind, space, metric, mode, max_resource_attr=max_resource_attr, grace_period=grace_period, reduction_factor=reduction_factor, seed=seed, points_to_evaluate=points_to_evaluate)  # noqa: E501
