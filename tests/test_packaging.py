"""Packaging: pyproject.toml and environment.yml stay in step; `import twin` stays light."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# conda-forge spells a few packages differently from PyPI.
PYPI_TO_CONDA = {
    "uvicorn[standard]": "uvicorn-standard",
    "mapbox-vector-tile": "mapbox_vector_tile",
    "matplotlib": "matplotlib-base",
    "psycopg[binary]": "psycopg",
}


def _name(req: str) -> str:
    return re.split(r"[<>=!~; ]", req, maxsplit=1)[0].strip().lower()


def _runtime_pypi() -> set[str]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in ("api", "viz", "raster", "score", "dashboard", "postgis"):
        reqs += meta["optional-dependencies"][extra]
    return {PYPI_TO_CONDA.get(_name(r), _name(r)) for r in reqs}


def _conda() -> set[str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = {_name(d) for d in env["dependencies"] if isinstance(d, str)}
    return names - {"python", "pip"}


def test_environment_yml_names_the_same_runtime_dependencies():
    pypi, conda = _runtime_pypi(), _conda()
    assert pypi - conda == set(), f"in pyproject.toml but not environment.yml: {pypi - conda}"
    assert conda - pypi == set(), f"in environment.yml but not pyproject.toml: {conda - pypi}"


def test_import_twin_pulls_in_no_web_drawing_or_raster_code():
    code = (
        "import sys, twin, twin.cli; "
        "heavy = [m for m in ('fastapi', 'starlette', 'pydeck', 'rasterio', 'matplotlib',"
        " 'uvicorn', 'statsmodels') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "", f"import twin imported {out.stdout.strip()}"


def test_twin_modules_do_not_import_web_or_drawing_packages():
    # The layering rule of docs/design.md, checked on the source: twin/ never imports
    # fastapi, starlette or pydeck at module level (the CLI may, inside commands).
    banned = re.compile(r"^(from|import)\s+(fastapi|starlette|pydeck|api|layers)\b", re.M)
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "twin").rglob("*.py") if banned.search(
            p.read_text())
    ]
    assert offenders == []


def test_geodata_never_imports_twin():
    banned = re.compile(r"^\s*(from|import)\s+twin\b", re.M)
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "geodata").rglob("*.py")
        if banned.search(p.read_text())
    ]
    assert offenders == []


def test_the_viz_extra_makes_explore_work(small_twin):
    # GeoDataFrame.explore needs folium, and its scheme= choropleths mapclassify: both come
    # with the viz extra, so a notebook's explore() cell runs.
    sites = small_twin["project_sites"]
    m = sites.explore(column="jobs", scheme="quantiles", k=2, tiles=None)
    html = m.get_root().render()
    assert type(m).__name__ == "Map" and sites["name"].iloc[0] in html
