"""Shared fixtures. Hand-made geometries live in tests/common.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Timing is not correctness: on a loaded 2-core CI machine hypothesis's "too slow" health
# check and per-example deadline fail tests whose properties hold. Tests that need other
# settings still give their own @settings (they inherit these where they say nothing).
settings.register_profile("twin", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("twin")

# Servers built by tests do no background warm-up unless a test asks for one
# (tests/test_api_warmup.py does). warnings.catch_warnings is not thread-safe: a warm-up
# thread entering and leaving it while a request thread is inside FastAPI's own
# catch_warnings can restore the filters under it, and with warnings as errors a warning
# FastAPI means to silence (pydantic's UnsupportedFieldAttributeWarning) became a 500 in
# whichever test came first. Outside the tests a warning is only printed.
os.environ.setdefault("TWIN_WARM", "none")


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


PG_BIN = Path("/usr/lib/postgresql/15/bin")


def _as_postgres(cmd: list[str]) -> None:
    # PostgreSQL refuses to run as root; run its tools as the postgres user instead.
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="session")
def postgis():
    """A private PostgreSQL 15 + PostGIS cluster on a Unix socket in a temp dir, for this
    test session; yields a psycopg connection string. Skips when the Debian packages
    (postgresql-15, postgresql-15-postgis-3) or psycopg are missing."""
    psycopg = pytest.importorskip("psycopg", reason="pip install 'psycopg[binary]'")
    if not (PG_BIN / "initdb").exists():
        pytest.skip("PostgreSQL 15 is not installed (Debian: apt-get install postgresql-15 "
                    "postgresql-15-postgis-3)")
    if not list(Path("/usr/share/postgresql/15/extension").glob("postgis.control")):
        pytest.skip("PostGIS is not installed (Debian: apt-get install postgresql-15-postgis-3)")
    # Not under pytest's tmp_path: its folders are private to root, and the server runs
    # as the postgres user.
    work = Path(tempfile.mkdtemp(prefix="twin-postgis-"))
    data, sock = work / "data", work / "sock"
    sock.mkdir()
    if os.geteuid() == 0:
        for p in (work, sock):
            shutil.chown(p, "postgres")
    # C.UTF-8: lower() (CQL2 CASEI) then folds Cyrillic and Kazakh letters as Python does.
    _as_postgres([str(PG_BIN / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"])
    _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-l", str(work / "pg.log"),
                  "-o", f"-k {sock} -c listen_addresses='' -c fsync=off -c jit=off", "start"])
    dsn = f"host={sock} dbname=postgres user=postgres"
    try:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        yield dsn
    finally:
        _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"])
        shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="session")
def postgis_url(postgis):
    """A function giving a fresh ``postgresql://`` twin location (its own schema) in the
    private cluster of :func:`postgis`."""
    import itertools

    sock = dict(kv.split("=", 1) for kv in postgis.split())["host"]
    counter = itertools.count()
    return lambda: f"postgresql://postgres@/postgres?host={sock}&schema=t{next(counter)}"


#: The backends the parity suite runs over; the PostGIS one is marked, so `-m "not
#: postgis"` leaves it out and the rest still runs.
BACKENDS = ["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)]


@pytest.fixture(params=BACKENDS)
def twin_location(request, tmp_path):
    """A fresh twin location in each backend: a GeoPackage path, then a PostGIS schema.
    Parity tests take it, so one test checks that both backends give the same answers."""
    if request.param == "gpkg":
        return str(tmp_path / "twin.gpkg")
    return request.getfixturevalue("postgis_url")()


class Backend:
    """Where a test's twin lives: ``gpkg`` (a file) or ``postgis`` (a schema of the private
    cluster). :meth:`store` puts a twin there and opens it back, as a server opens its twin,
    so the test reads what the backend gives, not the twin it made in memory."""

    def __init__(self, kind: str, fresh):
        self.kind = kind
        self._fresh = fresh  # a new, empty location of this kind

    def __repr__(self) -> str:
        return self.kind

    def location(self) -> str:
        """A new, empty twin location."""
        return self._fresh()

    def store(self, tw):
        """``tw`` saved to a new location, and opened from there."""
        from twin import Twin

        location = self.location()
        tw.save(location)
        return Twin.open(location)

    def copy(self, location: str) -> str:
        """A new location holding what ``location`` holds (``twin push``'s copy; a file
        copy for a GeoPackage): for a test that writes, from a module's stored twin."""
        from twin import Twin

        dest = self.location()
        if self.kind == "gpkg":
            shutil.copyfile(location, dest)
        else:
            Twin.open(location).save(dest)
        return dest


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request, tmp_path_factory) -> Backend:
    """The backend this module's tests run on, once per backend: a test (or a module
    fixture) that takes it runs on a GeoPackage file, then on PostGIS, and must give the
    same answers. Tests that only read share one stored twin per module; tests that write
    take :meth:`Backend.copy` of it (a fresh file, or a fresh schema)."""
    if request.param == "gpkg":
        return Backend("gpkg", lambda: str(tmp_path_factory.mktemp("twin") / "twin.gpkg"))
    return Backend("postgis", request.getfixturevalue("postgis_url"))


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """One headless chromium (tests/map_browser.py) for every browser test of the session:
    launching it per module cost seconds each. Tests open their own pages in it; each
    server is on its own loopback port, so no page sees another origin's storage."""
    from tests.map_browser import launch_browser

    with launch_browser(tmp_path_factory.mktemp("chromium-profile")) as ctx:
        yield ctx
