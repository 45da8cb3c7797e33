"""geodata: the committed sources turned into the default twin's layers.

These tests build the layers once per module with a small parcel count and check the facts
the default twin promises (seed/facts.md) against the data itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

import geodata
from geodata._common import SOURCES, largest_remainder, load_config
from geodata._metric import EQUAL_AREA, area_m2, to_metric
from geodata.extract import russian_name

N_PARCELS = 3_000


@pytest.fixture(scope="module")
def layers():
    return geodata.build_layers(parcels=N_PARCELS)


def _overlap_m2(geoms) -> np.ndarray:
    """Areas (m²) of the interior overlaps between all pairs of ``geoms``."""
    g = np.asarray(geoms, dtype=object)
    i, j = shapely.STRtree(g).query(g, predicate="intersects")
    keep = i < j
    inter = shapely.intersection(to_metric(g[i[keep]]), to_metric(g[j[keep]]))
    return shapely.area(inter)


# -- layering and CRS ----------------------------------------------------------------------
def test_geodata_does_not_import_twin():
    code = ("import sys, geodata; geodata.build_layers(parcels=200); "
            "print(any(m == 'twin' or m.startswith('twin.') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).parents[1], check=True)
    assert out.stdout.strip() == "False"


def test_equal_area_crs_is_the_default_twins(default_twin):
    # the build measures in the CRS the default twin then analyses in
    assert default_twin.analysis_crs == EQUAL_AREA


def test_every_layer_is_lonlat_with_provenance(layers):
    for name, gdf in layers.items():
        assert gdf.crs.to_epsg() == 4326, name
        assert len(gdf), name
        assert gdf["source"].map(lambda s: isinstance(s, str) and len(s) > 5).all(), name
        assert pd.api.types.is_bool_dtype(gdf["synthetic"]), name
        if "accuracy" in gdf:
            assert set(gdf["accuracy"]) <= {"real", "approximate", "synthetic"}, name
        assert shapely.is_valid(np.asarray(gdf.geometry.values)).all(), name
        assert gdf.geometry.name == gdf.columns[-1], name


# -- region and context --------------------------------------------------------------------
def test_region_area_within_half_percent_of_official(layers):
    r = layers["region"]
    km2 = area_m2(r.geometry.values)[0] / 1e6
    assert abs(km2 / 146_219 - 1) < 0.005
    assert r.loc[0, "id"] == "KAZ002" and r.loc[0, "accuracy"] == "real"
    assert r.loc[0, "official_area_km2"] == 146_219.0


def test_outline_source_is_small():
    assert (SOURCES / "akmola.geojson").stat().st_size < 1_000_000


def test_astana_is_context_not_region(layers):
    region = layers["region"].geometry.iloc[0]
    astana = layers["context"].geometry.iloc[0]
    assert layers["context"].loc[0, "id"] == "KAZ006"
    # the source's two features overlap by about 9 km² along their border (SOURCES.md)
    overlap = area_m2([shapely.intersection(region, astana)])[0]
    assert overlap / area_m2([region])[0] < 1e-4
    assert not shapely.has_z(region) and not shapely.has_z(astana)
    assert not region.contains(shapely.Point(71.446, 51.180))  # Astana's GeoNames point


# -- districts -----------------------------------------------------------------------------
def test_districts_are_the_twenty_units(layers):
    d = layers["districts"]
    units = pd.read_csv(SOURCES / "units.csv")
    assert d["id"].tolist() == units["id"].tolist()
    assert (d["kind"] == "district").sum() == 17 and (d["kind"] == "city").sum() == 3
    assert set(d["accuracy"]) == {"approximate"}


def test_districts_partition_the_region(layers):
    d, r = layers["districts"], layers["region"]
    region_m2 = area_m2(r.geometry.values)[0]
    assert _overlap_m2(d.geometry.values).sum() < 1.0  # m²: floating-point noise only
    union_m2 = area_m2([shapely.union_all(np.asarray(d.geometry.values))])[0]
    assert abs(region_m2 - union_m2) / region_m2 < 1e-4
    outside = shapely.difference(shapely.union_all(np.asarray(d.geometry.values)),
                                 r.geometry.iloc[0])
    assert area_m2([outside])[0] / region_m2 < 1e-6
    assert np.allclose(d["area_km2"], area_m2(d.geometry.values) / 1e6)


def test_each_centre_lies_in_its_own_unit(layers):
    d = layers["districts"]
    centres = shapely.points(d[["centre_lon", "centre_lat"]].to_numpy())
    assert shapely.contains_properly(np.asarray(d.geometry.values), centres).all()


# -- settlements ---------------------------------------------------------------------------
def test_settlements_are_real_and_inside(layers):
    s, r = layers["settlements"], layers["region"]
    assert len(s) >= 25
    assert shapely.contains(r.geometry.iloc[0], np.asarray(s.geometry.values)).all()
    assert set(s["accuracy"]) == {"real"} and not s["synthetic"].any()
    assert s["is_centre"].sum() == 20
    assert (s["population"] == 0).eq(~s["population_known"]).all()
    assert s.loc[s["name"] == "Kokshetau", "population"].item() == 150_649


def test_wrong_akkol_is_left_out(layers):
    s = layers["settlements"]
    wrong = shapely.Point(69.59997, 53.29617)
    assert shapely.distance(np.asarray(s.geometry.values), wrong).min() > 0.05
    akkol = s[s["name"] == "Akkol"].iloc[0]
    assert akkol["is_centre"] and akkol["district_id"] == "akkol"


def test_settlement_districts_match_geometry(layers):
    s, d = layers["settlements"], layers["districts"].set_index("id")
    cells = np.asarray(d.loc[s["district_id"]].geometry.values)
    assert shapely.contains(cells, np.asarray(s.geometry.values)).all()


@pytest.mark.parametrize(("name", "alts", "want"), [
    ("Stepnogorsk", ["Степногор", "Степногорск", "Степногорськ"], "Степногорск"),
    ("Akkol", ["Akˌkөl", "Акколь", "Алексеевка"], "Акколь"),
    ("Egindiköl", ["Егиндыколь", "Егіндікөл", "Краснознаменское"], "Егиндыколь"),
    ("Koktal", [], ""),
])
def test_russian_name(name, alts, want):
    assert russian_name(name, alts) == want


# -- approximate features ------------------------------------------------------------------
def test_industrial_zone_in_tselinograd_outside_astana(layers):
    z = layers["industrial_zones"].iloc[0]
    assert z["district_id"] == "tselinograd" and z["accuracy"] == "approximate"
    assert 100 <= z["area_ha"] <= 1_000
    assert not shapely.intersects(z.geometry, layers["context"].geometry.iloc[0])
    assert "approximate" in z["note"] or "assumed" in z["note"]


def test_protected_areas_match_official_area(layers):
    pa = layers["protected_areas"]
    want = {"burabay": 129_935, "kokshetau": 182_076, "korgalzhyn": 543_171,
            "buiratau": 88_968}
    assert dict(zip(pa["id"], pa["official_area_ha"], strict=True)) == want
    ha = area_m2(pa.geometry.values) / 1e4
    assert np.all(np.abs(ha / pa["official_area_ha"] - 1) < 0.01)
    region = layers["region"].geometry.iloc[0]
    assert area_m2([shapely.difference(shapely.union_all(pa.geometry.values), region)])[0] < 1e4
    assert _overlap_m2(pa.geometry.values).sum() < 1e4


def test_water_is_approximate_lakes_and_a_river_in_layers_of_one_type(layers):
    lakes, rivers = layers["lakes"], layers["rivers"]
    assert "water" not in layers
    assert set(lakes.geom_type) <= {"Polygon", "MultiPolygon"} and set(lakes["kind"]) == {"lake"}
    assert set(rivers.geom_type) <= {"LineString", "MultiLineString"}
    assert rivers["name"].str.contains("Ishim").all()
    assert set(lakes["accuracy"]) | set(rivers["accuracy"]) == {"approximate"}
    assert "Tengiz" in " ".join(lakes["name"])
    tengiz = lakes[lakes["id"] == "tengiz"].geometry.iloc[0]
    korgalzhyn = layers["protected_areas"].set_index("id").geometry["korgalzhyn"]
    assert shapely.intersects(tengiz, korgalzhyn)


# -- project sites -------------------------------------------------------------------------
def test_project_totals_are_the_sources(layers):
    p = layers["project_sites"]
    impl = p[p["status"] == "implementation"]
    assert len(impl) == 226
    assert impl["investment_kzt"].sum() == 456_000_000_000
    assert impl["jobs"].sum() == 2_500
    pipe = p[p["status"] == "pipeline"]
    assert len(pipe) == 7 and pipe["jobs"].sum() > 4_500
    assert (pipe["district_id"] == "tselinograd").all()
    zone = layers["industrial_zones"].geometry.iloc[0]
    assert shapely.contains(zone, np.asarray(pipe.geometry.values)).all()
    assert len(p) == 233 and p["id"].is_unique


def test_named_projects_are_real_rows_with_made_up_fields_listed(layers):
    p = layers["project_sites"].set_index("id")
    named = p.loc[["named-aluminium", "named-groats", "named-agromachinery"]]
    assert named["district_id"].tolist() == ["tselinograd", "kokshetau", "kokshetau"]
    assert not named["synthetic"].any()
    assert (named["accuracy"] == "approximate").all()
    for fields in named["synthetic_fields"]:
        assert {"investment_kzt", "jobs", "geometry"} <= set(fields.split(","))
    syn = p[p["synthetic"]]
    assert len(syn) == 223 and set(syn["accuracy"]) == {"synthetic"}


def test_project_sites_lie_in_their_districts(layers):
    p, d = layers["project_sites"], layers["districts"].set_index("id")
    cells = np.asarray(d.loc[p["district_id"]].geometry.values)
    assert shapely.contains(cells, np.asarray(p.geometry.values)).all()
    assert set(p["hazard_class"]) <= {"", "I", "II", "III", "IV", "V"}
    assert (p["end_year"] >= p["start_year"]).all()


def test_sector_anchors(layers):
    p = layers["project_sites"]

    def near(sector, anchors_lonlat, km):
        pts = to_metric(np.asarray(p[p["sector"] == sector].geometry.values))
        anchors = to_metric(shapely.points(np.asarray(anchors_lonlat)))
        dist = shapely.distance(pts[:, None], anchors[None, :]).min(axis=1)
        return len(pts) > 0 and bool((dist <= km * 1000 + 1).all())

    gold = [[71.95761, 52.44422], [73.09592, 52.49795], [71.70971, 51.74259],
            [70.78861, 52.83489]]
    assert near("gold mining", gold, 12)
    assert near("energy (wind)", [[73.10265, 51.62364]], 30)


# -- parcels -------------------------------------------------------------------------------
def test_parcels_count_ids_and_vocabulary(layers):
    p = layers["parcels"]
    assert len(p) == N_PARCELS
    assert p["id"].tolist() == list(range(1, N_PARCELS + 1))
    assert p["id"].dtype == np.int64
    assert set(p["land_use"]) <= set(geodata.LAND_USES)
    assert {"residential", "agricultural", "industrial"} <= set(p["land_use"])
    assert p["synthetic"].all()
    assert np.allclose(p["area_ha"], area_m2(p.geometry.values) / 1e4, rtol=1e-6)


def test_parcels_inside_exactly_one_district_and_disjoint(layers):
    p, d = layers["parcels"], layers["districts"]
    geoms = np.asarray(p.geometry.values)
    cells = np.asarray(d.geometry.values)
    idx_p, idx_d = shapely.STRtree(cells).query(geoms, predicate="intersects")
    inside = shapely.contains_properly(cells[idx_d], geoms[idx_p])
    assert inside.sum() == len(p) and np.array_equal(np.sort(idx_p[inside]), np.arange(len(p)))
    # any other district it meets, it only touches (shares no interior with)
    assert not shapely.overlaps(cells[idx_d[~inside]], geoms[idx_p[~inside]]).any()
    idx_p, idx_d = idx_p[inside], idx_d[inside]
    assert (d["id"].to_numpy()[idx_d[np.argsort(idx_p)]] == p["district_id"].to_numpy()).all()
    assert _overlap_m2(geoms).max(initial=0.0) < 1e-3


def test_parcel_land_use_follows_layers(layers):
    p = layers["parcels"]
    zone = layers["industrial_zones"].geometry.iloc[0]
    in_zone = shapely.within(np.asarray(p.geometry.values), zone)
    assert in_zone.any() and (p.loc[in_zone, "land_use"] == "industrial").all()
    reserve = layers["protected_areas"].set_index("id").geometry["korgalzhyn"]
    in_reserve = shapely.contains(reserve, shapely.centroid(np.asarray(p.geometry.values)))
    fields = p["family"] == "field"
    assert (p.loc[in_reserve & fields, "land_use"] == "protected").all()


def test_parcels_are_deterministic_and_exact_for_other_counts():
    a = geodata.build_layers(parcels=700)["parcels"]
    b = geodata.build_layers(parcels=700)["parcels"]
    assert len(a) == 700
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert shapely.equals_exact(np.asarray(a.geometry.values), np.asarray(b.geometry.values),
                                tolerance=0).all()


@pytest.mark.parametrize("n", [100, 137, 4_321])
def test_parcel_count_is_exact_even_for_few_large_fields(layers, n):
    got = geodata.parcels(layers["districts"], layers["settlements"],
                          layers["industrial_zones"], layers["protected_areas"],
                          layers["lakes"], n=n)
    assert len(got) == n and got["id"].max() == n


def test_too_few_parcels_is_a_clear_error():
    with pytest.raises(ValueError, match="too few"):
        geodata.parcels(None, None, None, None, None, n=10)


# -- helpers -------------------------------------------------------------------------------
@given(st.lists(st.floats(0.01, 1e6), min_size=1, max_size=300), st.integers(0, 10**9),
       st.integers(0, 3))
def test_largest_remainder_sums_exactly(weights, total, minimum):
    w = np.array(weights)
    if total < minimum * len(w):
        with pytest.raises(ValueError):
            largest_remainder(w, total, minimum)
        return
    parts = largest_remainder(w, total, minimum)
    assert parts.sum() == total and (parts >= minimum).all()
    assert np.all(np.abs(parts - minimum - w / w.sum() * (total - minimum * len(w))) < 1)


def test_fingerprint_covers_the_build_inputs(tmp_path, monkeypatch):
    import geodata._common as common

    before = geodata.fingerprint()
    for rel in common.BUILD_INPUTS:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes((common.HERE / rel).read_bytes())
    monkeypatch.setattr(common, "HERE", tmp_path)
    assert geodata.fingerprint() == before
    (tmp_path / "config.yaml").write_text(load_config().__repr__())
    assert geodata.fingerprint() != before
