"""Every analysis on a twin of only ``region`` and ``districts``: it works, or it says what
it lacks (never LayerNotFound from deep inside)."""

from __future__ import annotations

import pandas as pd
import pytest

from tests.common import lonlat, make_bare_twin
from twin import AnalysisUnavailable, LayerNotFound
from twin.score import NoObservations


@pytest.fixture
def bare():
    return make_bare_twin()


def test_the_analysis_crs_is_centred_on_the_region(bare):
    lat, lon = [p.value for p in bare.analysis_crs.coordinate_operation.params[:2]]
    (x0, y0, x1, y1) = bare["region"].total_bounds
    assert lon == pytest.approx((x0 + x1) / 2, abs=1e-4)
    assert lat == pytest.approx((y0 + y1) / 2, abs=1e-4)
    # equal-area wherever it is centred: the two 100 km² districts
    assert bare.area_km2("districts").round(3).tolist() == [100.0, 100.0]


def test_the_plan_derives_zones_and_says_what_it_cannot_check(bare):
    plan = bare.plan
    z = plan.zones()
    assert set(z["zone_type"]) == {"agricultural"}  # nothing else to take zones from
    lb = plan.land_balance()
    assert lb.groupby("district_id")["area_ha"].sum().round().to_dict() == {
        "east": 10000.0, "west": 10000.0}
    f = plan.compliance()
    assert len(f) == 0 and list(f.columns)[:3] == ["site_id", "rule", "severity"]
    assert plan.compliance_summary()["sites"].sum() == 0
    assert set(plan.unavailable) == {"project_sites", "parcels", "settlements", "water",
                                     "protected_areas"}
    with pytest.raises(AnalysisUnavailable, match="no parcels: capacity by parcel is not "
                       "available; import a cadastre"):
        plan.capacity()
    with pytest.raises(AnalysisUnavailable, match="no parcels"):
        plan.capacity_summary()
    with pytest.raises(AnalysisUnavailable, match="no parcels"):
        plan.rezone(parcels=[1], zone_type="industrial")
    # a proposed site is checked against the zones it has
    found = plan.check_site(bare["districts"].geometry.iloc[0].representative_point(),
                            "metallurgy", "I")
    assert [f.rule for f in found] == ["zone_use"]


def test_plan_changes_diff_export_and_report(bare, tmp_path):
    from tests.common import square_lonlat

    plan = bare.plan
    v = plan.rezone(square_lonlat(2_000, 2_000, 1_000), "industrial", note="new estate")
    assert "went from agricultural to industrial" in str(plan.diff(1, v))
    out = plan.export(tmp_path / "plan.gpkg")
    import pyogrio

    assert {n for n, g in pyogrio.list_layers(out) if g} == {"zones"}
    report = plan.report(tmp_path / "report").read_text(encoding="utf-8")
    assert "Bare test region" in report
    assert "no parcels: capacity by parcel is not available" in report
    assert "Akmola" not in report and "default twin" not in report


def test_a_scenario_adds_a_project_and_says_what_it_cannot_measure(bare):
    s = bare.scenario("plant")
    s.add_project("plant", *lonlat(5_000, 5_000), "metallurgy", investment_kzt=10**9,
                  jobs=100, hazard_class="II")
    ev = s.evaluate()
    assert ev.districts.loc["west", "d_jobs"] == 100
    assert ev.score is None
    summary = ev.summary()
    assert "no parcels: capacity by parcel is not available" in summary["unavailable"]
    assert "no score observations" in summary["unavailable"]
    assert summary["d_capacity_m2"] == 0.0
    # its own layers, which the map's scenario tiles draw, hold the added site and its zone
    lay = s.layers()
    assert lay["project_sites"][["id", "change", "source"]].values.tolist() == [
        ["plant", "added", "scenario edit (added)"]]
    assert lay["sanitary_zones"]["site_id"].tolist() == ["plant"]
    import mercantile

    from layers.vector_tiles import TileSource

    t = mercantile.tile(*lonlat(5_000, 5_000), 10)
    assert TileSource(s.to_twin()).tile("project_sites", t.z, t.x, t.y).data


def test_the_score_needs_observations_then_leaves_out_what_has_none(bare):
    with pytest.raises(NoObservations, match="ingest"):
        bare.score.ranking()
    rows = [{"unit_id": u, "indicator": "avg_wage", "month": "2025-01", "value": v,
             "unit": "thousand KZT", "synthetic": True}
            for u, v in (("west", 400.0), ("east", 350.0))]
    bare.score.ingest(rows, persist=False)
    r = bare.score.ranking()
    assert r.index.tolist() == ["west", "east"]
    assert r["score"].tolist() == [100.0, 0.0]  # one indicator: nothing compresses it
    assert "avg_wage" not in bare.score.left_out and len(bare.score.left_out) == 11


def test_layers_that_are_not_there_are_named_as_missing(bare):
    with pytest.raises(LayerNotFound, match="has no layer 'parcels'"):
        bare["parcels"]


def test_map_config_and_deck_draw_a_bare_twin(bare):
    pytest.importorskip("pydeck")
    from layers.deck import twin_deck
    from layers.map_config import map_config

    cfg = map_config(bare, parcel_zooms=None)
    assert cfg["title"] == "Bare test region"
    assert cfg["default_color_by"] == "population" or "score" not in cfg["color_by"]
    deck = twin_deck(bare)
    assert {layer.id for layer in deck.layers} >= {"region", "districts", "district_labels"}


def test_saved_and_reopened_it_keeps_its_crs_registry_and_regulations(bare, tmp_path):
    from twin import Twin

    bare.save(tmp_path / "bare.gpkg")
    back = Twin.open(tmp_path / "bare.gpkg")
    assert back.analysis_crs == bare.analysis_crs
    assert back.registry == bare.registry and back.regulations.to_dict() == \
        bare.regulations.to_dict()
    assert back.title == "Bare test region"
    assert pd.Series(back.derived_layers).tolist() == []


def test_the_api_serves_a_bare_twin(bare, tmp_path):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from tests.common import assert_problem

    bare.save(tmp_path / "bare.gpkg")  # an ingest is durable before it is acknowledged
    with TestClient(create_app(Settings(api_tokens="t"), twin=bare)) as c:
        assert c.get("/").json()["title"] == "Bare test region"
        assert [x["id"] for x in c.get("/collections").json()["collections"]] == [
            "region", "districts"]
        cfg = c.get("/map/config.json").json()
        assert cfg["title"] == "Bare test region" and cfg["parcels"] is None
        assert cfg["attribution"] == ["hand-made test geometry"]
        tj = c.get("/tiles/districts.json").json()
        assert tj["attribution"] == "hand-made test geometry (rows marked synthetic=true are " \
            "made up)"
        assert "parcels" in c.get("/plan").json()["unavailable"]
        comp = c.get("/plan/compliance").json()
        assert comp["numberMatched"] == 0 and comp["unavailable"].startswith(
            "no project_sites: compliance of projects is not available")
        lb = c.get("/plan/land-balance")
        assert lb.status_code == 200
        assert_problem(c.get("/score"), 404, "holds no score observations")
        r = c.post("/score/observations", headers={"Authorization": "Bearer t"}, json={
            "observations": [{"unit_id": u, "indicator": "avg_wage", "month": "2025-01",
                              "value": v, "unit": "thousand KZT", "synthetic": True}
                             for u, v in (("west", 400.0), ("east", 350.0))]})
        assert r.status_code == 200, r.text
        body = c.get("/score").json()
        assert [u["unit_id"] for u in body["units"]] == ["west", "east"]
        assert "avg_wage" not in body["left_out"] and len(body["left_out"]) == 11


def test_twin_map_draws_a_bare_twin_and_says_why_it_cannot_colour_by_score(
        bare, tmp_path, capsys):
    pytest.importorskip("pydeck")
    from twin.cli import main

    bare.save(tmp_path / "bare.gpkg")
    out = tmp_path / "map.html"
    assert main(["map", "--twin", str(tmp_path / "bare.gpkg"), "--out", str(out)]) == 0
    html = out.read_text(encoding="utf-8")
    assert "Bare test region" in html and "hand-made test geometry" in html
    assert main(["map", "--twin", str(tmp_path / "bare.gpkg"), "--out", str(out),
                 "--color-by", "score"]) == 1
    err = capsys.readouterr().err
    assert "cannot colour districts by 'score': it holds no score observations" in err
    assert "Traceback" not in err


def test_a_project_list_with_only_names_and_sectors_is_drawn_tiled_and_evaluated(bare):
    pytest.importorskip("pydeck")
    import geopandas as gpd
    import numpy as np

    from layers.deck import twin_deck
    from layers.map_config import map_config
    from layers.vector_tiles import TileSource
    from tests.common import point_lonlat

    sites = gpd.GeoDataFrame(
        {"id": ["a", "b"], "name": ["Mill", "Farm"], "sector": ["agro-processing", "x"],
         "district_id": ["west", "east"], "jobs": [40.0, np.nan],  # one figure not known
         "source": ["akimat list"] * 2, "synthetic": [False, False]},
        geometry=[point_lonlat(3_000, 3_000), point_lonlat(13_000, 3_000)], crs=4326)
    bare.add_layer("project_sites", sites)
    cfg = map_config(bare)
    assert cfg["district_values"]["west"]["jobs"] == 40.0
    # east's only project has no figure: no data, not 0 jobs
    assert cfg["district_values"]["east"]["jobs"] is None
    # the map's filters offer what the list holds: sectors, and no statuses, classes or years
    assert cfg["facets"] == {"sectors": ["agro-processing", "x"], "statuses": [],
                             "hazard_classes": [], "years": None}
    assert cfg["heights"]["column_max_investment"] is None
    from layers.plan_features import findings_features, sanitary_zone_features

    assert set(findings_features(bare)["site_id"]) <= {"a", "b"}
    assert sanitary_zone_features(bare).empty  # no hazard class: no sanitary zone
    twin_deck(bare, color_by="jobs")
    import mapbox_vector_tile
    import mercantile

    t = mercantile.tile(*sites.geometry.iloc[0].coords[0], 9)
    data = TileSource(bare).tile("project_sites", t.z, t.x, t.y).data
    feats = mapbox_vector_tile.decode(data)["project_sites"]["features"]
    jobs = {f["properties"]["id"]: f["properties"].get("jobs") for f in feats}
    assert jobs == {"a": 40, "b": None} or jobs == {"a": 40}  # unknown: no value
    ev = bare.scenario("s").remove_project("a").evaluate()
    assert ev.districts.loc["west", "d_jobs"] == -40
