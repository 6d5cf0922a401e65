"""benchmarks/searchers_quadratic.py at a tiny size (the published run: 10 seeds, 1200 s)."""

import json
import math

import pytest

from benchmarks import searchers_quadratic as bench


def test_branin_has_its_known_minima_and_the_fidelity_moves_them():
    for x1, x2 in ((-math.pi, 12.275), (math.pi, 2.275), (9.42478, 2.475)):
        assert bench.NoisyBranin.branin(x1, x2) == pytest.approx(0.397887, abs=1e-5)
    assert bench.NoisyBranin.branin(math.pi, 2.275, z=0.1) > 0.5


def test_a_tiny_run_saves_what_it_prints(tmp_path, capsys):
    out = tmp_path / "sq.json"
    d = bench.main(["--seeds", "2", "--budget", "240", "--searchers", "random", "kde", "--out", str(out)])
    assert json.loads(out.read_text())["summary"] == d["summary"]
    cells = {(c["objective"], c["searcher"]) for c in d["summary"]}
    assert cells == {(o, s) for o in ("quadratic", "branin") for s in ("random", "kde")}
    for r in d["runs"]:
        assert len(r["regret"]) == bench.GRID and r["trials"] > 10
        finite = [v for v in r["regret"] if math.isfinite(v)]
        assert finite and all(v >= -1e-9 for v in finite)
    assert "median regret" in capsys.readouterr().out
