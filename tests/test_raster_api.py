"""Raster endpoints over HTTP (TestClient): the list, TileJSON, PNG tiles and point values;
bad input answers 4xx problem+json, never 5xx."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.test_raster import build_small, write_tif
from tests.test_raster_tiles import TILE
from twin import Twin
from twin.raster import add_raster, get_raster, value_at

rasterio = pytest.importorskip("rasterio")
mercantile = pytest.importorskip("mercantile")
pytestmark = pytest.mark.filterwarnings(
    "ignore:Use `@` matmul instead of `\\*` mul operator:PendingDeprecationWarning")

from fastapi.testclient import TestClient  # noqa: E402

from api.app import create_app  # noqa: E402
from api.settings import Settings  # noqa: E402

PROBLEM = "application/problem+json"
_c = mercantile.ul(TILE.x + 0.5, TILE.y + 0.5, TILE.z)
TILE_CENTRE = f"{_c.lng},{_c.lat}"


@pytest.fixture(scope="module")
def twin_path(tmp_path_factory):
    return build_small(tmp_path_factory.mktemp("api")).path


@pytest.fixture(scope="module")
def client(twin_path):
    with TestClient(create_app(Settings(twin_path=twin_path))) as c:
        yield c


def problem(r, status: int) -> str:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["detail"]
    return body["detail"]


def test_list(client):
    r = client.get("/raster")
    assert r.status_code == 200
    rasters = {d["name"]: d for d in r.json()["rasters"]}
    assert {"population_density", "suitability"} <= set(rasters)
    pop = rasters["population_density"]
    assert pop["derived"] is True and "Gaussian kernel" in pop["method"]
    assert pop["units"] == "people/km2" and len(pop["bounds"]) == 4
    assert "path" not in pop and "file" not in pop  # no server paths leak
    hrefs = {link["rel"]: link["href"] for link in pop["links"]}
    assert hrefs["tilejson"] == "http://testserver/raster/population_density.json"
    assert client.get(hrefs["tilejson"]).status_code == 200


def test_tilejson(client):
    r = client.get("/raster/suitability.json")
    assert r.status_code == 200
    doc = r.json()
    assert doc["tilejson"] == "3.0.0"
    assert doc["tiles"] == ["http://testserver/raster/suitability/{z}/{x}/{y}.png"]
    assert doc["colormap"]["name"] == "rdylgn" and doc["minzoom"] <= doc["maxzoom"]
    url = doc["tiles"][0].format(z=TILE.z, x=TILE.x, y=TILE.y)
    assert client.get(url).headers["content-type"] == "image/png"


def test_tilejson_urls_follow_a_trusted_proxy(twin_path):
    app = create_app(Settings(twin_path=twin_path, trusted_proxies="10.0.0.0/8"))
    with TestClient(app, client=("10.1.2.3", 4000)) as c:
        r = c.get("/raster/suitability.json", headers={
            "X-Forwarded-Proto": "https", "X-Forwarded-Host": "maps.example.org",
            "X-Forwarded-Prefix": "/twin"})
    assert r.json()["tiles"] == [
        "https://maps.example.org/twin/raster/suitability/{z}/{x}/{y}.png"]


def test_png_tile(client, twin_path):
    r = client.get(f"/raster/suitability/{TILE.z}/{TILE.x}/{TILE.y}.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert "max-age" in r.headers["cache-control"]
    from PIL import Image

    im = Image.open(io.BytesIO(r.content))
    assert im.format == "PNG" and im.size == (256, 256) and im.mode == "RGBA"
    # The same tile drawn by layers directly, and its alpha is the nodata mask.
    from layers.raster_tiles import RasterTileSource

    info = get_raster(Twin.open(twin_path), "suitability")
    src = RasterTileSource()
    assert r.content == src.png(info, TILE.z, TILE.x, TILE.y)
    z8 = mercantile.tile(69.87, 51.94, 8)
    r8 = client.get(f"/raster/suitability/{z8.z}/{z8.x}/{z8.y}.png")
    alpha = np.asarray(Image.open(io.BytesIO(r8.content)))[..., 3]
    mask = np.ma.getmaskarray(src.data(info, z8.z, z8.x, z8.y)[0])
    assert mask.any() and (~mask).any()
    np.testing.assert_array_equal(alpha == 0, mask)


def test_etag_and_304(client):
    url = f"/raster/population_density/{TILE.z}/{TILE.x}/{TILE.y}.png"
    etag = client.get(url).headers["etag"]
    r = client.get(url, headers={"If-None-Match": etag})
    assert r.status_code == 304 and r.headers["etag"] == etag and not r.content


@pytest.mark.parametrize("url", ["/raster/suitability/12/0/0.png",
                                 "/raster/suitability/-1/0/0.png",
                                 "/raster/suitability/25/0/0.png"])
def test_a_tile_that_does_not_exist_is_never_not_modified(client, url):
    # If-None-Match: * (or a guessed ETag) once answered 304 before the tile was checked.
    for inm in ("*", f'"{get_raster(client.app.state.twin, "suitability").version}-12-0-0"'):
        problem(client.get(url, headers={"If-None-Match": inm}), 404)


@pytest.mark.parametrize("url, status", [
    ("/raster/suitability/12/0/0.png", 404),      # a real tile, far from the raster
    ("/raster/suitability/3/8/0.png", 404),       # x beyond 2**z
    ("/raster/suitability/25/0/0.png", 404),      # beyond WebMercatorQuad's zooms
    ("/raster/suitability/-1/0/0.png", 404),
    ("/raster/suitability/a/0/0.png", 400),
    ("/raster/nope.json", 404),
    ("/raster/nope/12/0/0.png", 404),
    ("/raster/nope/point/69.9,51.9", 404),
    ("/raster/..%2F..%2Fsmall.gpkg.json", 404),
    ("/raster/%2E%2E.json", 404),
])
def test_bad_tile_requests(client, url, status):
    problem(client.get(url), status)


def test_unknown_raster_names_the_known_ones(client):
    assert "population_density, suitability" in problem(client.get("/raster/nope.json"), 404)


def test_point(client, twin_path):
    tw = Twin.open(twin_path)
    town = tw["settlements"].geometry.iloc[0]
    r = client.get(f"/raster/population_density/point/{town.x},{town.y}")
    assert r.status_code == 200
    body = r.json()
    assert body["values"] == value_at(tw, "population_density", town.x, town.y)["values"]
    assert body["values"][0] > 500 and body["units"] == "people/km2"
    # rasterio's own sample of the same point, in the raster's CRS
    from twin.crs import transformer

    info = get_raster(tw, "population_density")
    with rasterio.open(info.path) as src:
        x, y = transformer("EPSG:4326", src.crs).transform(town.x, town.y)
        assert body["values"][0] == pytest.approx(float(next(src.sample([(x, y)]))[0]))


def test_point_on_nodata_inside_the_grid(client):
    # The grid pads the region by a cell: its corner is on the raster but outside the region.
    info = get_raster(Twin.open(client.app.state.twin.path), "suitability")
    w, s, e, n = info.bounds
    r = client.get(f"/raster/suitability/point/{w + 1e-5},{n - 1e-5}")
    assert r.status_code == 200 and r.json()["values"] == [None]


@pytest.mark.parametrize("coords, status", [
    ("abc,51", 400), ("69.9,", 400), ("69.9,north", 400), ("nan,51", 400), ("inf,51", 400),
    ("200,51", 400), ("69.9,95", 400), ("1e999,1", 400), ("10,10", 404), ("-69.9,51.9", 404),
])
def test_point_bad_input(client, coords, status):
    problem(client.get(f"/raster/suitability/point/{coords}"), status)


def test_point_text_never_answers_5xx(client):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    safe = st.text(alphabet="0123456789.,-+eEinfa ", min_size=1, max_size=12)

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(safe, safe)
    def check(lon, lat):
        r = client.get(f"/raster/suitability/point/{lon},{lat}")
        assert r.status_code in (200, 400, 404), r.text

    check()


def test_a_raster_added_while_serving_is_listed_and_served(twin_path, tmp_path):
    from affine import Affine

    with TestClient(create_app(Settings(twin_path=twin_path))) as c:
        assert "late" not in [d["name"] for d in c.get("/raster").json()["rasters"]]
        b = mercantile.xy_bounds(TILE)
        px = (b.right - b.left) / 256
        tif = write_tif(tmp_path / "late.tif", np.full((256, 256), 5, "float32"),
                        transform=Affine(px, 0, b.left, 0, -px, b.top))
        add_raster(Twin.open(twin_path), "late", tif, vmin=0, vmax=10)  # as `twin add-raster`
        assert "late" in [d["name"] for d in c.get("/raster").json()["rasters"]]
        url = f"/raster/late/{TILE.z}/{TILE.x}/{TILE.y}.png"
        r = c.get(url)
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        # Replaced on disk while serving: the next request serves the new file.
        tif2 = write_tif(tmp_path / "late2.tif", np.full((256, 256), 9, "float32"),
                         transform=Affine(px, 0, b.left, 0, -px, b.top))
        add_raster(Twin.open(twin_path), "late", tif2, vmin=0, vmax=10, replace=True)
        r2 = c.get(url)
        assert r2.status_code == 200 and r2.headers["etag"] != r.headers["etag"], r2.text
        assert r2.content != r.content
        assert c.get(f"/raster/late/point/{TILE_CENTRE}").json()["values"] == [9.0]


def test_tile_numbers_never_answer_5xx(client):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.integers(-2, 30), st.integers(-3, 5000), st.integers(-3, 5000),
           st.sampled_from(["suitability", "population_density", "nope", "Suit", "x.tif"]))
    def check(z, x, y, name):
        r = client.get(f"/raster/{name}/{z}/{x}/{y}.png")
        assert r.status_code in (200, 404), r.text
        want = "image/png" if r.status_code == 200 else PROBLEM
        assert r.headers["content-type"] == want

    check()
