"""twin.assembly and the data verbs: a twin built from a region's own files, in every
format the importer reads, through ``twin new``; layers imported with ``twin import``;
observations with ``twin score ingest``."""

from __future__ import annotations

import textwrap
import zipfile

import geopandas as gpd
import pandas as pd
import pytest

from tests.common import make_small_twin, point_lonlat
from twin import Twin, TwinFileError
from twin.assembly import build_twin, new_twin
from twin.cli import main
from twin.manifest import ManifestError, read_manifest


@pytest.fixture(scope="module")
def region_files(tmp_path_factory):
    """The small twin written out as a region's files would come: a GeoJSON outline,
    districts in a two-layer GeoPackage under their own column names, settlements as a
    zipped Shapefile with populations as text, protected areas as GeoParquet, project sites
    as a CSV of lon/lat, and a manifest over them."""
    d = tmp_path_factory.mktemp("region")
    tw = make_small_twin()
    tw["region"][["name", "geometry"]].rename(columns={"name": "NAME"}).to_file(
        d / "outline.geojson")
    units = tw["districts"][["id", "name", "name_kk", "geometry"]].rename(
        columns={"id": "CODE", "name": "NAME_EN", "name_kk": "NAME_KK"})
    units.to_file(d / "admin.gpkg", layer="adm2")
    units.iloc[:1].to_file(d / "admin.gpkg", layer="adm1")
    places = tw["settlements"][["id", "name", "geometry"]].assign(
        POP=["5 000", None]).rename(columns={"id": "PID"})
    places.to_file(d / "places.shp")
    with zipfile.ZipFile(d / "places.zip", "w") as z:
        for ext in ("shp", "shx", "dbf", "prj", "cpg"):
            if (d / f"places.{ext}").exists():
                z.write(d / f"places.{ext}", f"places.{ext}")
    tw["protected_areas"][["id", "name", "kind", "geometry"]].to_parquet(d / "parks.parquet")
    s = tw["project_sites"]
    pd.DataFrame({"ref": s["id"], "title": s["name"], "branch": s["sector"],
                  "cost_kzt": s["investment_kzt"].astype(str), "staff": s["jobs"],
                  "class": s["hazard_class"], "X": s.geometry.x, "Y": s.geometry.y}
                 ).to_csv(d / "projects.csv", index=False)
    (d / "m.yaml").write_text(textwrap.dedent("""
        name: small-own
        title: Small region (own files)
        layers:
          region:
            file: outline.geojson
            columns: {name: NAME}
            set: {source: "akimat outline (CC BY 4.0)", accuracy: real, synthetic: false}
          districts:
            file: admin.gpkg
            layer: adm2
            within: region
            id: CODE
            columns: {name: NAME_EN, name_kk: NAME_KK}
            set: {source: "akimat GIS (CC BY 4.0)", synthetic: false}
          settlements:
            file: places.zip
            within: region
            id: PID
            columns: {name: name, population: POP}
            set: {source: "akimat register (CC BY 4.0)"}
          protected_areas:
            file: parks.parquet
            columns: {name: name, kind: kind}
            id: id
            set: {source: "nature committee (CC BY 4.0)"}
          project_sites:
            file: projects.csv
            lon: X
            lat: Y
            id: ref
            columns: {name: title, sector: branch, investment_kzt: cost_kzt, jobs: staff,
                      hazard_class: class}
            set: {source: "investment department (CC BY 4.0)"}
    """))
    return d


@pytest.fixture(scope="module")
def built(region_files):
    return build_twin(read_manifest(region_files / "m.yaml"))


def test_every_reader_builds_its_layer(built):
    tw, report = built
    assert tw.layer_names == ["region", "districts", "settlements", "protected_areas",
                              "project_sites", "zones"]
    assert tw["districts"]["id"].tolist() == ["west", "east"]
    assert tw["districts"]["name"].tolist() == ["West district", "East district"]
    s = tw["settlements"].set_index("id")
    assert s["population"].to_dict() == {"s1": 5000, "s2": 0}  # text "5 000", and none
    assert s["population_known"].to_dict() == {"s1": True, "s2": False}
    assert s["district_id"].to_dict() == {"s1": "west", "s2": "east"}
    p = tw["project_sites"].set_index("id")
    assert p["investment_kzt"].to_dict() == {"p1": 1_000_000_000, "p2": 500_000_000}
    assert p["district_id"].to_dict() == {"p1": "east", "p2": "west"}
    assert tw.title == "Small region (own files)"
    assert tw.derived_layers == ("zones",)
    text = str(report)
    assert "districts: 2 of 2 rows from admin.gpkg" in text
    assert "district_id derived: the district each lies in" in text
    assert "population not given for 1 of 2" in text
    assert "the districts cover the region to within 0.000% of its area" in text


def test_provenance_cites_each_layers_source_and_accuracy(built):
    tw, _ = built
    assert tw.provenance["districts"].startswith("akimat GIS (CC BY 4.0); from admin.gpkg, "
                                                 "2 of 2 rows (within region)")
    assert tw.provenance["region"].endswith("; real")
    assert tw.provenance["settlements"].endswith("; accuracy not stated")


def test_the_built_twin_plans_scores_and_runs_scenarios(built, tmp_path):
    tw, _ = built
    f = tw.plan.compliance()
    assert set(f["site_id"]) <= {"p1", "p2"}
    assert "parcels" in tw.plan.unavailable
    tw.save(tmp_path / "own.gpkg")
    back = Twin.open(tmp_path / "own.gpkg")
    assert back.analysis_crs == tw.analysis_crs and back.derived_layers == ("zones",)
    ev = back.scenario("x").add_project("x", *point_lonlat(5_500, 5_500).coords[0],
                                        "metallurgy", jobs=10, hazard_class="III").evaluate()
    assert int(ev.districts["d_jobs"].sum()) == 10


def test_twin_new_writes_the_file_and_refuses_to_replace_work(region_files, tmp_path, capsys):
    out = tmp_path / "own.gpkg"
    assert main(["new", str(region_files / "m.yaml"), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert "settlements: 2 of 2 rows from places.zip" in printed.out
    assert "wrote <Twin 'small-own'" in printed.out and "next: twin serve" in printed.out
    Twin.open(out).scenario("keep").remove_project("p1").save()
    assert main(["new", str(region_files / "m.yaml"), "--out", str(out)]) == 1
    assert "1 stored scenario(s)" in capsys.readouterr().err
    assert main(["new", str(region_files / "m.yaml"), "--out", str(out), "--force"]) == 0
    assert Twin.open(out).scenario("keep", create=True).version == 0  # replaced
    (tmp_path / "notes.gpkg").write_text("my notes")
    with pytest.raises(TwinFileError, match="is not a twin file"):
        new_twin(region_files / "m.yaml", tmp_path / "notes.gpkg")


def test_a_manifest_naming_a_missing_column_says_which_exist(region_files, tmp_path):
    text = (region_files / "m.yaml").read_text().replace("name: NAME_EN", "name: NAME_RU")
    (region_files / "bad.yaml").write_text(text)
    with pytest.raises(ManifestError, match=r"layers.districts.columns.name: 'admin.gpkg' "
                       r"has no column 'NAME_RU'; it has CODE, NAME_EN, NAME_KK"):
        build_twin(read_manifest(region_files / "bad.yaml"))


def test_a_where_filter_that_keeps_no_row_names_the_values_there(region_files):
    """A mistyped where: value is the manifest's error, listing what the column holds,
    not an empty layer blamed on the data later."""
    text = (region_files / "m.yaml").read_text().replace(
        "within: region\n    id: CODE",
        "within: region\n    where: {NAME_EN: Nowhere}\n    id: CODE")
    assert "Nowhere" in text
    (region_files / "where.yaml").write_text(text)
    names = sorted(make_small_twin()["districts"]["name"])
    with pytest.raises(ManifestError, match=r"layers.districts.where.NAME_EN: no row of "
                       r"'admin.gpkg' has NAME_EN in \['Nowhere'\]; the values there are "
                       + ", ".join(f"'{n}'" for n in names)):
        build_twin(read_manifest(region_files / "where.yaml"))


def test_a_required_layer_left_with_no_row_is_refused(region_files):
    gpd.read_file(region_files / "admin.gpkg", layer="adm2").iloc[:0].to_file(
        region_files / "admin.gpkg", layer="empty")
    text = (region_files / "m.yaml").read_text().replace("layer: adm2", "layer: empty")
    (region_files / "empty.yaml").write_text(text)
    with pytest.raises(ManifestError, match=r"layers.districts: 'admin.gpkg' has no rows: "
                       r"every twin needs its districts"):
        build_twin(read_manifest(region_files / "empty.yaml"))


def test_twin_import_adds_a_layer_and_the_plan_follows(region_files, tmp_path, capsys):
    out = tmp_path / "own.gpkg"
    assert main(["new", str(region_files / "m.yaml"), "--out", str(out)]) == 0
    capsys.readouterr()
    # wells from a CSV, columns mapped; then water, which the plan's checks read
    pd.DataFrame({"WELL": ["w1", "w2"], "lon": [point_lonlat(3_000, 3_000).x] * 2,
                  "lat": [point_lonlat(3_000, 3_000).y, point_lonlat(3_000, 4_000).y],
                  "depth": ["40", "55,5"]}).to_csv(tmp_path / "wells.csv", index=False)
    assert main(["import", "wells", str(tmp_path / "wells.csv"), "--twin", str(out),
                 "--map", "depth_m=depth", "--id", "WELL", "--source", "well survey"]) == 0
    assert "added layer 'wells': 2 rows from wells.csv" in capsys.readouterr().out
    wells = Twin.open(out)["wells"]
    assert wells["id"].tolist() == ["w1", "w2"] and wells["source"].eq("well survey").all()
    assert main(["import", "wells", str(tmp_path / "wells.csv"), "--twin", str(out),
                 "--map", "depth_m=nope"]) == 1
    assert "has no column 'nope'" in capsys.readouterr().err


def test_twin_import_fills_a_files_blank_provenance_cells_from_its_flags(region_files,
                                                                         tmp_path, capsys):
    """A file's own synthetic and source cells are kept; --synthetic and --source fill only
    the blank ones, so a blank flag under --synthetic is never stored as real data."""
    out = tmp_path / "own.gpkg"
    assert main(["new", str(region_files / "m.yaml"), "--out", str(out)]) == 0
    p = point_lonlat(3_000, 3_000)
    pd.DataFrame({"id": ["w1", "w2", "w3"], "lon": [p.x] * 3, "lat": [p.y] * 3,
                  "synthetic": ["", "false", "yes"],
                  "source": ["", "drilling log 2024", ""]}).to_csv(tmp_path / "w.csv",
                                                                   index=False)
    assert main(["import", "wells", str(tmp_path / "w.csv"), "--twin", str(out),
                 "--synthetic", "--source", "well survey"]) == 0
    capsys.readouterr()
    wells = Twin.open(out)["wells"].set_index("id")
    assert wells["synthetic"].to_dict() == {"w1": True, "w2": False, "w3": True}
    assert wells["source"].to_dict() == {"w1": "well survey", "w2": "drilling log 2024",
                                         "w3": "well survey"}


def test_a_new_protected_area_rederives_zones_and_is_checked(built):
    # the stale-plan defect: after add_layer("protected_areas") neither the zones nor the
    # findings followed
    tw, _ = built
    tw = Twin(dict((n, tw[n]) for n in tw.layer_names if n != "zones"), name="t",
              analysis_crs=tw.analysis_crs)
    tw.derive_layer("zones")
    plan = tw.plan
    f0 = plan.compliance()
    assert not ((f0["site_id"] == "p2") & (f0["rule"] == "protected_area")).any()
    before = set(tw["zones"]["zone_type"])
    site = tw["project_sites"].set_index("id").geometry["p2"]
    park = gpd.GeoDataFrame({"id": ["new-park"], "name": ["New park"], "kind": ["reserve"],
                             "source": ["test"], "synthetic": [True]},
                            geometry=[site.buffer(0.01)], crs=4326)
    tw.add_layer("protected_areas", pd.concat([tw["protected_areas"], park],
                                              ignore_index=True))
    assert "new-park" in "".join(tw["zones"]["id"])  # zones derived again
    assert tw.plan is not plan
    f = tw.plan.compliance()
    hit = f[(f["site_id"] == "p2") & (f["rule"] == "protected_area")]
    assert len(hit) == 1 and "'New park'" in hit["message"].iloc[0]
    assert before <= set(tw["zones"]["zone_type"])


def test_unsaved_plan_changes_survive_a_new_layer(built):
    from tests.common import square_lonlat

    tw, _ = built
    tw.plan.rezone(square_lonlat(12_000, 2_000, 1_000), "industrial", note="estate")
    park = tw["protected_areas"].copy()
    tw.add_layer("protected_areas", park.iloc[:0])  # the layer changes: zones follow
    assert tw.plan.version == 2
    assert "estate" in tw.plan.versions()["description"].iloc[-1]


def test_an_invalid_unit_is_refused_with_the_fix_or_repaired_when_asked(region_files,
                                                                        tmp_path):
    import shapely

    from twin import InvalidGeometry

    bow = shapely.Polygon([(0, 0), (1, 1), (1, 0), (0, 1)])  # a bow-tie: self-intersecting
    tw = make_small_twin()
    d = tw["districts"][["id", "name", "geometry"]].copy()
    west = d.geometry.iloc[0]
    x0, y0, x1, y1 = west.bounds
    d.loc[0, "geometry"] = shapely.affinity.affine_transform(
        bow, [x1 - x0, 0, 0, y1 - y0, x0, y0])
    d.to_file(tmp_path / "units.geojson")
    text = (region_files / "m.yaml").read_text().replace(
        "file: admin.gpkg\n    layer: adm2", f"file: {tmp_path / 'units.geojson'}").replace(
        "id: CODE\n    columns: {name: NAME_EN, name_kk: NAME_KK}", "id: id\n    columns: "
        "{name: name}")
    (region_files / "bow.yaml").write_text(text)
    with pytest.raises(InvalidGeometry, match=r"layers.districts: .*'west' is invalid.*"
                       r"\(in a manifest: repair: true\)"):
        build_twin(read_manifest(region_files / "bow.yaml"))
    (region_files / "bow.yaml").write_text(text.replace("within: region\n",
                                                        "within: region\n    repair: true\n"))
    tw2, report = build_twin(read_manifest(region_files / "bow.yaml"))
    assert "repaired 1 invalid geometry (make_valid)" in str(report)
    # measured once repaired: the bow-tie's two triangles are half the square
    assert tw2["districts"].set_index("id")["area_km2"]["west"] == pytest.approx(50, rel=1e-2)
    assert tw2["districts"].is_valid.all()
