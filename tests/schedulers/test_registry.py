"""The one registry of scheduler names (raysha/schedulers/registry.py)."""

import math

import pytest

from raysha.schedulers import (
    ASHA, PASHA, AdaptiveASHA, RandomSearch, SyncHyperband, SyncSuccessiveHalving, registry,
)
from raysha.schedulers.base import Decision, SchedulerError, UnknownOptionError
from raysha.schedulers.preview import Preview
from raysha.space import uniform

SPACE = {"x": uniform(0, 1), "max_epochs": 27}
# the names `raysha run`, `raysha simulate` and `raysha preview` accept
CLI_NAMES = ["asha", "asha-promotion", "hyperband", "hyperband-promotion", "pasha", "adaptive", "sync-sh",
             "sync-hyperband", "sync-sh-strict", "sync-hyperband-strict", "random"]
CLASSES = {"asha": ASHA, "asha-promotion": ASHA, "hyperband": ASHA, "hyperband-promotion": ASHA, "pasha": PASHA,
           "adaptive": AdaptiveASHA, "sync-sh": SyncSuccessiveHalving, "sync-hyperband": SyncHyperband,
           "sync-sh-strict": SyncSuccessiveHalving, "sync-hyperband-strict": SyncHyperband, "random": RandomSearch}


def test_names_are_the_cli_names():
    assert registry.names() == CLI_NAMES
    assert all(registry.describe(n) for n in CLI_NAMES)


@pytest.mark.parametrize("name", CLI_NAMES)
def test_every_name_builds_runs_and_previews(name):
    s = registry.make(name, SPACE, "loss", max_resource_attr="max_epochs", seed=1)
    assert type(s) is CLASSES[name]
    job = s.next_job(0.0)
    assert job.runs and job.config["max_epochs"] == job.until
    assert s.on_report(job.trial_id, job.milestones[0], {"loss": 0.5}, 1.0) in set(Decision)
    p = registry.preview(s, max_trials=30)
    assert isinstance(p, Preview) and p.n_trials == 30 and p.rows
    assert str(p).startswith("Using search configuration:")


def test_the_name_fixes_the_variant():
    make = lambda n: registry.make(n, SPACE, "loss", max_resource_attr="max_epochs")  # noqa: E731
    assert (make("asha").type, make("asha").brackets) == ("stopping", 1)
    assert make("asha-promotion").type == "promotion"
    hb, hbp = make("hyperband"), make("hyperband-promotion")
    assert (hb.type, hb.brackets) == ("stopping", 4) and (hbp.type, hbp.brackets) == ("promotion", 4)
    assert make("sync-hyperband").brackets == 4 and make("sync-sh").brackets == 1
    assert not make("sync-sh").strict and not make("sync-hyperband").strict
    assert make("sync-sh-strict").strict and make("sync-hyperband-strict").strict
    assert make("sync-hyperband-strict").brackets == 4 and make("sync-sh-strict").brackets == 1
    assert make("pasha").type == "promotion"


def test_hyperband_brackets_follow_the_rung_levels_and_extra_overrides():
    s = registry.make("hyperband", SPACE, "loss", max_t=81, grace_period=1, reduction_factor=3)
    assert s.brackets == len(s.levels) + 1 == 5
    s = registry.make("hyperband", SPACE, "loss", max_t=81, rung_levels=[2, 10])
    assert s.levels == [2, 10] and s.brackets == 3
    assert registry.make("hyperband", SPACE, "loss", max_t=81, brackets=2).brackets == 2
    assert registry.make("asha", SPACE, "loss", max_t=81, type="promotion").type == "promotion"


def test_arguments_reach_the_class():
    s = registry.make("asha", SPACE, "acc", "max", resource_attr="step", max_t=16, grace_period=2,
                      reduction_factor=2, seed=7, points_to_evaluate=[{"x": 0.25}])
    assert (s.metric, s.mode, s.resource_attr, s.max_t, s.levels, s.random_seed) == ("acc", "max", "step", 16,
                                                                                      [2, 4, 8], 7)
    assert s.next_job(0.0).config["x"] == 0.25
    ad = registry.make("adaptive", SPACE, "loss", max_t=256, reduction_factor=4, max_trials=500)
    assert ad.divisor == 4 and ad.max_trials == 500
    assert registry.make("random", SPACE, "loss").max_t is None  # random search needs no maximum


def test_same_decisions_as_the_class_built_directly():
    direct = ASHA(SPACE, "loss", max_resource_attr="max_epochs", type="promotion", random_seed=3,
                  grace_period=1, reduction_factor=3)
    named = registry.make("asha-promotion", SPACE, "loss", max_resource_attr="max_epochs", seed=3)
    for s in (direct, named):
        for i in range(12):
            job = s.next_job(float(i))
            s.on_report(job.trial_id, job.until, {"loss": job.config["x"]}, float(i))
    assert direct.state_dict() == named.state_dict()


def test_unknown_name_and_unknown_option_are_named():
    with pytest.raises(SchedulerError, match="unknown scheduler 'ashaa'; choose from asha, asha-promotion"):
        registry.make("ashaa", SPACE, "loss", max_t=9)
    with pytest.raises(SchedulerError, match="unknown scheduler"):
        registry.describe("nope")
    with pytest.raises(UnknownOptionError, match="grace_perod"):
        registry.make("asha", SPACE, "loss", max_t=9, grace_perod=2)
    with pytest.raises(SchedulerError, match="give max_t or max_resource_attr"):
        registry.make("hyperband", SPACE, "loss")


def test_preview_dispatches_by_class_then_nearest_registered_base():
    class MyASHA(ASHA):
        pass

    class MyPASHA(PASHA):
        pass

    assert registry.preview_function(ASHA) is registry.entry("asha").preview
    assert registry.preview_function(PASHA) is registry.entry("pasha").preview   # not ASHA's: exact class first
    assert registry.preview_function(MyPASHA) is registry.entry("pasha").preview
    assert registry.preview_function(MyASHA) is registry.entry("asha").preview
    assert registry.preview(MyPASHA(SPACE, "loss", max_t=27), max_trials=27).min_budget is not None


def test_preview_of_an_unregistered_scheduler_and_bad_max_trials():
    from raysha.schedulers.base import DONE, Scheduler

    class Nothing(Scheduler):
        def next_job(self, now, allow_new=True):
            return DONE

        def on_report(self, trial_id, resource, metrics, now):
            return Decision.STOP

    with pytest.raises(TypeError, match="preview does not know scheduler Nothing"):
        registry.preview(Nothing(SPACE, "loss"))
    for bad in (0, 2.5, True):
        with pytest.raises(SchedulerError, match="max_trials must be a positive integer"):
            registry.preview(ASHA(SPACE, "loss", max_t=9), max_trials=bad)


def test_random_without_max_t_previews_an_unknown_budget():
    p = registry.preview(registry.make("random", SPACE, "loss"), max_trials=3)
    assert p.total_budget is None and math.isinf(p.rows[0].level)


def test_a_registry_refuses_a_name_twice_and_can_be_extended():
    extra = registry.Entry("asha", ASHA, "again", registry.entry("asha").preview)
    with pytest.raises(SchedulerError, match="'asha' is registered twice"):
        registry.Registry(registry.ENTRIES + (extra,))
    clash = registry.Entry("asha-2", ASHA, "another preview", lambda s, n: None)
    with pytest.raises(SchedulerError, match="two preview functions for ASHA"):
        registry.Registry(registry.ENTRIES + (clash,))
    assert registry.names() == CLI_NAMES, "building other registries leaves the built-in one alone"


@pytest.mark.parametrize("name", CLI_NAMES)
def test_a_searcher_goes_through_to_every_scheduler(name):
    from raysha.searchers import RandomSearcher

    s = registry.make(name, SPACE, "loss", max_resource_attr="max_epochs", searcher="random")
    assert isinstance(s.searcher, RandomSearcher)
