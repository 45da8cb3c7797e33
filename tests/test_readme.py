"""The README's Python examples run as written (against the session's default twin)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_python_examples():
    assert len(_python_blocks()) >= 2


@pytest.mark.slow
@pytest.mark.parametrize("block", range(len(_python_blocks())))
def test_readme_python_example_runs(block, default_twin_path, tmp_path, monkeypatch):
    import twin
    import twin.default

    # Work on a copy, so examples that save or ingest never touch the shared twin.
    copy = tmp_path / "akmola.gpkg"
    shutil.copy(default_twin_path, copy)
    rasters = default_twin_path.with_name(default_twin_path.name + ".rasters")
    if rasters.exists():
        shutil.copytree(rasters, copy.with_name(copy.name + ".rasters"))
    monkeypatch.setattr(twin.default, "load_default", lambda **_: twin.Twin.open(copy))
    monkeypatch.chdir(tmp_path)
    exec(compile(_python_blocks()[block], f"README.md block {block}", "exec"), {})
