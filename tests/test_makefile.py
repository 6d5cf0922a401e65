"""The Makefile's data step, shared by `make demo` and `make test`, run for real with `make data`.

The venv step is skipped by pointing ``PY`` at this interpreter and ``STAMP`` at a fresh
file. Where the data lies is controlled through a ``sitecustomize`` that moves the
Debian folder out of sight and points torchvision's mirror at a local HTTP server.
"""

import functools
import http.server
import os
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from raysha.workloads import fashion_mnist as fm

ROOT = Path(__file__).resolve().parents[1]
HAVE_MAKE = shutil.which("make") is not None
pytestmark = pytest.mark.skipif(not HAVE_MAKE, reason="make is not installed")

HIDE = textwrap.dedent("""
    import os
    from pathlib import Path
    import raysha.workloads.fashion_mnist as fm
    fm.DEBIAN_DIR = Path(os.environ["TEST_DEBIAN_DIR"])
    if os.environ.get("TEST_MIRROR"):
        from torchvision.datasets import FashionMNIST
        FashionMNIST.mirrors = [os.environ["TEST_MIRROR"]]
        # Debian's .gz files are recompressed: same images, other bytes than torchvision's md5s
        FashionMNIST.resources = [(name, None) for name, _ in FashionMNIST.resources]
""")


def make_data(tmp_path, **env):
    stamp = tmp_path / "stamp"
    stamp.touch()
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(HIDE)
    full = dict(os.environ, TORCH_HOME=str(tmp_path / "torch_home"), RAYSHA_CACHE=str(tmp_path / "cache"),
                PYTHONPATH=os.pathsep.join([str(site), str(ROOT)]), **env)
    full.pop("RAYSHA_DATA", None)
    return subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "data", f"PY={sys.executable}",
                           f"STAMP={stamp}", "CAN_APT="], env=full, capture_output=True, text=True,
                          timeout=300)


def test_data_step_finds_installed_data(tmp_path):
    if fm.locate() is None:
        pytest.skip("no Fashion-MNIST on this machine")
    r = make_data(tmp_path, TEST_DEBIAN_DIR=str(fm.DEBIAN_DIR))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Fashion-MNIST: " in r.stdout and "not found" not in r.stdout


def test_data_step_downloads_as_torchvision_does(tmp_path):
    """No data and no apt: torchvision's download (from a local mirror) fills the torchvision cache."""
    pytest.importorskip("torchvision")
    if not all((fm.DEBIAN_DIR / (f + ".gz")).is_file() for f in fm.FILES):
        pytest.skip("needs the Debian package's files to serve as a mirror")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(fm.DEBIAN_DIR))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        r = make_data(tmp_path, TEST_DEBIAN_DIR=str(tmp_path / "nothing"),
                      TEST_MIRROR=f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
    assert r.returncode == 0, r.stdout + r.stderr
    assert "downloaded by torchvision" in r.stdout
    raw = tmp_path / "torch_home" / "datasets" / "FashionMNIST" / "raw"
    assert all((raw / f).is_file() for f in fm.FILES)


def test_data_step_says_what_to_run_when_all_fails(tmp_path):
    """No data, no apt, no network (the mirror refuses): the step fails naming the commands."""
    r = make_data(tmp_path, TEST_DEBIAN_DIR=str(tmp_path / "nothing"), TEST_MIRROR="http://127.0.0.1:9/")
    assert r.returncode != 0
    out = r.stdout + r.stderr
    assert "sudo apt-get install dataset-fashion-mnist" in out and "RAYSHA_DATA" in out


def test_ci_runs_exactly_make_test():
    lines = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines()
             if ln.strip() and not ln.startswith("#") and not ln.startswith("set ") and not ln.startswith("cd ")]
    assert lines == ["make test"]
    readme = (ROOT / "README.md").read_text().splitlines()
    assert readme[2] == "```bash" and readme[3].startswith("make demo ") and readme[4].startswith("make test ")
