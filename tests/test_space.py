import json

import numpy as np
import pytest

from raysha import space as sp


def test_sampling_is_seeded_and_in_range():
    space = {"lr": sp.loguniform(1e-2, 1), "bs": sp.randint(32, 256), "k": sp.lograndint(1, 100),
             "u": sp.uniform(-1, 1), "act": sp.choice(["relu", "tanh"]), "max_epochs": 10}
    a = [sp.sample_config(space, np.random.default_rng(3)) for _ in range(3)]
    b = [sp.sample_config(space, np.random.default_rng(3)) for _ in range(3)]
    assert a == b
    rng = np.random.default_rng(0)
    samples = [sp.sample_config(space, rng) for _ in range(2000)]
    assert all(1e-2 <= s["lr"] <= 1 and 32 <= s["bs"] <= 256 and 1 <= s["k"] <= 100 for s in samples)
    assert {s["bs"] for s in samples} >= {32, 256}, "randint includes both bounds"
    assert all(s["max_epochs"] == 10 for s in samples)
    # loguniform: about half the mass below the geometric mean 0.1
    below = np.mean([s["lr"] < 0.1 for s in samples])
    assert 0.45 < below < 0.55


@pytest.mark.parametrize("make, fragment", [
    (lambda: sp.loguniform(0, 1), "lower must be > 0"),
    (lambda: sp.uniform(2, 1), "lower (2.0) must be smaller than upper (1.0)"),
    (lambda: sp.randint(1.5, 3), "lower must be an integer"),
    (lambda: sp.randint(5, 3), "must not exceed upper"),
    (lambda: sp.choice([]), "must not be empty"),
    (lambda: sp.uniform(0, float("inf")), "upper must be finite"),
])
def test_bad_domains_name_the_bound(make, fragment):
    with pytest.raises(sp.SpaceError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_validate_space_errors():
    with pytest.raises(sp.SpaceError, match="empty"):
        sp.validate_space({})
    with pytest.raises(sp.SpaceError, match="'lr' must be a domain"):
        sp.validate_space({"lr": object()})
    with pytest.raises(sp.SpaceError, match="dict"):
        sp.validate_space([("lr", 1)])


def test_points_to_evaluate_are_checked_and_completed():
    space = {"lr": sp.loguniform(1e-2, 1), "bs": sp.randint(32, 256)}
    cfg = sp.complete_config(space, {"lr": 0.1}, np.random.default_rng(0))
    assert cfg["lr"] == 0.1 and 32 <= cfg["bs"] <= 256
    with pytest.raises(sp.SpaceError, match="outside"):
        sp.complete_config(space, {"lr": 5.0}, np.random.default_rng(0))
    with pytest.raises(sp.SpaceError, match="not in the search space"):
        sp.complete_config(space, {"learning_rate": 0.1}, np.random.default_rng(0))


def test_json_round_trip():
    space = {"lr": sp.loguniform(1e-2, 1), "bs": sp.randint(32, 256), "c": sp.choice([1, "a"]),
             "k": sp.lograndint(2, 9), "max_epochs": 10}
    back = sp.space_from_json(json.loads(json.dumps(sp.space_to_json(space))))
    assert back == space
