"""Shared test geometries and helpers, in one place (as shapely's tests/common.py does).

The small twin and its geometry helpers live in :mod:`twin.sample`, so that docstring
examples can use them without importing ``tests``; they are re-exported here.
"""

from __future__ import annotations

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
