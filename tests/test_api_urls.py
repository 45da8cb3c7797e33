"""api/urls.py: every link the API serves, walked over every route.

From an untrusted address forwarded headers change no link; from a trusted proxy they set
the scheme, host and prefix of every link; ``public_url`` wins over both; and every answer
whose links come from the request says so with ``Vary`` and a stated ``Cache-Control``.
"""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from api.urls import VARY
from geodata.score_history import generate_history
from tests.common import lonlat, make_small_twin

TOKEN = "walk-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROXY = ("10.0.0.2", 4000)  # inside TWIN_TRUSTED_PROXIES below
STRANGER = ("203.0.113.9", 4000)  # outside it
HERE = "http://testserver/"  # the base a plain request's links start with
FORWARDED = "https://maps.example.org/twin/"
PUBLIC = "https://twin.example.kz/base/"
#: What an attacker sends: each value leaves "evil" in any link built from it.
EVIL = {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https",
        "X-Forwarded-Prefix": "/evil-prefix", "X-Forwarded-For": "198.51.100.1",
        "Forwarded": 'for=198.51.100.1;host="evil.example";proto=https'}
#: What an honest proxy in front of https://maps.example.org/twin/ sends.
HONEST = {"X-Forwarded-Host": "maps.example.org", "X-Forwarded-Proto": "https",
          "X-Forwarded-Prefix": "/twin", "X-Forwarded-For": "198.51.100.1"}

#: Routes the OpenAPI document leaves out (include_in_schema=False, FastAPI's own pages).
HIDDEN = [("get", "/openapi.json"), ("get", "/docs"), ("get", "/docs/oauth2-redirect"),
          ("get", "/redoc"), ("get", "/map/"), ("get", "/map/static/{name}"),
          ("get", "/score/stream")]
#: Routes not requested, and why.
NOT_WALKED = {("get", "/score/stream"): "never ends (server-sent events); its events hold "
              "the ranking, which has no links"}
#: Routes whose documents hold links: the walk must find links in each of them.
WITH_LINKS = {
    ("get", "/"), ("get", "/collections"), ("get", "/collections/{collectionId}"),
    ("get", "/collections/{collectionId}/queryables"),
    ("get", "/collections/{collectionId}/sortables"),
    ("get", "/collections/{collectionId}/items"),
    ("get", "/collections/{collectionId}/items/{featureId}"),
    # The OpenAPI document names each collection's items path too (GDAL reads them).
    *(("get", f"/collections/{name}/items") for name in (
        "region", "districts", "settlements", "industrial_zones", "protected_areas",
        "parcels", "project_sites")),
    ("get", "/collections/{collection_id}/tiles"),
    ("get", "/collections/{collection_id}/tiles/{tms}"), ("get", "/tiles/{collection_id}.json"),
    ("get", "/raster"), ("get", "/raster/{name}.json"), ("get", "/plan"), ("get", "/score"),
    ("get", "/plan/findings"), ("get", "/plan/sanitary-zones"),
    ("post", "/score/observations"), ("get", "/scenarios"), ("post", "/scenarios"),
    ("get", "/scenarios/{scenario_id}"), ("patch", "/scenarios/{scenario_id}"),
}
# A scenario with an edit: one without any fails on its tiles (a pandas warning in
# twin/scenario, reported with issue 17; that is not this module's to fix).
_LON, _LAT = lonlat(15_000, 5_000)
SCENARIO_EDITS = [{"kind": "add_project", "id": "walk-site", "lon": _LON, "lat": _LAT,
                   "sector": "metallurgy"}]
OBSERVATION = {"unit_id": "east", "indicator": "avg_wage", "month": "2025-09", "value": 455.0,
               "unit": "thousand KZT", "source": "test"}


@pytest.fixture(scope="module")
def twin_path(tmp_path_factory):
    """The small twin with everything that has links: rasters and a score history."""
    from twin.raster import build_rasters

    tw = make_small_twin()
    tw.tables["score_observations"] = generate_history(["west", "east"], tw["project_sites"])
    path = tmp_path_factory.mktemp("links") / "links.gpkg"
    build_rasters(tw, path)
    tw.save(path)
    return path


def _client(twin_path, peer, **settings) -> TestClient:
    app = create_app(Settings(twin_path=twin_path, api_tokens=TOKEN, gc_freeze=False,
                              trusted_proxies="10.0.0.0/8,::1", **settings))
    return TestClient(app, client=peer)


def _routes(app) -> list[tuple[str, str]]:
    found = [(m, p) for p, ops in app.openapi()["paths"].items() for m in ops]
    return found + HIDDEN


def _request(c: TestClient, method: str, path: str, headers: dict, sid: str):
    """One request per route, with path parameters that exist in the small twin."""
    params = {"collection_id": "parcels", "feature_id": "1", "collectionId": "parcels",
              "featureId": "1", "tms": "WebMercatorQuad",
              "tile_matrix": "12", "tile_row": "1500", "tile_col": "2800", "z": "12",
              "x": "2800", "y": "1500", "name": "suitability", "lonlat": "71.4,51.1",
              "scenario_id": sid, "layer": "project_sites", "unit_id": "west"}
    params["name"] = "map.js" if path.startswith("/map/static") else params["name"]
    url = re.sub(r"\{(\w+)\}", lambda m: params[m.group(1)], path)
    query = {"/plan/diff": {"from": 1, "to": 1}, "/score/forecast": {"unit": "west",
                                                                      "indicator": "avg_wage"},
             "/map/search": {"q": "west"}}
    h = {**headers, **AUTH}
    if method == "get":
        return c.get(url, params=query.get(path), headers=h)
    if (method, path) == ("post", "/scenarios"):
        return c.post(url, json={"id": sid, "name": "walk", "edits": SCENARIO_EDITS}, headers=h)
    if method == "patch":
        version = c.get(url, headers=h).headers["etag"]
        return c.patch(url, json={"name": "walked"}, headers={**h, "If-Match": version})
    if method == "delete":
        return c.delete(url, headers=h)
    if (method, path) == ("post", "/score/observations"):
        return c.post(url, json={"observations": [OBSERVATION], "upsert": True}, headers=h)
    raise AssertionError(f"the walk does not know how to request {method.upper()} {path}: "
                         "add it to _request")


def walk(c: TestClient, headers: dict, sid: str) -> dict:
    """Every route once (the scenario created first, deleted last): ``{route: answer}``."""
    order = sorted((r for r in _routes(c.app) if r not in NOT_WALKED),
                   key=lambda r: (r != ("post", "/scenarios"), r[0] == "delete"))
    answers = {}
    assert c.app.state.warmup.done.wait(60)  # /ready answers 503 until then, by design
    for method, path in order:
        r = _request(c, method, path, headers, sid)
        assert r.status_code < 500, (method, path, r.text)
        answers[(method, path)] = r
    return answers


def _text(r) -> str:
    """What a client reads: the body and every header."""
    return r.text + "\n" + "\n".join(f"{k}: {v}" for k, v in r.headers.items())


@pytest.fixture(scope="module")
def plain(twin_path):
    with _client(twin_path, STRANGER) as c:
        return {k: (r.status_code, _text(r), r.headers)
                for k, r in walk(c, {}, "plain").items()}


def test_the_walk_finds_links_where_documents_hold_them(plain):
    with_links = {k for k, (_, text, _) in plain.items() if text.count(HERE)}
    assert with_links == WITH_LINKS
    for k in WITH_LINKS:
        assert plain[k][0] in (200, 201), (k, plain[k][1][:300])


@pytest.mark.parametrize("peer", [STRANGER, ("testclient", 50000), ("::ffff:203.0.113.9", 1)])
def test_untrusted_forwarded_headers_change_no_link(twin_path, plain, peer):
    with _client(twin_path, peer) as c:
        evil = walk(c, EVIL, "plain")
    for k, r in evil.items():
        text = _text(r)
        assert "evil" not in text, (k, text[:500])
        assert text.count(HERE) == plain[k][1].count(HERE), k
        assert r.status_code == plain[k][0], k


def test_a_trusted_proxy_sets_scheme_host_and_prefix_of_every_link(twin_path, plain):
    with _client(twin_path, PROXY) as c:
        proxied = walk(c, HONEST, "plain")
    for k, r in proxied.items():
        text = _text(r)
        assert "testserver" not in text, (k, text[:500])
        assert text.count(FORWARDED) == plain[k][1].count(HERE), k


def test_a_trusted_proxy_speaking_rfc_7239(twin_path, plain):
    with _client(twin_path, PROXY, forwarded_headers="forwarded") as c:
        # X-Forwarded-Host/-Proto are another family: ignored, even from the proxy.
        proxied = walk(c, {"Forwarded": 'for=198.51.100.1;host="maps.example.org";proto=https',
                           "X-Forwarded-Prefix": "/twin", "X-Forwarded-Host": "evil.example",
                           "X-Forwarded-Proto": "http"}, "plain")
    for k, r in proxied.items():
        text = _text(r)
        assert "testserver" not in text and "evil" not in text, (k, text[:500])
        assert text.count(FORWARDED) == plain[k][1].count(HERE), k


@pytest.mark.parametrize("peer", [PROXY, STRANGER])
def test_public_url_wins_over_forwarded_headers_and_host(twin_path, plain, peer):
    with _client(twin_path, peer, public_url=PUBLIC) as c:
        answers = walk(c, {**EVIL, "Host": "evil.example"}, "plain")
    for k, r in answers.items():
        text = _text(r)
        assert "evil" not in text and "testserver" not in text, (k, text[:500])
        assert text.count(PUBLIC) == plain[k][1].count(HERE), k
        assert "X-Forwarded-Host" not in r.headers.get("vary", ""), k  # nothing varies


def _vary(headers) -> set[str]:
    return {v.strip().lower() for v in headers.get("vary", "").split(",") if v.strip()}


def test_vary_and_cache_control_wherever_links_come_from_the_request(plain):
    named = {v.strip().lower() for v in VARY.split(",")}
    assert named == {"forwarded", "x-forwarded-host", "x-forwarded-proto",
                     "x-forwarded-prefix"}
    for k, (_, _, headers) in plain.items():
        if k in WITH_LINKS:
            assert named <= _vary(headers), (k, headers)
            cc = headers.get("cache-control", "")
            assert cc in ("no-cache", "no-store", "public, max-age=60"), (k, cc)
            if k[0] != "get":
                assert cc == "no-store", k  # a write's answer is never reused
        else:
            assert not named & _vary(headers), (k, headers)  # no links: nothing to vary on


def test_not_modified_answers_carry_the_documents_vary(twin_path):
    with _client(twin_path, STRANGER) as c:
        c.post("/scenarios", json={"id": "nm", "edits": SCENARIO_EDITS}, headers=AUTH)
        for url in ("/scenarios/nm", "/score"):
            first = c.get(url)
            again = c.get(url, headers={"If-None-Match": first.headers["etag"]})
            assert again.status_code == 304, url
            for h in ("vary", "cache-control", "etag"):
                assert again.headers[h] == first.headers[h], (url, h)


def test_link_documents_cache_for_the_stated_time(twin_path):
    with _client(twin_path, STRANGER, doc_max_age=5) as c:
        assert c.get("/tiles/parcels.json").headers["cache-control"] == "public, max-age=5"
        # version-pinned and XYZ tiles keep their own Cache-Control and hold no links
        tile = c.get("/tiles/parcels/12/2800/1500.mvt")
        assert tile.headers["cache-control"] == "public, max-age=300"
        assert _vary(tile.headers) == {"accept-encoding"}
    with _client(twin_path, STRANGER, doc_max_age=0) as c:
        assert c.get("/collections").headers["cache-control"] == "no-cache"
        bad = c.get("/collections/nothing")  # an error is not cached for the stated time
        assert bad.status_code == 404 and "cache-control" not in bad.headers


def test_a_malformed_host_header_does_not_reach_links(twin_path):
    with _client(twin_path, STRANGER) as c:
        doc = c.get("/", headers={"Host": "evil.example/x?"}).json()
    assert all(link["href"].startswith("http://testserver/") for link in doc["links"])
