"""The decision core stays pure: importing raysha.schedulers pulls in no Ray, torch, argparse, pandas...,
and its source neither prints nor opens files."""

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import raysha.schedulers

PACKAGE = Path(raysha.schedulers.__file__).parent
MODULES = ["raysha.schedulers"] + [f"raysha.schedulers.{m.name}"
                                   for m in pkgutil.iter_modules(raysha.schedulers.__path__)]
FORBIDDEN = ("ray", "torch", "torchvision", "argparse", "pandas", "pyarrow", "matplotlib", "rich", "tqdm",
             "raysha.runtime", "raysha.cli", "raysha.preview_cli", "raysha.runs", "raysha.results",
             "raysha.simulate", "raysha.plots")
SOURCES = sorted(PACKAGE.glob("*.py"))


def test_importing_every_scheduler_module_loads_nothing_forbidden():
    code = ("import importlib, json, sys\n"
            f"for name in {MODULES!r}:\n"
            "    importlib.import_module(name)\n"
            "print(json.dumps(sorted(sys.modules)))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = json.loads(out)
    assert "raysha.schedulers.registry" in loaded and "raysha.schedulers.asha" in loaded
    bad = sorted(m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))
    assert not bad, f"raysha.schedulers imports {bad}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_source_never_prints_or_opens(path):
    text = path.read_text()
    assert "print(" not in text and "open(" not in text, f"{path.name} prints or opens a file"
    calls = [n.func.id for n in ast.walk(ast.parse(text))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
             and n.func.id in ("print", "open", "input", "exec", "eval", "breakpoint", "__import__")]
    assert not calls, f"{path.name} calls {calls}"


def test_the_source_list_is_the_package():
    assert {p.stem for p in SOURCES} >= {"base", "rungs", "asha", "pasha", "adaptive", "sync", "fifo",
                                         "checkpoints", "preview", "registry"}
