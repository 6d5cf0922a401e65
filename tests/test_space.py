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


# -- conditional and nested spaces, quantized domains, grids ---------------------------------------
NESTED = {
    "optimizer": sp.choice({
        "sgd": {"lr": sp.loguniform(1e-3, 1), "schedule": sp.choice({"step": {"gamma": sp.uniform(0.1, 0.9)},
                                                                    "cosine": None})},
        "adam": {"lr": sp.loguniform(1e-5, 1e-2), "beta1": sp.quniform(0.8, 0.99, 0.01)},
        "none": None,
    }),
    "layers": sp.qrandint(2, 8, 2),
    "width": sp.grid([16, 32, 64]),
    "max_epochs": 10,
}


def test_a_conditional_space_samples_only_the_branch_it_takes():
    rng = np.random.default_rng(0)
    keys = {"sgd": [{"optimizer", "lr", "schedule", "gamma", "layers", "width", "max_epochs"},
                    {"optimizer", "lr", "schedule", "layers", "width", "max_epochs"}],
            "adam": [{"optimizer", "lr", "beta1", "layers", "width", "max_epochs"}],
            "none": [{"optimizer", "layers", "width", "max_epochs"}]}
    seen = set()
    for _ in range(300):
        c = sp.sample_config(NESTED, rng)
        assert set(c) in keys[c["optimizer"]]
        seen.add((c["optimizer"], c.get("schedule")))
        if c["optimizer"] == "sgd":
            assert 1e-3 <= c["lr"] <= 1 and (c["schedule"] == "cosine" or 0.1 <= c["gamma"] <= 0.9)
        elif c["optimizer"] == "adam":
            assert 1e-5 <= c["lr"] <= 1e-2 and NESTED["optimizer"].branches["adam"]["beta1"].contains(c["beta1"])
    assert seen == {("sgd", "step"), ("sgd", "cosine"), ("adam", None), ("none", None)}


def test_parameters_and_active_name_each_branch_by_its_path():
    paths = [p for p, _, _ in sp.parameters(NESTED)]
    assert paths == ["optimizer", "optimizer=sgd/lr", "optimizer=sgd/schedule",
                     "optimizer=sgd/schedule=step/gamma", "optimizer=adam/lr", "optimizer=adam/beta1",
                     "layers", "width"]
    config = {"optimizer": "sgd", "lr": 0.1, "schedule": "step", "gamma": 0.5, "layers": 4, "width": 32,
              "max_epochs": 10}
    assert [p for p, _, _ in sp.active(NESTED, config)] == [
        "optimizer", "optimizer=sgd/lr", "optimizer=sgd/schedule", "optimizer=sgd/schedule=step/gamma",
        "layers", "width"]
    assert sp.all_names(NESTED) == {"optimizer", "lr", "schedule", "gamma", "beta1", "layers", "width",
                                    "max_epochs"}


def test_a_branch_name_colliding_with_its_surroundings_is_refused():
    with pytest.raises(sp.SpaceError, match=r"branch opt=a sets \['x'\]"):
        sp.validate_space({"x": sp.uniform(0, 1), "opt": sp.choice({"a": {"x": sp.uniform(0, 1)}, "b": None})})
    with pytest.raises(sp.SpaceError, match="choice: branch 'a' must be a dict"):
        sp.choice({"a": [1, 2], "b": None})


def test_points_to_evaluate_in_a_conditional_space():
    cfg = sp.complete_config(NESTED, {"optimizer": "adam", "lr": 1e-3}, np.random.default_rng(0))
    assert cfg["optimizer"] == "adam" and cfg["lr"] == 1e-3 and "beta1" in cfg and "gamma" not in cfg
    with pytest.raises(sp.SpaceError, match=r"\['gamma'\] belong to a branch this point does not take"):
        sp.complete_config(NESTED, {"optimizer": "adam", "gamma": 0.5}, np.random.default_rng(0))


@pytest.mark.parametrize("dom, allowed", [
    (sp.quniform(0.0, 1.0, 0.25), {0.0, 0.25, 0.5, 0.75, 1.0}),
    (sp.qrandint(0, 100, 25), {0, 25, 50, 75, 100}),
    (sp.qloguniform(0.5, 2.0, 0.5), {0.5, 1.0, 1.5, 2.0}),
    (sp.qlograndint(4, 16, 4), {4, 8, 12, 16}),
])
def test_quantized_domains_draw_only_multiples_of_q(dom, allowed):
    rng = np.random.default_rng(0)
    draws = {dom.sample(rng) for _ in range(500)}
    assert draws == allowed
    assert all(dom.contains(v) for v in allowed) and not dom.contains(sorted(allowed)[0] + 0.1)


@pytest.mark.parametrize("make, fragment", [
    (lambda: sp.quniform(0, 1, 0.3), "upper (1.0) must be a multiple of q (0.3)"),
    (lambda: sp.qrandint(0, 10, 0), "q must be > 0"),
    (lambda: sp.qrandint(0, 10, 2.5), "q must be an integer"),
])
def test_bad_quantization_names_the_bound(make, fragment):
    with pytest.raises(sp.SpaceError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        make()


def test_a_grid_is_a_choice_to_sampling():
    rng = np.random.default_rng(0)
    assert {sp.grid([1, 2, 3]).sample(rng) for _ in range(100)} == {1, 2, 3}


def test_conditional_quantized_and_grid_spaces_survive_json():
    text = json.dumps(sp.space_to_json(NESTED))
    back = sp.space_from_json(json.loads(text))
    assert back == NESTED
    assert back["optimizer"].branches["sgd"]["schedule"].branches["step"]["gamma"] == sp.uniform(0.1, 0.9)
    assert type(back["width"]) is sp.Grid and back["layers"].q == 2
    rng_a, rng_b = np.random.default_rng(4), np.random.default_rng(4)
    assert [sp.sample_config(back, rng_a) for _ in range(20)] == [sp.sample_config(NESTED, rng_b)
                                                                 for _ in range(20)]
    with pytest.raises(sp.SpaceError, match="'lr' has unknown type 'normal'"):
        sp.space_from_json({"lr": {"type": "normal"}})
