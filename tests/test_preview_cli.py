"""``raysha preview``: the arguments and the handler in raysha/preview_cli.py."""

import argparse
import json

import pytest

from raysha.preview_cli import add_preview_arguments, build_scheduler, preview_command


@pytest.mark.parametrize("argv, expect", [
    (["--scheduler", "sync-hyperband", "--max-t", "81", "--eta", "3"], "81 | 1 "),
    (["--scheduler", "asha", "--max-t", "81", "--trials", "81"], "27 | 3 "),
    (["--scheduler", "asha-promotion", "--max-t", "81"], "type=promotion"),
    (["--scheduler", "hyperband-promotion", "--max-t", "27", "--trials", "100"], "Asynchronous Hyperband (type=promotion"),
    (["--scheduler", "hyperband", "--max-t", "27", "--trials", "100", "--brackets", "2"], "Bracket 1"),
    (["--scheduler", "pasha", "--max-t", "27", "--trials", "50"], "If the maximum never grows"),
    (["--scheduler", "adaptive", "--max-t", "256", "--trials", "1000", "--search-mode", "conservative"],
     "bracket_rungs=[5, 4, 3, 2, 1]"),
    (["--scheduler", "random", "--max-t", "10", "--trials", "3"], "3 | 10"),
    (["--scheduler", "sync-sh", "--max-t", "9.5", "--grace", "0.5", "--eta", "2", "--resource-attr",
      "seconds"], "Training length (seconds)"),
])
def test_cli_handler(argv, expect, capsys):
    parser = add_preview_arguments(argparse.ArgumentParser(prog="raysha preview"))
    assert preview_command(parser.parse_args(argv)) == 0
    assert expect in capsys.readouterr().out


def test_cli_json_and_bad_input(capsys):
    parser = add_preview_arguments(argparse.ArgumentParser(prog="raysha preview"))
    assert preview_command(parser.parse_args(["--max-t", "9", "--trials", "9", "--json"])) == 0
    d = json.loads(capsys.readouterr().out)
    assert [r["trials"] for r in d["rows"]] == [9, 3, 1]
    assert preview_command(parser.parse_args(["--max-t", "9", "--grace", "20"])) == 2
    assert "grace_period (20) must not exceed max_t (9)" in capsys.readouterr().err


def _args(*argv):
    return add_preview_arguments(argparse.ArgumentParser(prog="raysha preview")).parse_args(list(argv))


def test_names_fix_the_variant_and_type_overrides_it():
    assert build_scheduler(_args("--max-t", "27")).type == "stopping"
    assert build_scheduler(_args("--max-t", "27", "--type", "promotion")).type == "promotion"
    hb = build_scheduler(_args("--scheduler", "hyperband", "--max-t", "27"))
    assert (hb.type, hb.brackets) == ("stopping", 4)
    assert build_scheduler(_args("--scheduler", "pasha", "--max-t", "27")).type == "promotion"
    ad = build_scheduler(_args("--scheduler", "adaptive", "--max-t", "256", "--divisor", "2"))
    assert ad.divisor == 2 and ad.max_trials == 100


def test_an_option_the_scheduler_lacks_is_a_clear_error(capsys):
    assert preview_command(_args("--scheduler", "random", "--max-t", "9", "--type", "promotion")) == 2
    assert "unknown option 'type'" in capsys.readouterr().err
