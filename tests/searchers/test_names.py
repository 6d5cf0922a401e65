"""Searcher names: make_searcher, the CLI's --searcher list, and the errors for bad names and spaces."""

import sys

import numpy as np
import pytest

from raysha import space as sp
from raysha.cli import build_parser
from raysha.schedulers import ASHA, RandomSearch, SchedulerError
from raysha.searchers import SEARCHERS, RandomSearcher, Searcher, SearcherError, make_searcher


def test_the_names_are_fixed():
    assert SEARCHERS == ("random", "grid", "kde", "gp", "optuna-tpe", "optuna-gp", "optuna-cmaes")


@pytest.mark.parametrize("name", SEARCHERS)
def test_each_name_makes_a_searcher_that_proposes_configs_in_the_space(name):
    if name.startswith("optuna"):
        pytest.importorskip("optuna")
    searcher = make_searcher(name)
    assert isinstance(searcher, Searcher) and searcher.name == name
    sched = RandomSearch({"x": sp.uniform(0, 1), "k": sp.randint(1, 4)}, metric="loss", max_t=3,
                         searcher=searcher)
    job = sched.next_job(0.0)
    assert 0 <= job.config["x"] <= 1 and job.config["k"] in (1, 2, 3, 4)


def test_none_is_random_and_an_instance_is_used_as_given():
    assert isinstance(make_searcher(None), RandomSearcher)
    mine = RandomSearcher()
    assert make_searcher(mine) is mine


@pytest.mark.parametrize("bad", ["bohb", "optuna-random", "Random", 3])
def test_an_unknown_name_says_which_names_exist(bad):
    with pytest.raises(SearcherError, match=r"searcher must be one of random, grid, kde, gp, optuna-tpe"):
        make_searcher(bad)
    with pytest.raises(ValueError, match="searcher must be one of"):
        ASHA({"x": sp.uniform(0, 1)}, metric="loss", max_t=9, searcher=bad)


def test_the_cli_offers_exactly_these_names():
    parser = build_parser()
    for command in ("run", "simulate"):
        sub = parser.subcommand_parsers[command]
        assert "{" + ",".join(SEARCHERS) + "}" in sub.format_help(), command
        for name in SEARCHERS:
            argv = ["--searcher", name] + (["lenet"] if command == "run" else [])
            assert sub.parse_args(argv).searcher == name


def test_a_searcher_serves_one_scheduler():
    shared = RandomSearcher()
    ASHA({"x": sp.uniform(0, 1)}, metric="loss", max_t=9, searcher=shared)
    with pytest.raises(SearcherError, match="already serves a scheduler"):
        ASHA({"x": sp.uniform(0, 1)}, metric="loss", max_t=9, searcher=shared)


def test_cmaes_refuses_a_space_with_a_choice_naming_it():
    pytest.importorskip("optuna")
    with pytest.raises(SearcherError, match=r"'optuna-cmaes'.*'act' is a choice"):
        ASHA({"x": sp.uniform(0, 1), "act": sp.choice(["relu", "tanh"])}, metric="loss", max_t=9,
             searcher="optuna-cmaes")
    nested = {"opt": sp.choice({"sgd": {"lr": sp.loguniform(1e-3, 1)}, "adam": None})}
    with pytest.raises(SearcherError, match="'opt' is a choice"):
        ASHA(nested, metric="loss", max_t=9, searcher="optuna-cmaes")


def test_without_optuna_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)      # `import optuna` now raises ImportError
    for name in ("optuna-tpe", "optuna-gp", "optuna-cmaes"):
        with pytest.raises(SearcherError, match=r"pip install 'raysha\[search\]'"):
            make_searcher(name)


def test_the_cli_reports_a_searcher_that_cannot_handle_the_space(capsys):
    pytest.importorskip("optuna")
    from raysha.cli import main

    # the curves objective's space has a choice ("width"): exit 2, one line, no traceback
    assert main(["simulate", "--searcher", "optuna-cmaes", "--max-trials", "12", "--objective", "curves"]) == 2
    err = capsys.readouterr().err
    assert "'width' is a choice" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # the straggler objective's space is numeric: CMA-ES runs
    assert main(["simulate", "--searcher", "optuna-cmaes", "--max-trials", "12", "--objective", "straggler"]) == 0


@pytest.mark.parametrize("make, field", [
    (lambda: make_searcher("grid").__class__(num_samples=0), "num_samples"),
    (lambda: make_searcher("kde").__class__(top_n_percent=0), "top_n_percent"),
    (lambda: make_searcher("kde").__class__(min_points=1.5), "min_points"),
])
def test_bad_searcher_options_name_the_field(make, field):
    with pytest.raises(SearcherError, match=field):
        make()


def test_grid_num_samples_must_name_hyperparameters_of_the_space():
    from raysha.searchers import GridSearcher

    with pytest.raises(SearcherError, match=r"num_samples names \['y'\]"):
        ASHA({"x": sp.uniform(0, 1)}, metric="loss", max_t=9, searcher=GridSearcher({"y": 3}))


def test_kde_refuses_nothing_in_a_numeric_space_and_proposes_floats():
    s = make_searcher("kde")
    s.bind({"x": sp.uniform(0, 1)}, np.random.default_rng(0), lambda t: None)
    assert isinstance(s.suggest(0)["x"], float)
