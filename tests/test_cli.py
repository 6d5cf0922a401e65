"""The `raysha` command, called in-process: what each subcommand does with good input.

Bad command lines (exit 2, an error line, no traceback) are in tests/test_cli_errors.py.
"""

import argparse
import json

import pandas as pd
import pytest

from raysha import cli, runs
from raysha.cli import SUBCOMMANDS, build_parser, main, register
from raysha.results import load_experiment
from raysha.schedulers import registry


def test_simulate_end_to_end_with_plots(tmp_path, capsys):
    out = tmp_path / "exp"
    rc = main(["simulate", "--scheduler", "asha", "--workers", "4", "--trials", "30", "--out", str(out),
               "--plot", "--seed", "3"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "trials started   30" in text and "busy fraction" in text and "best config" in text
    for name in ("learning_curves", "best_so_far", "timeline"):
        png = out / f"{name}.png"
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 10_000
    exp = load_experiment(out)
    assert exp.results["trial_id"].nunique() == 30
    assert exp.metadata["scheduler"]["class"] == "ASHA" and exp.metadata["n_workers"] == 4
    assert f"{exp.best()['validation_error']:.4f}" in text


@pytest.mark.parametrize("scheduler", registry.names())
def test_every_scheduler_runs(scheduler, capsys):
    assert main(["simulate", "--scheduler", scheduler, "--trials", "20", "--objective", "curves",
                 "--max-epochs", "9"]) == 0
    assert "trials started   20" in capsys.readouterr().out


def test_sync_sh_reports_lower_busy_fraction(capsys):
    fractions = {}
    for s in ("sync-sh", "asha"):
        main(["simulate", "--scheduler", s, "--max-trials", "200", "--workers", "4", "--max-wallclock", "3600"])
        line = [l for l in capsys.readouterr().out.splitlines() if "busy fraction" in l][0]
        fractions[s] = float(line.split()[-1].rstrip("%"))
    assert fractions["sync-sh"] < fractions["asha"]


def test_rerun_into_the_same_folder_is_refused(tmp_path, capsys):
    out = str(tmp_path / "exp")
    assert main(["simulate", "--trials", "5", "--out", out]) == 0
    assert main(["simulate", "--trials", "5", "--out", out]) == 2
    assert "another experiment" in capsys.readouterr().err


def test_run_and_demo_are_registered_with_their_arguments(capsys):
    args = build_parser().parse_args(["run", "lenet", "--scheduler", "pasha", "--workers", "3",
                                      "--n-train", "1000", "--storage", "/tmp/x", "--max-t", "4", "--eta", "3"])
    assert (args.workload, args.scheduler, args.workers, args.n_train, args.max_t, args.eta) == \
        ("lenet", "pasha", 3, 1000, 4, 3)
    assert (args.max_failures, args.grace) == (2, 2)
    assert build_parser().parse_args(["run", "lenet", "--max-failures", "0"]).max_failures == 0
    assert build_parser().parse_args(["demo"]).out == "demo-results"  # what `make demo` runs
    with pytest.raises(SystemExit):
        main(["run", "resnet"])
    assert "invalid choice: 'resnet'" in capsys.readouterr().err


def test_old_spellings_are_aliases():
    old = build_parser().parse_args(["run", "lenet", "--max-epochs", "4", "--grace-period", "1",
                                     "--reduction-factor", "3"])
    assert (old.max_t, old.grace, old.eta) == (4, 1, 3)
    sim = build_parser().parse_args(["simulate", "--trials", "7", "--max-time", "60"])
    assert (sim.max_trials, sim.max_wallclock) == (7, 60)
    assert build_parser().parse_args(["preview", "--max-t", "9", "--trials", "5"]).max_trials == 5


def test_no_abbreviations_so_max_t_is_never_max_time():
    args = build_parser().parse_args(["simulate", "--max-t", "10"])
    assert args.max_t == 10 and args.max_wallclock is None


def _options(command):
    p = build_parser().subcommand_parsers[command]
    return {s: a for a in p._actions for s in a.option_strings}


def test_one_vocabulary_across_subcommands():
    shared = ("--scheduler", "--max-t", "--grace", "--eta", "--brackets", "--search-mode", "--max-rungs",
              "--max-trials")
    for command in ("run", "simulate", "preview"):
        opts = _options(command)
        assert all(o in opts for o in shared), command
        assert list(opts["--scheduler"].choices) == registry.names()
    for command in ("run", "simulate"):
        opts = _options(command)
        assert all(o in opts for o in ("--seed", "--workers", "--max-wallclock", "--searcher")), command


@pytest.mark.parametrize("command", list(SUBCOMMANDS))
def test_every_option_has_help(command):
    p = build_parser().subcommand_parsers[command]
    assert p.allow_abbrev is False
    missing = [a.dest for a in p._actions if not (a.help and a.help.strip())]
    assert missing == []


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "simulate" in capsys.readouterr().out


def test_register_adds_a_subcommand(capsys):
    seen = {}

    def add(p):
        p.add_argument("--n", type=int, default=1)

    def handler(args):
        seen["n"] = args.n
        return 0

    register("_probe", add, handler, "test only")
    try:
        assert main(["_probe", "--n", "5"]) == 0 and seen == {"n": 5}
    finally:
        SUBCOMMANDS.pop("_probe")


def test_preview_is_wired(capsys):
    assert main(["preview", "--max-t", "27"]) == 0
    assert "27 trial" in capsys.readouterr().out


@pytest.mark.parametrize("argv, expect", [
    (["--scheduler", "sync-hyperband", "--max-t", "81", "--eta", "3"], "81 | 1 "),
    (["--scheduler", "asha", "--max-t", "81", "--max-trials", "81"], "27 | 3 "),
    (["--max-t", "27"], "type=stopping"),
    (["--scheduler", "asha-promotion", "--max-t", "81"], "type=promotion"),
    (["--scheduler", "hyperband-promotion", "--max-t", "27", "--max-trials", "100"],
     "Asynchronous Hyperband (type=promotion"),
    (["--scheduler", "hyperband", "--max-t", "27", "--max-trials", "100", "--brackets", "2"], "Bracket 1"),
    (["--scheduler", "pasha", "--max-t", "27", "--max-trials", "50"], "If the maximum never grows"),
    (["--scheduler", "adaptive", "--max-t", "256", "--max-trials", "1000", "--search-mode", "conservative"],
     "bracket_rungs=[5, 4, 3, 2, 1]"),
    (["--scheduler", "random", "--max-t", "10", "--max-trials", "3"], "3 | 10"),
    (["--scheduler", "sync-sh", "--max-t", "9.5", "--grace", "0.5", "--eta", "2", "--resource-attr",
      "seconds"], "Training length (seconds)"),
])
def test_preview_of_each_scheduler(argv, expect, capsys):
    assert main(["preview"] + argv) == 0
    assert expect in capsys.readouterr().out


def test_preview_json(capsys):
    assert main(["preview", "--max-t", "9", "--max-trials", "9", "--json"]) == 0
    assert [r["trials"] for r in json.loads(capsys.readouterr().out)["rows"]] == [9, 3, 1]


def test_simulate_takes_a_searcher(capsys):
    assert main(["simulate", "--searcher", "kde", "--max-trials", "30", "--objective", "curves"]) == 0
    assert "trials started   30" in capsys.readouterr().out


def test_adaptive_runs_under_simulate_with_its_options(capsys):
    assert main(["simulate", "--scheduler", "adaptive", "--search-mode", "aggressive", "--max-rungs", "3",
                 "--max-trials", "40", "--objective", "curves", "--max-t", "27"]) == 0
    assert "trials started   40" in capsys.readouterr().out


def test_recorded_objective_runs_or_says_why(capsys):
    from raysha.workloads import recorded

    rc = main(["simulate", "--objective", "recorded", "--trials", "10", "--workers", "2"])
    if recorded.DEFAULT_PATH.exists():
        assert rc == 0 and "trials started   10" in capsys.readouterr().out
    else:
        assert rc == 2 and "recorded LeNet objective is not available" in capsys.readouterr().err


def test_sync_vs_async_example(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "sync_vs_async.py"
    spec = importlib.util.spec_from_file_location("sync_vs_async", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    runs = mod.main(tmp_path)
    busy = {k: e.busy_fraction() for k, e in runs.items()}
    assert busy["synchronous SH"] < 0.8 < busy["ASHA (promotion)"] and busy["ASHA (stopping)"] > 0.8
    for name in ("sync_vs_async_best_so_far.png", "sync_vs_async_timeline.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert "synchronous SH" in capsys.readouterr().out


# -- run lenet: the Python API underneath, faked (the real runs are in tests/test_lenet_run.py) -------

class _FakeExperiment:
    def __init__(self, path, best=None):
        self.path, self._best = path, best
        self.results = pd.DataFrame()
        self.n_trials = 0

    def best(self):
        return self._best


def test_run_passes_the_options_to_run_lenet(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_run(*a, **kw):
        seen.update(args=a, kw=kw)
        return _FakeExperiment(str(tmp_path), best=None)

    monkeypatch.setattr(runs, "run_lenet", fake_run)
    rc = main(["run", "lenet", "--scheduler", "hyperband", "--brackets", "2", "--max-t", "4", "--grace", "1",
               "--eta", "2", "--storage", str(tmp_path), "--name", "x", "--quiet", "--max-trials", "3",
               "--searcher", "kde"])
    assert seen["args"][:6] == ("hyperband", 2, 720, 4, 1, 2)
    assert seen["kw"]["scheduler_options"] == {"brackets": 2, "searcher": "kde"} and seen["kw"]["verbose"] == 0
    # no trial reported anything: the run failed (exit 1), and says where to look
    assert rc == 1
    assert f"raysha run: no trial reported a validation_error; see {tmp_path}/errors" in capsys.readouterr().err


def test_cli_resume_arguments(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_resume(path, data_dir=None, verbose=1, max_wallclock=None, plots=True, max_trials=None, repair=False):
        seen.update(path=path, data_dir=data_dir, verbose=verbose, max_wallclock=max_wallclock,
                    max_trials=max_trials, repair=repair)
        return _FakeExperiment(path, best=pd.Series({"validation_error": 0.5, "epoch": 1, "trial_id": 0}))

    monkeypatch.setattr(runs, "resume_lenet", fake_resume)
    folder = str(tmp_path / "exp")
    assert main(["run", "lenet", "--resume", folder, "--quiet"]) == 0
    assert seen == {"path": folder, "data_dir": None, "verbose": 0, "max_wallclock": None, "max_trials": None,
                    "repair": False}
    assert main(["run", "lenet", "--resume", "file://" + folder, "--repair", "--quiet"]) == 0
    assert seen["path"] == "file://" + folder and seen["repair"] is True
    assert main(["run", "lenet", "--repair"]) == 2
    assert "--repair goes with --resume" in capsys.readouterr().err
    assert main(["run", "lenet", "--resume", folder, "--max-wallclock", "60", "--data-dir", str(tmp_path),
                 "--max-trials", "9"]) == 0
    assert (seen["max_wallclock"], seen["data_dir"], seen["verbose"], seen["max_trials"]) == \
        (60, str(tmp_path), 1, 9)
    # settings of the saved experiment cannot be given with --resume
    assert main(["run", "lenet", "--resume", folder, "--scheduler", "asha", "--seed", "3"]) == 2
    assert "drop --scheduler, --seed" in capsys.readouterr().err


def _probe(handler):
    register("_probe", lambda p: None, handler, "test only")
    try:
        return main(["_probe"])
    finally:
        SUBCOMMANDS.pop("_probe")


def test_errors_from_the_experiment_become_exit_statuses(capsys):
    from raysha.runtime.tuner import TunerError

    def raising(exc):
        def fit():
            raise exc
        return lambda args: cli._experiment(fit)

    # a user mistake raysha found (a ValueError of raysha's): exit 2, option names for argument names
    assert _probe(raising(TunerError("Tuner: max_failures must be an integer >= 0, got -1"))) == 2
    assert "raysha _probe: error: Tuner: --max-failures must be" in capsys.readouterr().err
    # any other raysha error: the experiment failed, exit 1
    failure = type("TrialFailedError", (RuntimeError,), {"__module__": "raysha.runtime.failures"})
    assert _probe(raising(failure("trial 0 failed 3 times: KeyError: 'lr'"))) == 1
    assert "raysha _probe: the experiment failed: TrialFailedError: trial 0 failed 3 times" in \
        capsys.readouterr().err
    # not raysha's (a bug, Ray): the traceback is kept
    with pytest.raises(ZeroDivisionError):
        _probe(raising(ZeroDivisionError("bug")))


def test_interrupt_exits_130(capsys):
    def interrupted(args):
        raise KeyboardInterrupt
    assert _probe(interrupted) == 130
    assert "raysha _probe: interrupted" in capsys.readouterr().err

