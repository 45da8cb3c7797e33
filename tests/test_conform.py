"""twin.conform: values convert to the schema's kinds, each one that cannot is reported with
its row and column, and what can be derived is."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from shapely import Point, box

from tests.common import make_bare_twin, point_lonlat, square_lonlat
from twin.conform import ConversionError, conform_layer, slug, unit_kind


def _places(**cols):
    n = len(next(iter(cols.values())))
    pts = [point_lonlat(1_000 + 2_000 * i, 5_000) for i in range(n)]
    return gpd.GeoDataFrame(cols, geometry=pts, crs=4326)


def test_populations_written_as_text_become_numbers():
    tw = make_bare_twin()
    g = _places(name=["A", "B", "C", "D", "E"],
                population=["12500", "1 200", "3,400", None, "7.0"])
    out = conform_layer("settlements", g, twin=tw, source="survey (CC BY)")
    s = out.gdf
    assert s["population"].tolist() == [12500, 1200, 3400, 0, 7]
    assert s["population"].dtype == np.int64
    assert s["population_known"].tolist() == [True, True, True, False, True]
    assert any("population not given for 1 of 5" in n for n in out.notes)
    tw.add_layer("settlements", s)  # and the twin takes it


def test_every_value_that_cannot_be_converted_is_listed_with_row_and_column():
    g = _places(name=["A", "B", "C"], population=["about 300", "12", "lots"])
    with pytest.raises(ConversionError) as e:
        conform_layer("settlements", g, rows=[4, 9, 17])
    msg = str(e.value)
    assert "2 value(s) cannot be converted" in msg
    assert "row 4, column 'population': 'about 300' is not a whole number" in msg
    assert "row 17, column 'population': 'lots'" in msg and "row 9" not in msg
    assert "fix them in the source file" in msg


def test_a_long_list_of_bad_values_is_counted_not_dropped():
    g = _places(name=[f"p{i}" for i in range(30)], population=["x"] * 30)
    with pytest.raises(ConversionError, match=r"30 value\(s\).*and 10 more"):
        conform_layer("settlements", g)


def test_districts_get_area_centre_kind_ids_and_names():
    tw = make_bare_twin()
    g = gpd.GeoDataFrame(
        {"name": ["West district", None], "name_kk": ["Батыс ауданы", "Шығыс Қ.Ә."]},
        geometry=[square_lonlat(0, 0, 10_000), square_lonlat(10_000, 0, 10_000)], crs=4326)
    out = conform_layer("districts", g, twin=tw, source="test")
    d = out.gdf
    assert d["id"].tolist() == ["west-district", "шығыс-қ-ә"]
    assert d["name"].tolist() == ["West district", "Шығыс Қ.Ә."]  # the Kazakh name stood in
    assert d["kind"].tolist() == ["district", "city"]
    assert d["area_km2"].round(4).tolist() == [100.0, 100.0]
    inside = [box(*g.geometry.iloc[i].bounds).contains(Point(x, y))
              for i, (x, y) in enumerate(zip(d["centre_lon"], d["centre_lat"], strict=True))]
    assert inside == [True, True]
    assert {"area_km2 derived: equal-area area", "1 row(s) had no name: taken from name_kk"} \
        <= set(out.notes)


def test_sites_and_settlements_are_placed_in_their_district():
    tw = make_bare_twin()
    g = _places(name=["in west", "in east", "outside"], sector=["agro", "energy", "x"])
    g.loc[1, "geometry"] = point_lonlat(15_000, 5_000)
    g.loc[2, "geometry"] = point_lonlat(50_000, 50_000)
    out = conform_layer("project_sites", g, twin=tw)
    assert out.gdf["district_id"].tolist() == ["west", "east", ""]
    assert "district_id derived: the district each lies in; 1 lie in none" in out.notes
    assert out.gdf["hazard_class"].tolist() == ["", "", ""]
    assert "no source given: add `set: {source: ...}` with the licence" in out.notes


def test_ids_given_as_numbers_are_text_and_parcel_ids_whole_numbers():
    tw = make_bare_twin()
    g = _places(name=["a", "b"], osm=[-3403954.0, 12.0]).rename(columns={"osm": "id"})
    assert conform_layer("settlements", g, twin=tw).gdf["id"].tolist() == ["-3403954", "12"]
    p = gpd.GeoDataFrame({"land_use": ["residential", "agricultural"]},
                         geometry=[square_lonlat(100, 100, 50), square_lonlat(200, 100, 50)],
                         crs=4326)
    parcels = conform_layer("parcels", p, twin=tw).gdf
    assert parcels["id"].tolist() == [1, 2] and parcels["area_ha"].round(6).tolist() == [
        0.25, 0.25]
    tw.add_layer("parcels", parcels)


def test_a_missing_figure_stays_unknown_not_zero():
    tw = make_bare_twin()
    g = _places(name=["a", "b"], sector=["agro", "agro"], jobs=["40", ""])
    sites = conform_layer("project_sites", g, twin=tw).gdf
    assert sites["jobs"].iloc[0] == 40 and np.isnan(sites["jobs"].iloc[1])
    tw.add_layer("project_sites", sites)  # whole numbers, one not known


def test_rows_without_an_id_are_refused_when_ids_are_given():
    g = _places(name=["a", "b"], code=["x", None]).rename(columns={"code": "id"})
    with pytest.raises(ConversionError, match=r"1 row\(s\) have no id \(rows 2\)"):
        conform_layer("settlements", g)


def test_the_kind_of_a_unit_follows_its_names():
    assert unit_kind("Petropavl Public Administration") == "city"
    assert unit_kind("Бурабай ауданы") == unit_kind("Zhaksy District") == "district"
    assert unit_kind("Жаксынский район - Жақсы ауданы") == "district"
    assert unit_kind("Astana", None) == "unit"


@given(st.text(min_size=1, max_size=30))
def test_slugs_are_url_safe_words(text):
    s = slug(text)
    assert s and " " not in s and "/" not in s and s == s.lower()
