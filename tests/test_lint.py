"""`make lint` passes: ruff over the code and mypy over the packages (pyproject.toml
configures both). Run here too, so that `make test` keeps the contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.lint, pytest.mark.slow]


def _tool(name: str) -> str:
    exe = Path(sys.executable).with_name(name)
    found = str(exe) if exe.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: `make install-test` installs it")
    return found


def test_ruff_passes():
    r = subprocess.run([_tool("ruff"), "check", "twin", "layers", "geodata", "api", "tests",
                        "bench"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_passes():
    r = subprocess.run([_tool("mypy"), "twin", "layers", "geodata", "api"], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
