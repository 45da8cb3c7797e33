"""The same request gives the same answer from a GeoPackage twin and from the same twin pushed
into PostGIS (issue 14's parity suite, beside the API test modules that run on both).

The default Akmola twin (50,000 parcels, Cyrillic names, nulls, rasters) is served from its
file and from a schema of the private cluster, and every route family is asked the same
questions: features (items pages, their next links, CQL2 filters, sortby, CRS), vector tiles
(compared decoded, with an independent decoder), the plan, the score, rasters and the map's
documents. Writes (scenarios, their evaluation and tiles, observation ingest) run as one
script on a fresh small twin in each backend, and every answer on the way must agree.
"""

from __future__ import annotations

import shutil

import mapbox_vector_tile
import orjson
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.tile_math import tiles_for_bounds
from tests.common import lonlat, stored_rows
from tests.cql2_examples import examples
from tests.test_api_score import WAGE, scored_twin

pytestmark = pytest.mark.postgis

MVT = "application/vnd.mapbox-vector-tile"
TOKEN = "s3cret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _plain(doc, clock: tuple[str, ...]):
    """A JSON answer without the keys ``clock`` that say when it was asked or written."""
    if isinstance(doc, dict):
        return {k: _plain(v, clock) for k, v in doc.items() if k not in clock}
    if isinstance(doc, list):
        return [_plain(v, clock) for v in doc]
    return doc


def _answer(r, clock=("timeStamp",)):
    """What a client reads from a response: its status, type and body (JSON parsed and
    without ``clock`` keys, vector tiles decoded)."""
    kind = r.headers.get("content-type", "").split(";")[0]
    if kind == MVT:
        body = mapbox_vector_tile.decode(r.content) if r.content else {}
    elif kind.endswith("json"):
        body = _plain(orjson.loads(r.content), clock) if r.content else None
    else:
        body = r.content
    return r.status_code, kind, body


def _first_difference(a, b, path="") -> str:
    """Where two answers first differ, as a path into them (for the failure message)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a or k not in b:
                return f"{path}/{k}: only in {'PostGIS' if k in b else 'GeoPackage'}"
            if a[k] != b[k]:
                return _first_difference(a[k], b[k], f"{path}/{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return f"{path}: {len(a)} items in GeoPackage, {len(b)} in PostGIS"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}/{i}")
    return f"{path}: GeoPackage {a!r:.300} != PostGIS {b!r:.300}"


class Pair:
    """One twin served from each backend; :meth:`same` asks both and compares."""

    def __init__(self, gpkg: TestClient, postgis: TestClient):
        self.gpkg, self.postgis = gpkg, postgis

    def request(self, method: str, url: str, **kw):
        a = _answer(self.gpkg.request(method, url, **kw))
        b = _answer(self.postgis.request(method, url, **kw))
        assert a == b, f"{method} {url}: {_first_difference(a, b)}"
        return a

    def same(self, url: str, status: int | None = 200, **kw):
        """GET ``url`` from both: the same status, type and body; returns the body."""
        got, _, body = self.request("GET", url, **kw)
        if status is not None:
            assert got == status, (url, got, body)
        return body


@pytest.fixture(scope="module")
def default_pair(default_twin_path, postgis_url, tmp_path_factory):
    """The default twin served from a copy of its file and from PostGIS (`twin push`)."""
    from twin.cli import main

    path = tmp_path_factory.mktemp("parity") / "akmola.gpkg"
    shutil.copyfile(default_twin_path, path)
    url = postgis_url()
    assert main(["push", str(path), url]) == 0
    settings = dict(gc_freeze=False, max_page_size=10_000, max_filter_bytes=1 << 20)
    with TestClient(create_app(Settings(twin_path=path, **settings))) as a, \
            TestClient(create_app(Settings(twin_path=url, **settings))) as b:
        pair = Pair(a, b)
        pair.twin = a.app.state.twin
        yield pair


# -- features ---------------------------------------------------------------------------

def test_collections_and_their_documents_are_the_same(default_pair):
    cols = default_pair.same("/collections")["collections"]
    assert [c["id"] for c in cols] == default_pair.twin.layer_names
    default_pair.same("/")
    for c in cols:
        for tail in ("", "/queryables", "/sortables", "/items?limit=7"):
            default_pair.same(f"/collections/{c['id']}{tail}")


def _pages(pair, url: str) -> list:
    """Every page of ``url`` from both backends, following the next links (which must be
    the same); the features' ids in order."""
    ids = []
    while url:
        body = pair.same(url)
        ids += [f["id"] for f in body["features"]]
        url = next((lk["href"] for lk in body["links"] if lk["rel"] == "next"), None)
    return ids


def test_items_pages_and_next_links_are_the_same(default_pair):
    tw = default_pair.twin
    sites = _pages(default_pair, "/collections/project_sites/items?limit=60")
    assert len(sites) == len(tw["project_sites"]) > 60
    # the last pages of the parcels (the whole layer is compared in test_store_parity)
    n = len(tw["parcels"])
    parcels = _pages(default_pair, f"/collections/parcels/items?limit=1500&offset={n - 4000}")
    assert len(parcels) == 4000
    w, s, e, n = tw["region"].total_bounds
    box = f"{w},{s},{(w + e) / 2},{(s + n) / 2}"
    assert _pages(default_pair, f"/collections/settlements/items?bbox={box}&limit=5")
    one = default_pair.same(f"/collections/parcels/items/{parcels[123]}")
    assert one["id"] == parcels[123]
    default_pair.same(f"/collections/settlements/items/{sites[0]}", status=404)


def test_every_cql2_example_selects_the_same_features(default_pair):
    # in CQL2 text (test_api_filter shows its JSON form selects the same): the count of
    # matches and the first page
    for ex in examples(default_pair.twin):
        body = default_pair.same(f"/collections/{ex.collection}/items",
                                 params={"filter": ex.text, "limit": 300})
        assert body["numberReturned"] == len(body["features"]), ex.std


@pytest.mark.parametrize("query", [
    "sortby=-area_ha&limit=25", "sortby=district_id,-id&limit=25&offset=500",
    "land_use=industrial&limit=50", "crs=http://www.opengis.net/def/crs/EPSG/0/3857&limit=5",
    "datetime=2024-01-01/..&limit=3"])
def test_sorted_filtered_and_reprojected_pages_are_the_same(default_pair, query):
    assert default_pair.same(f"/collections/parcels/items?{query}")["features"]


def test_settlements_sorted_by_their_cyrillic_names_are_the_same(default_pair):
    body = default_pair.same("/collections/settlements/items?sortby=name_ru&limit=100")
    names = [f["properties"]["name_ru"] for f in body["features"]]
    assert names == sorted(names)


def test_missing_values_and_narrow_types_read_back_the_same(tmp_path, postgis_url):
    # Gaps (a null text, integer, boolean and time), an empty string apart from a null,
    # 16-bit and unsigned integers, float32 and a time column: each backend stores its own
    # types (smallint, timestamp...); what clients read must not tell them apart.
    import numpy as np
    import pandas as pd

    from tests.common import make_small_twin
    from tests.cql2_examples import gappy_sites
    from twin.schema import LayerSchema

    tw = make_small_twin()
    sites = gappy_sites(tw.layer("project_sites"))
    n = len(sites)
    sites["jobs"] = pd.array([200] + [None] * (n - 1), dtype="Int64")
    sites["opened"] = pd.to_datetime(["2024-01-02 03:04:05"] + [None] * (n - 1))
    sites["note"] = [""] + [None] * (n - 1)
    sites["share"] = np.array([0.5] + [np.nan] * (n - 1), dtype="float32")
    sites["floors"] = np.array([1] + [3] * (n - 1), dtype="int16")
    sites["lots"] = np.array([200] + [1] * (n - 1), dtype="uint8")
    sites["fenced"] = pd.array([True] + [None] * (n - 1), dtype="boolean")
    kinds = {"jobs": "int", "note": "str", "share": "float", "floors": "int", "lots": "int",
             "fenced": "bool", "hazard_class": "str"}
    tw.add_layer("works", sites, schema=LayerSchema("works", ("Point",), optional=kinds))
    gpkg, pg = str(tmp_path / "gaps.gpkg"), postgis_url()
    tw.save(gpkg)
    tw.save(pg)
    x, y = sites.geometry.iloc[0].x, sites.geometry.iloc[0].y
    z = 12
    tx, ty, _, _ = tiles_for_bounds((x, y, x, y), z)
    with TestClient(create_app(Settings(twin_path=gpkg, gc_freeze=False))) as a, \
            TestClient(create_app(Settings(twin_path=pg, gc_freeze=False))) as b:
        pair = Pair(a, b)
        items = "/collections/works/items"
        assert pair.same(items)["numberMatched"] == n
        pair.same("/collections/works/queryables")
        for flt in ("jobs IS NULL", "fenced IS NULL", "note = ''", "note IS NULL",
                    "floors < 2",
                    "lots > 100", "share >= 0.5"):
            assert pair.same(items, params={"filter": flt})["numberMatched"] == 1, flt
        pair.same(items, params={"sortby": "-jobs,floors"})
        tile = pair.same(f"/tiles/works/{z}/{tx}/{ty}.mvt")
        assert tile["works"]["features"]


# -- tiles ------------------------------------------------------------------------------

def test_vector_tiles_decode_the_same(default_pair):
    tw = default_pair.twin
    checked = 0
    for name in tw.layer_names:
        tj = default_pair.same(f"/tiles/{name}.json")
        lo, hi = tj["minzoom"], tj["maxzoom"]
        b = tuple(tw[name].total_bounds)
        for z in sorted({lo, min(hi, 12)}):
            x0, y0, x1, y1 = tiles_for_bounds(b, z)
            x, y = (x0 + x1) // 2, (y0 + y1) // 2
            for dx, dy in ((0, 0), (1, 1)):
                _, kind, tile = default_pair.request(
                    "GET", f"/tiles/{name}/{z}/{x + dx}/{y + dy}.mvt",
                    headers={"Accept-Encoding": "identity"})
                checked += bool(tile)
        ogc = f"/collections/{name}/tiles/WebMercatorQuad/{lo}/{y0}/{x0}"
        default_pair.request("GET", ogc)
    assert checked > len(tw.layer_names)  # most sampled tiles hold features


# -- the plan, the score, rasters and the map ---------------------------------------------

@pytest.mark.parametrize("url", [
    "/plan", "/plan/versions", "/plan/compliance", "/plan/compliance?severity=error",
    "/plan/land-balance", "/plan/findings", "/plan/sanitary-zones", "/plan/diff?from=1&to=1",
    "/score", "/score/audit", "/scenarios", "/raster", "/map/config.json",
    "/map/search?q=Kok"])
def test_documents_are_the_same(default_pair, url):
    default_pair.same(url)


def test_units_histories_are_the_same(default_pair):
    units = [u["unit_id"] for u in default_pair.same("/score")["units"]]
    assert len(units) == len(default_pair.twin["districts"])
    for u in (units[0], units[-1]):
        default_pair.same(f"/score/units/{u}/history")


def test_rasters_answer_the_same(default_pair):
    rasters = default_pair.same("/raster")
    names = [r["name"] for r in rasters["rasters"]]
    assert names
    w, s, e, n = default_pair.twin["region"].total_bounds
    for name in names:
        tj = default_pair.same(f"/raster/{name}.json")
        default_pair.same(f"/raster/{name}/point/{(w + e) / 2},{(s + n) / 2}")
        z = tj["minzoom"]
        x0, y0, x1, y1 = tiles_for_bounds((w, s, e, n), z)
        url = tj["tiles"][0].split("testserver", 1)[1]
        default_pair.request("GET", url.format(z=z, x=(x0 + x1) // 2, y=(y0 + y1) // 2))


# -- writes: the same script on a fresh twin in each backend ------------------------------

def _add(pid, x, y, **kw):
    lon, lat = lonlat(x, y)
    return {"kind": "add_project", "id": pid, "lon": lon, "lat": lat, "sector": "metallurgy",
            **kw}


def _writes(location) -> list:
    """Scenario writes (create, stale and good PATCHes, evaluation, version-pinned tiles,
    delete) and observation ingests (new, duplicate, upsert) on the scored small twin at
    ``location``, with the reads after each; every answer, in order."""
    tw = scored_twin(location)
    app = create_app(Settings(api_tokens=TOKEN, twin_path=location, gc_freeze=False), twin=tw)
    out: list = []
    with TestClient(app) as c:
        def ask(method, url, **kw):
            r = c.request(method, url, **kw)
            # when a scenario was written is the clock's, not the backend's
            answer = _answer(r, clock=("timeStamp", "updated_utc"))
            out.append((method, url, *answer, r.headers.get("etag")))
            return r

        lon, lat = lonlat(4500, 4500)
        z = 12
        x, y, _, _ = tiles_for_bounds((lon, lat, lon, lat), z)
        ask("POST", "/scenarios", headers=AUTH, json={
            "id": "alu", "name": "Aluminium",
            "edits": [_add("alu", 4500, 4500, jobs=300, investment_kzt=7 * 10**9,
                           hazard_class="I")]})
        ask("POST", "/scenarios", headers=AUTH, json={"id": "alu", "name": "again"})
        for path in ("/scenarios", "/scenarios/alu", "/scenarios/alu/evaluation",
                     f"/scenarios/alu/tiles/sanitary_zones/{z}/{x}/{y}.mvt?v=1"):
            ask("GET", path)
        for tag in ('"1"', '"1"'):  # the second is stale
            ask("PATCH", "/scenarios/alu", headers={**AUTH, "If-Match": tag},
                json={"append": [{"kind": "remove_project", "project_id": "p2"}]})
        for path in ("/scenarios/alu", "/scenarios/alu/evaluation",
                     f"/scenarios/alu/tiles/sanitary_zones/{z}/{x}/{y}.mvt?v=1",
                     f"/scenarios/alu/tiles/project_sites/{z}/{x}/{y}.mvt?v=2"):
            ask("GET", path)
        new = {**WAGE, "month": "2025-08", "value": 123.0}
        for body in ({"observations": [WAGE]}, {"observations": [WAGE]},
                     {"observations": [new], "upsert": True}):
            ask("POST", "/score/observations", headers=AUTH, json=body)
        for path in ("/score", "/score/units/east/history?indicator=avg_wage",
                     "/scenarios/alu/evaluation"):
            ask("GET", path)
        ask("DELETE", "/scenarios/alu", headers={**AUTH, "If-Match": '"2"'})
        ask("GET", "/scenarios")
    return out


def test_the_same_writes_give_the_same_answers(tmp_path, postgis_url):
    gpkg, pg = str(tmp_path / "small.gpkg"), postgis_url()
    a, b = _writes(gpkg), _writes(pg)
    assert [row[2] for row in a] == [201, 412, 200, 200, 200, 200, 200, 412, 200, 200, 404,
                                     200, 200, 409, 200, 200, 200, 200, 204, 200]
    for got, want in zip(b, a, strict=True):
        assert got == want, f"{want[0]} {want[1]}: {_first_difference(want, got)}"
    # and what each backend stored reads back the same
    for table in ("score_observations", "scenarios"):
        assert stored_rows(gpkg, table) == stored_rows(pg, table), table
