"""Tiles over HTTP (TestClient): OGC and XYZ routes, TileJSON behind a proxy, ETag/304,
gzip, empty tiles (204), bad z/x/y with no work done, and the fast path's answers equal the
full path's; on a twin stored in each backend (tests/conftest.py's ``backend``)."""

from __future__ import annotations

import gzip

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.tile_math import tiles_for_bounds
from tests.test_vector_tiles import grid_twin

MVT = "application/vnd.mapbox-vector-tile"


@pytest.fixture(scope="module")
def app(backend):
    return create_app(Settings(gc_freeze=False), twin=backend.store(grid_twin(30, 20)))


@pytest.fixture
def client(app):
    with TestClient(app) as c:
        yield c


def _a_tile(app, z=12):
    b = app.state.twin.layer("parcels").total_bounds
    x0, y0, x1, y1 = tiles_for_bounds(tuple(b), z)
    return z, (x0 + x1) // 2, (y0 + y1) // 2


def test_xyz_and_ogc_routes_serve_the_same_tile(app, client):
    z, x, y = _a_tile(app)
    a = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "identity"})
    b = client.get(f"/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}",
                   headers={"Accept-Encoding": "identity"})
    assert a.status_code == b.status_code == 200
    assert a.headers["content-type"] == MVT
    assert a.content == b.content and a.headers["etag"] == b.headers["etag"]
    assert "max-age" in a.headers["cache-control"]
    feats = mapbox_vector_tile.decode(a.content)["parcels"]["features"]
    assert len(feats) > 0


def test_gzip_when_accepted(app, client):
    z, x, y = _a_tile(app)
    plain = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt",
                       headers={"Accept-Encoding": "identity"})
    r = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["etag"] != plain.headers["etag"]
    assert r.headers["vary"] == "accept-encoding"
    # httpx decodes gzip for us; the bytes behind it are the plain tile.
    assert r.content == plain.content
    assert gzip.decompress(app.state.tiles.tile("parcels", z, x, y).gzipped) == plain.content


def test_etag_gives_304(app, client):
    z, x, y = _a_tile(app)
    first = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt")
    again = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt",
                       headers={"If-None-Match": first.headers["etag"],
                                "Accept-Encoding": first.headers.get("content-encoding",
                                                                     "identity")})
    assert again.status_code == 304 and again.content == b""
    ogc = client.get(f"/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}",
                     headers={"If-None-Match": first.headers["etag"]})
    assert ogc.status_code == 304


def test_fast_path_answers_equal_the_full_path(app, client):
    z, x, y = _a_tile(app, 13)
    for enc in ("identity", "gzip"):
        miss = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": enc})
        hit = client.get(f"/tiles/parcels/{z}/{x}/{y}.mvt", headers={"Accept-Encoding": enc})
        assert miss.status_code == hit.status_code == 200
        drop = {"date", "server"}
        assert {k: v for k, v in miss.headers.items() if k not in drop} == {
            k: v for k, v in hit.headers.items() if k not in drop}
        assert miss.content == hit.content


def test_empty_tile_is_204(client):
    # A tile in the Pacific: no parcel there.
    r = client.get("/tiles/parcels/8/5/100.mvt")
    assert r.status_code == 204 and r.content == b""
    assert "etag" in r.headers
    r2 = client.get("/tiles/parcels/8/5/100.mvt")  # again, from the cache (fast path)
    assert r2.status_code == 204


@pytest.mark.parametrize("url,status", [
    ("/tiles/parcels/25/0/0.mvt", 404),
    ("/tiles/parcels/12/4096/0.mvt", 404),
    ("/tiles/parcels/12/0/4096.mvt", 404),
    ("/tiles/parcels/2/0/0.mvt", 404),  # below the layer's min zoom
    ("/tiles/parcels/17/0/0.mvt", 404),  # above its max zoom
    ("/tiles/parcels/-1/0/0.mvt", 404),
    ("/tiles/parcels/1e3/0/0.mvt", 400),
    ("/tiles/parcels/a/b/c.mvt", 400),
    ("/tiles/parcels/12/%C2%B2/0.mvt", 400),  # a Unicode digit, not an integer
    ("/tiles/parcels/99999999999999999999999/0/0.mvt", 404),
    ("/tiles/nope/5/0/0.mvt", 404),
    ("/tiles/nope.json", 404),
    ("/collections/parcels/tiles/WorldCRS84Quad", 404),
    ("/collections/parcels/tiles/WorldCRS84Quad/5/0/0", 404),
    ("/collections/parcels/tiles/WebMercatorQuad/5/x/0", 400),
    ("/collections/nope/tiles", 404),
])
def test_bad_tiles_are_refused_without_work(app, client, url, status):
    prepared = dict(app.state.tiles._prepared)
    r = client.get(url)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert app.state.tiles._prepared.keys() == prepared.keys()


def test_tilejson_absolute_urls_behind_a_proxy(app):
    # From a trusted proxy; in a list, the value the nearest proxy set (the last) counts.
    proxied = create_app(Settings(gc_freeze=False, trusted_proxies="10.0.0.0/8"),
                         twin=app.state.twin)
    with TestClient(proxied, client=("10.0.0.2", 4000)) as c:
        r = c.get("/tiles/parcels.json", headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example, maps.example.org",
            "X-Forwarded-Prefix": "/twin/"})
    tj = r.json()
    assert tj["tilejson"] == "3.0.0"
    assert tj["tiles"] == ["https://maps.example.org/twin/tiles/parcels/{z}/{x}/{y}.mvt"]
    assert tj["vector_layers"][0]["id"] == "parcels"
    assert tj["vector_layers"][0]["fields"]["area_ha"] == "Number"
    assert tj["minzoom"] <= tj["center"][2] <= tj["maxzoom"]
    w, s, e, n = tj["bounds"]
    assert w < e and s < n


def test_tilejson_with_root_path(app):
    with TestClient(app, root_path="/api") as c:
        tj = c.get("/tiles/parcels.json").json()
    assert tj["tiles"][0] == "http://testserver/api/tiles/parcels/{z}/{x}/{y}.mvt"


def test_public_url_setting_wins(small_twin):
    app = create_app(Settings(public_url="https://twin.example.kz/"), twin=small_twin)
    with TestClient(app) as c:
        tj = c.get("/tiles/districts.json", headers={"X-Forwarded-Host": "evil"}).json()
    assert tj["tiles"][0].startswith("https://twin.example.kz/tiles/districts/")


def test_untrusted_forwarded_headers_are_ignored(small_twin):
    app = create_app(Settings(), twin=small_twin)  # TWIN_TRUSTED_PROXIES: empty by default
    with TestClient(app) as c:
        tj = c.get("/tiles/districts.json", headers={"X-Forwarded-Host": "evil"}).json()
    assert tj["tiles"][0].startswith("http://testserver/")


def test_tileset_metadata(client):
    sets = client.get("/collections/parcels/tiles").json()
    assert sets["tilesets"][0]["dataType"] == "vector"
    ts = client.get("/collections/parcels/tiles/WebMercatorQuad").json()
    assert ts["tileMatrixSetURI"].endswith("WebMercatorQuad")
    item = [link for link in ts["links"] if link["rel"] == "item"][0]
    assert item["href"].endswith("/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}")
    lim = {m["tileMatrix"]: m for m in ts["tileMatrixSetLimits"]}
    assert lim["12"]["minTileCol"] <= lim["12"]["maxTileCol"]


def test_head_on_a_cold_tile(app, client):
    z, x, y = _a_tile(app, 14)
    r = client.head(f"/tiles/parcels/{z}/{x}/{y}.mvt")
    assert r.status_code in (200, 204) and r.content == b""
    assert "etag" in r.headers
    ogc = client.head(f"/collections/parcels/tiles/WebMercatorQuad/{z}/{y}/{x}")
    assert ogc.status_code == r.status_code and ogc.headers["etag"] == r.headers["etag"]


def test_tileset_geometry_dimension_only_for_a_single_dimension(small_twin):
    # Water holds lakes (surfaces) and rivers (curves): its tileset once said 1 (curves),
    # so a client styling by it drew no lakes. OGC: leave it out for a mixed layer.
    import geopandas as gpd
    import shapely

    w, s, e, n = small_twin["region"].total_bounds
    water = gpd.GeoDataFrame(
        {"id": ["lake", "river"], "name": ["Lake", "River"], "kind": ["lake", "river"],
         "accuracy": ["synthetic"] * 2, "source": ["tests"] * 2, "synthetic": [True] * 2},
        geometry=[shapely.box(w + 0.01, s + 0.01, w + 0.02, s + 0.02),
                  shapely.LineString([(w + 0.03, s + 0.03), (e - 0.03, n - 0.03)])],
        crs=4326)
    small_twin.add_layer("water", water)
    with TestClient(create_app(Settings(gc_freeze=False), twin=small_twin)) as c:
        dims = {name: c.get(f"/collections/{name}/tiles/WebMercatorQuad").json()["layers"][0]
                .get("geometryDimension") for name in ("water", "districts", "settlements")}
    assert dims == {"water": None, "districts": 2, "settlements": 0}
