"""preview(): trials per bracket and rung before running, for every scheduler (raysha/schedulers/preview.py)."""

import json

import pytest

from raysha.schedulers import (
    ASHA, PASHA, AdaptiveASHA, RandomSearch, SyncHyperband, SyncSuccessiveHalving, preview,
)
from raysha.space import uniform

C = dict(space={"x": uniform(0, 1)}, metric="loss")


def test_sync_hyperband_bracket_matches_the_seed():
    p = preview(SyncHyperband(**C, max_t=81, grace_period=1, reduction_factor=3))
    assert p.brackets()[0] == [(1, 81), (3, 27), (9, 9), (27, 3), (81, 1)]
    assert [r.stop_here for r in p.rows if r.bracket == 0] == [54, 18, 6, 2, 1]
    assert p.brackets()[4] == [(81, 5)]
    # bracket 0 alone: 81*1 + 27*2 + 9*6 + 3*18 + 1*54 = 297 epochs = 3.67 x 81
    sh = preview(SyncSuccessiveHalving(**C, max_t=81, grace_period=1, reduction_factor=3))
    assert sh.n_trials == 81 and sh.total_budget == pytest.approx(297 / 81)
    assert sh.total_resource == pytest.approx(297)


def test_asha_rungs_fill_as_intended():
    p = preview(ASHA(**C, max_t=81, type="promotion"), max_trials=81)
    assert p.brackets() == {0: [(1, 81), (3, 27), (9, 9), (27, 3), (81, 1)]}
    p = preview(ASHA(**C, max_t=27))
    assert p.n_trials == 27 and p.brackets()[0][-1] == (27, 1), "smallest N with one trial at max_t"


def test_async_hyperband_splits_trials_by_bracket_probabilities():
    s = ASHA(**C, max_t=200, grace_period=1, reduction_factor=3, brackets=6)
    p = preview(s, max_trials=415)
    assert [rows[0] for rows in p.brackets().values()] == [(1, 243), (3, 98), (9, 41), (27, 18), (81, 9), (200, 6)]
    assert sum(n for rows in p.brackets().values() for _, n in rows[:1]) == 415


def test_adaptive_and_random_and_pasha():
    s = AdaptiveASHA(**C, max_t=256, max_trials=1000, search_mode="standard")
    p = preview(s)
    assert [rows[0][1] for rows in p.brackets().values()] == [707, 220, 73]
    assert p.brackets()[0] == [(1, 707), (4, 176), (16, 44), (64, 11), (256, 2)]
    r = preview(RandomSearch(**C, max_t=10), max_trials=20)
    assert r.total_budget == 20 and r.brackets() == {0: [(10, 20)]}
    pa = preview(PASHA(**C, max_t=27), max_trials=27)
    assert pa.brackets()[0] == [(1, 27), (3, 9), (9, 3), (27, 1)]
    assert pa.min_budget == pytest.approx((27 * 1 + 9 * 2) / 27)
    assert pa.min_budget < pa.total_budget


def test_sync_with_max_trials_repeats_brackets():
    p = preview(SyncSuccessiveHalving(**C, max_t=27), max_trials=40)
    assert p.n_trials == 40
    assert p.brackets()[1][0] == (1, 13)


def test_it_reads_like_det_preview_search():
    out = str(preview(SyncSuccessiveHalving(**C, max_t=81)))
    assert "This search will create a total of 81 trial(s)." in out
    assert "Trials | Training length (epoch)" in out
    assert "Total training budget: 3.67 x max length (297 epoch)" in out


def test_frame_and_json():
    p = preview(ASHA(**C, max_t=9), max_trials=9)
    df = p.to_frame()
    assert list(df.columns) == ["bracket", "rung", "level", "trials", "stop_here"]
    assert df.trials.tolist() == [9, 3, 1]
    json.dumps(p.to_dict())
