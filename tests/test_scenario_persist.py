"""Scenarios stored in the twin file: round trips, optimistic versions, no lost update."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest

from tests.common import lonlat, square_lonlat
from twin import Twin
from twin.scenario import (
    ScenarioConflict,
    ScenarioNotFound,
    delete_scenario,
    list_scenarios,
)


@pytest.fixture
def twin_file(small_twin, tmp_path):
    path = tmp_path / "small.gpkg"
    small_twin.save(path)
    return path


def _edit_all_kinds(s):
    s.add_project("alu", *lonlat(4500, 4500), "metallurgy", investment_kzt=7 * 10**9,
                  jobs=300, hazard_class="I", area_ha=12, name="Алюминий")
    s.move_project("p1", *lonlat(5300, 5000))
    s.remove_project("p2")
    s.rezone(parcels=[3], zone_type="industrial", note="for the plant")
    s.rezone(square_lonlat(4000, 4000, 500), "public_business")
    s.set_regulation("industrial", "max_far", 1.5)
    s.set_regulation("agricultural", "permitted_sectors", ["agriculture", "agro"])
    s.set_score_weights({"investment": 2.0}, {"economy": 0.5})
    return s


def _same_evaluation(a, b):
    assert a.summary().equals(b.summary())
    for name in ("districts", "land_take", "sanitary", "access", "findings_new",
                 "findings_resolved"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name))


def test_round_trip_through_the_twin_file(twin_file):
    tw = Twin.open(twin_file)
    s = _edit_all_kinds(tw.scenario("alu-north"))
    assert s.version == 0
    assert s.save() == 1
    again = Twin.open(twin_file).scenario("alu-north", create=False)
    assert again.version == 1 and again.edits == s.edits
    _same_evaluation(again.evaluate(), s.evaluate())
    # the table is a registered GeoPackage attributes table, so GDAL/QGIS list it
    with sqlite3.connect(twin_file) as conn:
        kind = conn.execute("SELECT data_type FROM gpkg_contents WHERE table_name='scenarios'"
                            ).fetchone()
    assert kind == ("attributes",)
    assert list_scenarios(Twin.open(twin_file))[["id", "version", "n_edits"]].values \
        .tolist() == [["alu-north", 1, 8]]


def test_whole_twin_save_keeps_scenarios(twin_file, tmp_path):
    tw = Twin.open(twin_file)
    tw.scenario("a").remove_project("p2").save()
    tw.save(tmp_path / "copy.gpkg")
    s = Twin.open(tmp_path / "copy.gpkg").scenario("a", create=False)
    assert [e.describe() for e in s.edits] == ["remove project 'p2'"]


def test_two_sessions_one_stale_nothing_lost(twin_file):
    a = Twin.open(twin_file).scenario("shared")
    a.remove_project("p2").save()                      # v1
    b = Twin.open(twin_file).scenario("shared")        # both sessions now hold v1
    c = Twin.open(twin_file).scenario("shared")
    b.move_project("p1", *lonlat(5300, 5000))
    assert b.save() == 2
    c.set_regulation("industrial", "max_far", 2.0)
    with pytest.raises(ScenarioConflict, match="at version 2, but this change was based on "
                                               "version 1"):
        c.save()
    stored = Twin.open(twin_file).scenario("shared")
    assert stored.version == 2
    assert [e.kind for e in stored.edits] == ["remove_project", "move_project"]
    # the stale session reloads, re-applies and saves: both updates are kept
    c2 = Twin.open(twin_file).scenario("shared")
    c2.set_regulation("industrial", "max_far", 2.0)
    assert c2.save() == 3
    final = Twin.open(twin_file).scenario("shared")
    assert [e.kind for e in final.edits] == ["remove_project", "move_project",
                                             "set_regulation"]


def test_new_scenario_with_a_taken_id_conflicts(twin_file):
    Twin.open(twin_file).scenario("x").save()
    tw = Twin.open(twin_file)
    from twin.scenario import Scenario

    with pytest.raises(ScenarioConflict, match="exists already"):
        Scenario(tw, "x").save()


def test_delete_and_not_found(twin_file):
    tw = Twin.open(twin_file)
    tw.scenario("gone").save()
    with pytest.raises(ScenarioConflict):
        delete_scenario(tw, "gone", expected_version=7)
    delete_scenario(tw, "gone", expected_version=1)
    with pytest.raises(ScenarioNotFound, match="stores no scenario 'gone'"):
        tw.scenario("gone", create=False)
    with pytest.raises(KeyError):
        delete_scenario(tw, "gone")


def test_in_memory_twin_keeps_scenarios_in_tables(small_twin):
    s = small_twin.scenario("mem").remove_project("p2")
    assert s.save() == 1
    assert small_twin.tables["scenarios"]["id"].tolist() == ["mem"]
    again = small_twin.scenario("mem")
    _same_evaluation(again.evaluate(), s.evaluate())


def test_failed_save_writes_nothing(twin_file):
    tw = Twin.open(twin_file)
    tw.scenario("s").save()
    stale = Twin.open(twin_file).scenario("s")
    tw.scenario("s").remove_project("p2").save()
    before = (twin_file.read_bytes())
    with pytest.raises(ScenarioConflict):
        stale.remove_project("p1").save()
    assert twin_file.read_bytes() == before


def test_saving_the_whole_twin_keeps_what_another_session_stored(twin_file):
    a = Twin.open(twin_file)
    a.plan.rezone(parcels=[2], zone_type="industrial")
    a.plan.save()
    b = Twin.open(twin_file)  # another session, opened later
    b.scenario("from-b").remove_project("p2").save()
    b.plan.set_regulation("industrial", "max_far", 1.5)
    b.plan.save()
    a.scenario("from-a").remove_project("p1").save()
    a.save(twin_file)  # session a rewrites the whole file
    again = Twin.open(twin_file)
    assert set(list_scenarios(again)["id"]) == {"from-a", "from-b"}
    assert again.plan.version == 3
