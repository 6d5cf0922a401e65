"""TrialOutput and the trial log file: prefixed lines out, raw text kept in order, streams given back."""

import sys
import time

import pytest

from raysha.runtime import trial_logs


def test_stdout_and_stderr_lines_are_prefixed_and_kept_in_order(capsys):
    before = (sys.stdout, sys.stderr)
    sent = []
    with trial_logs.TrialOutput(12, sent.append):
        print("loading data")
        print("warning: slow", file=sys.stderr)
        sys.stdout.write("epoch 1 ")
        sys.stdout.write("loss 0.5\nno newline at the end")
    out, err = capsys.readouterr()
    assert out == "[trial 12] loading data\n[trial 12] epoch 1 loss 0.5\n[trial 12] no newline at the end\n"
    assert err == "[trial 12] warning: slow\n"
    assert "".join(sent) == "loading data\nwarning: slow\nepoch 1 loss 0.5\nno newline at the end"
    assert (sys.stdout, sys.stderr) == before


def test_a_long_job_sends_its_output_while_it_runs(capsys):
    sent = []
    with trial_logs.TrialOutput(1, sent.append, interval=0.05):
        print("first")
        deadline = time.monotonic() + 5
        while not sent and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sent == ["first\n"]          # before the job ends
        print("second")
    assert sent == ["first\n", "second\n"]


def test_the_streams_come_back_when_the_trial_raises_and_its_output_is_sent(capsys):
    before = sys.stdout
    sent = []
    with pytest.raises(ZeroDivisionError):
        with trial_logs.TrialOutput(5, sent.append):
            print("before the error")
            1 / 0
    assert sys.stdout is before and sent == ["before the error\n"]


def test_a_failing_send_is_said_once_and_the_trial_goes_on(capsys):
    def send(text):
        raise ConnectionError("scheduler actor gone")

    with trial_logs.TrialOutput(2, send, interval=0.01):
        print("a")
        time.sleep(0.1)
        print("b")
    out, err = capsys.readouterr()
    assert err.count("could not save its output (ConnectionError") == 1
    assert out == "[trial 2] a\n[trial 2] b\n"


def test_append_writes_the_trials_log_file_across_jobs(tmp_path):
    from raysha.runtime.storage import Storage

    store = Storage(str(tmp_path))
    trial_logs.append(store, 3, "job 1\n")
    trial_logs.append(store, 3, "job 2 é\n")
    assert (tmp_path / "trials" / "3" / "log.txt").read_text(encoding="utf-8") == "job 1\njob 2 é\n"
    assert trial_logs.log_path(3) == "trials/3/log.txt"


def test_a_silent_job_sends_nothing_and_starts_no_thread():
    import threading

    sent = []
    before = threading.active_count()
    with trial_logs.TrialOutput(4, sent.append, interval=0.01) as out:
        assert threading.active_count() == before
    assert sent == [] and out.thread is None
