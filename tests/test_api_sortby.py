"""sortby and /sortables (OGC API Records sorting), the shared OpenAPI limit, and a
conformance list that claims only what the tests exercise."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.routers.landing import CONFORMANCE
from api.settings import Settings
from tests.common import assert_problem
from tests.test_vector_tiles import grid_twin
from twin.query import SortError, parse_sortby


@pytest.fixture(scope="module")
def client():
    tw = grid_twin(30, 20)
    with TestClient(create_app(Settings(gc_freeze=False), twin=tw)) as c:
        c.twin = tw
        yield c


def all_pages(client, **params) -> list:
    url, ids = "/collections/parcels/items", []
    params = {"limit": 37, **params}
    while url:
        body = client.get(url, params=params).json()
        params = None  # the next link carries them
        ids += [f["id"] for f in body["features"]]
        url = next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
    return ids


def test_sortby_orders_and_pages_stably(client):
    g = client.twin.layer("parcels")
    # land_use has many ties: the id breaks them, so pages never overlap or skip.
    ids = all_pages(client, sortby="-land_use,area_ha")
    want = g.sort_values(["land_use", "area_ha", "id"], ascending=[False, True, True],
                         kind="stable")["id"].tolist()
    assert ids == want and len(set(ids)) == len(g)
    assert all_pages(client, sortby="+id") == sorted(g["id"])
    assert all_pages(client, sortby=" id") == sorted(g["id"])  # '+' unescaped in a URL


def test_sortby_with_a_filter(client):
    g = client.twin.layer("parcels")
    got = all_pages(client, sortby="-area_ha", filter="land_use = 'industrial'")
    sub = g[g.land_use == "industrial"]
    assert got == sub.sort_values(["area_ha", "id"], ascending=[False, True])["id"].tolist()


@pytest.mark.parametrize("sortby,words", [("colour", "cannot sort by"),
                                          ("id,,area_ha", "empty entry"),
                                          ("id,-id", "twice"), ("geometry", "sortables")])
def test_bad_sortby_answers_400(client, sortby, words):
    assert_problem(client.get("/collections/parcels/items", params={"sortby": sortby}),
                   400, words)


def test_sortables_list_the_schema_columns(client):
    r = client.get("/collections/parcels/sortables")
    assert r.headers["content-type"] == "application/schema+json"
    props = r.json()["properties"]
    assert props["area_ha"]["type"] == "number" and "geometry" not in props
    links = client.get("/collections/parcels").json()["links"]
    assert any(link["rel"].endswith("/sortables") for link in links)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["id", "land_use", "area_ha", "district_id"]), min_size=1,
                max_size=4, unique=True), st.lists(st.booleans(), min_size=4, max_size=4))
def test_parse_sortby_round_trips(keys, ups):
    text = ",".join(("+" if up else "-") + k for k, up in zip(keys, ups, strict=False))
    sortables = {"id": "int", "land_use": "str", "area_ha": "float", "district_id": "str"}
    assert parse_sortby(text, sortables) == tuple(zip(keys, ups, strict=False))
    with pytest.raises(SortError):
        parse_sortby(text + ",nope", sortables)


def test_missing_values_sort_last_either_way():
    import geopandas as gpd
    import numpy as np
    from shapely import Point

    from twin.query import sort_rows

    g = gpd.GeoDataFrame({"id": [1, 2, 3, 4], "v": pd.array([2, None, 1, 2], dtype="Int64")},
                         geometry=[Point(0, 0)] * 4)
    rows = np.arange(4)
    assert g["id"].to_numpy()[sort_rows(g, rows, (("v", True),), "id")].tolist() == [3, 1, 4, 2]
    assert g["id"].to_numpy()[sort_rows(g, rows, (("v", False),), "id")].tolist() == [1, 4, 3, 2]


def test_openapi_declares_limit_once_with_default_and_maximum(client):
    doc = client.get("/openapi.json").json()
    limit = doc["components"]["parameters"]["limit"]
    assert limit["in"] == "query" and limit["schema"]["maximum"] == 10_000
    assert limit["schema"]["default"] == 10_000
    for path in ["/collections/{collectionId}/items", "/collections/parcels/items"]:
        params = doc["paths"][path]["get"]["parameters"]
        assert {"$ref": "#/components/parameters/limit"} in params
        assert not [p for p in params if p.get("name") == "limit"]
    parcels = {p.get("name") for p in doc["paths"]["/collections/parcels/items"]["get"][
        "parameters"]}
    assert {"land_use", "district_id", "filter", "filter-lang", "crs", "sortby"} <= parcels
    lang = next(p for p in doc["paths"]["/collections/parcels/items"]["get"]["parameters"]
                if p.get("name") == "filter-lang")
    assert lang["schema"]["enum"] == ["cql2-text", "cql2-json", "cql-text"]


# Each conformance class and the tests that exercise it. A class without tests must not be
# claimed; a class the tests exercise must be listed.
_OGC = "http://www.opengis.net/spec"
EXERCISED = {
    "ogcapi-common-1/1.0/conf/core": "test_api_features.py::test_landing_and_conformance",
    "ogcapi-common-2/1.0/conf/collections": "test_api_features.py::test_collections_list_"
                                            "every_layer_with_extent_and_crs",
    "ogcapi-features-1/1.0/conf/core": "test_api_features.py (items, paging, bbox, items/{id})",
    "ogcapi-features-1/1.0/conf/geojson": "test_api_features.py, test_api_clients.py (GDAL)",
    "ogcapi-features-1/1.0/conf/oas30": "test_api_schemathesis.py, test_openapi_declares_...",
    "ogcapi-features-2/1.0/conf/crs": "test_api_crs.py, test_api_clients.py (GDAL CRS=...)",
    "ogcapi-features-3/1.0/conf/queryables": "test_api_filter.py::test_queryables_are_typed...",
    "ogcapi-features-3/1.0/conf/queryables-query-parameters":
        "test_api_features.py::test_equality_filters",
    "ogcapi-features-3/1.0/conf/filter": "test_api_filter.py",
    "ogcapi-features-3/1.0/conf/features-filter": "test_api_filter.py",
    "cql2/1.0/conf/cql2-text": "test_api_filter.py, test_query_sql.py (text)",
    "cql2/1.0/conf/cql2-json": "test_api_filter.py, test_query_sql.py (json)",
    "cql2/1.0/conf/basic-cql2": "cql2_examples: clause6_*, example01-19, 29-44",
    "cql2/1.0/conf/advanced-comparison-operators": "cql2_examples: clause7_01-03, LIKE/IN",
    "cql2/1.0/conf/case-insensitive-comparison": "cql2_examples: clause7_04, 26, 28, 71, 86",
    "cql2/1.0/conf/basic-spatial-functions": "cql2_examples: clause7_07, example24, 45",
    "cql2/1.0/conf/basic-spatial-functions-plus": "cql2_examples: example07, 08, 24, 47-51",
    "cql2/1.0/conf/spatial-functions": "cql2_examples: example23, 46-52, 83, clause7_10, 16",
    "cql2/1.0/conf/property-property": "cql2_examples: property-property*",
    "ogcapi-records-1/1.0/conf/sorting": "test_api_sortby.py",
    "ogcapi-tiles-1/1.0/conf/core": "test_api_tiles.py",
    "ogcapi-tiles-1/1.0/conf/tileset": "test_api_tiles.py",
    "ogcapi-tiles-1/1.0/conf/tilesets-list": "test_api_tiles.py",
    "ogcapi-tiles-1/1.0/conf/geodata-tilesets": "test_api_tiles.py",
    "ogcapi-tiles-1/1.0/conf/mvt": "test_api_tiles.py, test_vector_tiles.py",
}


def test_conformance_claims_exactly_what_is_exercised(client):
    declared = client.get("/conformance").json()["conformsTo"]
    assert declared == CONFORMANCE
    assert sorted(declared) == sorted(f"{_OGC}/{c}" for c in EXERCISED)
