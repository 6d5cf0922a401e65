"""Plots: every trial drawn (or a stated even sample), simulated time labelled so, timelines for runtime folders."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from raysha import plots
from raysha.objectives import STRAGGLER_SPACE, StragglerObjective
from raysha.results import load_experiment
from raysha.schedulers import ASHA
from raysha.simulate import simulate
from raysha.stop import StopCriterion


@pytest.fixture(scope="module")
def big_run(tmp_path_factory):
    """1,200 trials on 16 simulated workers: far more than the 400 the figure used to keep."""
    sched = ASHA(STRAGGLER_SPACE, metric="validation_error", mode="min", resource_attr="epoch",
                 max_resource_attr="max_epochs", grace_period=1, reduction_factor=3)
    return simulate(sched, StragglerObjective(), n_workers=16, stop=StopCriterion(max_trials=1200),
                    out=tmp_path_factory.mktemp("big") / "exp")


def drawn(fig):
    ax = fig.axes[0]
    segs = ax.collections[0].get_segments()
    return ax, segs


def test_every_trial_is_drawn_and_the_axis_covers_the_whole_run(big_run, tmp_path):
    fig = plots.learning_curves_figure(big_run)
    ax, segs = drawn(fig)
    assert len(segs) == big_run.n_trials == 1200
    last = float(big_run.results["tuner_time"].max())
    assert max(s[:, 0].max() for s in segs) == pytest.approx(last)
    assert ax.get_xlim()[1] >= last
    assert "learning curves of 1200 trials" in ax.get_title() and "sample" not in ax.get_title()
    assert ax.get_xlabel() == "simulated time (s)"
    plt.close(fig)
    assert plots.learning_curves(big_run, tmp_path / "lc.png").stat().st_size > 10_000


def test_max_curves_draws_an_even_sample_across_the_run_and_says_so(big_run):
    fig = plots.learning_curves_figure(big_run, max_curves=100)
    ax, segs = drawn(fig)
    assert len(segs) == 100
    assert "an even sample of 100 across the run shown" in ax.get_title()
    starts = sorted(s[0, 0] for s in segs)
    first = big_run.results.groupby("trial_id")["tuner_time"].min()
    assert starts[0] == pytest.approx(first.min()) and starts[-1] == pytest.approx(first.max())
    plt.close(fig)


def test_even_sample_spans_first_to_last():
    assert plots.even_sample(range(10), 4) == [0, 3, 6, 9]
    assert plots.even_sample([5, 7], 10) == [5, 7]


def test_simulated_and_wall_clock_time_are_labelled_as_such(big_run, tmp_path):
    real = load_experiment(big_run.path)
    real.metadata["backend"] = "ray"
    assert plots.time_label(big_run) == "simulated time (s)"
    assert plots.time_label(real) == "wall-clock time (s)"
    assert plots._shared_time_label([("a", big_run), ("b", real)]) == "time (s): simulated and wall-clock"


def test_a_runtime_folder_without_recorded_spans_still_gets_a_timeline(big_run, tmp_path):
    """Runs on Ray write report rows (worker, tuner_time); the timeline derives the job spans from them."""
    real = load_experiment(big_run.path)
    real.jobs = real.jobs.iloc[0:0]
    real.metadata["backend"] = "ray"
    spans = plots.job_spans(real)
    assert len(spans) > 0 and set(spans["worker"]) == set(range(16))
    assert np.all(spans["end"] >= spans["start"])
    assert plots.timeline(real, tmp_path / "t.png").stat().st_size > 5_000
