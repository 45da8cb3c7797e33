"""twin.default: the default Akmola twin assembled, validated, saved and cached."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

import twin
from twin import default


def test_default_twin_has_every_layer_with_provenance(default_twin):
    assert default_twin.name == "akmola"
    assert default_twin.version == default.BUILD_VERSION
    want = {"region", "context", "districts", "settlements", "industrial_zones",
            "protected_areas", "lakes", "rivers", "project_sites", "parcels"}
    assert want <= set(default_twin.layer_names)
    for name in default_twin.layer_names:
        gdf = default_twin[name]
        assert gdf["source"].str.len().gt(0).all(), name
        assert gdf["synthetic"].dtype == bool, name
        # "source; licence; accuracy": the accuracy named is one the rows actually have
        prov = default_twin.metadata.provenance[name]
        accuracy = prov.rsplit(";", 1)[-1]
        if "accuracy" in gdf:
            # a row is made up exactly when it says so in both flags
            assert (gdf["synthetic"] == (gdf["accuracy"] == "synthetic")).all(), name
            for level in set(gdf["accuracy"]) - {"synthetic"}:
                assert level in accuracy, (name, level, prov)
        if "accuracy" in gdf and "real" in accuracy:
            assert (gdf["accuracy"] == "real").any(), (name, prov)  # no row is real
        if gdf["synthetic"].any():
            assert "synthetic" in accuracy, (name, prov)
        else:
            assert "synthetic" not in accuracy, (name, prov)


def test_default_twin_reproduces_the_sources_figures(default_twin):
    p = default_twin["project_sites"]
    impl = p[p["status"] == "implementation"]
    assert (len(impl), int(impl["investment_kzt"].sum()), int(impl["jobs"].sum())) == \
        (226, 456_000_000_000, 2_500)
    pipe = p[p["status"] == "pipeline"]
    assert len(pipe) == 7 and pipe["jobs"].sum() > 4_500
    area = default_twin.area_km2("region").iloc[0]
    assert abs(area / 146_219 - 1) < 0.005


def test_default_parcels_partition_cleanly(default_twin):
    p = default_twin["parcels"]
    assert len(p) == 50_000
    cells = default_twin["districts"].set_index("id")
    own = np.asarray(cells.loc[p["district_id"]].geometry.values)
    assert shapely.contains_properly(own, np.asarray(p.geometry.values)).all()
    g = np.asarray(default_twin.metric("parcels").geometry.values)
    i, j = shapely.STRtree(g).query(g, predicate="intersects")
    keep = i < j
    assert shapely.area(shapely.intersection(g[i[keep]], g[j[keep]])).max(initial=0) < 1e-3


def test_two_builds_have_the_same_content_hash(tmp_path):
    a = default.build_default(tmp_path / "a.gpkg", parcels=500)
    b = default.build_default(tmp_path / "b.gpkg", parcels=500)
    assert a.content_hash() == b.content_hash()
    assert twin.Twin.open(a.path).content_hash() == a.content_hash()


def test_default_twin_path_follows_xdg_and_version(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    p = default.default_twin_path()
    assert p == tmp_path / "aqmola-twin" / f"akmola-{default.BUILD_VERSION}.gpkg"
    assert default.default_twin_path(1_000).name == f"akmola-{default.BUILD_VERSION}-p1000.gpkg"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert ".cache" in default.default_twin_path().parts


def test_load_default_rebuilds_an_unreadable_cache_then_reuses_it(monkeypatch, tmp_path,
                                                                   capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = default.default_twin_path(250)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a geopackage")
    first = twin.load_default(parcels=250)
    assert "rebuilding" in capsys.readouterr().err
    assert first.path == path and len(first["parcels"]) == 250
    stamp = path.stat().st_mtime_ns
    again = twin.load_default(parcels=250)
    assert path.stat().st_mtime_ns == stamp  # opened, not rebuilt
    assert again.content_hash() == first.content_hash()


def test_derived_layers_join_the_build(monkeypatch, tmp_path):
    from twin import derived

    def zones(tw):
        d = tw["districts"]
        return d.assign(zone_type="reserve", district_id=d["id"],
                        area_ha=d["area_km2"] * 100)[
            ["id", "zone_type", "district_id", "area_ha", "source", "synthetic", "geometry"]]

    monkeypatch.setitem(derived.DERIVED, "zones", derived.DerivedLayer(
        "zones", ("districts",), zones, "one reserve zone per district (test)"))
    tw = default.build_default(tmp_path / "z.gpkg", parcels=200)
    assert len(tw["zones"]) == 20
    assert tw.metadata.provenance["zones"].startswith("one reserve zone per district (test)")
    assert tw.derived_layers == ("zones",)


def test_too_few_parcels_is_refused(tmp_path, capsys):
    with pytest.raises(twin.InvalidArgument, match="at least 100") as e:
        default.build_default(tmp_path / "x.gpkg", parcels=5)
    assert isinstance(e.value, twin.TwinError) and isinstance(e.value, ValueError)
    # the CLI reports it as a clean error, not a traceback
    from twin.cli import main

    assert main(["build", "--parcels", "50", "--out", str(tmp_path / "x.gpkg"), "--quiet"]) == 1
    assert "at least 100 parcels" in capsys.readouterr().err
    assert not (tmp_path / "x.gpkg").exists()


def test_cli_info_says_which_rows_are_synthetic(default_twin_path, capsys):
    from twin.cli import main

    assert main(["info", "--twin", str(default_twin_path)]) == 0
    out = capsys.readouterr().out
    assert "analysis CRS Lambert Azimuthal Equal Area centred on 51.9°N 69.8°E" in out
    lines = {ln.split()[0]: ln for ln in out.splitlines() if ln.startswith("  ")}
    assert lines["parcels"].endswith("(all synthetic)")
    assert lines["project_sites"].endswith("(223 synthetic)")
    assert "synthetic" not in lines["region"] and "synthetic" not in lines["settlements"]
    assert main(["info", "--twin", str(default_twin_path), "--json"]) == 0
    info = __import__("json").loads(capsys.readouterr().out)
    assert info["layers"]["parcels"]["synthetic"] == info["layers"]["parcels"]["count"]
    assert info["layers"]["region"]["synthetic"] == 0


def test_build_version_covers_the_code_that_writes_the_file(monkeypatch):
    from pathlib import Path

    import twin.store.gpkg

    names = {p.name for p in default._build_inputs()}
    assert {"default.py", "model.py", "schema.py", "base.py", "gpkg.py", "crs.py"} <= names
    assert default._build_version() == default.BUILD_VERSION
    # a fix to how the file is written must make cached twins stale
    store_py = Path(twin.store.gpkg.__file__).resolve()
    real = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: real(self) + (b"#" if self.resolve() == store_py else b""))
    assert default._build_version() != default.BUILD_VERSION


def test_build_does_not_replace_a_users_work(tmp_path, capsys):
    from twin.cli import main

    path = tmp_path / "mine.gpkg"
    tw = default.build_default(path, parcels=100)
    assert default.user_work(path) == []
    default.build_default(path, parcels=100)  # a plain twin file is rebuilt as before
    tw = twin.Twin.open(path)
    tw.scenario("keep-me").remove_project("impl-001").save()
    stamp = path.stat().st_mtime_ns
    with pytest.raises(twin.TwinFileError, match=r"1 stored scenario\(s\).*--force"):
        default.build_default(path, parcels=100)
    assert main(["build", "--parcels", "100", "--out", str(path), "--quiet"]) == 1
    assert "1 stored scenario(s)" in capsys.readouterr().err
    assert path.stat().st_mtime_ns == stamp  # untouched
    assert twin.Twin.open(path).scenario("keep-me", create=False).edits
    assert main(["build", "--parcels", "100", "--out", str(path), "--quiet", "--force"]) == 0
    assert default.user_work(path) == []
    other = tmp_path / "notes.gpkg"
    other.write_text("someone's file")
    with pytest.raises(twin.TwinFileError, match="is not a twin file"):
        default.build_default(other, parcels=100)
    assert other.read_text() == "someone's file"


def test_user_work_lists_plan_changes_observations_and_rasters(small_twin, tmp_path):
    from geodata.score_history import generate_history

    path = tmp_path / "small.gpkg"
    small_twin.tables["score_observations"] = generate_history(
        ["west", "east"], small_twin["project_sites"])
    small_twin.save(path)
    assert default.user_work(path) == []  # synthetic history only
    small_twin.plan.rezone(parcels=[2], zone_type="industrial")
    small_twin.plan.save()
    small_twin.score.ingest({"unit_id": "west", "indicator": "avg_wage", "month": "2025-09",
                             "value": 400.0, "unit": "thousand KZT", "source": "BNS"})
    assert default.user_work(path) == ["1 plan change(s)",
                                       "1 observation(s) not flagged synthetic"]


def test_cli_output_into_a_closed_pipe_is_not_an_error(default_twin_path, tmp_path):
    import subprocess
    import sys

    # `twin info | true`: the reader is gone long before Python has started and writes, so
    # every write meets a closed pipe. That is the reader's choice: no traceback, exit 0.
    err = tmp_path / "err.txt"
    cmd = (f"'{sys.executable}' -m twin.cli info --twin '{default_twin_path}' 2>'{err}' | true; "
           "exit ${PIPESTATUS[0]}")
    rc = subprocess.run(["bash", "-c", cmd], timeout=120).returncode
    assert "Traceback" not in err.read_text()
    assert rc == 0


def test_the_default_twins_registry_is_the_built_in_one_but_for_its_sources():
    # Two files, one set of indicators: the default twin's registry differs from the
    # built-in one only in saying its series are synthetic (and how they are generated).
    import geodata
    from twin.score.registry import builtin_registry_doc

    mine, builtin = geodata.indicator_registry(), builtin_registry_doc()
    assert mine["dimensions"] == builtin["dimensions"]
    strip = ("source", "description", "synthetic")
    assert [{k: v for k, v in i.items() if k not in strip} for i in mine["indicators"]] == \
        [{k: v for k, v in i.items() if k not in strip} for i in builtin["indicators"]]
    assert all(i["source"].startswith("Synthetic series") for i in mine["indicators"])
    assert not any("ynthetic" in i["source"] for i in builtin["indicators"])


def test_the_default_manifest_and_config_agree_on_the_official_area(default_twin):
    import geodata
    from twin.manifest import read_manifest

    region = read_manifest(geodata.MANIFEST).layer("region")
    assert region.set["official_area_km2"] == geodata.load_config()["region"][
        "official_area_km2"]
    assert default_twin["region"]["official_area_km2"].iloc[0] == 146219.0
    assert default_twin.title == "Akmola region (default twin)"
    assert default_twin.derived_layers == ("zones",)
