"""Bad `raysha` command lines, run as real processes: exit 2, one ``raysha <command>: error:`` line naming
the option, never a traceback, and nothing started (RAY_ADDRESS points nowhere: a Ray start would fail
loudly). Also: a closed pipe (exit 141, quiet) and Ctrl-C during a run (exit 130, the folder restorable).
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from raysha.cli import main

ROOT = Path(__file__).resolve().parent.parent
LONG_NAME = "a" * 300


def _raysha(*argv, **kw):
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
               RAY_ADDRESS="127.0.0.1:9")      # the CLI must refuse before it reaches for a cluster
    return subprocess.run([sys.executable, "-m", "raysha.cli", *argv], capture_output=True, text=True,
                          env=env, timeout=120, **kw)


# (argv, the option the error line must name); each row is in docs/bad-input.md
BAD = [
    (["run", "lenet", "--grace-period", "20"], "--grace 20 is past --max-t 10"),
    (["run", "lenet", "--grace", "3", "--max-t", "2"], "--grace 3 is past --max-t 2"),
    (["run", "lenet", "--max-failures", "-1"], "argument --max-failures: expected an integer >= 0"),
    (["run", "lenet", "--name", "../../etc"], "argument --name: expected a folder name"),
    (["run", "lenet", "--name", LONG_NAME], "argument --name: expected a folder name of at most 128"),
    (["run", "lenet", "--name", ""], "argument --name"),
    (["run", "lenet", "--storage", "/proc/nope"], "--storage /proc/nope: cannot write in /proc/nope"),
    (["run", "lenet", "--eta", "1.5"], "--eta must be a number >= 2, got 1.5"),
    (["run", "lenet", "--workers", "0"], "argument --workers: expected a positive integer, got 0"),
    (["run", "lenet", "--max-wallclock", "inf"], "argument --max-wallclock: expected a positive finite number"),
    (["run", "lenet", "--seed", "-1"], "argument --seed: expected an integer >= 0"),
    (["run", "lenet", "--n-train", "0"], "argument --n-train: expected a positive integer"),
    (["run", "lenet", "--scheduler", "bohb"], "argument --scheduler: invalid choice: 'bohb'"),
    (["run", "lenet", "--data-dir", "/nonexistent/fmnist"], "--data-dir /nonexistent/fmnist: no such folder"),
    (["run", "lenet", "--resume", "/nonexistent/exp"], "--resume /nonexistent/exp: Tuner.restore: no experiment"),
    (["run", "lenet", "--resume", "/tmp", "--seed", "3"], "--resume continues an experiment with its own "
                                                          "settings; drop --seed"),
    (["run", "lenet", "--max-epoch", "3"], "unrecognized arguments: --max-epoch 3"),
    (["run", "lenet", "--search-mode", "aggressive"], "--search-mode applies to --scheduler adaptive, not "
                                                      "asha-promotion"),
    (["simulate", "--searcher", "bohb"], "argument --searcher: invalid choice: 'bohb'"),
    (["preview", "--max-t", "9", "--searcher", "kde"], "unrecognized arguments: --searcher kde"),
    (["simulate", "--out", "/proc/x"], "--out /proc/x: cannot write in /proc"),
    (["simulate", "--max-ti", "10"], "unrecognized arguments: --max-ti 10"),
    (["simulate", "--workers", "0"], "argument --workers: expected a positive integer, got 0"),
    (["simulate", "--max-trials", "many"], "argument --max-trials/--trials: expected a positive integer"),
    (["simulate", "--max-wallclock", "-5"], "argument --max-wallclock/--max-time: expected a positive"),
    (["simulate", "--grace", "50", "--max-t", "9"], "--grace 50 is past --max-t 9"),
    (["simulate", "--plot"], "--plot needs --out"),
    (["simulate", "--record", "some"], "argument --record: invalid choice"),
    (["preview", "--max-t", "1e300", "--grace", "1e-300"], "--max-t 1e+300 with --grace 1e-300 and --eta 3 "
                                                           "makes 1258 rung levels"),
    (["preview", "--max-t", "nan"], "argument --max-t/--max-epochs: expected a positive finite number"),
    (["preview"], "the following arguments are required: --max-t"),
    (["preview", "--max-t", "9", "--scheduler", "random", "--brackets", "2"], "--brackets applies to "
                                                                              "--scheduler asha"),
    (["preview", "--max-t", "9", "--max-rungs", "0", "--scheduler", "adaptive"], "argument --max-rungs"),
    (["demo", "--out", "/proc/x"], "--out /proc/x: cannot write in /proc/x"),
    (["nonsense"], "argument COMMAND: invalid choice: 'nonsense'"),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a)[:50] for a, _ in BAD])
def test_bad_invocation_is_one_error_line_and_exit_2(argv, message):
    r = _raysha(*argv)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout
    command = f"raysha {argv[0]}" if argv[0] != "nonsense" else "raysha"
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{command}: error: "), r.stderr
    assert message in last, last


def test_a_nul_byte_in_a_name_is_refused(capsys):
    # (a NUL byte cannot be passed through exec: main() gets it as Python would from a wrapper)
    with pytest.raises(SystemExit) as e:
        main(["run", "lenet", "--name", "a\0b"])
    assert e.value.code == 2
    assert "raysha run: error: argument --name: expected a folder name" in capsys.readouterr().err


def test_a_closed_pipe_ends_quietly_with_141():
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    p = subprocess.Popen([sys.executable, "-m", "raysha.cli", "preview", "--json", "--max-t", "27"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdout.close()            # the reader is gone before the first line is written (`| head` exiting)
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141 and err == ""


def test_a_pipe_through_head_keeps_the_first_lines():
    r = subprocess.run(f"{sys.executable} -m raysha.cli preview --json --scheduler sync-hyperband --max-t 100000 "
                       f"--eta 2 | head -n 2", shell=True, capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert r.returncode == 0 and r.stdout.splitlines()[0] == "{" and r.stderr == ""


@pytest.mark.ray
@pytest.mark.slow
def test_ctrl_c_saves_the_run_and_exits_130(tmp_path):
    from raysha.workloads.fashion_mnist import locate

    if locate() is None:
        pytest.skip("Fashion-MNIST not installed")
    env = dict(os.environ, PYTHONPATH=f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    env.pop("RAY_ADDRESS", None)
    p = subprocess.Popen([sys.executable, "-m", "raysha.cli", "run", "lenet", "--n-train", "500", "--n-test",
                          "200", "--max-t", "3", "--grace", "1", "--workers", "1", "--max-wallclock", "120",
                          "--storage", str(tmp_path), "--name", "ctrlc", "--quiet"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    folder = tmp_path / "ctrlc"
    deadline = time.monotonic() + 120
    while not list(folder.glob("results/*.parquet")) and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.2)
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=90)
    assert p.returncode == 130, err
    assert f"raysha run: interrupted; the experiment is saved: continue it with raysha run lenet --resume " \
           f"{folder}" in err
    assert "Traceback" not in err

    from raysha.results import load_experiment
    from raysha.runtime.tuner import Tuner

    exp = load_experiment(folder)
    assert len(exp.results) > 0 and exp.summary["stop_reason"] == "KeyboardInterrupt"
    tuner = Tuner.restore(folder, shared_objects={"fashion_mnist": None})
    assert tuner.name == "ctrlc" and tuner.stop.max_wallclock_time == 120


def test_an_experiment_the_failure_policy_ended_is_one_line_and_exit_1(capsys):
    from raysha import cli
    from raysha.runtime.failure_policy import TrialFailedError

    tb = "Traceback (most recent call last):\n  File \"train.py\", line 3, in f\n    config['lr ']\nKeyError: 'lr '\n"

    def handler(args):
        def fit():
            raise TrialFailedError("5 trials in a row failed and no trial reported a result in between "
                                   "(max_consecutive_failures=5)", 0, tb, "/r/exp")
        return cli._experiment(fit)

    cli.register("_failing", lambda p: None, handler, "test only")
    try:
        assert main(["_failing"]) == 1
    finally:
        cli.SUBCOMMANDS.pop("_failing")
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "raysha _failing: the experiment failed: TrialFailedError: 5 trials in a row failed and no trial reported "
        "a result in between (max_consecutive_failures=5); the first failure (trial 0): KeyError: 'lr '; "
        "tracebacks in /r/exp/errors"]
