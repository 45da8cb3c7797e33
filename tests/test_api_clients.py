"""What GIS clients do with the API on a real uvicorn server: GDAL's OAPIF driver (Debian's
ogrinfo/ogr2ogr, and the newer GDAL inside pyogrio's wheel) with -where/-spat, other CRSs
and its page size; QGIS's own OAPIF provider (Debian's python3-qgis) and its page size;
and the URL limits a 100 KB filter meets. Counts are checked against geopandas."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import shapely

from api.app import create_app
from api.settings import Settings
from tests.test_api_server import _NO_PROXY_ENV, serve_in_thread
from tests.test_vector_tiles import grid_twin

pytestmark = [pytest.mark.server, pytest.mark.gdal]

QGIS_PYTHON = "/usr/bin/python3"
EPSG = "http://www.opengis.net/def/crs/EPSG/0/"


class Recorder:
    """ASGI wrapper that notes every request's path and query (the server log)."""

    def __init__(self, app):
        self.app = app
        self.log: list[str] = []

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.log.append(scope["path"] + "?" + scope["query_string"].decode())
        await self.app(scope, receive, send)

    def items(self, collection: str) -> list[str]:
        return [r for r in self.log if r.startswith(f"/collections/{collection}/items")]


@pytest.fixture(scope="module")
def akmola(default_twin):
    rec = Recorder(create_app(Settings(gc_freeze=False), twin=default_twin))
    with serve_in_thread(rec) as url:
        yield url, rec, default_twin


def need(tool: str):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed (Debian: apt-get install gdal-bin)")


def ogr(*args, timeout=300) -> subprocess.CompletedProcess:
    out = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout,
                         env=_NO_PROXY_ENV)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def feature_count(stdout: str) -> int:
    return int(next(line for line in stdout.splitlines()
                    if line.startswith("Feature Count:")).split(":")[1])


def pyogrio_read(url: str, layer: str, **kw) -> dict:
    """Read with pyogrio's GDAL in a child process (the server runs in this one, and
    pyogrio holds the GIL while GDAL fetches). Returns ids, coordinates and the CRS."""
    code = (
        "import json, sys, pyogrio, shapely\n"
        "kw = json.loads(sys.argv[3])\n"
        "kw.update({k: tuple(v) for k, v in kw.items() if isinstance(v, list)})\n"
        "df = pyogrio.read_dataframe('OAPIF:' + sys.argv[1], layer=sys.argv[2], **kw)\n"
        "print(json.dumps({'ids': df['id'].tolist(), 'crs': df.crs.to_epsg() if df.crs "
        "else None, 'xy': shapely.get_coordinates(df.geometry.values).tolist()}))\n")
    out = subprocess.run([sys.executable, "-c", code, url, layer, json.dumps(kw)],
                         capture_output=True, text=True, timeout=300, env=_NO_PROXY_ENV)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout)


# -- Debian's GDAL (3.6): -where, -spat, -t_srs ------------------------------------------
def test_ogrinfo_where_counts_match_geopandas(akmola):
    need("ogrinfo")
    url, rec, tw = akmola
    where = "investment_kzt > 10000000000 AND start_year > 2024"
    out = ogr("ogrinfo", "-ro", "-so", f"OAPIF:{url}", "project_sites", "-where", where)
    sites = tw.layer("project_sites")
    want = ((sites.investment_kzt > 10e9) & (sites.start_year > 2024)).sum()
    assert feature_count(out.stdout) == want > 0


def test_ogrinfo_spat_counts_match_geopandas(akmola):
    need("ogrinfo")
    url, rec, tw = akmola
    box = (69.0, 52.5, 70.5, 53.5)
    rec.log.clear()
    # GDAL 3.6 reads in pages of 10 unless told (it predates the OpenAPI limit rule).
    out = ogr("ogrinfo", "-ro", "-so", "-oo", "PAGE_SIZE=10000", f"OAPIF:{url}", "parcels",
              "-spat", *map(str, box))
    parcels = tw.layer("parcels")
    want = int(parcels.intersects(shapely.box(*box)).sum())
    assert feature_count(out.stdout) == want > 0
    assert any("bbox=" in r for r in rec.items("parcels"))  # asked of the server


def test_ogr2ogr_reprojects_to_utm_like_geopandas(akmola, tmp_path):
    need("ogr2ogr")
    url, rec, tw = akmola
    dst = tmp_path / "sites.gpkg"
    ogr("ogr2ogr", "-f", "GPKG", str(dst), f"OAPIF:{url}", "project_sites",
        "-t_srs", "EPSG:32642", "-where", "sector = 'metallurgy'")
    import pyogrio

    got = pyogrio.read_dataframe(dst)
    ref = tw.layer("project_sites")
    ref = ref[ref.sector == "metallurgy"].to_crs(32642)
    assert got.crs.to_epsg() == 32642 and len(got) == len(ref) > 0
    got = got.set_index("id").loc[ref["id"]]
    assert np.allclose(shapely.get_coordinates(got.geometry.values),
                       shapely.get_coordinates(ref.geometry.values), atol=1e-3)


# -- GDAL >= 3.8 (pyogrio's wheel): CQL2 on the server, CRS, page size --------------------
def test_gdal_sends_where_to_the_server_as_a_filter(akmola):
    url, rec, tw = akmola
    rec.log.clear()
    got = pyogrio_read(url, "parcels", where="land_use = 'industrial' AND area_ha > 1")
    parcels = tw.layer("parcels")
    want = parcels[(parcels.land_use == "industrial") & (parcels.area_ha > 1)]
    assert sorted(got["ids"]) == sorted(want["id"].tolist()) and len(want)
    asked = [r for r in rec.items("parcels") if "filter=" in r]
    assert asked and "filter-lang=cql-text" in asked[0]


def test_gdal_bbox_counts_match_geopandas(akmola):
    url, rec, tw = akmola
    box = (69.0, 52.5, 70.5, 53.5)
    got = pyogrio_read(url, "settlements", bbox=list(box))
    s = tw.layer("settlements")
    assert sorted(got["ids"]) == sorted(s.loc[s.intersects(shapely.box(*box)), "id"])


def test_gdal_reads_epsg_4326_in_its_axis_order(akmola):
    """GDAL asks for EPSG:4326, receives lat/lon (as the CRS defines it) and swaps to its
    lon/lat: the coordinates equal ours only if the server put latitude first."""
    url, rec, tw = akmola
    rec.log.clear()
    got = pyogrio_read(url, "settlements", CRS="EPSG:4326")
    assert any(f"crs={EPSG}4326" in r for r in rec.items("settlements"))
    s = tw.layer("settlements").set_index("id").loc[got["ids"]]
    assert got["crs"] == 4326
    assert np.allclose(got["xy"], shapely.get_coordinates(s.geometry.values))


def test_gdal_reads_a_utm_zone_from_the_server(akmola):
    url, rec, tw = akmola
    rec.log.clear()
    got = pyogrio_read(url, "project_sites", CRS="EPSG:32643")
    assert any(f"crs={EPSG}32643" in r for r in rec.items("project_sites"))
    ref = tw.layer("project_sites").set_index("id").loc[got["ids"]].to_crs(32643)
    assert got["crs"] == 32643
    assert np.allclose(got["xy"], shapely.get_coordinates(ref.geometry.values), atol=1e-6)


@pytest.mark.parametrize("max_page,asked", [(10_000, 10_000), (250, 250)])
def test_gdal_pages_at_the_declared_maximum(max_page, asked):
    """GDAL pages at min(max(1000, default), maximum) of the declared limit; our default is
    the maximum, so it asks for exactly the maximum (250 proves it read the document)."""
    tw = grid_twin(30, 20)
    rec = Recorder(create_app(Settings(gc_freeze=False, max_page_size=max_page), twin=tw))
    with serve_in_thread(rec) as url:
        got = pyogrio_read(url, "parcels")
    assert sorted(got["ids"]) == sorted(tw.layer("parcels")["id"])
    pages = [r for r in rec.items("parcels") if "limit=20&" not in r + "&"]
    assert pages and all(f"limit={asked}" in r for r in pages), pages
    assert len(pages) == -(-600 // asked)


# -- QGIS --------------------------------------------------------------------------------
QGIS_READ = Path(__file__).with_name("qgis_read.py")


@pytest.mark.slow
@pytest.mark.parametrize("max_page", [10_000, 250])
def test_qgis_pages_at_the_declared_maximum(max_page):
    probe = subprocess.run([QGIS_PYTHON, "-c", "import qgis.core"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("QGIS's Python bindings are not installed (Debian: python3-qgis)")
    tw = grid_twin(30, 20)
    rec = Recorder(create_app(Settings(gc_freeze=False, max_page_size=max_page), twin=tw))
    with serve_in_thread(rec) as url:
        out = subprocess.run([QGIS_PYTHON, str(QGIS_READ), url, "parcels"],
                             capture_output=True, text=True, timeout=300,
                             env={**_NO_PROXY_ENV, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stdout + out.stderr[-2000:]
    assert int(out.stdout.split()[0]) == 600
    pages = [r for r in rec.items("parcels") if "limit=10&" not in r + "&"]
    assert pages and all(f"limit={max_page}" in r for r in pages), pages


# -- URL limits: a 100 KB filter ------------------------------------------------------------
def raw_get(url: str, target: str) -> int:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                  .encode())
        head = s.recv(65536).split(b"\r\n", 1)[0]
    return int(head.split()[1])


@pytest.mark.parametrize("size", [100_000, 1_000_000])
def test_a_huge_filter_in_the_url_is_a_4xx_never_a_5xx(akmola, size):
    url, rec, tw = akmola
    literal = "x" * size
    status = raw_get(url, f"/collections/settlements/items?filter=name%3D%27{literal}%27")
    assert status in (400, 414, 431), status
    assert raw_get(url, "/health") == 200  # the server is still up
