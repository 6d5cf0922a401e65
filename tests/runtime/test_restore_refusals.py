"""A restore checks before it acts: a bad journal is refused naming the file, and nothing in the folder changes.

The experiment is a real one (tests/runtime/store_driver.py, 6 trials on local Ray), copied for
each case and then damaged as the issue describes: a journal that is ``{}`` or has no
``parts``, a part deleted, a part truncated, checkpoint paths outside the experiment.
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from raysha.runtime import journal as jn
from raysha.runtime.tuner import Tuner, TunerError

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("ran")
    driver = Path(__file__).with_name("store_driver.py")
    p = subprocess.run([sys.executable, str(driver), "run", str(root), "exp", "6"], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    return root / "exp"


def _copy(finished, tmp_path) -> Path:
    folder = tmp_path / "exp"
    shutil.copytree(finished, folder)
    state = json.loads((folder / jn.STATE_FILE).read_text())
    state["checkpoints"] = {"3": {"resource": 1, "durable": "checkpoints/trial_000003/ckpt_1.pkl"}}
    (folder / jn.STATE_FILE).write_text(json.dumps(state))
    return folder


def _files(folder: Path) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _tamper_journal(folder: Path, fn) -> None:
    state = json.loads((folder / jn.STATE_FILE).read_text())
    (folder / jn.STATE_FILE).write_text(json.dumps(fn(state)))


def _first_part(folder: Path) -> Path:
    return folder / "results" / json.loads((folder / jn.STATE_FILE).read_text())["parts"]["results"][0]


CASES = {
    "journal is {}": (lambda f: _tamper_journal(f, lambda s: {}), r"scheduler_state.json lacks required fields"),
    "journal without parts": (lambda f: _tamper_journal(f, lambda s: {k: v for k, v in s.items() if k != "parts"}),
                              r"scheduler_state.json lacks required fields \['parts'\]"),
    "part deleted": (lambda f: _first_part(f).unlink(), r"part-\d+\.parquet, which is missing"),
    "part truncated": (lambda f: _first_part(f).write_bytes(_first_part(f).read_bytes()[:64]),
                       r"part-\d+\.parquet, which cannot be read"),
    "checkpoint outside the root": (
        lambda f: _tamper_journal(f, lambda s: dict(s, checkpoints={"3": {"resource": 1, "durable": "../../victim"}})),
        r"scheduler_state.json: the checkpoint of trial 3 is outside the experiment root"),
    "checkpoint absolute elsewhere": (
        lambda f: _tamper_journal(f, lambda s: dict(s, checkpoints={"3": {"resource": 1, "durable": "/etc/passwd"}})),
        r"outside the experiment root"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_damaged_experiment_is_refused_naming_the_file_and_left_as_it_was(finished, tmp_path, case):
    folder = _copy(finished, tmp_path)
    damage, message = CASES[case]
    damage(folder)
    (tmp_path / "victim").write_text("must survive")
    before = _files(folder)
    with pytest.raises(TunerError, match=message):
        Tuner.restore(folder).fit()
    assert _files(folder) == before
    assert (tmp_path / "victim").read_text() == "must survive"


def test_a_sound_copy_restores_from_a_file_uri(finished, tmp_path):
    folder = _copy(finished, tmp_path)
    tuner = Tuner.restore(f"file://{folder}")
    assert tuner.folder == f"file://{folder}" and tuner.name == "exp"


def test_cli_resume_takes_a_file_uri_as_the_folder(tmp_path, capsys):
    from raysha.cli import main

    assert main(["run", "lenet", "--resume", f"file://{tmp_path}/nope"]) == 2
    err = capsys.readouterr().err
    assert f"no experiment folder at file://{tmp_path}/nope" in err and "file:/" not in err.replace("file://", "")
