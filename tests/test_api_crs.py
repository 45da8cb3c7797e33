"""OGC API Features Part 2 (crs, bbox-crs, Content-Crs) and layers/output_crs.py: the
offered CRSs, axis order on the wire, and counts against a geopandas reference."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import CRS

from api.app import create_app
from api.settings import Settings
from layers.output_crs import offered_crs, region_bounds
from tests.common import assert_problem
from twin.crs import utm_zones

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


@pytest.fixture(scope="module")
def client(default_twin):
    with TestClient(create_app(Settings(gc_freeze=False), twin=default_twin)) as c:
        c.twin = default_twin
        yield c


def coords(body) -> np.ndarray:
    return np.array([f["geometry"]["coordinates"] for f in body["features"]])


@pytest.mark.parametrize("bounds,zones", [
    ((65.35, 50.04, 74.26, 53.68), [32641, 32642, 32643]),   # Akmola
    ((46.5, 40.6, 87.3, 55.4), list(range(32638, 32646))),    # Kazakhstan: 38N-45N
    ((-0.5, -1.0, 0.5, 1.0), [32630, 32631, 32730, 32731]),   # across the equator
    ((179.0, 10.0, 180.0, 11.0), [32660]),
])
def test_utm_zones_of_a_box(bounds, zones):
    assert utm_zones(bounds) == zones


def test_collections_list_the_offered_crs(client):
    tw = client.twin
    doc = client.get("/collections/parcels").json()
    zones = utm_zones(region_bounds(tw))
    assert doc["storageCrs"] == CRS84
    assert doc["crs"] == [EPSG + "4326", CRS84, EPSG + "3857",
                          *[EPSG + str(z) for z in zones],
                          "http://testserver/crs/analysis"]
    # The analysis CRS (no EPSG code) resolves to its definition.
    r = client.get("/crs/analysis")
    assert CRS.from_json(r.text) == tw.analysis_crs


def test_default_answer_is_crs84_lon_lat(client):
    r = client.get("/collections/settlements/items", params={"limit": 5})
    assert r.headers["content-crs"] == f"<{CRS84}>"
    got = coords(r.json())
    want = shapely.get_coordinates(client.twin.layer("settlements").geometry.values[:5])
    assert np.allclose(got, want)


def test_epsg_4326_is_lat_lon_on_the_wire(client):
    for crs in (EPSG + "4326", "EPSG:4326", "[EPSG:4326]"):
        r = client.get("/collections/settlements/items", params={"limit": 5, "crs": crs})
        assert r.status_code == 200
        assert r.headers["content-crs"] == f"<{EPSG}4326>"
        want = shapely.get_coordinates(client.twin.layer("settlements").geometry.values[:5])
        assert np.allclose(coords(r.json()), want[:, ::-1])


@pytest.mark.parametrize("code", [3857, 32641, 32642, 32643])
def test_projected_crs_match_geopandas(client, code):
    r = client.get("/collections/project_sites/items",
                   params={"limit": 10_000, "crs": f"EPSG:{code}"})
    assert r.headers["content-crs"] == f"<{EPSG}{code}>"
    ref = client.twin.layer("project_sites").to_crs(code)
    got = coords(r.json())
    assert np.allclose(got, shapely.get_coordinates(ref.geometry.values), atol=1e-6)


def test_analysis_crs_matches_the_twins_metric_layer(client):
    r = client.get("/collections/districts/items/kosshy",
                   params={"crs": "http://elsewhere.example/crs/analysis"})
    assert r.headers["content-crs"] == "<http://testserver/crs/analysis>"
    got = shapely.from_geojson(r.text)
    metric = client.twin.metric("districts")
    want = metric.loc[metric["id"] == "kosshy"].geometry.iloc[0]
    assert got.equals_exact(want, 1e-6)
    assert "crs=" in r.json()["links"][0]["href"]


def test_single_feature_in_another_crs(client):
    r = client.get("/collections/settlements/items/1516527", params={"crs": "EPSG:32642"})
    assert r.status_code == 200 and r.headers["content-crs"] == f"<{EPSG}32642>"
    s = client.twin.layer("settlements")
    want = s.loc[s["id"].astype(str) == "1516527"].to_crs(32642).geometry.iloc[0]
    assert shapely.from_geojson(r.text).equals_exact(want, 1e-6)


def test_bbox_crs_utm_counts_match_geopandas(client):
    from pyproj import Transformer

    tr = Transformer.from_crs(4326, 32642, always_xy=True)
    (x0, x1), (y0, y1) = tr.transform([68.5, 71.0], [51.2, 53.1])
    r = client.get("/collections/project_sites/items", params={
        "bbox": f"{x0},{y0},{x1},{y1}", "bbox-crs": EPSG + "32642", "limit": 10_000})
    ref = client.twin.layer("project_sites").to_crs(32642)
    want = ref[ref.intersects(shapely.box(x0, y0, x1, y1))]
    assert sorted(f["id"] for f in r.json()["features"]) == sorted(want["id"]) and len(want)


def test_bbox_crs_4326_is_lat_lon(client):
    lonlat = client.get("/collections/settlements/items",
                        params={"bbox": "69,51,71.5,53", "limit": 100}).json()
    latlon = client.get("/collections/settlements/items",
                        params={"bbox": "51,69,53,71.5", "bbox-crs": "EPSG:4326",
                                "limit": 100}).json()
    assert lonlat["numberMatched"] == latlon["numberMatched"] > 0


@pytest.mark.parametrize("params,words", [
    ({"crs": "EPSG:27700"}, "not offered"),
    ({"crs": "nonsense"}, "not offered"),
    ({"bbox-crs": "EPSG:32642"}, "give bbox too"),
    ({"bbox": "1,2,3", "bbox-crs": "EPSG:32642"}, "4 comma-separated"),
    ({"bbox": "500000,6000000,400000,6100000", "bbox-crs": "EPSG:32642"}, "minimum above"),
    ({"bbox": "51,69,53", "bbox-crs": "EPSG:4326"}, "minLat,minLon"),
    ({"bbox": "169,51,171,53", "bbox-crs": "EPSG:4326"}, "out of range"),
])
def test_bad_crs_parameters_answer_400(client, params, words):
    assert_problem(client.get("/collections/settlements/items", params=params), 400, words)


def test_offered_crs_follow_the_region(small_twin):
    # The small twin sits near Astana: zone 42N only, and its own analysis CRS.
    titles = [o.title for o in offered_crs(small_twin)]
    assert [o.uri for o in offered_crs(small_twin)][3:-1] == [EPSG + "32642"]
    assert titles[-1].startswith("analysis CRS")
