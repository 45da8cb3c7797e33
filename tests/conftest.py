"""Shared fixtures. Hand-made geometries live in tests/common.py."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

# Timing is not correctness: on a loaded 2-core CI machine hypothesis's "too slow" health
# check and per-example deadline fail tests whose properties hold. Tests that need other
# settings still give their own @settings (they inherit these where they say nothing).
settings.register_profile("twin", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("twin")


def pytest_report_header(config):
    import pyproj
    import shapely

    try:
        import pyogrio

        gdal = pyogrio.__gdal_version_string__
    except Exception:  # pragma: no cover - only the header
        gdal = "?"
    return (
        f"GEOS {shapely.geos_version_string}, GDAL {gdal}, PROJ {pyproj.proj_version_str}"
    )


@pytest.fixture
def small_twin():
    """A tiny hand-made twin (see tests/common.py): fast, and every number hand-checkable."""
    from tests.common import make_small_twin

    return make_small_twin()


@pytest.fixture(scope="session")
def default_twin_path(tmp_path_factory):
    """The default Akmola twin, built once per test session into a temporary folder."""
    from twin.default import build_default

    path = tmp_path_factory.mktemp("default") / "akmola.gpkg"
    build_default(out=path)
    return path


@pytest.fixture(scope="session")
def default_twin(default_twin_path):
    """The default twin opened from its file. Treat it as read-only: it is shared."""
    from twin import Twin

    return Twin.open(default_twin_path)
