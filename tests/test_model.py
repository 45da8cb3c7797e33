"""The Twin: layer access, saving and opening one GeoPackage, atomic saves, imports."""

from __future__ import annotations

import sqlite3
import zipfile

import pandas as pd
import pyogrio
import pytest

from tests.common import make_small_twin
from twin import Twin, TwinFileError, store
from twin.errors import ImportFormatError, MissingColumn, SchemaError


def test_save_and_open_round_trip_keeps_data_schemas_and_metadata(small_twin, tmp_path):
    small_twin.tables["notes"] = pd.DataFrame({"k": ["a", "b"], "v": [1, 2]})
    path = small_twin.save(tmp_path / "small.gpkg")
    back = Twin.open(path)
    assert back.layer_names == small_twin.layer_names
    assert back.content_hash() == small_twin.content_hash()
    assert back.name == "small" and back.version == "test"
    assert back.metadata.provenance == {"region": "hand-made test geometry"}
    assert back.schema("parcels").columns["id"] == "int"
    assert back["project_sites"]["synthetic"].dtype == bool
    pd.testing.assert_frame_equal(back.tables["notes"], small_twin.tables["notes"])
    assert back.analysis_crs == small_twin.analysis_crs
    assert back.path == path


def test_twin_file_opens_in_gdal_with_every_layer(small_twin, tmp_path):
    path = small_twin.save(tmp_path / "small.gpkg")
    names = {n for n, _ in pyogrio.list_layers(path)}
    assert set(small_twin.layer_names) <= names


def test_a_crash_mid_save_leaves_the_old_file_intact(small_twin, tmp_path, monkeypatch):
    path = small_twin.save(tmp_path / "small.gpkg")
    before = path.read_bytes()
    small_twin.remove_layer("parcels")
    calls = {"n": 0}
    real = pyogrio.write_dataframe

    def crash_on_third_layer(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("disk full (simulated)")
        return real(*a, **k)

    monkeypatch.setattr(pyogrio, "write_dataframe", crash_on_third_layer)
    with pytest.raises(OSError, match="simulated"):
        small_twin.save(path)
    assert path.read_bytes() == before
    assert "parcels" in Twin.open(path).layer_names
    assert [p.name for p in tmp_path.iterdir()] == ["small.gpkg"]  # no temp file left


def test_open_missing_or_foreign_file_says_what_to_do(tmp_path):
    with pytest.raises(TwinFileError, match="twin build"):
        Twin.open(tmp_path / "nope.gpkg")
    junk = tmp_path / "junk.gpkg"
    junk.write_text("not a database")
    with pytest.raises(TwinFileError, match="not a twin file"):
        Twin.open(junk)


@pytest.mark.filterwarnings("ignore:Table/view parcels is referenced:RuntimeWarning")
def test_open_damaged_file_names_the_layer_and_the_fix(small_twin, tmp_path):
    path = small_twin.save(tmp_path / "small.gpkg")
    with sqlite3.connect(path) as conn:
        conn.execute('DROP TABLE "parcels"')
    with pytest.raises(TwinFileError, match="layer 'parcels'.*rebuild it"):
        Twin.open(path)


def test_transaction_commits_or_rolls_back(small_twin, tmp_path):
    small_twin.tables["log"] = pd.DataFrame({"n": [1]})
    path = small_twin.save(tmp_path / "t.gpkg")
    with store.transaction(path) as conn:
        conn.execute("INSERT INTO log (n) VALUES (2)")
    with pytest.raises(RuntimeError):
        with store.transaction(path) as conn:
            conn.execute("INSERT INTO log (n) VALUES (3)")
            raise RuntimeError("crash before commit")
    rows = sqlite3.connect(path).execute("SELECT n FROM log ORDER BY n").fetchall()
    assert rows == [(1,), (2,)]
    assert Twin.open(path).tables["log"]["n"].tolist() == [1, 2]


def test_metric_layer_is_equal_area(small_twin):
    assert small_twin.area_km2("districts").round(3).tolist() == [100.0, 100.0]
    assert small_twin.metric("districts") is small_twin.metric("districts")  # cached


def test_data_version_changes_only_with_the_data(small_twin):
    v = small_twin.data_version("parcels")
    small_twin.add_layer("parcels", small_twin["parcels"].copy())
    assert small_twin.data_version("parcels") == v
    changed = small_twin["parcels"].copy()
    changed.loc[0, "land_use"] = "industrial"
    small_twin.add_layer("parcels", changed)
    assert small_twin.data_version("parcels") != v


def test_info_reports_layers_crs_bounds_and_area(small_twin):
    info = small_twin.info()
    assert info["layers"]["parcels"] == {"count": 4, "geometry_type": "Polygon",
                                         "synthetic": 4}
    assert info["crs"] == "EPSG:4326"
    assert info["region_area_km2"] == pytest.approx(200.0, rel=1e-6)
    x0, y0, x1, y1 = info["bounds"]
    assert x0 < x1 and y0 < y1


def test_bad_layer_name_is_refused(small_twin):
    with pytest.raises(SchemaError, match="not usable"):
        small_twin.add_layer("my layer; drop", small_twin["parcels"])


# -- imports of a user's layer ---------------------------------------------------------------

@pytest.fixture
def wells(small_twin):
    g = small_twin["settlements"][["id", "name", "geometry"]].copy()
    return g


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "shpzip", "parquet"])
def test_import_each_supported_format(small_twin, wells, tmp_path, fmt):
    if fmt == "geojson":
        path = tmp_path / "wells.geojson"
        wells.to_file(path, driver="GeoJSON")
    elif fmt == "gpkg":
        path = tmp_path / "wells.gpkg"
        wells.to_file(path, layer="wells", driver="GPKG")
    elif fmt == "parquet":
        path = tmp_path / "wells.parquet"
        wells.to_parquet(path)
    else:
        shp_dir = tmp_path / "shp"
        shp_dir.mkdir()
        wells.to_file(shp_dir / "wells.shp")
        path = tmp_path / "wells.zip"
        with zipfile.ZipFile(path, "w") as z:
            for f in shp_dir.iterdir():
                z.write(f, f.name)
    report = small_twin.import_layer("wells", path, source="field survey 2025")
    assert report.repaired == 0
    got = small_twin["wells"]
    assert sorted(got["id"]) == sorted(wells["id"])
    assert set(got["source"]) == {"field survey 2025"}
    assert not got["synthetic"].any()
    assert got.crs.to_epsg() == 4326


def test_import_unsupported_format_names_the_supported_ones(small_twin, tmp_path):
    p = tmp_path / "wells.xlsx"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ImportFormatError, match="GeoJSON, GeoPackage, zipped Shapefile"):
        small_twin.import_layer("wells", p)


def test_a_csv_without_coordinates_names_the_columns_it_looked_for(small_twin, tmp_path):
    p = tmp_path / "wells.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(MissingColumn, match="no longitude column .*lon, lng.*it has a, b"):
        small_twin.import_layer("wells", p)


def test_import_multi_layer_geopackage_needs_a_layer(small_twin, wells, tmp_path):
    p = tmp_path / "two.gpkg"
    wells.to_file(p, layer="a", driver="GPKG")
    wells.to_file(p, layer="b", driver="GPKG")
    with pytest.raises(ImportFormatError, match="pass layer="):
        small_twin.import_layer("wells", p)
    small_twin.import_layer("wells", p, layer="b")
    assert len(small_twin["wells"]) == len(wells)


def test_import_without_id_column_makes_ids_from_the_names(small_twin, wells, tmp_path):
    p = tmp_path / "noid.geojson"
    wells.drop(columns=["id"]).to_file(p, driver="GeoJSON")
    small_twin.import_layer("wells", p)
    assert small_twin["wells"]["id"].tolist() == ["westtown", "easttown"]
    # and a layer given without ids or names is numbered
    wells.drop(columns=["id", "name"]).to_file(p, driver="GeoJSON")
    small_twin.import_layer("wells", p)
    assert small_twin["wells"]["id"].tolist() == ["1", "2"]


def test_a_layer_added_without_an_id_says_how_to_add_one(small_twin, wells):
    with pytest.raises(SchemaError, match="no 'id' column"):
        small_twin.add_layer("wells", wells.drop(columns=["id"]).assign(source="s",
                                                                         synthetic=False))


def test_zip_without_shapefile_is_refused(small_twin, tmp_path):
    p = tmp_path / "empty.zip"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "nothing here")
    with pytest.raises(ImportFormatError, match="no .shp"):
        small_twin.import_layer("wells", p)


def test_mixed_polygon_layer_round_trips_with_the_same_hash(small_twin, tmp_path):
    import shapely

    districts = small_twin["districts"].copy()
    districts.loc[0, "geometry"] = shapely.MultiPolygon([districts.geometry.iloc[0]])
    small_twin.add_layer("districts", districts)
    assert set(small_twin["districts"].geom_type) == {"MultiPolygon"}
    back = Twin.open(small_twin.save(tmp_path / "t.gpkg"))
    assert back.content_hash("districts") == small_twin.content_hash("districts")


def test_write_table_inside_a_transaction_commits_once(small_twin, tmp_path):
    path = small_twin.save(tmp_path / "t.gpkg")
    df = pd.DataFrame({"k": ["a", None], "n": [1, 2], "x": [0.5, float("nan")],
                       "ok": [True, False]})
    with store.transaction(path) as conn:
        store.write_table(conn, "extra", df)
    with pytest.raises(RuntimeError):
        with store.transaction(path) as conn:
            store.write_table(conn, "extra", df.iloc[:1])
            raise RuntimeError("crash before commit")
    back = Twin.open(path).tables["extra"]
    assert back["k"].tolist()[0] == "a" and back["k"].isna().tolist() == [False, True]
    assert back["n"].tolist() == [1, 2]


def test_object_columns_keep_their_value_types(small_twin, tmp_path):
    rows = pd.DataFrame([{"name": "a", "ok": True, "n": 1, "x": 0.5},
                         {"name": "b", "ok": False, "n": 2, "x": 1.5}], dtype=object)
    small_twin.tables["rows"] = rows
    back = Twin.open(small_twin.save(tmp_path / "t.gpkg")).tables["rows"]
    assert back["ok"].tolist() == [1, 0] and not any(map(bool, back["ok"].tolist()[1:]))
    assert back["n"].tolist() == [1, 2] and back["x"].tolist() == [0.5, 1.5]


def test_a_file_left_mid_commit_by_a_killed_process_opens(tmp_path):
    # The killed writer leaves a hot rollback journal; opening rolls it back instead of
    # failing with "attempt to write a readonly database".
    import subprocess
    import sys
    import textwrap

    path = tmp_path / "killed.gpkg"
    make_small_twin().save(path)
    code = textwrap.dedent(f"""
        import os, sqlite3
        c = sqlite3.connect({str(path)!r}, isolation_level=None)
        c.execute("PRAGMA cache_size = 1")  # spill to the file: the journal becomes hot
        c.execute("BEGIN IMMEDIATE")
        c.execute("CREATE TABLE junk (x BLOB)")
        for _ in range(200):
            c.execute("INSERT INTO junk VALUES (randomblob(4000))")
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    assert path.with_name(path.name + "-journal").exists()
    tw = Twin.open(path)
    assert set(tw.layer_names) == set(make_small_twin().layer_names)
    assert "junk" not in tw.tables


def test_open_reads_no_layer_until_it_is_needed(small_twin, tmp_path, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    from twin.store import GpkgStore

    path = small_twin.save(tmp_path / "lazy.gpkg")
    reads = []
    real = GpkgStore.read_layer
    monkeypatch.setattr(GpkgStore, "read_layer", lambda st, n: reads.append(n) or real(st, n))
    tw = Twin.open(path)
    assert reads == [] and not tw.loaded("parcels")
    # What lists and tile caches need comes from the file's record.
    assert tw.layer_count("parcels") == len(small_twin.layer("parcels"))
    assert tw.layer_bounds("parcels") == [float(v) for v in
                                          small_twin.layer("parcels").total_bounds]
    assert tw.data_version("parcels") == small_twin.data_version("parcels")
    assert repr(tw) == repr(small_twin) and reads == []
    with ThreadPoolExecutor(8) as ex:  # threads asking at once read the layer once
        frames = list(ex.map(lambda _: tw.layer("parcels"), range(8)))
    assert all(f is frames[0] for f in frames) and reads.count("parcels") == 1
    assert tw.loaded("parcels") and not tw.loaded("districts")


@pytest.mark.gdal
def test_a_layer_edited_by_another_program_is_hashed_from_its_rows(small_twin, tmp_path):
    import subprocess

    path = small_twin.save(tmp_path / "edited.gpkg")
    subprocess.run(["ogrinfo", "-q", "-update", "-sql", "DELETE FROM parcels WHERE fid = 1",
                    str(path)], check=True, capture_output=True)
    tw = Twin.open(path)
    assert tw.known_data_version("parcels") is None
    assert tw.known_data_version("districts") == small_twin.data_version("districts")
    assert tw.layer_count("parcels") == len(small_twin.layer("parcels")) - 1
    assert tw.data_version("parcels") != small_twin.data_version("parcels")
    # Saved again by the toolkit, the record holds once more.
    again = Twin.open(tw.save(tmp_path / "resaved.gpkg"))
    assert again.known_data_version("parcels") == tw.data_version("parcels")


def test_both_stores_open_lazily_and_give_the_layers_as_saved(twin_location):
    # Both trust their records of layers nothing edited (edit triggers in either store).
    small = make_small_twin()
    small.save(twin_location)
    tw = Twin.open(twin_location)
    assert not any(tw.loaded(n) for n in tw.layer_names if n != "region")
    known = tw.known_data_version("parcels")
    assert known == small.data_version("parcels")
    assert tw.layer_count("parcels") == len(small.layer("parcels"))
    assert tw.data_version("parcels") == small.data_version("parcels")
    assert tw.info()["layers"] == small.info()["layers"]


def test_a_layer_is_never_read_from_a_file_replaced_after_open(tmp_path):
    # A twin opened lazily, then its file replaced by another session's whole save: the
    # layers not yet read used to come from the new file, beside the old ones in memory.
    path = make_small_twin().save(tmp_path / "t.gpkg")
    opened = Twin.open(path)
    assert len(opened["region"]) == 1 and not opened.replaced()
    other = Twin.open(path)
    other.remove_layer("project_sites")
    other.save(path)
    assert opened.replaced()
    with pytest.raises(TwinFileError, match=r"was replaced .* open it again"):
        opened["parcels"]
    assert len(opened["region"]) == 1  # what was read stays readable
    assert not Twin.open(path).replaced()
    assert not other.replaced()  # its own save is not somebody else's
