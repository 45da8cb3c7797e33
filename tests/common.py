"""Shared test geometries and helpers, in one place (as shapely's tests/common.py does).

The small twin and its geometry helpers live in :mod:`twin.sample`, so that docstring
examples can use them without importing ``tests``; they are re-exported here.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from twin.sample import (  # noqa: F401 - re-exported for the tests
    SMALL_CRS,
    X0,
    Y0,
    lonlat,
    make_bare_twin,
    make_small_twin,
    metric,
    point_lonlat,
    square_lonlat,
)

PROBLEM = "application/problem+json"


def assert_problem(response, status: int, *words: str) -> str:
    """Assert an HTTP answer is a problem+json with ``status`` whose detail names ``words``;
    return the detail."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    detail = response.json()["detail"]
    for w in words:
        assert w in detail, detail
    return detail


#: The environment for GDAL's command-line tools reading a loopback server: no proxy.
NO_PROXY_ENV = {**{k: v for k, v in os.environ.items()
                   if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")},
                "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def ogrinfo_counts(url: str, timeout: float = 180) -> dict[str, int]:
    """Feature count of every collection GDAL's OGC API Features client (``ogrinfo
    OAPIF:``) reads from the API at ``url``."""
    out = subprocess.run(["ogrinfo", "-ro", "-so", "-al", f"OAPIF:{url}/"],
                         capture_output=True, text=True, timeout=timeout, env=NO_PROXY_ENV)
    assert out.returncode == 0, out.stderr
    counts, name = {}, None
    for line in out.stdout.splitlines():
        if line.startswith("Layer name:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("Feature Count:") and name:
            counts[name] = int(line.split(":", 1)[1])
    return counts


def stored_rows(location, table: str) -> list[tuple]:
    """The rows of an attribute table as the twin's store holds them (a GeoPackage or a
    PostGIS schema), sorted, with NaN read as None so that two reads compare equal."""
    from twin.store import open_store
    from twin.store.base import plain

    st = open_store(location)
    try:
        df = st.read_table(table)
    finally:
        st.close()
    if df is None:
        return []
    return sorted(tuple(plain(v) for v in row) for row in df.itertuples(index=False))


#: For a test of a module parametrized over ``backend`` (tests/conftest.py) that is about
#: HTTP parsing or domain code, not about where the twin lives: run it on a GeoPackage only,
#: which keeps `make test` inside its time budget.
GPKG_ONLY = pytest.mark.parametrize("backend", ["gpkg"], indirect=True)
