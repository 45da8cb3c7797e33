"""layers/plan_features.py and /plan/findings, /plan/sanitary-zones: the plan's findings and
sanitary protection zones as map features, with their sites' filters and flags."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from api.app import create_app
from api.settings import Settings
from layers.plan_features import findings_features, sanitary_zone_features
from tests.common import assert_problem
from twin.crs import to_metric


def test_one_point_per_finding_at_its_site(default_twin):
    f = findings_features(default_twin)
    table = default_twin.plan.compliance()
    assert len(f) == len(table) > 0
    assert f["id"].is_unique and f.crs.to_epsg() == 4326
    sites = default_twin["project_sites"].set_index("id")
    for _, row in f.sample(20, random_state=1).iterrows():
        site = sites.loc[row["site_id"]]
        assert row.geometry.equals(site.geometry)
        # a finding about a made-up site is as made up, and filters like its site
        assert (row["synthetic"], row["status"], row["start_year"]) == (
            site["synthetic"], site["status"], site["start_year"])
    assert set(f["severity"]) <= {"error", "warning", "info"}
    assert f["affected"].map(type).eq(str).all()


def test_sanitary_zones_by_hazard_class(default_twin):
    z = sanitary_zone_features(default_twin)
    sites = default_twin["project_sites"]
    classed = sites[sites["hazard_class"].fillna("").str.strip() != ""]
    assert sorted(z["site_id"]) == sorted(classed["id"])
    regs = default_twin.plan.regulations()
    assert (z["radius_m"] == z["hazard_class"].map(regs.sanitary_m).astype(float)).all()
    area = to_metric(z, default_twin.analysis_crs).area.to_numpy()
    assert np.allclose(area, np.pi * z["radius_m"].to_numpy() ** 2, rtol=0.005)
    assert z.crs.to_epsg() == 4326 and shapely.is_valid(z.geometry.values).all()
    assert {"site_name", "sector", "status", "start_year"} <= set(z.columns)


@pytest.fixture(scope="module")
def client(default_twin):
    with TestClient(create_app(Settings(), twin=default_twin)) as c:
        yield c


def test_findings_and_zones_as_geojson(client, default_twin):
    r = client.get("/plan/findings")
    assert r.headers["content-type"] == "application/geo+json"
    fc = r.json()
    assert fc["type"] == "FeatureCollection"
    assert fc["numberMatched"] == len(fc["features"]) == len(default_twin.plan.compliance())
    feat = fc["features"][0]
    assert feat["geometry"]["type"] == "Point" and feat["id"] == feat["properties"]["id"]
    errors = client.get("/plan/findings", params={"severity": "error"}).json()
    assert {f["properties"]["severity"] for f in errors["features"]} == {"error"}
    assert_problem(client.get("/plan/findings", params={"severity": "fatal"}), 400,
                   "severity", "error")
    assert_problem(client.get("/plan/findings", params={"version": 99}), 404, "version")
    z = client.get("/plan/sanitary-zones").json()
    assert z["features"] and z["features"][0]["geometry"]["type"] == "Polygon"
    links = {lk["href"] for lk in client.get("/plan").json()["links"]}
    assert "http://testserver/plan/findings" in links


def test_a_twin_without_project_sites_has_no_findings_or_zones():
    from tests.common import make_bare_twin

    bare = make_bare_twin()
    with TestClient(create_app(Settings(gc_freeze=False), twin=bare)) as c:
        for path in ("/plan/findings", "/plan/sanitary-zones"):
            r = c.get(path)
            assert r.status_code == 200, r.text
            assert r.json()["features"] == [] and r.json()["numberMatched"] == 0
        assert c.get("/map/config.json").json()["plan"] is None  # the map does not ask
