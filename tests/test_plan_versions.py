"""Plan versions: rezone, set_regulation, semantic diff, persistence in the twin file."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.common import SMALL_CRS, make_small_twin, square_lonlat
from twin import Twin
from twin.crs import to_metric
from twin.plan import (
    Plan,
    PlanError,
    PlanVersionError,
    UnknownZoneType,
    land_balance,
    load_regulations,
    rezone,
    zones_for_twin,
)


@pytest.fixture
def plan(small_twin):
    # industrial FAR pinned to 1.0 so the expected diff text does not depend on the YAML
    return Plan(small_twin, regulations=load_regulations().set("industrial", "max_far", 1.0))


def test_every_change_makes_a_version_and_the_diff_is_semantic(plan):
    assert plan.version == 1
    assert plan.rezone(parcels=[2], zone_type="industrial", note="plant") == 2
    assert plan.set_regulation("industrial", "max_far", 1.2) == 3
    d = plan.diff(1, 3)
    assert d.lines() == [
        "1 parcel, 100 ha, in West district went from agricultural to industrial",
        "industrial FAR 1.0 → 1.2",
    ]
    row = d.zones.iloc[0]
    assert (row.district_id, row.parcels, row.parcel_ha) == ("west", 1, 100.0)
    assert row.hectares == pytest.approx(100.0, rel=1e-6)
    assert plan.diff(2, 3).lines() == ["industrial FAR 1.0 → 1.2"]
    assert plan.diff(3, 3).empty
    assert plan.diff(3, 1).lines()[0].endswith("went from industrial to agricultural")
    assert plan.versions()["kind"].tolist() == ["base", "rezone", "set_regulation"]


def test_rezone_by_area_counts_parcels_and_hectares_per_district(plan):
    # A 2 km square straddling the district border at x = 10 km: 200 ha on each side,
    # no parcel's representative point inside it.
    plan.rezone(square_lonlat(9_000, 8_000, 2_000), "reserve")
    lines = plan.diff(1, 2).lines()
    assert lines == [
        "200 ha in West district went from agricultural to reserve",
        "200 ha in East district went from agricultural to reserve",
    ]


def test_rezone_keeps_the_land_balance_closed(plan, small_twin):
    plan.rezone(square_lonlat(3_000, 3_000, 4_000), "industrial")  # cuts park, town, farmland
    lb = plan.land_balance()
    assert lb["closure"].abs().max() < 1e-6
    west = lb[lb.district_id == "west"].set_index("zone_type")["area_ha"]
    # The park (1-3 km) overlaps the square (3-7 km) only along an edge: it keeps 400 ha.
    assert west["protected"] == pytest.approx(400.0, rel=1e-6)
    assert west["industrial"] == pytest.approx(1600.0, rel=1e-6)
    assert west["residential"] == pytest.approx(0.0, abs=1e-6)  # Westtown's disc fits inside


def test_capacity_follows_rezone_and_regulation(plan):
    before = plan.capacity()
    plan.rezone(parcels=[2, 3], zone_type="industrial")
    plan.set_regulation("industrial", "max_far", 2.0)
    after = plan.capacity()
    assert after.iloc[[1, 2, 3]].tolist() == pytest.approx([2e6, 2e6, 2e6])  # 100 ha x 2.0
    assert after.iloc[0] == before.iloc[0]
    assert plan.capacity(version=1).tolist() == before.tolist()


def test_incremental_parcel_zones_equal_a_fresh_lookup(small_twin, tmp_path):
    p = Plan(small_twin)
    p.rezone(square_lonlat(3_500, 3_500, 2_000), "public_business")
    p.rezone(parcels=[3], zone_type="special")
    inc = p.parcel_zone_types()
    fresh = Plan(small_twin)
    for ch in p._records[1:]:
        fresh._records.append(ch)  # same history, no cached intermediate versions
    assert (
        fresh.parcel_zone_types(3).tolist()
        == inc.tolist()
        == ["public_business", "agricultural", "special", "industrial"]
    )


def test_versions_persist_in_the_twin_file(tmp_path):
    tw = make_small_twin()
    path = tmp_path / "small.gpkg"
    tw.save(path)
    tw.plan.rezone(parcels=[2], zone_type="industrial", note="aluminium plant")
    tw.plan.set_regulation("industrial", "max_floors", 7)
    assert tw.plan.save() == 3  # the base version and two changes
    again = Twin.open(path)
    assert again.plan.version == 3
    assert again.plan.regulations()["industrial"].max_floors == 7
    assert str(again.plan.diff(1, 3)) == str(tw.plan.diff(1, 3))
    assert again.plan.versions()["description"].iloc[1] == (
        "rezone 1 parcels to industrial (aluminium plant)"
    )
    # a later Twin.save keeps the history too (it is one of the twin's tables)
    again.plan.set_regulation("residential", "min_green_share", 0.3)
    again.plan.save()
    again.save(tmp_path / "copy.gpkg")
    assert Twin.open(tmp_path / "copy.gpkg").plan.version == 4


def test_a_whole_save_keeps_plan_versions_not_yet_saved(tmp_path):
    # tw.save() is "save everything": a rezone the user never passed to plan.save() was
    # silently dropped from the file, elsewhere and in place.
    tw = make_small_twin()
    tw.plan.rezone(parcels=[2], zone_type="industrial", note="aluminium plant")
    tw.save(tmp_path / "new.gpkg")
    assert tw.plan.unsaved == 0
    assert Twin.open(tmp_path / "new.gpkg").plan.version == 2
    tw.plan.set_regulation("industrial", "max_floors", 7)
    tw.save(tmp_path / "new.gpkg")  # over the file it came from
    again = Twin.open(tmp_path / "new.gpkg")
    assert again.plan.version == 3
    assert again.plan.regulations()["industrial"].max_floors == 7
    again.plan.set_regulation("industrial", "max_floors", 9)
    again.save(tmp_path / "copy.gpkg")  # elsewhere, from a stored twin: not into new.gpkg
    assert Twin.open(tmp_path / "copy.gpkg").plan.version == 4
    assert Twin.open(tmp_path / "new.gpkg").plan.version == 3


def test_a_failed_whole_save_leaves_plan_versions_to_be_saved(tmp_path):
    tw = make_small_twin()
    tw.plan.rezone(parcels=[2], zone_type="industrial")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the save wants a folder")
    with pytest.raises(OSError):
        tw.save(blocker / "t.gpkg")
    assert tw.plan.unsaved == 2  # the base version and the rezone
    tw.save(tmp_path / "t.gpkg")
    assert Twin.open(tmp_path / "t.gpkg").plan.version == 2


def test_two_sessions_saving_the_same_plan_conflict(tmp_path):
    tw = make_small_twin()
    path = tmp_path / "small.gpkg"
    tw.save(path)
    a, b = Twin.open(path), Twin.open(path)
    a.plan.rezone(parcels=[2], zone_type="industrial")
    b.plan.rezone(parcels=[3], zone_type="industrial")
    a.plan.save()
    with pytest.raises(PlanVersionError, match="another session saved"):
        b.plan.save()
    assert Twin.open(path).plan.version == 2


def test_history_cannot_be_replayed_on_other_zones(tmp_path):
    tw = make_small_twin()
    tw.save(tmp_path / "a.gpkg")
    tw.plan.rezone(parcels=[2], zone_type="industrial")
    tw.plan.save()
    tw2 = Twin.open(tmp_path / "a.gpkg")
    z = zones_for_twin(tw2)
    tw2.add_layer("zones", z[z.zone_type != "protected"])
    with pytest.raises(PlanVersionError, match="different zones layer"):
        Plan(tw2)
    assert Plan(tw2, "draft").version == 1  # a new plan id starts afresh


def test_plan_property_follows_a_replaced_zones_layer(small_twin):
    p = small_twin.plan
    assert small_twin.plan is p
    small_twin.add_layer("zones", zones_for_twin(small_twin))
    assert small_twin.plan is not p


def test_bad_changes_are_refused_and_leave_no_version(plan):
    with pytest.raises(UnknownZoneType, match="'factory'.*residential"):
        plan.rezone(parcels=[1], zone_type="factory")
    with pytest.raises(PlanError, match="no parcel"):
        plan.rezone(parcels=[99], zone_type="industrial")
    with pytest.raises(PlanError, match="either an area or parcel ids"):
        plan.rezone(zone_type="industrial")
    with pytest.raises(PlanError, match="outside every zone"):
        plan.rezone(shapely.box(10, 10, 11, 11), "industrial")
    with pytest.raises(PlanError, match="max_far.*out of range"):
        plan.set_regulation("industrial", "max_far", -1)
    with pytest.raises(PlanError, match="not a regulation field"):
        plan.set_regulation("industrial", "colour", "red")
    assert plan.version == 1
    with pytest.raises(PlanVersionError, match="no version 7"):
        plan.zones(7)


def test_diff_of_permitted_sectors_names_what_was_added_and_removed(plan):
    before = list(plan.regulations()["industrial"].permitted_sectors)
    plan.set_regulation("industrial", "permitted_sectors", [*before[1:], "data centres"])
    assert plan.diff(1, 2).lines() == [
        f"industrial permitted sectors: + data centres; − {before[0]}"
    ]


def test_rezone_accepts_a_geoseries_in_any_crs(plan):
    g = gpd.GeoSeries([shapely.box(6_000, 1_000, 7_000, 2_000)], crs=SMALL_CRS)
    plan.rezone(g, "industrial")
    assert plan.diff(1, 2).lines() == [
        "1 parcel, 100 ha, in West district went from agricultural to industrial"
    ]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    x=st.floats(-2_000, 19_000),
    y=st.floats(-2_000, 9_000),
    w=st.floats(50, 8_000),
    h=st.floats(50, 8_000),
    zone=st.sampled_from(["industrial", "reserve", "recreational", "agricultural"]),
)
def test_rezone_any_rectangle_keeps_a_partition(x, y, w, h, zone):
    tw = _TWIN
    z0 = _ZONES
    g = to_metric(gpd.GeoSeries([shapely.box(x, y, x + w, y + h)], crs=SMALL_CRS), SMALL_CRS)
    try:
        z1 = rezone(z0, g, zone, tag="h")
    except PlanError:
        assert not g.iloc[0].intersects(shapely.union_all(z0.geometry.values))
        return
    geoms = np.asarray(z1.geometry.values)
    assert shapely.area(geoms).sum() == pytest.approx(
        shapely.area(shapely.union_all(geoms)), rel=1e-9
    )  # still no overlap
    lb = land_balance(z1, tw.metric("districts"))
    assert lb["closure"].abs().max() < 1e-6  # still no gap
    assert z1["id"].is_unique


_TWIN = make_small_twin()
_ZONES = to_metric(zones_for_twin(_TWIN), SMALL_CRS)
