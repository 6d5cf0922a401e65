"""The `raysha` command, called in-process."""

import pytest

from raysha.cli import SCHEDULERS, SUBCOMMANDS, main, register
from raysha.results import load_experiment


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


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_runs(scheduler, capsys):
    assert main(["simulate", "--scheduler", scheduler, "--trials", "20", "--objective", "curves",
                 "--max-epochs", "9"]) == 0
    assert "trials started   20" in capsys.readouterr().out


def test_sync_sh_reports_lower_busy_fraction(capsys):
    fractions = {}
    for s in ("sync-sh", "asha"):
        main(["simulate", "--scheduler", s, "--trials", "200", "--workers", "4", "--max-time", "3600"])
        line = [l for l in capsys.readouterr().out.splitlines() if "busy fraction" in l][0]
        fractions[s] = float(line.split()[-1].rstrip("%"))
    assert fractions["sync-sh"] < fractions["asha"]


@pytest.mark.parametrize("argv, message", [
    (["simulate", "--workers", "0"], "positive integer"),
    (["simulate", "--trials", "many"], "positive integer"),
    (["simulate", "--scheduler", "bohb"], "invalid choice"),
    (["simulate", "--max-time", "-5"], "positive number"),
    (["nonsense"], "invalid choice"),
])
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_plot_needs_out(capsys):
    assert main(["simulate", "--plot"]) == 2
    assert "--plot needs --out" in capsys.readouterr().err


def test_bad_scheduler_settings(capsys):
    assert main(["simulate", "--grace-period", "50", "--max-epochs", "9"]) == 2
    assert "bad scheduler settings" in capsys.readouterr().err


def test_rerun_into_the_same_folder_is_refused(tmp_path, capsys):
    out = str(tmp_path / "exp")
    assert main(["simulate", "--trials", "5", "--out", out]) == 0
    assert main(["simulate", "--trials", "5", "--out", out]) == 2
    assert "another experiment" in capsys.readouterr().err


def test_run_and_demo_are_registered_with_their_arguments(capsys):
    from raysha.cli import build_parser

    args = build_parser().parse_args(["run", "lenet", "--scheduler", "pasha", "--workers", "3",
                                      "--n-train", "1000", "--storage", "/tmp/x"])
    assert (args.workload, args.scheduler, args.workers, args.n_train) == ("lenet", "pasha", 3, 1000)
    assert args.max_failures == 2
    assert build_parser().parse_args(["run", "lenet", "--max-failures", "0"]).max_failures == 0
    assert build_parser().parse_args(["demo"]).out == "demo-results"  # what `make demo` runs
    with pytest.raises(SystemExit):
        main(["run", "resnet"])
    assert "invalid choice: 'resnet'" in capsys.readouterr().err


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
