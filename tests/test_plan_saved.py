"""The plan's parcel work saved once per data version (twin/plan/saved.py): the answers are
those computed from the whole parcels layer, a second run (and `twin info`, `twin score`)
reads no parcels, a result of another data version is never used, and a crash while
writing one leaves a twin whose plan is right."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from twin import Twin
from twin.cli import main
from twin.plan import ComplianceContext, capacity_summary, parcel_zone_types, saved
from twin.store.gpkg import GpkgStore


@pytest.fixture
def twin_file(default_twin_path, tmp_path) -> Path:
    """A private copy of the default twin (50,000 parcels), with no saved plan results."""
    path = tmp_path / "akmola.gpkg"
    shutil.copyfile(default_twin_path, path)
    return path


def whole_layer_answers(tw) -> dict:
    """The plan's answers computed the way they were before the digest: from the twin's
    whole parcels layer, with the public functions."""
    plan = tw.plan
    zones = tw["zones"]
    parcels = tw["parcels"]
    ctx = ComplianceContext(
        plan.zones(metric=True), plan.regulations(), protected=tw.metric("protected_areas"),
        water=tw.water(metric=True), settlements=tw.metric("settlements"), parcels=parcels,
        crs=tw.analysis_crs)
    zt = parcel_zone_types(parcels, zones)
    from twin.plan import capacity

    cap = capacity(parcels, None, plan.regulations(), zone_types=zt)
    return {"findings": ctx.check(tw["project_sites"]), "zone_types": zt,
            "capacity": capacity_summary(parcels, zt, cap)}


def plan_answers(tw) -> dict:
    p = tw.plan
    return {"findings": p.compliance(), "zone_types": p.parcel_zone_types(),
            "capacity": p.capacity_summary()}


def assert_same(a: dict, b: dict) -> None:
    pd.testing.assert_frame_equal(a["findings"], b["findings"], check_exact=True)
    pd.testing.assert_series_equal(a["zone_types"], b["zone_types"], check_exact=True,
                                   check_names=False)
    pd.testing.assert_frame_equal(a["capacity"], b["capacity"], check_exact=True)


class NoParcelReads:
    """Makes every read of the parcels from a GeoPackage store fail."""

    def __init__(self, monkeypatch):
        for method in ("read_layer", "read_columns"):
            original = getattr(GpkgStore, method)

            def refuse(self, name, *args, _original=original, _method=method, **kw):
                if name == "parcels":
                    raise AssertionError(f"{_method}('parcels') was called")
                return _original(self, name, *args, **kw)

            monkeypatch.setattr(GpkgStore, method, refuse)


def test_saved_answers_are_the_whole_layer_answers(twin_file):
    cold = plan_answers(Twin.open(twin_file))  # computes and saves
    kinds = sorted(p.name.split("-")[0] for p in saved.results_dir(Twin.open(twin_file))
                   .iterdir())
    assert kinds == ["findings", "parcels", "zonecodes"]
    warm_twin = Twin.open(twin_file)
    warm = plan_answers(warm_twin)
    assert not warm_twin.loaded("parcels")
    expected = whole_layer_answers(Twin.open(twin_file))
    assert len(expected["findings"]) and expected["findings"]["parcels"].sum() > 0
    assert_same(cold, expected)
    assert_same(warm, expected)


def test_a_second_plan_export_reads_no_parcels(twin_file, tmp_path, monkeypatch):
    out = tmp_path / "plan.gpkg"
    assert main(["plan", "export", "--twin", str(twin_file), "--out", str(out)]) == 0
    first = out.read_bytes()
    NoParcelReads(monkeypatch)
    assert main(["plan", "export", "--twin", str(twin_file), "--out", str(out)]) == 0
    assert main(["plan", "report", "--twin", str(twin_file), "--out", str(tmp_path / "r")]) == 0
    assert len(out.read_bytes()) == len(first)


def test_info_and_score_read_no_parcels(twin_file, monkeypatch, capsys):
    NoParcelReads(monkeypatch)
    assert main(["info", "--twin", str(twin_file)]) == 0
    assert "parcels" in capsys.readouterr().out
    assert main(["score", "--twin", str(twin_file)]) == 0
    assert "Region score" in capsys.readouterr().out


def test_the_patch_does_catch_a_parcel_read(twin_file, monkeypatch):
    # the guard above is real: the first plan run does read the parcels
    NoParcelReads(monkeypatch)
    with pytest.raises(AssertionError, match="parcels"):
        Twin.open(twin_file).plan.capacity_summary()


def _edit_parcels(path: Path) -> None:
    tw = Twin.open(path)
    p = tw["parcels"].copy()
    home = p.index[p["land_use"] == "residential"][:2000]
    p.loc[home, "land_use"] = "industrial"
    p.loc[p.index[:500], "area_ha"] *= 3
    tw.add_layer("parcels", p)
    tw.save(path)


def test_an_edit_of_the_parcels_is_never_answered_from_the_old_result(twin_file):
    before = plan_answers(Twin.open(twin_file))
    _edit_parcels(twin_file)
    after = plan_answers(Twin.open(twin_file))
    assert_same(after, whole_layer_answers(Twin.open(twin_file)))
    assert not after["capacity"].equals(before["capacity"])
    assert (after["findings"]["parcels"].sum() != before["findings"]["parcels"].sum())


def _edit_outside(path: Path) -> None:
    """Another program changes the file behind the twin (GDAL's ogrinfo)."""
    if shutil.which("ogrinfo") is None:
        pytest.skip("ogrinfo is not installed (Debian: apt-get install gdal-bin)")
    subprocess.run(["ogrinfo", "-q", "-update", "-sql",
                    "UPDATE parcels SET area_ha = area_ha * 2 WHERE fid <= 1000", str(path)],
                   check=True, capture_output=True)


@pytest.mark.gdal
def test_an_outside_edit_is_never_answered_from_the_old_result(twin_file):
    before = plan_answers(Twin.open(twin_file))
    _edit_outside(twin_file)
    tw = Twin.open(twin_file)
    assert tw.known_data_version("parcels") is None
    after = plan_answers(tw)
    assert_same(after, whole_layer_answers(Twin.open(twin_file)))
    assert not after["capacity"].equals(before["capacity"])


@pytest.mark.gdal
def test_an_outside_edit_after_opening_is_read_not_trusted(twin_file):
    tw = Twin.open(twin_file)
    old_version = tw.known_data_version("parcels")
    plan = tw.plan  # made on the recorded version
    _edit_outside(twin_file)
    got = plan.capacity_summary()  # the digest's read finds the edit and reads the rows
    assert tw.data_version("parcels") != old_version
    expected = whole_layer_answers(Twin.open(twin_file))
    pd.testing.assert_frame_equal(got, expected["capacity"], check_exact=True)
    assert_same(plan_answers(Twin.open(twin_file)), expected)


def test_changed_regulations_or_zones_change_the_answers(twin_file):
    before = plan_answers(Twin.open(twin_file))
    tw = Twin.open(twin_file)
    doc = copy.deepcopy(tw.document("regulations"))
    buffers = doc["buffers"]
    buffers["sanitary_protection_m"] = {
        k: v * 2 for k, v in buffers["sanitary_protection_m"].items()}
    doc["zones"]["industrial"]["max_far"] = 2.5
    tw.set_regulations(doc)
    zones = tw["zones"].copy()
    zones.loc[zones.index[0], "zone_type"] = "reserve"
    tw.add_layer("zones", zones)
    tw.save(twin_file)
    after = plan_answers(Twin.open(twin_file))
    assert_same(after, whole_layer_answers(Twin.open(twin_file)))
    assert not after["findings"].equals(before["findings"])
    assert not after["capacity"].equals(before["capacity"])


def test_a_result_recording_another_key_is_not_used(twin_file):
    tw = Twin.open(twin_file)
    right = plan_answers(tw)
    root = saved.results_dir(tw)
    (digest,) = root.glob("parcels-*")
    meta = (digest / "result.json").read_text()
    # a digest of other parcels put under this version's name (a copy, a hand edit)
    x = np.fromfile(digest / "area_ha.bin", dtype="<f8")
    (x * 7).tofile(digest / "area_ha.bin")
    for f in root.glob("zonecodes-*"):
        shutil.rmtree(f)
    (digest / "result.json").write_text(meta.replace('"key": "', '"key": "x'))
    again = plan_answers(Twin.open(twin_file))
    assert_same(again, right)


@pytest.mark.parametrize("crash", ["before the rename", "a truncated array", "no record"])
def test_a_crash_while_saving_leaves_a_twin_whose_plan_is_right(twin_file, monkeypatch, crash):
    expected = whole_layer_answers(Twin.open(twin_file))
    if crash == "before the rename":
        def killed(src, dst):
            raise OSError("killed")

        # the process dies with its results written into temporary folders, not moved
        from twin.store import array_dir  # where the results' folders are moved

        monkeypatch.setattr(array_dir.os, "rename", killed)
        monkeypatch.setattr(array_dir.shutil, "rmtree", lambda *a, **k: None)
        assert_same(plan_answers(Twin.open(twin_file)), expected)
        monkeypatch.undo()
        root = saved.results_dir(Twin.open(twin_file))
        left = [p.name for p in root.iterdir()]
        assert left and all(n.startswith(".") and n.endswith(".tmp") for n in left)
    else:
        plan_answers(Twin.open(twin_file))
        root = saved.results_dir(Twin.open(twin_file))
        for d in root.iterdir():
            if crash == "a truncated array":
                for f in d.glob("*.bin"):
                    with open(f, "r+b") as fh:
                        fh.truncate(max(0, os.path.getsize(f) - 3))
            else:
                (d / "result.json").unlink()
    assert_same(plan_answers(Twin.open(twin_file)), expected)
    assert_same(plan_answers(Twin.open(twin_file)), expected)  # and saved right this time


def test_a_rezone_by_parcels_and_its_versions_follow_the_digest(twin_file):
    tw = Twin.open(twin_file)
    p = tw["parcels"]
    ids = p.loc[p["district_id"] == p["district_id"].iloc[0], "id"].head(40).tolist()
    v = tw.plan.rezone(parcels=ids, zone_type="industrial")
    zt = tw.plan.parcel_zone_types(v)
    pts = shapely.point_on_surface(np.asarray(p.geometry.values))
    area = shapely.union_all(np.asarray(p[p["id"].isin(ids)].geometry.values))
    inside = shapely.intersects(area, pts)
    assert (zt[inside] == "industrial").all()
    assert (zt[~inside].to_numpy() == tw.plan.parcel_zone_types(1)[~inside].to_numpy()).all()


def test_a_twin_in_memory_saves_nothing(small_twin):
    assert saved.results_dir(small_twin) is None
    assert len(small_twin.plan.capacity_summary())


def test_a_read_only_folder_still_answers(twin_file, monkeypatch):
    monkeypatch.setattr(saved, "results_dir", lambda tw: Path("/proc/no-such/twin.plan"))
    assert_same(plan_answers(Twin.open(twin_file)), whole_layer_answers(Twin.open(twin_file)))


def test_both_stores_read_chosen_columns_as_the_whole_layer_has_them(twin_location,
                                                                     small_twin):
    from twin.store import open_store

    small_twin.save(twin_location)
    st = open_store(twin_location)
    try:
        whole = st.read_layer("parcels")
        some = st.read_columns("parcels", ["land_use", "area_ha", "no_such_column"])
        assert sorted(some.columns) == ["area_ha", "geometry", "land_use"]
        pd.testing.assert_frame_equal(some[["land_use", "area_ha"]],
                                      whole[["land_use", "area_ha"]])
        assert shapely.equals(np.asarray(some.geometry.values),
                              np.asarray(whole.geometry.values)).all()
        raw = st.read_columns("parcels", ["land_use"], wkb=True)
        assert sorted(raw.columns) == ["geometry", "land_use"]
        assert isinstance(raw["geometry"].iloc[0], bytes)
        assert shapely.equals(shapely.from_wkb(raw["geometry"].to_numpy()),
                              np.asarray(whole.geometry.values)).all()
    finally:
        st.close()


def test_a_restarted_server_answers_the_plan_without_reading_parcels(twin_file, monkeypatch):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    def answers(tw) -> list:
        with TestClient(create_app(Settings(), twin=tw)) as c:
            got = [c.get(u) for u in ("/plan/compliance", "/plan/findings",
                                      "/plan/land-balance", "/plan")]
        assert [r.status_code for r in got] == [200] * 4
        return [r.json()["findings"] if "findings" in r.json() else
                r.json().get("rows", r.json().get("features")) for r in got[:3]]

    first = answers(Twin.open(twin_file))  # the first server computes and saves
    NoParcelReads(monkeypatch)
    again = answers(Twin.open(twin_file))
    assert again[0] == first[0] and len(again[0]) > 0
    assert [f["properties"] for f in again[1]] == [f["properties"] for f in first[1]]


DATA = Path(__file__).parents[1] / ".." / "shared" / "data"


@pytest.mark.realdata
@pytest.mark.skipif(not (DATA / "osm" / "kz-districts-osm.geojson").is_file(),
                    reason=f"the shared real data ({DATA}) is absent: it is not part of the "
                    "project (ODbL); CI provides it")
def test_a_real_data_twin_gives_the_same_plan_answers_saved(tmp_path):
    import geopandas as gpd

    from tests.test_real_data import manifest_text

    (tmp_path / "manifest.yaml").write_text(manifest_text("Akmola Region"))
    path = tmp_path / "akmola-osm.gpkg"
    assert main(["new", str(tmp_path / "manifest.yaml"), "--out", str(path)]) == 0
    tw = Twin.open(path)
    # made-up plants beside the real settlements (flagged synthetic), so the sanitary
    # rule has housing to find
    st = tw["settlements"].head(12)
    sites = gpd.GeoDataFrame(
        {"id": [f"s{i}" for i in range(len(st))], "name": "test plant",
         "sector": "metallurgy", "district_id": "", "hazard_class": "I",
         "source": "test", "synthetic": True},
        geometry=gpd.points_from_xy(st.geometry.x + 0.005, st.geometry.y), crs=4326)
    tw.add_layer("project_sites", sites)
    tw.save(path)
    cold = Twin.open(path).plan.compliance()
    warm_twin = Twin.open(path)
    warm = warm_twin.plan.compliance()
    plan = Twin.open(path).plan
    direct = ComplianceContext(plan.zones(metric=True), plan.regulations(),
                               protected=tw.metric("protected_areas")
                               if "protected_areas" in tw else None,
                               water=tw.water(metric=True),
                               settlements=tw.metric("settlements"),
                               crs=tw.analysis_crs).check(tw["project_sites"])
    assert (cold["rule"] == "sanitary_zone").sum() == len(st)
    pd.testing.assert_frame_equal(cold, direct, check_exact=True)
    pd.testing.assert_frame_equal(warm, direct, check_exact=True)
    assert any(p.name.startswith("findings-") for p in saved.results_dir(warm_twin).iterdir())
