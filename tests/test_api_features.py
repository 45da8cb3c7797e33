"""OGC API Features through TestClient: landing, conformance, collections, items, paging,
bbox (incl. the antimeridian), equality filters and bad input (never a 5xx), on a twin
stored in each backend (a GeoPackage, then PostGIS: tests/conftest.py's ``backend``)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from tests.test_vector_tiles import grid_twin

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def client(backend):
    # 600 parcels plus the small twin's other layers, read back from the backend
    tw = backend.store(grid_twin(30, 20))
    with TestClient(create_app(Settings(gc_freeze=False), twin=tw)) as c:
        c.twin = tw
        yield c


def test_create_app_opens_a_twin_file(small_twin, backend):
    path = small_twin.save(backend.location())
    with TestClient(create_app(Settings(twin_path=path))) as c:
        r = c.get("/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "twin": "small", "version": "test", "layers": 7}


def test_missing_twin_file_is_a_clear_error(tmp_path):
    from twin.errors import TwinFileError

    with pytest.raises(TwinFileError, match="does not exist"):
        create_app(Settings(twin_path=tmp_path / "nope.gpkg"))


def test_landing_and_conformance(client):
    r = client.get("/")
    assert r.status_code == 200
    rels = {link["rel"]: link["href"] for link in r.json()["links"]}
    assert rels["data"] == "http://testserver/collections"
    assert rels["conformance"].endswith("/conformance")
    assert rels["service-desc"].endswith("/openapi.json")
    conf = client.get("/conformance").json()["conformsTo"]
    assert any(c.endswith("ogcapi-features-1/1.0/conf/geojson") for c in conf)
    assert any(c.endswith("ogcapi-tiles-1/1.0/conf/mvt") for c in conf)


def test_collections_list_every_layer_with_extent_and_crs(client):
    body = client.get("/collections").json()
    ids = [c["id"] for c in body["collections"]]
    assert ids == client.twin.layer_names
    for c in body["collections"]:
        assert c["storageCrs"] == "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        assert c["storageCrs"] in c["crs"]
        bbox = c["extent"]["spatial"]["bbox"][0]
        assert len(bbox) == 4 and bbox[0] <= bbox[2] and bbox[1] <= bbox[3]
        assert any(link["rel"] == "items" for link in c["links"])
    one = client.get("/collections/parcels").json()
    assert one["id"] == "parcels" and one["numberOfFeatures"] == 600


def test_items_paging_with_next_and_prev(client):
    r = client.get("/collections/parcels/items", params={"limit": 250})
    assert r.status_code == 200 and r.headers["content-type"] == "application/geo+json"
    seen = []
    url = "/collections/parcels/items?limit=250"
    pages = 0
    while url:
        body = client.get(url).json()
        assert body["numberMatched"] == 600
        assert body["numberReturned"] == len(body["features"])
        seen += [f["id"] for f in body["features"]]
        links = {link["rel"]: link["href"] for link in body["links"]}
        url = links.get("next")
        if pages:
            assert "prev" in links
        pages += 1
    assert pages == 3 and sorted(seen) == list(range(1, 601))


def test_default_limit_and_clamp(small_twin):
    with TestClient(create_app(Settings(gc_freeze=False, max_page_size=3),
                               twin=small_twin)) as c:
        assert c.get("/collections/parcels/items").json()["numberReturned"] == 3
        assert c.get("/collections/parcels/items?limit=2").json()["numberReturned"] == 2
        body = c.get("/collections/parcels/items", params={"limit": 10**12}).json()
        assert body["numberReturned"] == 3 and "limit=3" in body["links"][0]["href"]
        limit = c.get("/openapi.json").json()["components"]["parameters"]["limit"]
        assert limit["schema"]["default"] == limit["schema"]["maximum"] == 3


def test_offset_past_the_end_is_an_empty_page(client):
    body = client.get("/collections/parcels/items", params={"offset": 10**20}).json()
    assert body["numberReturned"] == 0 and body["numberMatched"] == 600


def test_bbox_and_antimeridian(client):
    gdf = client.twin.layer("parcels")
    minx, miny, maxx, maxy = gdf.total_bounds
    mid = (minx + maxx) / 2
    body = client.get("/collections/parcels/items",
                      params={"bbox": f"{minx},{miny},{mid},{maxy}", "limit": 10000}).json()
    expect = int((gdf.geometry.bounds["minx"] <= mid).sum())
    assert body["numberMatched"] == expect
    # minx > maxx crosses the antimeridian: [170, 180] ∪ [-180, mid] holds the west part.
    body = client.get("/collections/parcels/items",
                      params={"bbox": f"170,{miny},{mid},{maxy}", "limit": 1}).json()
    assert body["numberMatched"] == expect
    body = client.get("/collections/parcels/items",
                      params={"bbox": f"170,{miny},{minx - 1},{maxy}"}).json()
    assert body["numberMatched"] == 0


def test_equality_filters(client):
    gdf = client.twin.layer("parcels")
    r = client.get("/collections/parcels/items",
                   params={"land_use": "industrial", "district_id": "west", "limit": 10000})
    body = r.json()
    want = gdf[(gdf.land_use == "industrial") & (gdf.district_id == "west")]
    assert body["numberMatched"] == len(want) > 0
    assert {f["properties"]["land_use"] for f in body["features"]} == {"industrial"}
    nxt = [link for link in body["links"] if link["rel"] == "self"][0]["href"]
    assert "land_use=industrial" in nxt
    assert client.get("/collections/parcels/items",
                      params={"id": "7"}).json()["features"][0]["id"] == 7
    assert client.get("/collections/parcels/items",
                      params={"synthetic": "false"}).json()["numberMatched"] == 0
    q = client.get("/collections/parcels/queryables").json()
    assert q["properties"]["area_ha"]["type"] == "number"


def test_single_feature(client):
    r = client.get("/collections/parcels/items/42")
    assert r.status_code == 200
    f = r.json()
    assert f["type"] == "Feature" and f["id"] == 42 and f["properties"]["id"] == 42
    assert client.get("/collections/settlements/items/s1").json()["properties"]["name"] == (
        "Westtown")


@pytest.mark.parametrize("url,status", [
    ("/collections/nope", 404),
    ("/collections/nope/items", 404),
    ("/collections/..%2F..%2Fetc%2Fpasswd/items", 404),
    ("/collections/parcels/items/999999", 404),
    ("/collections/parcels/items/abc", 404),
    ("/collections/parcels/items?limit=abc", 400),
    ("/collections/parcels/items?limit=0", 400),
    ("/collections/parcels/items?limit=-5", 400),
    ("/collections/parcels/items?offset=-1", 400),
    ("/collections/parcels/items?offset=1.5", 400),
    ("/collections/parcels/items?bbox=1,2,3", 400),
    ("/collections/parcels/items?bbox=1,2,3,4,5", 400),
    ("/collections/parcels/items?bbox=a,b,c,d", 400),
    ("/collections/parcels/items?bbox=nan,1,2,3", 400),
    ("/collections/parcels/items?bbox=inf,1,2,3", 400),
    ("/collections/parcels/items?bbox=0,-91,1,1", 400),
    ("/collections/parcels/items?bbox=0,1,181,2", 400),
    ("/collections/parcels/items?bbox=0,5,1,2", 400),
    ("/collections/parcels/items?bbox=", 400),
    ("/collections/parcels/items?area_ha=big", 400),
    ("/collections/parcels/items?colour=red", 400),
    ("/collections/parcels/items?land_use=a&land_use=b", 400),
    ("/collections/parcels/items?f=html", 400),
    ("/nothing-here", 404),
])
def test_bad_input_is_a_problem_not_a_crash(client, url, status):
    r = client.get(url)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["status"] == status and body["detail"]


def test_method_not_allowed_is_problem_json(client):
    r = client.delete("/collections")
    assert r.status_code == 405 and r.headers["content-type"] == PROBLEM


def test_links_follow_a_trusted_proxys_headers(client):
    app = create_app(Settings(gc_freeze=False, trusted_proxies="10.0.0.2"), twin=client.twin)
    with TestClient(app, client=("10.0.0.2", 4000)) as proxied:
        r = proxied.get("/collections/parcels/items", params={"limit": 10},
                        headers={"X-Forwarded-Proto": "https",
                                 "X-Forwarded-Host": "maps.example.org",
                                 "X-Forwarded-Prefix": "/twin"})
    nxt = [link for link in r.json()["links"] if link["rel"] == "next"][0]["href"]
    assert nxt == "https://maps.example.org/twin/collections/parcels/items?limit=10&offset=10"


def test_startup_freezes_the_twin_for_the_gc(small_twin):
    import gc

    gc.unfreeze()
    try:
        app = create_app(Settings(), twin=small_twin)
        with TestClient(app) as c:
            assert c.get("/health").status_code == 200
            assert app.state.warmup.done.wait(30)  # frozen once the warm-up is done
            assert c.get("/ready").status_code == 200
            assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("url", ["/", "/conformance", "/health", "/collections",
                                 "/collections/parcels", "/collections/parcels/items?limit=3",
                                 "/collections/parcels/items/42", "/tiles/parcels.json",
                                 "/collections/parcels/tiles/WebMercatorQuad", "/map",
                                 "/map/config.json", "/openapi.json"])
def test_head_answers_like_get_without_a_body(client, url):
    # RFC 9110: a general-purpose server MUST support HEAD; every GET route said 405.
    get, head = client.get(url), client.head(url)
    assert get.status_code == head.status_code == 200, head.text
    assert head.content == b""
    assert head.headers["content-type"] == get.headers["content-type"]
    if "timeStamp" not in get.text:  # an items page stamps the time it was made
        assert head.headers["content-length"] == get.headers["content-length"]


def test_head_keeps_errors_and_skips_the_endless_stream(client):
    r = client.head("/collections/nope")
    assert r.status_code == 404 and r.content == b""
    assert r.headers["content-type"] == PROBLEM
    assert client.head("/score/stream").status_code == 405
    assert not [w for w in client.get("/openapi.json").json()["paths"].values() if "head" in w]


@pytest.mark.parametrize("when", ["2018-02-12T23:20:50Z", "2018-02-12",
                                  "2018-02-12T00:00:00Z/2018-03-18T12:31:12Z",
                                  "../2020-01-01T00:00:00Z", "2024-01-01/..", "/2024-01-01"])
def test_datetime_matches_every_feature_without_a_time(client, when):
    # OGC API Features core, /req/core/fc-time-definition and fc-time-response C: items
    # SHALL take datetime, and features with no temporal geometry all match. It said 400.
    r = client.get("/collections/parcels/items", params={"datetime": when, "limit": 250})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["numberMatched"] == 600
    nxt = [link for link in body["links"] if link["rel"] == "next"][0]["href"]
    assert "datetime=" in nxt  # paging keeps the query


@pytest.mark.parametrize("when", ["yesterday", "../..", "2020-02-01/2020-01-01", "a/b/c",
                                  "2020-13-01", ""])
def test_malformed_datetime_is_400(client, when):
    r = client.get("/collections/parcels/items", params={"datetime": when})
    assert r.status_code == 400 and r.headers["content-type"] == PROBLEM
    assert "datetime" in r.json()["detail"]


def test_items_declare_the_datetime_parameter(client):
    op = client.get("/openapi.json").json()["paths"]["/collections/{collectionId}/items"]
    assert "datetime" in {p.get("name") for p in op["get"]["parameters"]}
