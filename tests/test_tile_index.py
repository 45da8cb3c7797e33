"""layers/tile_index.py: the packed R-tree answers as STRtree does, a saved index renders
the same tiles as a fresh one, is used only at its own data version, and a crash while
saving leaves a twin that serves (and an index that is rebuilt)."""

from __future__ import annotations

import json
import logging
import os
import subprocess

import geopandas as gpd
import numpy as np
import pytest
import shapely

from layers import tile_index
from layers.tile_index import PackedTree, PreparedLayer
from layers.vector_tiles import TileSource, render_tile, tile_layer
from tests.test_vector_tiles import grid_twin
from twin import Twin

TILES = [(12, 2838, 1360), (13, 5677, 2720), (14, 11355, 5441), (10, 709, 340), (8, 177, 85)]


def test_packed_tree_finds_what_strtree_finds():
    rng = np.random.default_rng(3)
    n = 5000
    x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    w, h = rng.exponential(1.0, n), rng.exponential(1.0, n)
    geoms = shapely.box(x, y, x + w, y + h)
    geoms[::97] = shapely.from_wkt("POLYGON EMPTY")  # empties are in no box's answer
    geoms[5] = None
    tree, ref = PackedTree.build(shapely.bounds(geoms)), shapely.STRtree(geoms)
    for _ in range(200):
        qx, qy = rng.uniform(-10, 100, 2)
        q = (qx, qy, qx + rng.exponential(5), qy + rng.exponential(5))
        want = np.sort(ref.query(shapely.box(*q)))
        np.testing.assert_array_equal(tree.query(q), want)
    np.testing.assert_array_equal(tree.query((-5.0, -5.0, 200.0, 200.0)),
                                  np.sort(ref.query(shapely.box(-5, -5, 200, 200))))
    assert len(PackedTree.build(np.empty((0, 4))).query((0, 0, 1, 1))) == 0


def test_geometries_of_a_mixed_layer_come_back_exactly():
    g = np.array([shapely.Point(1, 2), shapely.box(0, 0, 3, 3), shapely.LineString([(0, 0),
                  (5, 5)]), None], dtype=object)
    gdf = gpd.GeoDataFrame({"id": [1, 2, 3, 4]}, geometry=g, crs=4326)
    prep = PreparedLayer.build(gdf, "id", ("id",))
    assert prep.geoms.kind == -1  # WKB: more than one geometry family
    back = prep.geometries(np.array([0, 1, 2]))
    assert shapely.equals_exact(back, tile_index.to_mercator(g[:3]), tolerance=0).all()


def test_a_saved_index_renders_the_same_tiles(tmp_path):
    tw = grid_twin()
    built = PreparedLayer.build(tw.layer("parcels"), "id", tile_layer("parcels").properties)
    version = tw.data_version("parcels")
    tile_index.save(built, tmp_path, "parcels", version)
    opened = tile_index.open_saved(tmp_path, "parcels", version)
    assert isinstance(opened.rank.base, np.memmap)  # mapped, not read into memory
    for z, x, y in TILES:
        a = render_tile(built, "parcels", tile_layer("parcels"), z, x, y)
        assert a == render_tile(opened, "parcels", tile_layer("parcels"), z, x, y)
    assert any(render_tile(opened, "parcels", tile_layer("parcels"), *t) for t in TILES)


def test_an_index_of_another_data_version_is_never_used(tmp_path, caplog):
    tw = grid_twin()
    prep = PreparedLayer.build(tw.layer("parcels"), "id", ("id",))
    d = tile_index.save(prep, tmp_path, "parcels", "aaaa")
    assert tile_index.open_saved(tmp_path, "parcels", "bbbb") is None
    # Renamed by hand to the version asked for: its own record says otherwise.
    d.rename(tmp_path / d.name.replace("aaaa", "bbbb"))
    with caplog.at_level(logging.WARNING, logger="layers"):
        assert tile_index.open_saved(tmp_path, "parcels", "bbbb") is None
    assert "not of layer 'parcels' at version bbbb" in caplog.text
    # A damaged index counts as absent (and goes), it never raises.
    d2 = tile_index.save(prep, tmp_path, "parcels", "cccc")
    (d2 / "rank.bin").write_bytes(b"garbage")
    assert tile_index.open_saved(tmp_path, "parcels", "cccc") is None
    assert not d2.exists()


def test_saving_a_version_removes_only_that_layers_older_ones(tmp_path):
    tw = grid_twin()
    prep = PreparedLayer.build(tw.layer("parcels"), "id", ("id",))
    dist = PreparedLayer.build(tw.layer("districts"), "id", ("id",))
    tile_index.save(prep, tmp_path, "parcels", "v1")
    tile_index.save(dist, tmp_path, "districts", "d1")
    tile_index.save(prep, tmp_path, "parcels", "v2")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"districts-d1-f{tile_index.FORMAT}", f"parcels-v2-f{tile_index.FORMAT}"]


def _saved(twin_path):
    return sorted(p.name for p in tile_index.index_dir(twin_path).iterdir())


def test_a_restart_opens_the_saved_index_without_reading_the_layer(tmp_path):
    path = grid_twin().save(tmp_path / "grid.gpkg")
    first = TileSource(Twin.open(path))
    tiles = {t: first.tile("parcels", *t).data for t in TILES}
    assert any(f.startswith("parcels-") for f in _saved(path))

    tw = Twin.open(path)
    again = TileSource(tw)
    assert {t: again.tile("parcels", *t).data for t in TILES} == tiles
    assert not tw.loaded("parcels")  # served from the memory-mapped index alone
    assert isinstance(again.prepared("parcels").rank.base, np.memmap)


@pytest.mark.gdal
def test_an_edited_layer_rebuilds_only_its_own_index(tmp_path):
    path = grid_twin().save(tmp_path / "grid.gpkg")
    src = TileSource(Twin.open(path))
    src.prepared("parcels"), src.prepared("districts")
    before = {p.name: p.stat().st_mtime_ns for p in tile_index.index_dir(path).iterdir()}
    z, x, y = 14, 11355, 5441
    old = src.tile("parcels", z, x, y).data
    # Edited by another program (GDAL here; QGIS edits through it too), not the toolkit.
    subprocess.run(["ogrinfo", "-q", "-update", "-sql",
                    "UPDATE parcels SET land_use = 'edited-outside'", str(path)],
                   check=True, capture_output=True)

    tw = Twin.open(path)
    assert tw.known_data_version("parcels") is None  # the file's record no longer holds
    assert tw.known_data_version("districts") == src.twin.data_version("districts")
    fresh = TileSource(tw)
    new = fresh.tile("parcels", z, x, y).data
    assert b"edited-outside" in new and b"edited-outside" not in old
    fresh.prepared("districts")
    after = {p.name: p.stat().st_mtime_ns for p in tile_index.index_dir(path).iterdir()}
    dist = [n for n in before if n.startswith("districts-")]
    assert dist and all(after[n] == before[n] for n in dist)  # not rebuilt
    assert [n for n in after if n.startswith("parcels-")] != \
        [n for n in before if n.startswith("parcels-")]


def test_a_crash_while_saving_leaves_a_twin_that_serves(tmp_path, monkeypatch, caplog):
    path = grid_twin().save(tmp_path / "grid.gpkg")
    want = TileSource(Twin.open(path), index_dir=False).tile("parcels", *TILES[0]).data
    real, calls = os.fsync, []

    def crash_midway(fd):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        real(fd)

    monkeypatch.setattr(os, "fsync", crash_midway)
    with caplog.at_level(logging.WARNING, logger="layers"):
        src = TileSource(Twin.open(path))
        assert src.tile("parcels", *TILES[0]).data == want  # served from memory
    assert "kept in memory only" in caplog.text
    assert not [n for n in _saved(path) if not n.startswith(".")]  # no index, not half one
    assert not list(tile_index.index_dir(path).glob(".*.tmp"))  # and no leftovers
    monkeypatch.setattr(os, "fsync", real)

    # A process killed mid-write leaves its temporary directory: ignored, and the next
    # start saves a whole index.
    version = Twin.open(path).data_version("parcels")
    junk = tile_index.index_dir(path) / f".parcels-{version}-f1.dead.tmp"
    junk.mkdir()
    (junk / "rank.bin").write_bytes(b"half")
    tw = Twin.open(path)
    assert TileSource(tw).tile("parcels", *TILES[0]).data == want
    man = json.loads((tile_index.index_dir(path) / f"parcels-{version}-f1"
                      / "index.json").read_text())
    assert man["data_version"] == version and man["features"] == tw.layer_count("parcels")


def test_without_a_twin_file_nothing_is_saved(tmp_path):
    src = TileSource(grid_twin())
    assert src.tile("parcels", *TILES[0]).data
    assert not isinstance(src.prepared("parcels").rank.base, np.memmap)


@pytest.mark.parametrize("threads", [8])
def test_threads_asking_at_once_prepare_a_layer_once(tmp_path, monkeypatch, threads):
    from concurrent.futures import ThreadPoolExecutor

    path = grid_twin().save(tmp_path / "grid.gpkg")
    builds = []
    real = PreparedLayer.build.__func__

    def counted(cls, *a, **kw):
        builds.append(1)
        return real(cls, *a, **kw)

    monkeypatch.setattr(PreparedLayer, "build", classmethod(counted))
    src = TileSource(Twin.open(path))
    with ThreadPoolExecutor(threads) as ex:
        out = list(ex.map(lambda _: src.tile("parcels", *TILES[0]).data, range(threads)))
    assert len(set(out)) == 1 and len(builds) == 1
