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


def _sh_lines() -> list[tuple[str, str]]:
    """(file, line) for every ``twin ...`` command in the sh blocks of the README and docs."""
    out = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```sh\n(.*?)```", path.read_text(), flags=re.S):
            for line in block.splitlines():
                cmd = line.split("#")[0].strip()
                if cmd.startswith("twin "):
                    out.append((path.name, cmd))
    return out


def test_documented_commands_and_options_exist():
    """Every verb and --option a doc shows is one the CLI has."""
    import argparse

    from twin.cli import _parser

    def subparsers(p):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                return a.choices
        return {}

    lines = _sh_lines()
    assert len(lines) >= 10
    for name, cmd in lines:
        p, tokens = _parser(), cmd.split()[1:]
        while tokens and tokens[0] in subparsers(p):
            p = subparsers(p)[tokens.pop(0)]
        assert p.prog != "twin", f"{name}: {cmd!r} names no twin verb"
        known = {o for a in p._actions for o in a.option_strings}
        for opt in re.findall(r"--[a-z][a-z-]*", cmd):
            assert opt in known, f"{name}: {cmd!r}: {p.prog} has no option {opt}"


def test_documented_routes_exist():
    """Every route in the README's HTTP table is served by one of api/routers."""
    import importlib

    section = (ROOT / "README.md").read_text().split("## HTTP API")[1].split("\n## ")[0]
    documented = set()
    for row in (r for r in section.splitlines() if r.startswith("| `")):
        for path in re.findall(r"`([^`]*)`", row.split("|")[1]):
            path = path.removeprefix("POST ").split("?")[0]
            documented |= {path.replace("[", "").replace("]", ""), re.sub(r"\[.*?\]", "", path)}
    served = []
    for name in ("landing", "features", "tiles", "raster", "plan", "score", "scenarios", "map",
                 "dashboard"):
        for route in importlib.import_module(f"api.routers.{name}").router.routes:
            pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(route.path))
            served.append(re.compile(pattern + "$"))
    assert len(documented) >= 25
    for path in sorted(documented):
        concrete = re.sub(r"\{[^}]*\}", "x", path)
        assert any(p.match(concrete) for p in served), f"README route {path} is not served"


def test_every_setting_is_in_the_readme():
    from api.settings import Settings

    text = (ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        if field.exclude:  # a removed setting, kept only to refuse it with a message
            assert f"TWIN_{name.upper()}` is gone" in text, name
        else:
            assert f"`TWIN_{name.upper()}`" in text, f"README's settings table lacks {name}"
