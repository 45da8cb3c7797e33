"""api/routers/plan.py: /plan, compliance (filters), land balance, versions and diff, checked
against the domain's own answers (twin.plan) on the small twin with two plan changes, stored
in each backend (tests/conftest.py's ``backend``); the zones layer as an OGC collection and
as vector tiles on the default twin."""

from __future__ import annotations

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.app import create_app
from api.settings import Settings
from layers.tile_math import tiles_for_bounds
from tests.common import PROBLEM, make_small_twin, square_lonlat
from tests.common import assert_problem as _problem


@pytest.fixture(scope="module")
def planned(backend):
    """The small twin whose plan has v2 (rezone p2's parcel to industrial) and v3
    (industrial FAR 1.0 -> 1.2), saved into the backend and read back from there."""
    from twin import Twin

    tw = backend.store(make_small_twin())
    tw.plan.rezone(square_lonlat(6_000, 1_000, 1_000), "industrial", note="new plant")
    tw.plan.set_regulation("industrial", "max_far", 1.2)
    tw.plan.save()
    return Twin.open(tw.location)


@pytest.fixture(scope="module")
def client(planned):
    with TestClient(create_app(Settings(), twin=planned)) as c:
        yield c



# -- /plan ------------------------------------------------------------------------------

def test_plan_document(client, planned):
    body = client.get("/plan").json()
    assert (body["id"], body["version"], body["latest_version"]) == ("main", 3, 3)
    assert body["regulations"]["zones"]["industrial"]["max_far"] == 1.2
    assert body["regulations"] == planned.plan.regulations(3).to_dict()
    assert body["zone_types"] == list(planned.plan.regulations().zones)
    hrefs = {link["href"] for link in body["links"]}
    assert "http://testserver/collections/zones" in hrefs
    assert "http://testserver/tiles/zones.json" in hrefs
    v1 = client.get("/plan", params={"version": 1}).json()
    assert v1["version"] == 1 and v1["regulations"]["zones"]["industrial"]["max_far"] == 1.0


@pytest.mark.parametrize("version, status", [("9", 404), ("0", 400), ("x", 400),
                                             ("1.5", 400), ("-1", 400)])
def test_plan_bad_version(client, version, status):
    _problem(client.get("/plan", params={"version": version}), status, "version")


def test_versions(client, planned):
    body = client.get("/plan/versions").json()
    assert body["latest_version"] == 3
    assert [v["version"] for v in body["versions"]] == [1, 2, 3]
    assert [v["kind"] for v in body["versions"]] == ["base", "rezone", "set_regulation"]
    assert [v["description"] for v in body["versions"]] == list(
        planned.plan.versions()["description"])


# -- /plan/diff -------------------------------------------------------------------------

def test_diff_in_planning_terms(client, planned):
    body = client.get("/plan/diff", params={"from": 1, "to": 3}).json()
    d = planned.plan.diff(1, 3)
    assert body["changes"] == d.lines() == [
        "1 parcel, 100 ha, in West district went from agricultural to industrial",
        "industrial FAR 1.0 → 1.2"]
    assert body["summary"] == str(d) and body["empty"] is False
    [z] = body["zones"]
    assert (z["district_id"], z["from_zone"], z["to_zone"], z["parcels"]) == (
        "west", "agricultural", "industrial", 1)
    assert z["hectares"] == pytest.approx(100.0, rel=1e-6)
    assert body["regulations"] == [{"zone_type": "industrial", "field": "max_far",
                                    "before": 1.0, "after": 1.2}]
    same = client.get("/plan/diff", params={"from": 2, "to": 2}).json()
    assert same["empty"] is True and same["changes"] == []


@pytest.mark.parametrize("params, status, word", [
    ({"from": 1, "to": 4}, 404, "no version 4"),
    ({"from": 7, "to": 2}, 404, "no version 7"),
    ({"from": "one", "to": 2}, 400, "from"),
    ({"from": 1, "to": "2x"}, 400, "to"),
    ({"from": 1}, 400, "to"),
    ({}, 400, "from"),
    ({"from": 0, "to": 2}, 400, "from"),
])
def test_diff_bad_versions(client, params, status, word):
    _problem(client.get("/plan/diff", params=params), status, word)


# -- /plan/compliance -------------------------------------------------------------------

def test_compliance_equals_the_domain(client, planned):
    body = client.get("/plan/compliance").json()
    f = planned.plan.compliance()
    assert body["numberMatched"] == len(f) > 0
    assert [x["site_id"] for x in body["findings"]] == list(f["site_id"])
    assert [x["rule"] for x in body["findings"]] == list(f["rule"])
    assert body["counts"] == {s: int((f["severity"] == s).sum())
                              for s in ("error", "warning", "info")}
    # v2 made p2's farm parcel industrial, where the farm is a zone-use warning
    [farm] = [x for x in body["findings"] if x["site_id"] == "p2"]
    assert (farm["rule"], farm["severity"], farm["zone_type"]) == (
        "zone_use", "warning", "industrial")
    assert isinstance(farm["affected"], list)
    v1 = client.get("/plan/compliance", params={"version": 1}).json()
    [farm1] = [x for x in v1["findings"] if x["site_id"] == "p2"]
    assert farm1["zone_type"] == "agricultural"  # before the rezone


def test_compliance_filters(client, planned):
    f = planned.plan.compliance()
    for params, keep in [
        ({"severity": "warning"}, f["severity"] == "warning"),
        ({"severity": "error,info"}, f["severity"].isin(["error", "info"])),
        ({"district": "west"}, f["district_id"] == "west"),
        ({"project": "p1"}, f["site_id"] == "p1"),
        ({"project": "p2", "severity": "warning", "district": "west"},
         (f["site_id"] == "p2") & (f["severity"] == "warning") & (f["district_id"] == "west")),
    ]:
        body = client.get("/plan/compliance", params=params).json()
        assert body["numberMatched"] == int(keep.sum()), params
        assert [x["site_id"] for x in body["findings"]] == list(f[keep]["site_id"])


@pytest.mark.parametrize("params, words", [
    ({"severity": "fatal"}, ["'fatal'", "error, warning, info"]),
    ({"severity": "error,bad"}, ["'bad'"]),
    ({"severity": ","}, ["empty"]),
    ({"district": "north"}, ["'north'", "west, east"]),
    ({"project": "p9"}, ["'p9'", "p1, p2"]),
])
def test_compliance_bad_filters_name_the_allowed(client, params, words):
    _problem(client.get("/plan/compliance", params=params), 400, *words)


# -- /plan/land-balance -----------------------------------------------------------------

def test_land_balance(client, planned):
    body = client.get("/plan/land-balance").json()
    lb = planned.plan.land_balance()
    assert len(body["rows"]) == len(lb)
    assert body["total_ha"] == pytest.approx(20_000, rel=1e-6)  # two 100 km² districts
    v1 = client.get("/plan/land-balance", params={"version": 1}).json()["by_zone_type_ha"]
    v3 = body["by_zone_type_ha"]
    assert v3["industrial"] - v1["industrial"] == pytest.approx(100, rel=1e-6)
    east = client.get("/plan/land-balance", params={"district": "east"}).json()
    assert {r["district_id"] for r in east["rows"]} == {"east"}
    assert east["total_ha"] == pytest.approx(10_000, rel=1e-6)
    _problem(client.get("/plan/land-balance", params={"district": "x"}), 400, "west, east")
    _problem(client.get("/plan/land-balance", params={"version": 5}), 404, "version 5")


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(key=st.sampled_from(["district", "severity", "project", "version"]),
       value=st.text(max_size=12))
def test_plan_filters_never_5xx(client, key, value):
    r = client.get("/plan/compliance", params={key: value})
    assert r.status_code in (200, 400, 404), r.text
    if r.status_code != 200:
        assert r.headers["content-type"] == PROBLEM


# -- the zones layer on the default twin ------------------------------------------------

@pytest.mark.slow
def test_zones_collection_and_tiles_on_the_default_twin(default_twin):
    zones = default_twin["zones"]
    with TestClient(create_app(Settings(), twin=default_twin)) as c:
        col = c.get("/collections/zones").json()
        assert col["numberOfFeatures"] == len(zones) > 0
        items = c.get("/collections/zones/items", params={"limit": 3}).json()
        assert len(items["features"]) == 3
        assert {"zone_type", "district_id"} <= set(items["features"][0]["properties"])
        tj = c.get("/tiles/zones.json").json()
        assert tj["tilejson"] == "3.0.0"
        assert tj["vector_layers"][0]["id"] == "zones"
        z = max(tj["minzoom"], 6)
        x0, y0, x1, y1 = tiles_for_bounds(tuple(zones.total_bounds), z)
        r = c.get(f"/tiles/zones/{z}/{(x0 + x1) // 2}/{(y0 + y1) // 2}.mvt")
        assert r.status_code == 200, r.text
        feats = mapbox_vector_tile.decode(r.content)["zones"]["features"]
        assert feats and {"zone_type", "district_id"} <= set(feats[0]["properties"])
        # the plan endpoints on the real twin agree with its plan
        body = c.get("/plan/compliance").json()
        assert body["numberMatched"] == len(default_twin.plan.compliance())
        lb = c.get("/plan/land-balance").json()
        assert len(lb["rows"]) == len(default_twin.plan.land_balance())
