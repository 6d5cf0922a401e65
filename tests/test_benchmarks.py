"""Smoke tests of the benchmark suite's pieces at tiny sizes (the real sizes run with `make bench`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import anytime, report, utilization  # noqa: E402


def test_utilization_tiny(tmp_path):
    out = tmp_path / "utilization.json"
    kinds = ("sync-sh-strict", "sync-sh", "asha", "random")
    d = utilization.main(["--workers", "4", "16", "--seeds", "1", "--budget", "600", "--target", "0.2",
                          "--schedulers", *kinds, "--out", str(out)])
    saved = json.loads(out.read_text())
    assert saved["summary"] == d["summary"]
    cells = {(r["scheduler"], r["workers"]): r for r in d["summary"]}
    assert set(cells) == {(s, w) for s in kinds for w in (4, 16)}
    # asynchronous schedulers keep every worker busy; strict sync SH idles at its rungs, the default
    # (Syne Tune's: free workers open the next bracket) does not
    assert cells[("asha", 16)]["busy_fraction_median"] > 0.99
    assert cells[("sync-sh", 16)]["busy_fraction_median"] > 0.99
    assert cells[("sync-sh-strict", 16)]["busy_fraction_median"] < cells[("asha", 16)]["busy_fraction_median"]
    for r in d["runs"]:
        assert r["time_to_target_s"] is None or 0 < r["time_to_target_s"] <= 600


def test_anytime_tiny_synthetic(tmp_path):
    out, figs = tmp_path / "anytime.json", tmp_path / "figures"
    d = anytime.main(["--seeds", "2", "--objective", "curves", "--schedulers", "random", "asha",
                      "--out", str(out), "--figures", str(figs)])
    assert d["objective"].startswith("curves")
    assert len(d["grid_s"]) == anytime.GRID_POINTS
    for kind in ("random", "asha"):
        med = [v for v in d["bands"][kind]["median"] if v is not None]
        assert med and all(a >= b for a, b in zip(med, med[1:]))  # best so far never gets worse
    assert (figs / d["figures"]["asha_learning_curves"]).exists()
    assert (figs / d["figures"]["random_vs_asha"]).exists()


def _fake_section_results(results: Path) -> None:
    """Small, hand-written JSON in the sections' formats (report.py only reads them)."""
    results.mkdir(parents=True, exist_ok=True)
    row = lambda n, wall, reports: {"n": n, "wall_s": wall, "trials": n, "reports": reports,  # noqa: E731
                                    "reports_per_s": reports / wall, "overhead_ms_per_trial": 1000 * wall / n}
    (results / "peers.json").write_text(json.dumps({
        "workload": "N trials x 27 epochs", "sizes": [10], "ray_init_s": 1.0, "date": "d", "machine": "m",
        "cpu_count": 2, "tools": {"raysha": {"10": row(10, 1.0, 40)}, "optuna": {"10": row(10, 0.01, 50)}},
        "skipped": {"raytune": "not installed"}, "ratios": {}}))
    (results / "scale.json").write_text(json.dumps({
        "workers": 4, "resources_per_trial": {"cpu": 0.01}, "workload": "w", "trials_target": 20,
        "actor_startup_s": 1.0, "run_loop_s": 2.0, "trials": 20, "reports": 60, "trials_per_s": 10.0,
        "steady_trials_per_s": 11.0, "reports_per_s": 30.0,
        "driver_rss_mib": {"before_fit": 100, "after_fit": 120, "peak_during_fit": 110},
        "controller_rss_mib_peak": 150,
        "samples": [{"trials_started": 5, "elapsed": 1.0, "driver_rss_mib": 100, "controller_rss_mib": 140},
                    {"trials_started": 20, "elapsed": 2.0, "driver_rss_mib": 101, "controller_rss_mib": 150}]}))


def test_report_from_results(tmp_path):
    results, figures, md = tmp_path / "results", tmp_path / "figures", tmp_path / "REPORT.md"
    _fake_section_results(results)
    utilization.main(["--workers", "4", "--seeds", "1", "--budget", "300", "--schedulers", "asha", "sync-sh",
                      "--out", str(results / "utilization.json")])
    anytime.main(["--seeds", "2", "--objective", "curves", "--schedulers", "random", "asha",
                  "--out", str(results / "anytime.json"), "--figures", str(figures)])
    path = report.write_report(results, figures, md)
    text = path.read_text()
    for heading in ("## 1. Overhead", "## 2. Decision cost", "## 3. Utilization", "## 4. Any-time",
                    "## 5. Real run", "## 6. Scale"):
        assert heading in text
    assert "Not run (no `results/decision_cost.json`)" in text
    assert "`raytune`: not installed" in text           # a missing peer is named, not faked
    assert "synthetic curve objective stood in" in text  # the fallback is said out loud
    links = [line.split("](")[1].rstrip(")") for line in text.splitlines() if line.startswith("![")]
    assert len(links) >= 6
    for link in links:
        assert (md.parent / link).exists(), link


def test_optuna_peer_tiny():
    pytest.importorskip("optuna")
    from benchmarks import peers

    r = peers.run_optuna(6)
    assert r["trials"] == 6 and 6 <= r["reports"] <= 6 * peers.EPOCHS


def test_suite_runner_quick(tmp_path):
    from benchmarks.__main__ import main

    results, figures, md = tmp_path / "results", tmp_path / "figures", tmp_path / "REPORT.md"
    rc = main(["--quick", "--only", "utilization,anytime", "--results-dir", str(results),
               "--figures-dir", str(figures), "--report", str(md)])
    assert rc == 0
    suite = json.loads((results / "suite.json").read_text())
    assert set(suite["sections"]) == {"utilization", "anytime"}
    assert all(s["exit_code"] == 0 and s["quick"] for s in suite["sections"].values())
    text = md.read_text()
    assert "quick sizes" in text and "CPUs" in text


def test_suite_rejects_unknown_section(tmp_path):
    from benchmarks.__main__ import main

    with pytest.raises(SystemExit):
        main(["--only", "nope", "--results-dir", str(tmp_path)])


@pytest.mark.ray
@pytest.mark.slow
def test_overhead_quick_on_ray(tmp_path):
    from benchmarks import peers

    out = tmp_path / "peers.json"
    d = peers.main(["--sizes", "5", "--tools", "raysha", "--out", str(out)])
    r = d["tools"]["raysha"]["5"]
    assert r["trials"] == 5 and r["reports"] >= 5


def test_search_quality_quick(tmp_path, monkeypatch):
    pytest.importorskip("optuna")
    from benchmarks import search_quality as sq

    monkeypatch.setattr(sq, "VENVS", {"synetune": tmp_path / "none", "dehb": tmp_path / "none"})
    out, fig = tmp_path / "results" / "search_quality.json", tmp_path / "figures" / "search_quality.png"
    d = sq.main(["--quick", "--problems", "mf-branin", "lenet", "--methods", "asha+random", "asha+kde",
                 "optuna-tpe-hyperband", "dehb", "--out", str(out), "--figure", str(fig)])
    assert json.loads(out.read_text())["problems"].keys() == {"mf-branin", "lenet"} and fig.exists()
    text = report.write_report(out.parent, fig.parent, tmp_path / "REPORT.md").read_text()
    assert "## 7. Search quality" in text and "](figures/search_quality.png)" in text
    assert "| lenet | asha+kde |" in text                     # the goals table names the best model-based method
    for name, res in d["problems"].items():
        assert set(res["methods"]) == {"asha+random", "asha+kde", "optuna-tpe-hyperband"}
        assert res["seeds"] == 2 and len(res["grid_s"]) == sq.GRID_POINTS
        for m, row in res["methods"].items():
            med = [v for v in row["median"] if v is not None]
            assert med and all(a >= b for a, b in zip(med, med[1:])), (name, m)  # best so far never worsens
            assert all(v >= 0 for v in res["finals"][m]) and row["q1"][-1] <= row["q3"][-1]
        assert res["goal"]["best_model_based"] == "asha+kde"
    assert d["problems"]["lenet"]["optimum"] == pytest.approx(0.2224, abs=1e-4)
    # outside --quick a peer whose venv is missing is named in the JSON, not faked
    d = sq.main(["--seeds", "1", "--budget-trials", "1", "--problems", "mf-branin", "--methods", "asha+random",
                 "dehb", "--out", str(out), "--figure", str(fig)])
    assert "not installed" in d["skipped"]["dehb"] and set(d["problems"]["mf-branin"]["methods"]) == {"asha+random"}


def test_search_quality_regret_is_boca_simple_regret():
    from benchmarks.search_quality import Problem, regret_curve

    p = Problem("mf-branin", seed=0)
    far, best = {"x1": 0.0, "x2": 0.0}, {"x1": -3.14159265, "x2": 12.275}
    run = {"full": [[30.0, best], [10.0, far]]}   # any order; only full-fidelity results are listed
    curve = regret_curve(p, run, np.array([5.0, 10.0, 29.0, 30.0, 100.0]))
    assert np.isnan(curve[0])
    assert curve[1] == curve[2] == pytest.approx(55.602112642 - 0.397887358)
    assert curve[3] == curve[4] == pytest.approx(0.0, abs=1e-6)


def test_search_quality_docstring_examples_run():
    import doctest

    from benchmarks import search_quality

    result = doctest.testmod(search_quality)
    assert result.attempted >= 1 and result.failed == 0


@pytest.mark.ray
@pytest.mark.slow
def test_typo_trainable_ends_early_only_under_the_default_policy(tmp_path):
    from benchmarks import typo_trainable

    out = tmp_path / "typo.json"
    d = typo_trainable.main(["--budget", "6", "--out", str(out)])
    loose, default = d["runs"]
    assert loose["outcome"].startswith("raised ExperimentFailedError: the experiment produced no result")
    assert default["outcome"].startswith("raised TrialFailedError: 5 trials in a row failed")
    assert default["trials_failed"] <= 6 < loose["trials_failed"] and default["seconds"] < loose["seconds"]
    assert json.loads(out.read_text())["runs"][1]["error_files"] == default["trials_failed"]


def test_d2l_searchers_figures_and_report_section(tmp_path):
    import pandas as pd

    from benchmarks import d2l_searchers as d2l
    from raysha.results import Experiment

    def experiment(errors_by_trial):
        rows = [{"trial_id": t, "epoch": e + 1, "validation_error": v, "tuner_time": 10.0 * (t + e)}
                for t, errs in errors_by_trial.items() for e, v in enumerate(errs)]
        return Experiment(pd.DataFrame(rows), {"metric": "validation_error", "mode": "min",
                                               "summary": {"stop_reason": "max_wallclock_time"}})

    assert d2l.shown(d2l.command("asha", "gp", 1, 720.0, "/tmp/x", "run1")) == (
        "raysha run lenet --scheduler asha --searcher gp --seed 1 --max-wallclock 720.0 --workers 2 --quiet")
    # trial 1 goes on to epoch 10 and is best there; trial 0 stops at epoch 2; trial 2 at epoch 4
    a = d2l.describe(experiment({0: [0.9, 0.8], 1: [0.5] * 9 + [0.12], 2: [0.6, 0.5, 0.4, 0.3]}))
    assert (a["trials"], a["epochs_trained"], a["best_validation_error"], a["best_epoch"]) == (3, 16, 0.12, 10)
    assert a["reached"] == {"2": 3, "4": 2, "8": 1, "10": 1} and a["best_found_at_s"] == 100.0
    runs = [dict(a, searcher="random", seed=0, exit_code=0, wall_s=1.0),
            dict(d2l.describe(experiment({0: [0.3, 0.2]})), searcher="random", seed=1, exit_code=0, wall_s=1.0),
            dict(a, searcher="gp", seed=0, exit_code=0, wall_s=1.0),
            {"searcher": "gp", "seed": 1, "exit_code": 1, "wall_s": 1.0, "error": "boom"}]
    s = d2l.summarize(runs, ["random", "gp"])
    assert s["random"]["runs"] == 2 and s["random"]["median_best_validation_error"] == pytest.approx(0.16)
    assert s["gp"]["runs"] == 1                        # the failed run is shown, not counted
    results = tmp_path / "results"
    results.mkdir()
    (results / "d2l_searchers.json").write_text(json.dumps({
        "runs": runs, "summary": s, "d2l": d2l.D2L, "main_before": d2l.MAIN_BEFORE, "command": "c",
        "settings": {"scheduler": "asha", "budget_s": 720, "workers": 2, "n_train": 60000, "n_test": 10000,
                     "max_epochs": 10, "grace_period": 2, "reduction_factor": 2, "device": "cpu"},
        "wall_seconds": 60, "date": "d", "machine": "m", "cpu_count": 2}))
    text = report.write_report(results, tmp_path / "figures", tmp_path / "REPORT.md").read_text()
    assert "## 5b. d2l's experiment in full" in text and "| gp | 1 | – |" in text
    assert "| random | 2 | 0.1600 | 2 | 2 / 1 / 0.5 / 0.5 |" in text      # medians of two runs
